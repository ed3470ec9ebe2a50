"""2D detection over a session: every camera's video, one process per core, results per camera.

Each camera's keypoints go to ``pose2d/<camera>.npz`` (CONVENTIONS.md; canonical joint layout,
``(frames, persons, joints, 3)``) as soon as that camera is done, written atomically; a re-run
skips cameras whose file is there and was made with the same detector and frame selection. A
camera whose video cannot be read is reported by name after the others have finished, so that
nothing already detected is lost.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .. import io
from ..errors import Capture3DError, FileFormatError
from .base import make_detector, to_canonical

log = logging.getLogger("capture3d.detect")


@dataclass(frozen=True)
class DetectOptions:
    """Options of :func:`detect_session` and :func:`detect_video`."""

    detector: str = "blazepose"     # a name make_detector knows
    every: int = 1                  # use every N-th frame
    max_frames: int | None = None   # stop after this many used frames per camera
    workers: int | None = None      # processes; default one per core, at most one per camera
    max_persons: int = 1            # person slots per view (several people: process picks one)
    detector_options: dict = field(default_factory=dict)   # passed to the detector's constructor

    def __post_init__(self):
        if self.every < 1 or (self.max_frames is not None and self.max_frames < 1):
            raise ValueError(f"every and max_frames must be >= 1, got {self.every} and {self.max_frames}")

    def selection(self) -> dict:
        """What decides whether an existing result can be reused."""
        chosen = {"detector": self.detector, "every": self.every, "max_frames": self.max_frames,
                  "max_persons": self.max_persons}
        if self.detector_options:   # (left out when empty, so results made before it stay valid)
            chosen["detector_options"] = dict(sorted(self.detector_options.items()))
        return chosen


class DetectionError(Capture3DError):
    """Some cameras could not be processed; ``done`` maps the others to their files."""

    def __init__(self, message, done: dict[str, Path], failed: dict[str, str]):
        super().__init__(message)
        self.done, self.failed = done, failed


def _open_video(path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileFormatError(path, "cannot open this video (missing, unreadable or an unknown codec)")
    return cap


def detect_video(video, out_path, options: DetectOptions = DetectOptions(), *, progress=None) -> Path:
    """Run the detector over one video and write ``out_path`` (a ``pose2d`` npz).

    ``progress(done, total)`` is called every few frames. A video that ends early or fails to
    decode part-way keeps the frames read so far (logged), it is not an error.
    """
    cap = _open_video(video)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
    fps = cap.get(cv2.CAP_PROP_FPS)
    wanted = len(range(0, total, options.every)) if total else 0
    if options.max_frames:
        wanted = min(wanted, options.max_frames) if wanted else options.max_frames
    kw = dict(options.detector_options)
    kw.setdefault("max_persons", options.max_persons)
    detector = make_detector(options.detector, **kw)
    rows, frames, size = [], [], None
    index = 0
    while options.max_frames is None or len(frames) < options.max_frames:
        if index % options.every:
            if not cap.grab():
                break
            index += 1
            continue
        ok, image = cap.read()
        if not ok:
            break
        size = (image.shape[1], image.shape[0])
        rows.append(detector(image))
        frames.append(index)
        index += 1
        if progress is not None and len(frames) % 5 == 0:
            progress(len(frames), wanted)
    cap.release()
    if not frames:
        raise FileFormatError(video, "no frame could be read from this video")
    if total and index < total and options.max_frames is None and options.every == 1:
        log.warning("%s: only %d of the %d frames announced could be read; keeping them", video, index, total)
    keypoints, names = to_canonical(np.stack(rows), detector.joint_names)
    if progress is not None:
        progress(len(frames), len(frames))
    return io.save_pose2d(out_path, keypoints, joint_names=names, image_size=size,
                          detector=f"{detector.name} {options.selection()}", frame_index=frames,
                          fps=fps if fps < 1000 else None)   # (a container's time base is no rate)


def _is_done(path: Path, options: DetectOptions) -> bool:
    if not path.is_file():
        return False
    try:
        return io.load_pose2d(path)["detector"].endswith(str(options.selection()))
    except FileFormatError:
        return False


def _worker(camera, video, out_path, options, messages):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cv2.setNumThreads(1)

    def progress(done, total):
        messages.put((camera, done, total))
    return detect_video(video, out_path, options, progress=progress)


def fetch_models(options: DetectOptions = DetectOptions(), *, echo=None) -> list[Path]:
    """Fetch and verify the model files ``options.detector`` needs, in this process.

    :func:`detect_session` calls it before its workers start, so that a fresh checkout
    downloads the models once instead of once per worker process (which once raced on the
    same temporary file). Detectors list their files in a ``model_names`` class attribute;
    others need nothing fetched. ``echo(line)`` tells of a download (default: the log).
    Returns the verified paths.
    """
    from . import blazepose  # noqa: F401  (registers itself)
    from . import manifest
    from .base import _REGISTRY

    names = getattr(_REGISTRY.get(options.detector), "model_names", ())
    folder = options.detector_options.get("models_folder")
    return [manifest.model(n, folder, fetch_missing=True, echo=echo).path for n in names]


def check_options(options: DetectOptions) -> None:
    """Raise the ``ValueError`` that an unknown ``options.detector`` or its ``detector_options``
    would raise in every worker, here and once (a detector with an ``options_class`` attribute: its
    options are built from them)."""
    from . import blazepose  # noqa: F401  (registers itself)
    from . import manifest
    from .base import _REGISTRY, available_detectors

    if options.detector not in _REGISTRY and \
            options.detector not in manifest.load_manifest(options.detector_options.get("models_folder")):
        raise ValueError(f"unknown detector {options.detector!r}; available: {', '.join(available_detectors())}")
    make = getattr(_REGISTRY.get(options.detector), "options_class", None)
    if make is None:
        return
    kw = {k: v for k, v in options.detector_options.items() if k != "models_folder"}
    kw.setdefault("max_persons", options.max_persons)
    try:
        make(**kw)
    except TypeError as exc:   # an option it does not have
        raise ValueError(f"{options.detector}: {exc}") from None


def detect_session(videos: dict[str, Path], out_dir, options: DetectOptions = DetectOptions(), *,
                   make_bar=None, echo=None) -> dict[str, Path]:
    """Detect 2D keypoints in every camera's video: ``{camera: video}`` -> ``{camera: npz}``.

    Parameters
    ----------
    videos : dict
        Camera name -> video path (:func:`capture3d.sources.session_videos`).
    out_dir : path
        Where ``<camera>.npz`` files go.
    make_bar : callable, optional
        ``make_bar(camera, total)`` -> a tqdm-like bar (``update``, ``close``), one per camera.
    echo : callable, optional
        ``echo(line)`` tells of a model download on first use (default: a log warning) and of
        the cameras whose file was already there and kept (default: the log, at INFO).

    Raises :class:`DetectionError` after all other cameras are written when some failed.
    """
    out_dir = Path(out_dir)
    done, todo, failed = {}, {}, {}
    for cam, video in videos.items():
        path = out_dir / f"{cam}.npz"
        if _is_done(path, options):
            log.info("%s: %s is already there, skipped", cam, path)
            done[cam] = path
        else:
            todo[cam] = (Path(video), path)
    if done and echo is not None:   # a re-run says why it took no time
        echo(f"2D keypoints of {', '.join(done)} reused: {out_dir} has them from the same detector and options")
    if not todo:                    # (a reused file needs no models, nor a manifest)
        return done
    check_options(options)   # an unknown detector or option: one line, and no output folder made
    out_dir.mkdir(parents=True, exist_ok=True)
    fetch_models(options, echo=echo)
    workers = min(options.workers or os.cpu_count() or 1, len(todo))
    bars, last = {}, {}
    ctx = mp.get_context("spawn")   # TFLite and numba threads do not survive fork
    with mp.Manager() as manager, ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        messages = manager.Queue()
        futures = {pool.submit(_worker, cam, v, p, options, messages): cam for cam, (v, p) in todo.items()}
        pending = set(futures)
        while pending:
            try:
                cam, n, total = messages.get(timeout=0.2)
                if make_bar is not None:
                    if cam not in bars:
                        bars[cam], last[cam] = make_bar(cam, total), 0
                    bars[cam].update(n - last[cam])
                    last[cam] = n
            except queue.Empty:
                pass
            for fut in [f for f in pending if f.done()]:
                pending.discard(fut)
                cam = futures[fut]
                try:
                    done[cam] = fut.result()
                except Exception as exc:   # reported together at the end, once; the rest goes on
                    failed[cam] = str(exc)
                    log.info("%s: %s", cam, exc)
                if cam in bars:
                    bars[cam].close()
    if failed:
        lines = "; ".join(f"{c}: {m}" for c, m in failed.items())
        raise DetectionError(f"{len(failed)} of {len(videos)} cameras failed ({lines}); the others are in "
                             f"{out_dir}", done, failed)
    return {cam: done[cam] for cam in videos}
