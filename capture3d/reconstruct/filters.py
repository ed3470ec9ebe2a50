"""Temporal processing of 3D trajectories: gap filling and zero-phase low-pass filtering."""
from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.signal import butter, sosfiltfilt

from ..errors import check_array


def _runs(mask):
    """(start, stop) of every run of True in a 1-D boolean array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def fill_gaps(points, *, max_gap: int = 10):
    """Fill NaN gaps of at most ``max_gap`` frames by a cubic spline through the valid frames.

    Parameters
    ----------
    points : (F, J, 3) float
        Meters, NaN where missing.

    Returns
    -------
    filled : (F, J, 3) float64
        Longer gaps, and gaps at either end, stay NaN.
    long_gaps : list of (joint, start, stop)
        The gaps left unfilled, frames ``start`` to ``stop - 1``.
    """
    pts = check_array(points, "points", (None, None, 3)).copy()
    F, J, _ = pts.shape
    long_gaps = []
    t = np.arange(F)
    for j in range(J):
        valid = np.isfinite(pts[:, j]).all(1)
        if valid.sum() < 2:
            if not valid.all():
                long_gaps.append((j, 0, F))
            continue
        spline = None
        for start, stop in _runs(~valid):
            if start == 0 or stop == F or stop - start > max_gap:
                long_gaps.append((j, int(start), int(stop)))
                continue
            if spline is None:
                spline = CubicSpline(t[valid], pts[valid, j], axis=0) if valid.sum() >= 4 else None
            if spline is None:
                w = (t[start:stop] - (start - 1)) / (stop - start + 1)
                pts[start:stop, j] = (1 - w)[:, None] * pts[start - 1, j] + w[:, None] * pts[stop, j]
            else:
                pts[start:stop, j] = spline(t[start:stop])
    return pts, long_gaps


def butterworth(points, *, fps: float, cutoff_hz: float = 6.0, order: int = 4):
    """Zero-phase Butterworth low-pass along time, run separately on every finite stretch.

    Parameters
    ----------
    points : (F, J, 3) float
        Meters; NaN gaps are left as they are (fill them first with :func:`fill_gaps`).
    fps : float
        Frame rate, Hz. ``cutoff_hz`` must be below ``fps / 2``.
    """
    pts = check_array(points, "points", (None, None, 3)).copy()
    if not 0 < cutoff_hz < fps / 2:
        raise ValueError(f"cutoff_hz must be in (0, fps/2) = (0, {fps / 2}), got {cutoff_hz}")
    sos = butter(order, cutoff_hz, btype="low", fs=fps, output="sos")
    pad = 3 * (2 * len(sos) + 1)
    for j in range(pts.shape[1]):
        valid = np.isfinite(pts[:, j]).all(1)
        for start, stop in _runs(valid):
            if stop - start > pad:
                pts[start:stop, j] = sosfiltfilt(sos, pts[start:stop, j], axis=0)
    return pts
