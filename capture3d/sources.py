"""Where frames come from. For now: the videos of a session folder (CONVENTIONS.md), a plain
folder of videos, or caliscope's ``cam_N.mp4`` + ``timestamps.csv``."""
from __future__ import annotations

from pathlib import Path

from .errors import FileFormatError

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


def session_frame_map(folder) -> dict[str, "np.ndarray"] | None:
    """For a session ``record`` wrote (``frames.csv`` present): per camera, the session frame of
    each of its video frames, so that frames of the same instant share a number across cameras
    even when some camera dropped frames or stopped a frame early. ``None`` for other folders
    (their frame ``i`` is taken to be the same instant in every video).

    Cameras with device frame ids (hardware trigger, synthetic) are numbered by those ids: their
    counters start together with the acquisition, so id ``n`` is trigger pulse ``n`` in every
    camera. Cameras without (USB) are matched to the frames of the first camera (by name) by nearest
    host time.
    """
    import numpy as np

    from .capture.recorder import read_frames_csv

    folder = Path(folder)
    if not (folder / "frames.csv").is_file():
        return None
    table = read_frames_csv(folder)
    if not table:
        raise FileFormatError(folder / "frames.csv", "no frames listed")
    out = {}
    first = sorted(table)[0]
    reference = table[first]["host_timestamp_ns"][np.argsort(table[first]["frame_index"])]
    for cam, cols in table.items():
        order = np.argsort(cols["frame_index"])
        ids = cols["device_frame_id"][order]
        if (ids >= 0).all():
            out[cam] = ids
        elif cam == first:
            out[cam] = np.arange(len(ids))
        else:
            host = cols["host_timestamp_ns"][order]
            pos = np.clip(np.searchsorted(reference, host), 1, max(1, len(reference) - 1))
            nearer_left = np.abs(host - reference[pos - 1]) <= np.abs(reference[np.minimum(pos, len(reference) - 1)] - host)
            out[cam] = np.where(nearer_left, pos - 1, np.minimum(pos, len(reference) - 1))
    return out
