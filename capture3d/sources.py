"""Where frames come from. For now: the videos of a session folder (CONVENTIONS.md), a plain
folder of videos, or caliscope's ``cam_N.mp4`` + ``timestamps.csv``."""
from __future__ import annotations

import logging
from pathlib import Path

from .errors import FileFormatError

log = logging.getLogger("capture3d.sources")

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".m4v"}


def session_videos(folder) -> dict[str, Path]:
    """``{camera name: video path}`` of a session (``videos/`` inside) or a plain video folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileFormatError(folder, "session folder not found")
    inner = folder / "videos"
    where = inner if inner.is_dir() else folder
    videos = {p.stem: p for p in sorted(where.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES}
    if not videos:
        raise FileFormatError(where, f"no videos ({', '.join(sorted(VIDEO_SUFFIXES))}) in this folder")
    return videos


def session_frame_numbers(columns: dict, *, by_device_id: bool) -> dict:
    """The session frame number of every frame of every camera, so that frames of the same instant
    share a number across cameras even when some camera dropped frames or stopped early.

    ``columns``: ``{camera: (device_frame_id (n,), host_timestamp_ns (n,))}`` int64 in video order
    (-1 where a camera has no device id). With ``by_device_id`` (synchronised triggers, and every
    camera has ids) the numbers are the device frame ids: the counters start together with the
    acquisition, so id ``n`` is trigger pulse ``n`` in every camera. Otherwise every camera is
    matched to the first camera (by name) with frames by nearest host time, and takes its numbers
    (``0..n-1``).
    """
    import numpy as np

    if by_device_id and all((ids >= 0).all() for ids, _ in columns.values()):
        return {cam: np.asarray(ids, np.int64) for cam, (ids, _) in columns.items()}
    with_frames = sorted(cam for cam, (_, host) in columns.items() if len(host))
    if not with_frames:
        return {cam: np.empty(0, np.int64) for cam in columns}
    reference = np.asarray(columns[with_frames[0]][1], np.int64)
    out = {}
    for cam, (_, host) in columns.items():
        host = np.asarray(host, np.int64)
        right = np.clip(np.searchsorted(reference, host), 0, len(reference) - 1)
        left = np.clip(right - 1, 0, len(reference) - 1)
        out[cam] = np.where(np.abs(host - reference[left]) <= np.abs(reference[right] - host), left, right)
    return out


def session_frame_map(folder) -> dict[str, "np.ndarray"] | None:
    """For a session ``record`` wrote (``frames.csv`` present), or a caliscope recording
    (``timestamps.csv``, see :func:`caliscope_frame_map`): per camera, the session frame of
    each of its video frames (:func:`session_frame_numbers`; device ids count when
    ``session.toml`` says the triggers were synchronised, or says nothing). ``None`` for other
    folders (their frame ``i`` is taken to be the same instant in every video).
    """
    import numpy as np

    from .capture.base import triggers_synchronised
    from .capture.recorder import read_frames_csv
    from .io import load_toml

    folder = Path(folder)
    if (folder / "timestamps.csv").is_file() and not (folder / "frames.csv").is_file():
        return caliscope_frame_map(folder / "timestamps.csv")
    if not (folder / "frames.csv").is_file():
        return None
    table = read_frames_csv(folder)
    if not table:
        raise FileFormatError(folder / "frames.csv", "no frames listed")
    by_device_id = True
    if (folder / "session.toml").is_file():
        cameras = load_toml(folder / "session.toml", "session file").get("cameras", [])
        by_device_id = triggers_synchronised(c.get("trigger", "off") for c in cameras)
    columns = {}
    for cam, cols in table.items():
        index, first = np.unique(cols["frame_index"], return_index=True)    # a row listed twice counts once
        ids, host = cols["device_frame_id"][first], cols["host_timestamp_ns"][first]
        if len(first) < len(cols["frame_index"]):
            log.warning("%s: %d duplicated rows of %s ignored", folder / "frames.csv",
                        len(cols["frame_index"]) - len(first), cam)
        n = int(index.max()) + 1 if len(index) else 0
        if len(index) < n:   # rows missing: their numbers come from the neighbours' (one frame per step)
            log.warning("%s: %s has rows for %d of its %d video frames; the others' numbers are interpolated",
                        folder / "frames.csv", cam, len(index), n)
            every = np.arange(n)
            ids = np.rint(np.interp(every, index, ids)).astype(np.int64) if (ids >= 0).all() else np.full(n, -1)
            host = np.rint(np.interp(every, index, host)).astype(np.int64)
        columns[cam] = (ids, host)
    return session_frame_numbers(columns, by_device_id=by_device_id)


def caliscope_frame_map(path) -> dict[str, "np.ndarray"]:
    """caliscope's ``timestamps.csv`` (``sync_index,cam_id,frame_time``, one row per video frame):
    per camera ``cam_<id>`` (its video is ``cam_<id>.mp4``), the ``sync_index`` of each of its
    video frames, counted from the session's first. A camera's video frames are its rows in
    ``frame_time`` order; rows that share a ``sync_index`` are the same instant."""
    import csv

    import numpy as np

    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise FileFormatError(path, f"cannot be read ({exc})") from None
    need = {"sync_index", "cam_id", "frame_time"}
    if not rows or not need <= set(rows[0]):
        raise FileFormatError(path, f"expected the columns {sorted(need)}, found "
                              f"{sorted(rows[0]) if rows else 'no rows'}")
    per_cam: dict[str, list] = {}
    try:
        for line, r in enumerate(rows, start=2):
            per_cam.setdefault(f"cam_{int(r['cam_id'])}", []).append((float(r["frame_time"]), int(r["sync_index"])))
    except ValueError as exc:
        raise FileFormatError(path, f"line {line}: {exc}") from None
    first = min(s for v in per_cam.values() for _, s in v)
    return {cam: np.array([s for _, s in sorted(v)], np.int64) - first for cam, v in sorted(per_cam.items())}
