"""Fisheye camera, Kannala-Brandt equidistant model as in ``cv2.fisheye``.

``theta = atan(r)``, ``theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)``,
distorted normalised point = ``(theta_d / r) (x, y)`` with ``r = |(x, y)|``. Coefficients
``k1, k2, k3, k4`` (4 values). Functions work on normalised coordinates, as in
:mod:`capture3d.camera.pinhole`.
"""
from __future__ import annotations

import numpy as np
from numba import njit

NAME = "fisheye"
MODEL_ID = 1
N_COEFFS = (4,)


def padded(coeffs) -> np.ndarray:
    """Coefficients as float64 ``(8,)`` (the kernels' common width; the last 4 are unused)."""
    c = np.asarray(coeffs, dtype=np.float64).ravel()
    if c.size not in N_COEFFS:
        raise ValueError(f"fisheye distortion needs 4 coefficients (k1..k4), got {c.size}")
    out = np.zeros(8)
    out[:4] = c
    return out


def _theta_terms(r, k):
    theta = np.arctan(r)
    t2 = theta * theta
    theta_d = theta * (1 + t2 * (k[0] + t2 * (k[1] + t2 * (k[2] + t2 * k[3]))))
    dtheta_d = 1 + t2 * (3 * k[0] + t2 * (5 * k[1] + t2 * (7 * k[2] + t2 * 9 * k[3])))
    return theta, theta_d, dtheta_d


def distort(xy: np.ndarray, coeffs) -> np.ndarray:
    """Apply fisheye distortion: ``(..., 2)`` normalised in, ``(..., 2)`` distorted out."""
    k = padded(coeffs)
    r = np.hypot(xy[..., 0], xy[..., 1])
    _, theta_d, _ = _theta_terms(r, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(r > 1e-12, theta_d / np.where(r > 1e-12, r, 1.0), 1.0)
    return xy * scale[..., None]


def distort_jacobian(xy: np.ndarray, coeffs) -> np.ndarray:
    """Jacobian of :func:`distort`: ``(..., 2, 2)``, rows (xd, yd), columns (x, y)."""
    k = padded(coeffs)
    x, y = xy[..., 0], xy[..., 1]
    r = np.hypot(x, y)
    small = r < 1e-8
    rs = np.where(small, 1.0, r)
    _, theta_d, dtheta_d = _theta_terms(rs, k)
    scale = np.where(small, 1.0, theta_d / rs)
    # d(scale)/dr / r, with its limit 2 (k1 - 1/3) at the centre.
    ds_over_r = np.where(small, 2 * (k[0] - 1.0 / 3.0),
                         (dtheta_d / (1 + rs * rs) * rs - theta_d) / (rs ** 3))
    jac = np.empty(xy.shape[:-1] + (2, 2))
    jac[..., 0, 0] = scale + x * x * ds_over_r
    jac[..., 0, 1] = x * y * ds_over_r
    jac[..., 1, 0] = x * y * ds_over_r
    jac[..., 1, 1] = scale + y * y * ds_over_r
    return jac


@njit(cache=True, error_model="numpy")
def distort_point(x, y, d):
    """One point: distorted ``(xd, yd)`` and the Jacobian ``(j00, j01, j10, j11)``."""
    r = np.sqrt(x * x + y * y)
    if r < 1e-8:
        ds = 2.0 * (d[0] - 1.0 / 3.0)
        return x, y, 1.0 + x * x * ds, x * y * ds, x * y * ds, 1.0 + y * y * ds
    theta = np.arctan(r)
    t2 = theta * theta
    theta_d = theta * (1.0 + t2 * (d[0] + t2 * (d[1] + t2 * (d[2] + t2 * d[3]))))
    dtheta_d = 1.0 + t2 * (3.0 * d[0] + t2 * (5.0 * d[1] + t2 * (7.0 * d[2] + t2 * 9.0 * d[3])))
    scale = theta_d / r
    ds = (dtheta_d / (1.0 + r * r) * r - theta_d) / (r * r * r)
    return (x * scale, y * scale, scale + x * x * ds, x * y * ds, x * y * ds, scale + y * y * ds)


@njit(cache=True, error_model="numpy")
def undistort_point(xd, yd, d):
    """Invert :func:`distort_point`: solve ``theta_d(theta)`` by Newton, NaN past 90 degrees."""
    theta_d = np.sqrt(xd * xd + yd * yd)
    if theta_d < 1e-12:
        return xd, yd
    theta = theta_d
    for _ in range(50):
        t2 = theta * theta
        f = theta * (1.0 + t2 * (d[0] + t2 * (d[1] + t2 * (d[2] + t2 * d[3])))) - theta_d
        df = 1.0 + t2 * (3.0 * d[0] + t2 * (5.0 * d[1] + t2 * (7.0 * d[2] + t2 * 9.0 * d[3])))
        if df == 0.0:
            return np.nan, np.nan
        step = f / df
        theta -= step
        if abs(step) < 1e-15:
            break
    if not (0.0 <= theta < np.pi / 2):
        return np.nan, np.nan
    scale = np.tan(theta) / theta_d
    return xd * scale, yd * scale
