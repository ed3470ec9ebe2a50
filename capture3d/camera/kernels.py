"""Numba dispatch over the registered distortion models, for use inside other kernels.

Each model module exposes ``distort_point(x, y, d)`` and ``undistort_point(xd, yd, d)`` on
normalised coordinates with ``d`` its coefficients padded to ``(8,)``; kernels receive the model as
its integer ``MODEL_ID`` so that one compiled kernel serves a rig of mixed cameras.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import fisheye, pinhole


@njit(cache=True)
def distort_any(model, x, y, d):
    if model == 1:
        return fisheye.distort_point(x, y, d)
    return pinhole.distort_point(x, y, d)


@njit(cache=True)
def undistort_any(model, xd, yd, d):
    if model == 1:
        return fisheye.undistort_point(xd, yd, d)
    return pinhole.undistort_point(xd, yd, d)


@njit(cache=True, parallel=True)
def pixels_to_normalized(pixels, K, d, model):
    """``pixels (N, 2)`` -> undistorted normalised ``(N, 2)``; NaN in, NaN out."""
    n = pixels.shape[0]
    out = np.empty((n, 2))
    fx, skew, cx, fy, cy = K[0, 0], K[0, 1], K[0, 2], K[1, 1], K[1, 2]
    for i in prange(n):
        v = pixels[i, 1]
        u = pixels[i, 0]
        if np.isnan(u) or np.isnan(v):
            out[i, 0] = np.nan
            out[i, 1] = np.nan
            continue
        yd = (v - cy) / fy
        xd = (u - cx - skew * yd) / fx
        x, y = undistort_any(model, xd, yd, d)
        out[i, 0] = x
        out[i, 1] = y
    return out
