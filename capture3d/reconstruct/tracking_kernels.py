"""numba kernels of the tracker's per-frame work: how far each detection's rays pass from each
track's predicted joints, and each track's triangulation from the views it was given with the
views that miss it taken out. The NumPy functions of :mod:`capture3d.reconstruct.matching`
(:func:`point_ray_distances`, :func:`nan_median`, :func:`midpoint_triangulate`,
:func:`view_misses`) are the reference; ``tests/reconstruct/test_tracking_kernels.py`` holds them
equal. Serial kernels: one frame is a few hundred rays, less than a thread pool's start-up.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _median(values, n):
    """Median of the first ``n`` entries of ``values`` (sorted in place); inf when ``n == 0``."""
    if n == 0:
        return np.inf
    v = np.sort(values[:n])
    if n % 2:
        return v[n // 2]
    lo, hi = v[n // 2 - 1], v[n // 2]
    return lo if lo == hi else 0.5 * (lo + hi)


@njit(cache=True)
def _point_ray(o, d, x):
    """Distance of point ``x`` from the ray ``o + t d`` (unit ``d``); inf behind the origin."""
    v0, v1, v2 = x[0] - o[0], x[1] - o[1], x[2] - o[2]
    along = v0 * d[0] + v1 * d[1] + v2 * d[2]
    if not along > 0:
        return np.inf
    p0, p1, p2 = v0 - along * d[0], v1 - along * d[1], v2 - along * d[2]
    return np.sqrt(p0 * p0 + p1 * p1 + p2 * p2)


@njit(cache=True)
def track_costs(origin, directions, free, predicted, min_count):
    """``(C, T, S)`` median distance (meters) between the rays of every free detection and every
    track's predicted joints; inf for a slot that is not free or compares fewer than
    ``min_count`` joints.

    origin (C, 3); directions (C, S, J, 3), NaN where unused; free (C, S) bool;
    predicted (T, J, 3), NaN where unknown.
    """
    C, S, J, _ = directions.shape
    T = predicted.shape[0]
    out = np.full((C, T, S), np.inf)
    buf = np.empty(J)
    for c in range(C):
        for s in range(S):
            if not free[c, s]:
                continue
            for t in range(T):
                n = 0
                for j in range(J):
                    d = directions[c, s, j]
                    x = predicted[t, j]
                    if np.isnan(d[0]) or np.isnan(x[0]):
                        continue
                    buf[n] = _point_ray(origin[c], d, x)
                    n += 1
                if n >= min_count:
                    out[c, t, s] = _median(buf, n)
    return out


@njit(cache=True)
def _triangulate_views(origin, directions, slots, views, n_views, out):
    """Midpoint of each joint's rays over ``views[:n_views]`` (camera indices) into ``out (J, 3)``."""
    J = directions.shape[2]
    for j in range(J):
        a = np.zeros((3, 3))
        b = np.zeros(3)
        m = 0
        for k in range(n_views):
            c = views[k]
            d = directions[c, slots[c], j]
            if np.isnan(d[0]):
                continue
            m += 1
            o = origin[c]
            for r in range(3):
                for q in range(3):
                    p = (1.0 if r == q else 0.0) - d[r] * d[q]
                    a[r, q] += p
                    b[r] += p * o[q]
        out[j, :] = np.nan
        if m < 2:
            continue
        det = (a[0, 0] * (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1]) - a[0, 1] * (a[1, 0] * a[2, 2] - a[1, 2] * a[2, 0])
               + a[0, 2] * (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]))
        if abs(det) <= 1e-12:
            continue
        for r in range(3):   # Cramer's rule: column r replaced by b
            m3 = a.copy()
            m3[:, r] = b
            out[j, r] = (m3[0, 0] * (m3[1, 1] * m3[2, 2] - m3[1, 2] * m3[2, 1])
                         - m3[0, 1] * (m3[1, 0] * m3[2, 2] - m3[1, 2] * m3[2, 0])
                         + m3[0, 2] * (m3[1, 0] * m3[2, 1] - m3[1, 1] * m3[2, 0])) / det


@njit(cache=True)
def verify_tracks(origin, directions, slots, max_view_error, min_joints):
    """Triangulate every track from its views, removing the view that misses most (median
    ray-to-joint distance) while it misses by more than ``max_view_error`` meters.

    origin (C, 3); directions (C, S, J, 3); slots (T, C) int, the slot each track was given per
    camera (-1 none), changed in place where a view is removed.

    Returns ``points (T, J, 3)`` and ``ok (T,)``: two views or more are left and at least
    ``min_joints`` joints triangulated.
    """
    T, C = slots.shape
    J = directions.shape[2]
    points = np.full((T, J, 3), np.nan)
    ok = np.zeros(T, np.bool_)
    views = np.empty(C, np.int64)
    miss = np.empty(C)
    buf = np.empty(J)
    for t in range(T):
        n = 0
        for c in range(C):
            if slots[t, c] >= 0:
                views[n] = c
                n += 1
        while n >= 2:
            _triangulate_views(origin, directions, slots[t], views, n, points[t])
            worst, worst_miss = 0, -1.0
            for k in range(n):
                c = views[k]
                m = 0
                for j in range(J):
                    d = directions[c, slots[t, c], j]
                    if np.isnan(d[0]) or np.isnan(points[t, j, 0]):
                        continue
                    buf[m] = _point_ray(origin[c], d, points[t, j])
                    m += 1
                miss[k] = _median(buf, m)
                if miss[k] > worst_miss:
                    worst, worst_miss = k, miss[k]
            if worst_miss <= max_view_error:
                break
            slots[t, views[worst]] = -1
            views[worst:n - 1] = views[worst + 1:n].copy()
            n -= 1
        if n >= 2:
            known = 0
            for j in range(J):
                known += not np.isnan(points[t, j, 0])
            ok[t] = known >= min_joints
    return points, ok
