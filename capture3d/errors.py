"""Errors raised on misuse, and the one input-checking helper every public function uses.

Expected failures (no board found, too few views) are returned as results with a status; the
exceptions here are for input that cannot be used at all. Every message names what was wrong:
the argument or file, and for files the camera and key.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np


class Capture3DError(Exception):
    """Base class of every error capture3d raises on purpose."""


class InputShapeError(Capture3DError, ValueError):
    """An array argument has the wrong shape or dtype."""


class FileFormatError(Capture3DError, ValueError):
    """A file could not be read: the message names the file, and where known the camera and key."""

    def __init__(self, path, problem: str, *, camera: str | None = None, key: str | None = None):
        self.path = Path(path)
        self.camera = camera
        self.key = key
        where = str(self.path)
        if camera is not None:
            where += f", camera {camera!r}"
        if key is not None:
            where += f", key {key!r}"
        super().__init__(f"{where}: {problem}")
        self._args = (path, problem)

    def __reduce__(self):   # picklable, so that it crosses from worker processes intact
        return (partial(self.__class__, camera=self.camera, key=self.key), self._args)


def file_in_the_way(path) -> Path | None:
    """The first of ``path`` and its parents that is a file: what stops a folder being made
    there (``mkdir(parents=True)`` then says "Not a directory" or "File exists"); None if none is."""
    path = Path(path)
    return next((p for p in (path, *path.parents) if p.is_file()), None)


def check_array(value, name: str, shape: tuple, *, dtype=np.float64) -> np.ndarray:
    """Return ``value`` as an array of ``dtype`` whose shape matches ``shape``.

    Parameters
    ----------
    value : array_like
        The argument to check.
    name : str
        The argument's name, used in the error message.
    shape : tuple
        Expected shape; ``None`` matches any length and ``...`` any number of leading axes
        (only as the first entry).

    Raises
    ------
    InputShapeError
        Naming the argument, the expected shape and the actual one.

    Examples
    --------
    >>> check_array([[1, 2, 3]], "points", (None, 3)).shape
    (1, 3)
    """
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InputShapeError(f"{name}: cannot be read as a {np.dtype(dtype).name} array ({exc})") from None
    expected = tuple(shape)
    lead = expected[:1] == (...,)
    tail = expected[1:] if lead else expected
    ok = arr.ndim >= len(tail) if lead else arr.ndim == len(tail)
    if ok and tail:
        ok = all(e is None or e == a for e, a in zip(tail, arr.shape[arr.ndim - len(tail):]))
    if not ok:
        want = "(" + ", ".join("..." if e is ... else "N" if e is None else str(e) for e in expected) + ")"
        raise InputShapeError(f"{name}: expected shape {want}, got {arr.shape}")
    return arr
