"""``capture3d process``: a session's videos to 3D skeletons and files in one go.

detect (every camera, one process per core) -> choose the person (the same one in every view,
followed over time) -> triangulate -> filter -> ``points3d.npz`` and the exports. Every stage's
output is written as soon as it exists (``pose2d/`` per camera, then ``points3d.npz``, then the
exports), so a failure later on loses nothing before it, and a re-run skips cameras already
detected. ``report.json`` holds the figures the command prints and each stage's wall time.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import io
from .detect.batch import DetectOptions, detect_session
from .errors import FileFormatError
from .reconstruct import FilterOptions, TriangulationOptions, postprocess, triangulate
from .reconstruct.association import AssociationOptions, associate_person
from .rig import Rig
from .skeleton import COCO17, bone_length_cv
from .sources import session_frame_map, session_videos

log = logging.getLogger("capture3d.process")

#: Triangulation thresholds as a share of the image diagonal: detector errors grow with the
#: image, and the pixel defaults of TriangulationOptions suit 1 px noise, not a 2D detector.
MAX_ERROR_SHARE = 0.02
MAX_ERROR_TWO_VIEWS_SHARE = 0.008


@dataclass(frozen=True)
class ProcessOptions:
    """Options of :func:`process_session`: one per stage, plus what to write."""

    detect: DetectOptions = field(default_factory=lambda: DetectOptions(max_persons=3))
    association: AssociationOptions = field(default_factory=AssociationOptions)
    triangulation: TriangulationOptions | None = None   # None: thresholds from the image size
    filter: FilterOptions = field(default_factory=FilterOptions)
    exports: tuple[str, ...] = ("csv", "trc", "c3d", "bvh")
    fps: float | None = None        # None: the videos' frame rate


@dataclass
class ProcessResult:
    """Paths written and the figures of the run (``report`` is also ``OUT/report.json``)."""

    points3d: Path
    exports: dict[str, Path]
    report: dict


def _video_fps(path) -> float:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0


def _triangulation_for(sizes) -> TriangulationOptions:
    """Triangulation thresholds scaled to the largest image diagonal of ``sizes {camera: (w, h)}``."""
    diagonal = max(float(np.hypot(*s)) for s in sizes.values())
    return TriangulationOptions(max_error_px=MAX_ERROR_SHARE * diagonal,
                                max_error_two_views_px=MAX_ERROR_TWO_VIEWS_SHARE * diagonal)


def session_rig(session, calibration) -> tuple[Rig, dict[str, Path]]:
    """The rig of ``calibration`` reduced to the cameras that have a video in ``session``, and
    ``{camera: video}`` in rig order. A :class:`FileFormatError` when the calibration does not
    know a camera of the session, or fewer than two cameras are left."""
    videos = session_videos(session)
    rig = Rig.load(calibration)
    unknown = sorted(set(videos) - set(rig.names))
    if unknown:
        raise FileFormatError(calibration, f"does not know the session's cameras {unknown} (it has {rig.names}); "
                              "rename the videos after the calibration's cameras or calibrate them")
    names = [n for n in rig.names if n in videos]
    if len(names) < 2:
        raise FileFormatError(session, f"needs videos of at least two calibrated cameras, found {names}")
    if len(names) < len(rig):
        log.warning("calibration cameras %s have no video in %s; using the other %d",
                    [n for n in rig.names if n not in videos], session, len(names))
    return rig.subset(names), {n: videos[n] for n in names}


def process_session(session, calibration, out, options: ProcessOptions = ProcessOptions(), *,
                    make_bar=None, echo=print) -> ProcessResult:
    """Run the whole path on ``session`` (folder of videos, see CONVENTIONS.md) with the rig of
    ``calibration``; write everything under ``out``: :func:`capture3d.detect.batch.detect_session`
    into ``out/pose2d``, then :func:`reconstruct_session`. ``make_bar(label, total)`` makes
    progress bars, ``echo`` prints one line per stage."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rig, videos = session_rig(session, calibration)
    session_frame_map(session)   # read before detecting: a broken frames.csv fails fast
    t = time.perf_counter()
    pose2d = detect_session(videos, out / "pose2d", options.detect, make_bar=make_bar)
    seconds = time.perf_counter() - t
    echo(f"2D keypoints of {len(pose2d)} cameras in {out / 'pose2d'} ({seconds:.1f} s)")
    return reconstruct_session(session, calibration, out, options, pose2d=pose2d, echo=echo,
                               timing={"detect": seconds})


