"""Pinhole camera with OpenCV's rational/tangential (Brown-Conrady) distortion.

Coefficient order is OpenCV's: ``k1, k2, p1, p2[, k3[, k4, k5, k6]]`` (4, 5 or 8 values). All
functions work on *normalised* image coordinates ``(x, y) = (X / Z, Y / Z)`` in the camera frame;
the intrinsic matrix is applied by :class:`capture3d.camera.Camera`.

NumPy functions are the reference; the ``*_point`` numba functions are the same maths for one
point, used inside the triangulation and refinement kernels (parity tested).
"""
from __future__ import annotations

import numpy as np
from numba import njit

NAME = "pinhole"
MODEL_ID = 0
N_COEFFS = (4, 5, 8)


def padded(coeffs) -> np.ndarray:
    """Coefficients padded to the 8 of the rational model, as float64 ``(8,)``."""
    c = np.asarray(coeffs, dtype=np.float64).ravel()
    if c.size not in N_COEFFS:
        raise ValueError(f"pinhole distortion needs 4, 5 or 8 coefficients, got {c.size}")
    out = np.zeros(8)
    out[: c.size] = c
    return out


def distort(xy: np.ndarray, coeffs) -> np.ndarray:
    """Apply distortion to normalised points.

    Parameters
    ----------
    xy : (..., 2) float
        Undistorted normalised coordinates.
    coeffs : (4,) | (5,) | (8,) float
        OpenCV distortion coefficients.

    Returns
    -------
    (..., 2) float64
        Distorted normalised coordinates.
    """
    k1, k2, p1, p2, k3, k4, k5, k6 = padded(coeffs)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], axis=-1)


def distort_jacobian(xy: np.ndarray, coeffs) -> np.ndarray:
    """Jacobian of :func:`distort`: ``(..., 2, 2)``, rows (xd, yd), columns (x, y)."""
    k1, k2, p1, p2, k3, k4, k5, k6 = padded(coeffs)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    a = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    b = 1 + r2 * (k4 + r2 * (k5 + r2 * k6))
    da = k1 + r2 * (2 * k2 + 3 * k3 * r2)
    db = k4 + r2 * (2 * k5 + 3 * k6 * r2)
    radial = a / b
    dradial = (da * b - a * db) / (b * b)
    jac = np.empty(xy.shape[:-1] + (2, 2))
    jac[..., 0, 0] = radial + 2 * x * x * dradial + 2 * p1 * y + 6 * p2 * x
    jac[..., 0, 1] = 2 * x * y * dradial + 2 * p1 * x + 2 * p2 * y
    jac[..., 1, 0] = 2 * x * y * dradial + 2 * p1 * x + 2 * p2 * y
    jac[..., 1, 1] = radial + 2 * y * y * dradial + 6 * p1 * y + 2 * p2 * x
    return jac


@njit(cache=True, error_model="numpy")
def distort_point(x, y, d):
    """One point: distorted ``(xd, yd)`` and the Jacobian ``(j00, j01, j10, j11)``; ``d`` is (8,)."""
    return distort_coeffs(x, y, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7])


@njit(cache=True, error_model="numpy", inline="always")
def distort_coeffs(x, y, k1, k2, p1, p2, k3, k4, k5, k6):
    """:func:`distort_point` with the coefficients as scalars: straight-line code that inlines
    into loops over cameras, which then vectorise."""
    r2 = x * x + y * y
    a = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    b = 1.0 + r2 * (k4 + r2 * (k5 + r2 * k6))
    da = k1 + r2 * (2.0 * k2 + 3.0 * k3 * r2)
    db = k4 + r2 * (2.0 * k5 + 3.0 * k6 * r2)
    ib = 1.0 / b               # one division: they cost as much as ten multiplications
    radial = a * ib
    dradial = (da - radial * db) * ib
    xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
    yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
    j00 = radial + 2.0 * x * x * dradial + 2.0 * p1 * y + 6.0 * p2 * x
    j01 = 2.0 * x * y * dradial + 2.0 * p1 * x + 2.0 * p2 * y
    j11 = radial + 2.0 * y * y * dradial + 6.0 * p1 * y + 2.0 * p2 * x
    return xd, yd, j00, j01, j01, j11


