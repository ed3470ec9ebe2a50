"""Numba dispatch over the registered distortion models, for use inside other kernels.

Each model module exposes ``distort_point(x, y, d)`` and ``undistort_point(xd, yd, d)`` on
normalised coordinates with ``d`` its coefficients padded to ``(8,)``; kernels receive the model as
its integer ``MODEL_ID`` so that one compiled kernel serves a rig of mixed cameras.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import fisheye, pinhole


@njit(cache=True, error_model="numpy")
def distort_any(model, x, y, d):
    if model == 1:
        return fisheye.distort_point(x, y, d)
    return pinhole.distort_point(x, y, d)


@njit(cache=True, error_model="numpy")
def undistort_any(model, xd, yd, d):
    if model == 1:
        return fisheye.undistort_point(xd, yd, d)
    return pinhole.undistort_point(xd, yd, d)


@njit(cache=True, error_model="numpy")
def _pixel_to_normalized(u, v, fx, skew, cx, fy, cy, d, model, out):
    if np.isnan(u) or np.isnan(v):
        out[0] = np.nan
        out[1] = np.nan
        return
    yd = (v - cy) / fy
    xd = (u - cx - skew * yd) / fx
    out[0], out[1] = undistort_any(model, xd, yd, d)


@njit(cache=True, parallel=True, error_model="numpy")
def pixels_to_normalized(pixels, K, d, model):
    """``pixels (N, 2)`` -> undistorted normalised ``(N, 2)``; NaN in, NaN out."""
    n = pixels.shape[0]
    out = np.empty((n, 2))
    fx, skew, cx, fy, cy = K[0, 0], K[0, 1], K[0, 2], K[1, 1], K[1, 2]
    for i in prange(n):
        _pixel_to_normalized(pixels[i, 0], pixels[i, 1], fx, skew, cx, fy, cy, d, model, out[i])
    return out


@njit(cache=True, error_model="numpy")
def pixels_to_normalized_serial(pixels, K, d, model):
    """:func:`pixels_to_normalized` without threads, for small inputs: a thread pool's launch
    costs 10 us on an idle machine but milliseconds while another process holds a core
    (measured: 13 ms a call for 7,650 points at load 7), more than the work. :data:`SERIAL_BELOW`
    points pick it. (Its own function, not the threaded one's code compiled twice: numba's cache
    names entries after the source function, so the two would share one.)"""
    n = pixels.shape[0]
    out = np.empty((n, 2))
    fx, skew, cx, fy, cy = K[0, 0], K[0, 1], K[0, 2], K[1, 1], K[1, 2]
    for i in range(n):
        _pixel_to_normalized(pixels[i, 0], pixels[i, 1], fx, skew, cx, fy, cy, d, model, out[i])
    return out


SERIAL_BELOW = 50_000


@njit(cache=True, error_model="numpy")
def undistort_block(model, xd, yd, n, d, x, y, residual2):
    """Undistort ``xd[:n], yd[:n]`` (normalised, one camera) into ``x, y``; NaN in, NaN out.

    Pinhole points go through the vectorised :func:`pinhole.undistort_many`, and only those it
    did not converge on through the damped :func:`pinhole.undistort_point`; fisheye points go
    one by one. ``residual2`` is ``(n,)`` scratch.
    """
    if model == 1:
        for i in range(n):
            x[i], y[i] = fisheye.undistort_point(xd[i], yd[i], d)
        return
    pinhole.undistort_many(xd, yd, n, d, x, y, residual2)
    for i in range(n):
        if not residual2[i] < pinhole.UNDISTORT_MANY_TOL and xd[i] == xd[i] and yd[i] == yd[i]:
            x[i], y[i] = pinhole.undistort_point(xd[i], yd[i], d)