def reconstruct_session(session, calibration, out, options: ProcessOptions = ProcessOptions(), *,
                        pose2d: dict | None = None, echo=print, timing: dict | None = None) -> ProcessResult:
    """Everything after detection: the session's ``pose2d`` files (``{camera: npz}``; default
    ``out/pose2d/<camera>.npz``) -> people -> triangulation -> filters -> ``out/points3d.npz``,
    the exports and ``out/report.json``. ``session`` gives the videos' frame rate and frame
    numbering (``frames.csv``); ``timing`` holds seconds of earlier stages for the report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timing = dict(timing or {})
    rig, videos = session_rig(session, calibration)
    names = rig.names
    if pose2d is None:
        pose2d = {n: out / "pose2d" / f"{n}.npz" for n in names}
    fps = options.fps or _video_fps(videos[names[0]])
    frame_map = session_frame_map(session)

    t = time.perf_counter()
    cand, frames, joints, sizes = io.stack_pose2d_files({n: pose2d[n] for n in names}, frame_map=frame_map)
    tri = options.triangulation or _triangulation_for(sizes)
    chosen = associate_person(cand, rig, options=options.association, triangulation=tri)
    timing["associate"] = time.perf_counter() - t
    echo(f"person: {chosen.summary()}")

    t = time.perf_counter()
    res = triangulate(chosen.keypoints, rig, options=tri)
    timing["triangulate"] = time.perf_counter() - t

    t = time.perf_counter()
    post = postprocess(res.points, fps=fps, options=options.filter, keypoints=chosen.keypoints, rig=rig,
                       joint_names=joints)
    timing["filter"] = time.perf_counter() - t

    t = time.perf_counter()
    points_path = io.save_points3d(out / "points3d.npz", post.points, joint_names=joints, frame_index=frames,
                                   time_s=frames / fps, reprojection_error_px=res.reprojection_error_px,
                                   n_views=res.n_views, score=res.score)
    from .export import EXPORTERS
    data = io.load_points3d(points_path)
    exports, failed = {}, {}
    for fmt in options.exports:
        try:
            exports[fmt] = EXPORTERS[fmt](out / f"skeleton.{fmt}", data)
        except ValueError as exc:   # e.g. BVH without shoulders: the other files still get written
            failed[fmt] = str(exc)
            log.warning("%s export skipped: %s", fmt, exc)
    timing["export"] = time.perf_counter() - t

    coco = [joints.index(j) for j in COCO17]
    ok = res.ok
    cv = bone_length_cv(post.points, joints)
    report = {
        "session": str(session), "calibration": str(calibration), "cameras": names, "frames": int(len(frames)),
        "fps": fps, "detector": options.detect.detector,
        "frames_with_person": float(np.mean(ok.any(axis=1))),
        "frames_with_all_17_joints": float(np.mean(ok[:, coco].all(axis=1))),
        "median_reprojection_error_px": float(np.median(res.reprojection_error_px[ok])) if ok.any() else None,
        "triangulation": res.summary(), "association": chosen.summary(),
        "bone_length_cv": cv, "seconds": timing, "exports_failed": failed,
        "triangulation_options": asdict(tri),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    echo(f"{report['frames_with_person']:.0%} of {len(frames)} frames with a person, "
         f"{report['frames_with_all_17_joints']:.0%} with all 17 joints; median reprojection error "
         f"{report['median_reprojection_error_px']:.2f} px; bone-length CV median "
         f"{np.nanmedian(list(cv.values())):.3f}")
    total = sum(timing.values())
    echo("time: " + ", ".join(f"{k} {v:.1f} s ({v / total:.0%})" for k, v in timing.items()))
    return ProcessResult(points_path, exports, report)


__all__ = ["ProcessOptions", "ProcessResult", "process_session", "reconstruct_session", "session_rig"]
