"""Helpers shared by the calibration readers: typed field access with messages that name the
file, the camera and the key."""
from __future__ import annotations

import numpy as np

from ..errors import FileFormatError

UNIT_TO_METERS = {"m": 1.0, "meter": 1.0, "meters": 1.0, "mm": 1e-3, "millimeter": 1e-3,
                  "millimeters": 1e-3, "cm": 1e-2, "centimeter": 1e-2, "centimeters": 1e-2,
                  "in": 0.0254, "inch": 0.0254, "inches": 0.0254}


def unit_scale(unit, path) -> float:
    """Meters per ``unit``; FileFormatError naming the file for an unknown unit."""
    try:
        return UNIT_TO_METERS[str(unit).strip().lower()]
    except KeyError:
        raise FileFormatError(path, f"unknown units {unit!r}; known: {sorted(UNIT_TO_METERS)}",
                              key="units") from None


def field_array(table: dict, key: str, shapes, path, camera: str) -> np.ndarray:
    """``table[key]`` as float64 of one of ``shapes`` (tuples), else a FileFormatError."""
    if key not in table:
        raise FileFormatError(path, "missing key", camera=camera, key=key)
    try:
        arr = np.asarray(table[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise FileFormatError(path, f"not numeric: {table[key]!r}", camera=camera, key=key) from None
    if arr.shape not in shapes:
        want = " or ".join(str(s) for s in shapes)
        raise FileFormatError(path, f"expected shape {want}, got {arr.shape}", camera=camera, key=key)
    if not np.all(np.isfinite(arr)):
        raise FileFormatError(path, "contains NaN or infinite values", camera=camera, key=key)
    return arr


def rotation_to_rvec(arr: np.ndarray, path, camera: str, key: str = "rotation") -> np.ndarray:
    """Rodrigues ``(3,)`` as is, or a ``(3, 3)`` matrix checked for orthonormality."""
    from ..camera.camera import rodrigues_from_rotation

    if arr.shape == (3,):
        return arr
    if not np.allclose(arr @ arr.T, np.eye(3), atol=1e-4) or np.linalg.det(arr) < 0:
        raise FileFormatError(path, "3x3 rotation is not a proper rotation matrix",
                              camera=camera, key=key)
    return rodrigues_from_rotation(arr)