@njit(cache=True, error_model="numpy", inline="always")
def _newton_step(x, y, xd, yd, k1, k2, p1, p2, k3, k4, k5, k6):
    """One Newton step of ``distort(x, y) = (xd, yd)``: the new point and the squared residual
    at the old one. Straight-line code (no branches) so that loops over it vectorise."""
    r2 = x * x + y * y
    a = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    ib = 1.0 / (1.0 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    radial = a * ib
    dradial = (k1 + r2 * (2.0 * k2 + 3.0 * k3 * r2) - radial * (k4 + r2 * (2.0 * k5 + 3.0 * k6 * r2))) * ib
    ex = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x) - xd
    ey = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y - yd
    j00 = radial + 2.0 * x * x * dradial + 2.0 * p1 * y + 6.0 * p2 * x
    j01 = 2.0 * x * y * dradial + 2.0 * p1 * x + 2.0 * p2 * y
    j11 = radial + 2.0 * y * y * dradial + 6.0 * p1 * y + 2.0 * p2 * x
    idet = 1.0 / (j00 * j11 - j01 * j01)
    return x - (j11 * ex - j01 * ey) * idet, y - (j00 * ey - j01 * ex) * idet, ex * ex + ey * ey


@njit(cache=True, error_model="numpy")
def undistort_many(xd, yd, n, d, x, y, residual2):
    """Undistort ``xd[:n], yd[:n]`` into ``x, y`` with a fixed number of Newton steps.

    No branches, so LLVM vectorises the loop (AVX: 4 to 8 points per instruction); about 5x
    faster than :func:`undistort_point` per point. Starts from the first-order inverse
    ``xd / radial(|xd|^2)`` and takes two Newton steps; ``residual2`` is the squared residual
    *before* the last step. Below ``UNDISTORT_MANY_TOL`` the last step has converged to far
    below 1e-10 (Newton is quadratic); above it, or where a step fails, the caller falls back to
    :func:`undistort_point` for that point.
    """
    k1, k2, p1, p2, k3, k4, k5, k6 = d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]
    for i in range(n):
        u, v = xd[i], yd[i]
        r2 = u * u + v * v
        s = (1.0 + r2 * (k4 + r2 * (k5 + r2 * k6))) / (1.0 + r2 * (k1 + r2 * (k2 + r2 * k3)))
        a, b, _e = _newton_step(u * s, v * s, u, v, k1, k2, p1, p2, k3, k4, k5, k6)
        a, b, e2 = _newton_step(a, b, u, v, k1, k2, p1, p2, k3, k4, k5, k6)
        x[i] = a
        y[i] = b
        residual2[i] = e2


# Squared normalised residual before the last Newton step of undistort_many under which the
# result is accepted: 1e-7 normalised (1e-4 px at f = 1000 px) before a quadratic step.
UNDISTORT_MANY_TOL = 1e-14


@njit(cache=True, error_model="numpy")
def undistort_point(xd, yd, d):
    """Invert :func:`distort_point` by damped Newton steps; NaN when it does not converge.

    Newton on the 2x2 system converges in 2-5 steps for real lenses, far more precisely than
    the fixed-point iteration ``cv2.undistortPoints`` uses by default. Each step evaluates the
    model once: the trial point's value and Jacobian are kept for the next step. Converged at
    1e-10 in normalised units (1e-7 px at f = 1000 px).
    """
    x, y = xd, yd
    fx, fy, j00, j01, j10, j11 = distort_point(x, y, d)
    ex, ey = fx - xd, fy - yd
    e2 = ex * ex + ey * ey
    for _ in range(50):
        if e2 < 1e-20:
            return x, y
        det = j00 * j11 - j01 * j10
        if abs(det) < 1e-12:
            break
        dx = (j11 * ex - j01 * ey) / det
        dy = (-j10 * ex + j00 * ey) / det
        # Halve the step while it does not reduce the residual (strong barrel distortion folds).
        step = 1.0
        for _h in range(30):
            nx, ny = x - step * dx, y - step * dy
            gx, gy, k00, k01, k10, k11 = distort_point(nx, ny, d)
            ne2 = (gx - xd) ** 2 + (gy - yd) ** 2
            if ne2 < e2:
                break
            step *= 0.5
        if not ne2 < e2:
            break
        x, y, ex, ey, e2 = nx, ny, gx - xd, gy - yd, ne2
        j00, j01, j10, j11 = k00, k01, k10, k11
    if e2 < 1e-18:
        return x, y
    return np.nan, np.nan
