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
