"""The work a batch hands to Dask workers: one camera's detection, one session's reconstruction.

Tasks take paths and small option objects and return small dicts (never arrays): the workers read
the videos and write ``pose2d/<camera>.npz``, ``points3d.npz``, the exports and ``report.json``
themselves. Expected failures (an unreadable video, a calibration that does not fit) come back in
the dict's ``error``; only a bug or a lost worker raises. Neither task imports Open3D.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from ..errors import Capture3DError

log = logging.getLogger("capture3d.batch")

#: Threads a task may use: workers run one task each, one worker per core.
THREADS_PER_TASK = 1
#: Library thread pools that read their size from the environment when they start. Not
#: NUMBA_NUM_THREADS: numba re-reads it at every compilation and refuses a value other than the
#: one its threads started with, so a change after numba's import breaks the next compilation;
#: numba.set_num_threads limits it instead.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: Expected failures of a session's inputs (not bugs): reported in its row.
EXPECTED = (Capture3DError, ValueError, OSError)


def limit_threads(threads: int = THREADS_PER_TASK) -> None:
    """Keep this process's numba, OpenCV and OpenMP pools to ``threads``, so that workers sharing
    the machine's cores do not oversubscribe them. numba's limit is per calling thread, so every
    task calls this first."""
    import cv2

    for name in THREAD_ENV:
        os.environ.setdefault(name, str(threads))
    cv2.setNumThreads(threads)
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def thread_limits_plugin(threads: int = THREADS_PER_TASK, env: dict | None = None):
    """A Dask ``WorkerPlugin`` that sets the thread environment (and ``env``, e.g. the driver's
    ``NUMBA_CACHE_DIR``) in every worker, present and future, before its first task."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class ThreadLimits(WorkerPlugin):
        name = "capture3d-thread-limits"

        def __init__(self, threads, env):
            self.threads, self.env = threads, dict(env or {})

        def setup(self, worker):
            for key, value in self.env.items():
                os.environ.setdefault(key, value)
            limit_threads(self.threads)

    return ThreadLimits(threads, env)


def detect_camera(camera: str, video, out_npz, options, *, limit: bool = True) -> dict:
    """Detect 2D keypoints in one camera's ``video`` into ``out_npz`` (written atomically).

    Returns ``{"camera", "path", "seconds"}``, or ``{"camera", "error"}`` when the video cannot
    be read. ``limit``: :func:`limit_threads` first (in a worker; not in a user's own process)."""
    from ..detect.batch import detect_video

    if limit:
        limit_threads()
    t = time.perf_counter()
    try:
        path = detect_video(video, out_npz, options)
    except EXPECTED as exc:
        return {"camera": camera, "error": str(exc)}
    return {"camera": camera, "path": str(path), "seconds": time.perf_counter() - t}


def _anyone_seen(pose2d: dict) -> tuple[bool, int]:
    """Whether any camera detected anybody in any frame, and the most frames of a camera."""
    from .. import io

    seen, frames = False, 0
    for path in pose2d.values():
        data = io.load_pose2d(path)
        frames = max(frames, int(data["keypoints"].shape[0]))
        seen = seen or bool(np.isfinite(data["keypoints"][..., 2]).any())
    return seen, frames


def median_bone_cv(cv) -> float | None:
    """The median over bones (and people) of ``bone_length_cv``: ``{bone: cv}`` or
    ``{person: {bone: cv}}``; None when there is none."""
    values = []
    for v in (cv or {}).values():
        values.extend(v.values() if isinstance(v, dict) else [v])
    values = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return float(np.median(values)) if values else None


def row_from_report(report: dict) -> dict:
    """A summary row (see :mod:`capture3d.batch.run`) from a session's ``report.json``. A report
    with no person found (``persons`` 0, or no frame with a person) is an ok row with
    ``persons`` 0 and error "no person found"."""
    share = report.get("frames_with_person")
    persons = report.get("persons")
    if persons is None:    # a single-person report
        persons = 1 if share else 0
    return {"cameras": len(report.get("cameras", [])), "frames": report.get("frames"), "persons": int(persons),
            "frames_with_person": share, "median_reprojection_error_px": report.get("median_reprojection_error_px"),
            "bone_length_cv": median_bone_cv(report.get("bone_length_cv")),
            "seconds": float(sum((report.get("seconds") or {}).values())),
            "error": "no person found" if persons == 0 else ""}


def reconstruct(session, calibration, out, options, detections: list[dict], *, limit: bool = True) -> dict:
    """Everything after detection for one session (:func:`capture3d.process.reconstruct_session`)
    once every camera's ``detections`` (results of :func:`detect_camera`) are in.

    Returns a summary row with ``status`` "ok" or "failed". A session where nobody was found
    (a board-only recording) is "ok" with ``persons`` 0 and error "no person found"."""
    from ..process import reconstruct_session

    if limit:
        limit_threads()
    failed = [d for d in detections if d.get("error")]
    if failed:
        return {"status": "failed", "cameras": len(detections),
                "error": "; ".join(f"{d['camera']}: {d['error']}" for d in failed)}
    pose2d = {d["camera"]: Path(d["path"]) for d in detections}
    detect_s = float(sum(d.get("seconds", 0.0) for d in detections))
    try:
        res = reconstruct_session(session, calibration, out, options, pose2d=pose2d, echo=log.info,
                                  timing={"detect": detect_s})
    except EXPECTED as exc:
        seen, frames = _anyone_seen(pose2d)
        if seen and "no person" not in str(exc).lower():
            return {"status": "failed", "cameras": len(pose2d), "error": str(exc)}
        return {"status": "ok", "cameras": len(pose2d), "frames": frames, "persons": 0, "frames_with_person": 0.0,
                "median_reprojection_error_px": None, "bone_length_cv": None, "seconds": detect_s,
                "error": "no person found"}
    return {"status": "ok", **row_from_report(res.report)}


__all__ = ["detect_camera", "reconstruct", "limit_threads", "thread_limits_plugin", "row_from_report",
           "median_bone_cv"]
