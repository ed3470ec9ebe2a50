"""Camera clocks on a common time line, and ``sync.toml`` (CONVENTIONS.md) that keeps them.

A camera's frame ``i`` was taken at common-clock time

* ``t_i = start_s + i / fps`` (``timestamps = "index"``, the default: a constant frame rate), or
* ``t_i = start_s + clock_rate * tau_i`` (``timestamps = "container"``: a variable frame rate
  video, ``tau_i`` its container timestamp counted from its first frame, seconds;
  ``clock_rate`` = common seconds per camera second, 1 + drift).

Choices where CONVENTIONS.md is silent: ``[metadata]`` also keeps ``version`` and, per camera,
``frames`` (frames the estimate saw, informative) and ``nominal_fps`` (the container's rate);
cameras that could not be synchronised are never written: the file is not written at all.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FileFormatError

METHODS = ("motion", "board", "audio", "flash", "timestamps", "manual")
TIMESTAMPS = ("index", "container")


@dataclass(frozen=True)
class CameraClock:
    """When a camera's frames were taken, on the common clock.

    ``start_s``: common-clock time of its first frame, seconds (reference camera 0.0); ``fps``:
    its frame rate measured on the common clock; ``confidence`` in 0..1.
    """

    start_s: float
    fps: float
    confidence: float = 1.0
    timestamps: str = "index"       # "index": t = start + i / fps; "container": t = start + rate * tau
    clock_rate: float = 1.0         # common seconds per camera second (container timestamps only)
    frames: int | None = None       # frames seen by the estimate (informative)
    nominal_fps: float | None = None  # the rate the container declares, frames per second

    def __post_init__(self):
        if not (math.isfinite(self.start_s) and math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"start_s must be finite and fps > 0, got {self.start_s}, {self.fps}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")
        if self.timestamps not in TIMESTAMPS or not self.clock_rate > 0:
            raise ValueError(f"timestamps must be one of {TIMESTAMPS} and clock_rate > 0, got "
                             f"{self.timestamps!r}, {self.clock_rate}")

    def frame_times(self, n_frames: int | None = None, *, container_times_s=None) -> np.ndarray:
        """Common-clock times of the camera's frames, ``(F,)`` float64 seconds.

        Parameters
        ----------
        n_frames : int
            Frames ``0..n_frames-1`` (index timestamps).
        container_times_s : (F,) float, optional
            The video's own frame timestamps, seconds (see
            :func:`capture3d.sync.signals.video_frame_times`); required with container timestamps.
        """
        if self.timestamps == "container":
            if container_times_s is None:
                raise ValueError("this camera's clock uses its container timestamps: pass container_times_s")
            tau = np.asarray(container_times_s, float)
            return self.start_s + self.clock_rate * (tau - tau[0])
        if n_frames is None:
            n_frames = len(container_times_s)
        return self.start_s + np.arange(int(n_frames)) / self.fps

    def frame_at(self, t_s) -> np.ndarray:
        """Fractional frame index at common-clock times ``t_s`` (index timestamps)."""
        return (np.asarray(t_s, float) - self.start_s) * self.fps


@dataclass
class SyncResult:
    """The outcome of :func:`capture3d.sync.estimate_sync`.

    ``cameras``: clocks of the cameras that were synchronised; ``failed``: ``{camera: reason}``
    for those that could not be; ``signals``: per camera ``(times_s (n,), values (n,))`` on the
    common clock, for the picture; ``ok`` when no camera failed.
    """

    method: str
    reference: str
    cameras: dict[str, CameraClock] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    signals: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and bool(self.cameras)

    @property
    def message(self) -> str:
        return "; ".join(f"{cam}: {why}" for cam, why in self.failed.items())

    def offsets_frames(self, fps: float | None = None) -> dict[str, float]:
        """``start_s`` of every camera in frames of ``fps`` (default: the reference camera's)."""
        fps = fps or self.cameras[self.reference].fps
        return {n: c.start_s * fps for n, c in self.cameras.items()}


def to_whole_frames(result: SyncResult, *, max_rate_gap: float = 0.001) -> SyncResult:
    """``result`` for cameras that share one frame clock and started at different frames.

    Cameras on one hardware trigger (or videos cut from synchronised ones) start whole frames
    apart: every camera's start is rounded to whole frames of the reference camera and its rate set
    to the reference's. The estimate before rounding is kept in ``details["estimated_frames"]``
    (reference frames), so the rounding can be checked: an estimate near half a frame means the
    assumption, or the estimate, is wrong. A camera whose nominal rate differs from the reference's
    by more than ``max_rate_gap`` (a share) cannot share its frame clock and is failed with the
    reason.

    >>> res = SyncResult("motion", "a", {"a": CameraClock(0.0, 60.0), "b": CameraClock(0.1217, 60.01)})
    >>> round(to_whole_frames(res).cameras["b"].start_s * 60, 6), to_whole_frames(res).cameras["b"].fps
    (7.0, 60.0)
    """
    from dataclasses import replace

    ref = result.cameras.get(result.reference)
    if ref is None:
        return result
    rate = ref.nominal_fps or ref.fps
    frames = result.offsets_frames(rate)
    cameras, failed, estimated = {}, dict(result.failed), {}
    for name, c in result.cameras.items():
        own = c.nominal_fps or c.fps
        if abs(own / rate - 1.0) > max_rate_gap:
            failed[name] = (f"runs at {own:g} fps, not the reference's {rate:g}: it cannot share its frame clock "
                            "(whole frames)")
            continue
        estimated[name] = frames[name]
        cameras[name] = replace(c, start_s=round(frames[name]) / rate, fps=rate, timestamps="index", clock_rate=1.0)
    return SyncResult(result.method, result.reference, cameras, failed, result.signals,
                      {**result.details, "estimated_frames": estimated})


def write_sync(result: SyncResult, path) -> Path:
    """Write ``sync.toml`` atomically (a temporary file renamed over it). Refuses a result with
    failed cameras, so that no stage ever reads a half-synchronised session."""
    import tomli_w

    from .. import __version__

    path = Path(path)
    if result.failed:
        raise ValueError(f"{path}: not written, cameras could not be synchronised: {result.message}")
    doc = {"metadata": {"method": result.method, "reference": result.reference, "version": __version__},
           "cameras": {}}
    for name, c in result.cameras.items():
        entry = {"start_s": float(c.start_s), "fps": float(c.fps), "confidence": float(round(c.confidence, 4))}
        if c.timestamps != "index":
            entry.update(timestamps=c.timestamps, clock_rate=float(c.clock_rate))
        if c.frames is not None:
            entry["frames"] = int(c.frames)
        if c.nominal_fps is not None:
            entry["nominal_fps"] = float(c.nominal_fps)
        doc["cameras"][name] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        tomli_w.dump(doc, fh)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return path


def read_sync(path, cameras=None) -> SyncResult:
    """Read ``sync.toml``; with ``cameras`` (the session's or the calibration's names), a camera
    the file names that is not among them, or one of them it lacks, is a :class:`FileFormatError`
    naming the camera."""
    from ..io import load_toml

    path = Path(path)
    doc = load_toml(path, "sync file")
    meta = doc.get("metadata", {})
    method, reference = meta.get("method"), meta.get("reference")
    if method not in METHODS:
        raise FileFormatError(path, f"metadata.method must be one of {list(METHODS)}, got {method!r}", key="method")
    table = doc.get("cameras")
    if not isinstance(table, dict) or not table:
        raise FileFormatError(path, "no [cameras.<name>] tables", key="cameras")
    if reference not in table:
        raise FileFormatError(path, f"metadata.reference {reference!r} is not one of its cameras {sorted(table)}",
                              key="reference")
    clocks = {}
    for name, entry in table.items():
        try:
            clocks[name] = CameraClock(float(entry["start_s"]), float(entry["fps"]),
                                       float(entry.get("confidence", 1.0)), str(entry.get("timestamps", "index")),
                                       float(entry.get("clock_rate", 1.0)), entry.get("frames"),
                                       entry.get("nominal_fps"))
        except KeyError as exc:
            raise FileFormatError(path, f"missing {exc.args[0]}", camera=name) from None
        except (TypeError, ValueError) as exc:
            raise FileFormatError(path, str(exc), camera=name) from None
    if cameras is not None:
        cameras = list(cameras)
        unknown = [n for n in clocks if n not in cameras]
        if unknown:
            raise FileFormatError(path, f"names cameras the session does not have: {unknown} (session: {cameras})",
                                  camera=unknown[0])
        missing = [n for n in cameras if n not in clocks]
        if missing:
            raise FileFormatError(path, f"has no clock for cameras {missing}; run capture3d sync again",
                                  camera=missing[0])
    return SyncResult(str(method), str(reference), clocks)
