"""Calibration over whole recordings, as ``capture3d calibrate`` runs it, callable from Python.

- :func:`calibrate_intrinsics_many`: one board video (or image folder, or glob) per camera ->
  every camera's intrinsics, with the reason for each camera that failed, then
  :func:`write_intrinsics` (the TOML and the coverage picture).
- :func:`session_board_observations`: a session's synchronised board videos -> every camera's
  board detections, frames numbered so that equal numbers are the same instant; then
  :func:`intrinsics_from_session` when no intrinsics were recorded separately, and
  :func:`capture3d.calibrate.extrinsics.calibrate_extrinsics`.

Nothing here prints: lines meant for the user come back in the results (``notes``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Capture3DError
from ..rig import Rig
from .boards import Board
from .detect import MAX_BLUR_PX, MIN_SQUARE_PX, BoardObservations, detect_board, diagnose_no_board
from .intrinsics import IntrinsicsOptions, IntrinsicsResult, calibrate_intrinsics


def calibration_sources(inputs) -> list[tuple[str, object]]:
    """``[(camera name, source)]`` of command-line inputs: a video (named by its stem), an image
    folder (by its name) or a quoted glob of images (by their folder's name). A
    :class:`Capture3DError` names an input that does not exist or a pattern that matches nothing."""
    sources = []
    for item in map(str, inputs):
        p = Path(item)
        if any(ch in item for ch in "*?["):
            matches = sorted(Path().glob(item))
            if not matches:
                raise Capture3DError(f"{item}: the pattern matches no file")
            sources.append((p.parent.name or "camera", [str(m) for m in matches]))
        elif p.exists():
            sources.append((p.stem if p.is_file() else p.name, p))
        else:
            raise Capture3DError(f"{item}: file not found")
    return sources


def dropped_views(obs: BoardObservations) -> str | None:
    """How many views the detection's quality gate dropped (blurred, too small), or None."""
    if not (obs.rejected_blurred or obs.rejected_small):
        return None
    return (f"{obs.camera}: board found in {len(obs) + obs.rejected_blurred + obs.rejected_small} of "
            f"{obs.frames_read} frames; dropped {obs.rejected_blurred} blurred (edges wider than "
            f"{MAX_BLUR_PX:g} px) and {obs.rejected_small} with squares under {MIN_SQUARE_PX:g} px")


def no_views_reason(obs: BoardObservations, source, board: Board) -> str | None:
    """Why ``obs`` holds no usable view of the board, with what to do about it; None if it has some.
    ``source`` is what was searched (for :func:`diagnose_no_board`)."""
    if len(obs):
        return None
    if obs.rejected_blurred or obs.rejected_small:
        return (f"{obs.camera}: the board was found in {obs.rejected_blurred + obs.rejected_small} of "
                f"{obs.frames_read} frames, but every view was too blurred or too small; record it closer, "
                "better lit (shorter exposure) and moving slowly")
    return f"{obs.camera}: no board in {obs.frames_read} frames; {diagnose_no_board(source, board)}"


def describe_intrinsics(res: IntrinsicsResult) -> str:
    """One line on a successful intrinsic calibration: fit, views, focal length and principal
    point with their uncertainty, and how well that pins the camera's pointing."""
    K, (sfx, _sfy, scx, scy) = res.camera.matrix, res.std_px
    return (f"{res.camera.name}: RMS {res.rms_px:.3f} px, {len(res.view_frames)} views, coverage {res.coverage:.0%}, "
            f"f = {K[0, 0]:.1f} +- {sfx:.1f} px, principal point ({K[0, 2]:.1f}, {K[1, 2]:.1f}) "
            f"+- ({scx:.1f}, {scy:.1f}) px: the camera's pointing is known to +- {res.pointing_std_deg:.2f} deg")


@dataclass
class IntrinsicsBatch:
    """Result of :func:`calibrate_intrinsics_many`: per camera (input order) the calibration
    result and detections of those that had usable views; ``failures`` the reason of each camera
    that failed; ``notes`` lines for the user (dropped views, each success)."""

    results: dict[str, IntrinsicsResult] = field(default_factory=dict)
    observations: dict[str, BoardObservations] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.results)

    def rig(self) -> Rig:
        """The calibrated cameras as an intrinsics-only rig, their uncertainty in its metadata."""
        good = [r for r in self.results.values() if r.ok]
        uncertainty = {r.camera.name: {"std_fx_fy_cx_cy_px": [float(v) for v in r.std_px],
                                       "pointing_deg": r.pointing_std_deg} for r in good}
        return Rig([r.camera for r in good], {"kind": "intrinsics only", "intrinsics_uncertainty": uncertainty})


