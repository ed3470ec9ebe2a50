"""Which folders below a batch root are sessions, and which calibration each one uses.

A session is a folder with a ``videos/`` subfolder (even an empty one: it is then reported as
having no videos) or a folder that holds videos itself. Folders named ``calibration`` (Pose2Sim
keeps its board videos there), hidden folders and the batch's own output folder are not searched.

A session's calibration, first found wins: ``-c`` for every session; a calibration file in the
session folder itself (``pose2sim_multiperson/Calib.qca.txt``); a calibration file in the
nearest ``calibration/`` folder at or above the session, up to the root (Pose2Sim's batch layout
``ROOT/calibration/Calib.toml`` with ``ROOT/Trial_*/videos/``). Within one folder TOML comes
before other formats, then names in alphabetical order.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..sources import VIDEO_SUFFIXES

#: TOML files in a session folder that are not calibrations.
NOT_CALIBRATION = {"session.toml", "sync.toml"}


@dataclass(frozen=True)
class BatchSession:
    """One session of a batch: where its videos are, which calibration, where its results go.

    ``calibration`` is None when none was found (``problem`` says where it was looked for)."""

    path: Path                  # the session folder
    label: str                  # its path relative to the root, POSIX style; "." for the root itself
    out: Path                   # OUT/<label>
    calibration: Path | None
    problem: str | None = None  # why it cannot run, found before any work


def _is_calibration(path: Path) -> bool:
    from ..errors import FileFormatError
    from ..formats import detect_format

    name = path.name.lower()
    if not path.is_file() or name in NOT_CALIBRATION:
        return False
    if not (name.endswith(".toml") or name.endswith(".qca.txt") or name.endswith(".xml")):
        return False
    try:
        detect_format(path)
    except (FileFormatError, OSError, ValueError):
        return False
    return True


def calibration_in(folder) -> Path | None:
    """The calibration file directly in ``folder`` (TOML first, then by name), or None."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = [p for p in sorted(folder.iterdir()) if _is_calibration(p)]
    found.sort(key=lambda p: not p.name.lower().endswith(".toml"))   # stable: TOML first, then by name
    return found[0] if found else None


def find_calibration(session, root) -> Path | None:
    """The calibration of ``session`` below ``root`` (module docstring's rule, without ``-c``)."""
    session, root = Path(session).resolve(), Path(root).resolve()
    own = calibration_in(session)
    if own is not None:
        return own
    folder = session
    while True:
        for name in ("calibration", "Calibration"):
            found = calibration_in(folder / name)
            if found is not None:
                return found
        if folder == root or folder.parent == folder:
            return None
        folder = folder.parent


def _has_videos(folder: Path) -> bool:
    return any(p.suffix.lower() in VIDEO_SUFFIXES and p.is_file() for p in folder.iterdir())


def discover_sessions(root, out, *, calibration=None) -> list[BatchSession]:
    """Every session below ``root`` (itself included), in path order, with its calibration.

    Parameters
    ----------
    root : path
        Folder to search.
    out : path
        The batch's output folder: session ``S`` writes to ``out / S.relative_to(root)``; ``out``
        itself is not searched when it lies inside ``root``.
    calibration : path, optional
        One calibration for every session (``-c``); otherwise :func:`find_calibration`.
    """
    root, out = Path(root).resolve(), Path(out).resolve()
    if not root.is_dir():
        from ..errors import FileFormatError

        raise FileFormatError(root, "batch root folder not found")
    sessions, seen = [], set()
    for here, dirs, _files in os.walk(root, followlinks=True):   # symlinked trials count; loops do not
        here_path = Path(here)
        seen.add(here_path.resolve())
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d.lower() != "calibration"
                         and (here_path / d).resolve() not in seen | {out})
        is_session = (here_path / "videos").is_dir() or _has_videos(here_path)
        if not is_session:
            continue
        dirs[:] = []     # a session's subfolders (videos/, pose2d/...) are part of it
        rel = here_path.relative_to(root)
        label = rel.as_posix()
        cal = Path(calibration) if calibration is not None else find_calibration(here_path, root)
        problem = None if cal is not None else (
            "no calibration found (in the session folder, or a calibration/ folder at or above it up to "
            f"{root}); pass -c")
        sessions.append(BatchSession(here_path, label, out / rel, cal, problem))
    return sessions


__all__ = ["BatchSession", "discover_sessions", "find_calibration", "calibration_in"]
