"""Temporal processing of 3D trajectories: spike removal, gap filling, zero-phase low-pass
filtering and a Kalman/RTS smoother."""
from __future__ import annotations

import warnings

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


def remove_spikes(points, *, window: int = 7, threshold_m: float = 0.1):
    """Set to NaN the points that jump away from their neighbours in time.

    A point farther than ``threshold_m`` from the median of the ``window`` frames around it is a
    spike: a wrong triangulation that the views happened to agree on (two views, one of them an
    outlier lying near the epipolar line). Smooth motion is never cut: on a straight or even
    a curved path the median of a short window lies on the path, within a few millimetres of
    the point at 30 fps or more. The ends are judged against an odd reflection of the path
    (``2 x[0] - x[k]``), so a spike in the very first or last frame can pass.

    Parameters
    ----------
    points : (F, J, 3) float
        Meters, NaN where missing.

    Returns
    -------
    cleaned : (F, J, 3) float64
    spikes : (F, J) bool
        Where points were removed.
    """
    pts = check_array(points, "points", (None, None, 3)).copy()
    if window < 3 or window % 2 == 0:
        raise ValueError(f"window must be an odd number >= 3, got {window}")
    F, half = len(pts), window // 2
    spikes = np.zeros(pts.shape[:2], bool)
    if F <= window:
        return pts, spikes
    for j in range(pts.shape[1]):  # one joint at a time: memory (F, 3, window), not (F, J, 3, window)
        x = pts[:, j]
        # Odd reflection at both ends (2 x[0] - x[k]) keeps a moving joint's trend, so the end
        # frames are judged by a window centred on them too.
        padded = np.concatenate([2 * x[0] - x[half:0:-1], x, 2 * x[-1] - x[-2:-half - 2:-1]])
        windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows stay NaN
            median = np.nanmedian(windows, axis=-1)
            spikes[:, j] = np.linalg.norm(x - median, axis=-1) > threshold_m
    pts[spikes] = np.nan
    return pts, spikes


def rts_smoother(points, *, fps: float, measurement_noise_m: float = 0.005, jerk_m_s3: float = 200.0):
    """Kalman filter and Rauch-Tung-Striebel smoother, a constant-acceleration model per coordinate.

    NaN samples are missing measurements: the smoother carries the state through gaps (fill
    long gaps with care: the estimate drifts with the model). Zero-lag, like the Butterworth
    filter, but it follows fast moves better where the measurements are good.

    Parameters
    ----------
    points : (F, J, 3) float
        Meters, NaN where missing.
    fps : float
        Frame rate, Hz.
    measurement_noise_m : float
        Standard deviation of a triangulated point, meters.
    jerk_m_s3 : float
        Standard deviation of the jerk (the model's random input), m/s^3; larger follows faster.

    Returns
    -------
    (F, J, 3) float64
        Smoothed points; joints with no measurement at all stay NaN.
    """
    pts = check_array(points, "points", (None, None, 3))
    if not fps > 0 or not measurement_noise_m > 0 or not jerk_m_s3 > 0:
        raise ValueError("fps, measurement_noise_m and jerk_m_s3 must be > 0")
    F = len(pts)
    z = pts.reshape(F, -1)                                 # (F, N) independent series
    N = z.shape[1]
    dt = 1.0 / fps
    A = np.array([[1, dt, dt * dt / 2], [0, 1, dt], [0, 0, 1]])
    g = np.array([dt ** 3 / 6, dt * dt / 2, dt])
    Q = np.outer(g, g) * jerk_m_s3 ** 2
    r = measurement_noise_m ** 2
    x_pred, P_pred = np.zeros((F, N, 3)), np.zeros((F, N, 3, 3))
    x_filt, P_filt = np.zeros((F, N, 3)), np.zeros((F, N, 3, 3))
    first = np.where(np.isfinite(z).any(0), np.nanargmax(np.isfinite(z), axis=0), 0)
    x = np.zeros((N, 3))
    x[:, 0] = np.nan_to_num(z[first, np.arange(N)])
    P = np.broadcast_to(np.diag([r, 1.0, 100.0]), (N, 3, 3)).copy()   # unknown speed and acceleration
    for f in range(F):
        if f > 0:
            x = x @ A.T
            P = A @ P @ A.T + Q
        x_pred[f], P_pred[f] = x, P
        seen = np.isfinite(z[f])
        if seen.any():
            S = P[seen, 0, 0] + r
            K = P[seen, :, 0] / S[:, None]
            x[seen] = x[seen] + K * (z[f, seen] - x[seen, 0])[:, None]
            P[seen] = P[seen] - K[:, :, None] * P[seen, 0, :][:, None, :]
        x_filt[f], P_filt[f] = x, P
    xs = x_filt.copy()
    for f in range(F - 2, -1, -1):
        C = P_filt[f] @ A.T @ np.linalg.inv(P_pred[f + 1])
        xs[f] = x_filt[f] + np.einsum("nij,nj->ni", C, xs[f + 1] - x_pred[f + 1])
    out = xs[..., 0].reshape(pts.shape)
    out[:, ~np.isfinite(pts).all(-1).any(0)] = np.nan
    return out