def calibrate_intrinsics_many(sources, board: Board, options: IntrinsicsOptions = IntrinsicsOptions(), *,
                              every: int = 1, cache_dir=None, make_bar=None) -> IntrinsicsBatch:
    """Detect the board in every camera's ``sources`` (``[(name, source)]``, see
    :func:`calibration_sources`) and calibrate each camera's intrinsics. A camera without usable
    views or whose calibration fails is listed in ``failures``; the others are still done.
    ``make_bar(name)`` makes a tqdm-like progress bar (``update``, ``close``) per camera."""
    batch = IntrinsicsBatch()
    for name, source in sources:
        bar = make_bar(name) if make_bar is not None else None
        obs = detect_board(source, board, camera=name, every=every, cache_dir=cache_dir,
                           progress=bar.update if bar is not None else None)
        if bar is not None:
            bar.close()
        for line in filter(None, [dropped_views(obs)]):
            batch.notes.append(line)
        reason = no_views_reason(obs, source, board)
        if reason:
            batch.failures.append(reason)
            continue
        res = calibrate_intrinsics(obs, board, options=options)
        batch.results[name], batch.observations[name] = res, obs
        if res.ok:
            batch.notes.append(describe_intrinsics(res))
        else:
            batch.failures.append(res.message)
    return batch


def write_intrinsics(batch: IntrinsicsBatch, path) -> dict[str, Path]:
    """Write ``batch.rig()`` to ``path`` and the coverage picture (where the corners fell on each
    sensor) beside it as ``<stem>_coverage.png``: ``{"calibration": ..., "coverage": ...}``."""
    from .report import write_coverage_picture

    path = Path(path)
    batch.rig().save(path)
    picture = write_coverage_picture(list(batch.results.values()), batch.observations,
                                     path.with_name(path.stem + "_coverage.png"))
    return {"calibration": path, "coverage": Path(picture)}


def detect_session_boards(session, videos: dict, board, *, every: int = 1, make_bar=None) -> dict:
    """:func:`capture3d.calibrate.detect.detect_board` on every video ``{camera: path}`` of
    ``session`` (cached in ``SESSION/.capture3d_cache``), one progress bar per camera from
    ``make_bar(camera)``; ``{camera: BoardObservations}``."""
    observations = {}
    for name, path in videos.items():
        bar = make_bar(name) if make_bar is not None else None
        observations[name] = detect_board(path, board, camera=name, every=every,
                                          cache_dir=Path(session) / ".capture3d_cache",
                                          progress=bar.update if bar is not None else None)
        if bar is not None:
            bar.close()
    return observations


def session_board_observations(session, board: Board, *, every: int = 1, allow_unequal: bool = False,
                               make_bar=None, notes: list | None = None) -> dict[str, BoardObservations]:
    """Board detections of every camera of ``session`` (cached in ``SESSION/.capture3d_cache``),
    ``{camera: BoardObservations}`` with frames numbered so that equal numbers are the same
    instant: by ``frames.csv`` (recorded sessions) or ``timestamps.csv`` (caliscope), else frame
    ``i`` of every video (which must then be of equal length unless ``allow_unequal``).

    ``make_bar(name)`` makes a progress bar per camera; lines about dropped views are appended to
    ``notes``. A :class:`Capture3DError` says which file disagrees with which video."""
    from ..sources import session_frame_map, session_videos

    videos = session_videos(session)
    frame_map = session_frame_map(session)   # before detecting: a broken frames.csv fails fast
    observations = detect_session_boards(session, videos, board, every=every, make_bar=make_bar)
    for obs in observations.values():
        if notes is not None and dropped_views(obs):
            notes.append(dropped_views(obs))
    counts = {n: o.frames_read for n, o in observations.items()}
    if frame_map is not None:   # frames.csv or timestamps.csv says which frames belong together
        listing = "frames.csv" if (Path(session) / "frames.csv").is_file() else "timestamps.csv"
        for name, obs in observations.items():
            if name not in frame_map or len(frame_map[name]) < obs.frames_read:
                raise Capture3DError(f"{session}/{listing}: lists {len(frame_map.get(name, ()))} frames of "
                                     f"{name}, its video has {obs.frames_read}")
            obs.frames = frame_map[name][obs.frames]
    elif len(set(counts.values())) > 1 and not allow_unequal:
        raise Capture3DError(f"{session}: the videos have different frame counts {counts}; frame i must "
                             "be the same instant in every camera (pass --allow-unequal if they start together)")
    return observations


def intrinsics_from_session(observations: dict[str, BoardObservations], board: Board,
                            options: IntrinsicsOptions = IntrinsicsOptions()) -> Rig:
    """Every camera's intrinsics from the session's own board views (when none were recorded
    apart); a :class:`Capture3DError` with the first camera's reason when one fails."""
    cameras = []
    for obs in observations.values():
        res = calibrate_intrinsics(obs, board, options=options)
        if not res.ok:
            raise Capture3DError(f"intrinsics from the session failed, nothing written: {res.message}")
        cameras.append(res.camera)
    return Rig(cameras)


def report_folder(calibration_path) -> Path:
    """Where a calibration's report goes: ``calibration.toml`` -> ``calibration_report/``."""
    p = Path(calibration_path)
    return p.with_name(p.stem + "_report")


__all__ = ["calibration_sources", "detect_session_boards", "dropped_views", "no_views_reason", "describe_intrinsics", "IntrinsicsBatch",
           "calibrate_intrinsics_many", "write_intrinsics", "session_board_observations", "intrinsics_from_session",
           "report_folder"]
