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


@njit(cache=True)
def hungarian(cost):
    """Minimum-cost assignment of the rows of ``cost (n, m)`` to distinct columns (all finite),
    the shortest-augmenting-path Hungarian method with potentials, ``O(n^2 m)``. Returns
    ``col (n,)``, the column of each row (-1 when there are more rows than columns and the row
    is left out). The test holds its total equal to scipy's ``linear_sum_assignment``.
    """
    n0, m0 = cost.shape
    flip = n0 > m0
    a = cost.T.copy() if flip else cost
    n, m = a.shape
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    p = np.zeros(m + 1, np.int64)       # p[j]: row (1-based) assigned to column j; 0 none
    way = np.zeros(m + 1, np.int64)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, np.bool_)
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = np.inf
            j1 = 0
            for j in range(1, m + 1):
                if not used[j]:
                    cur = a[i0 - 1, j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    col = np.full(n0, -1, np.int64)
    for j in range(1, m + 1):
        if p[j] != 0:
            if flip:
                col[j - 1] = p[j] - 1
            else:
                col[p[j] - 1] = j - 1
    return col


@njit(cache=True)
def assign_detections(origin, directions, free, predicted, gates, min_count):
    """Per camera, the Hungarian assignment of its free detections to the tracks on
    :func:`track_costs`, kept where the cost is within the track's gate (meters).

    Returns ``slots (T, C)`` int, the slot each track got per camera (-1 none).
    """
    C, S = free.shape
    T = predicted.shape[0]
    costs = track_costs(origin, directions, free, predicted, min_count)
    slots = np.full((T, C), -1, np.int64)
    for c in range(C):
        cand = np.flatnonzero(free[c])
        if cand.size == 0 or T == 0:
            continue
        sub = np.empty((T, cand.size))
        for t in range(T):
            for k in range(cand.size):
                x = costs[c, t, cand[k]]
                sub[t, k] = x if x < 1e6 else 1e6
        col = hungarian(sub)
        for t in range(T):
            k = col[t]
            if k >= 0 and costs[c, t, cand[k]] <= gates[t]:
                slots[t, c] = cand[k]
    return slots


@njit(cache=True)
def update_motion(joints, velocity, points, dt):
    """A track's state after a hit, in place: ``joints (J, 3)`` take the new ``points (J, 3)``
    where known; ``velocity (J, 3)`` m/s becomes the mean of the old one and the step's (reset to
    0 after a pause of 0.2 s or more, whose step says little about the speed)."""
    J = joints.shape[0]
    for j in range(J):
        if np.isnan(points[j, 0]):
            continue
        if dt > 0 and not np.isnan(joints[j, 0]):
            for k in range(3):
                velocity[j, k] = 0.5 * velocity[j, k] + 0.5 * (points[j, k] - joints[j, k]) / dt if dt < 0.2 else 0.0
        joints[j, :] = points[j, :]


@njit(cache=True)
def _ray_ray(o1, d1, o2, d2):
    """Closest distance of two rays (unit directions); inf where they meet behind either origin or
    are parallel. :func:`capture3d.reconstruct.matching.ray_distances` is the reference."""
    w0, w1, w2 = o2[0] - o1[0], o2[1] - o1[1], o2[2] - o1[2]
    b = d1[0] * d2[0] + d1[1] * d2[1] + d1[2] * d2[2]
    d1w = d1[0] * w0 + d1[1] * w1 + d1[2] * w2
    d2w = d2[0] * w0 + d2[1] * w1 + d2[2] * w2
    denom = 1.0 - b * b
    if denom < 1e-9:
        return np.inf
    s = (d1w - b * d2w) / denom
    t = (b * d1w - d2w) / denom
    if s <= 0 or t <= 0:
        return np.inf
    g0 = o1[0] + s * d1[0] - o2[0] - t * d2[0]
    g1 = o1[1] + s * d1[1] - o2[1] - t * d2[1]
    g2 = o1[2] + s * d1[2] - o2[2] - t * d2[2]
    return np.sqrt(g0 * g0 + g1 * g1 + g2 * g2)


@njit(cache=True)
def pair_costs_kernel(origin, directions, cameras, min_count):
    """``(N, N)`` median ray-to-ray distance over the joints two detections of different cameras
    share; inf for the same camera or fewer than ``min_count`` shared joints (the reference:
    :func:`capture3d.reconstruct.matching.pair_costs`)."""
    N, J, _ = directions.shape
    out = np.full((N, N), np.inf)
    buf = np.empty(J)
    for a in range(N):
        for b in range(a + 1, N):
            if cameras[a] == cameras[b]:
                continue
            n = 0
            for j in range(J):
                if np.isnan(directions[a, j, 0]) or np.isnan(directions[b, j, 0]):
                    continue
                buf[n] = _ray_ray(origin[cameras[a]], directions[a, j], origin[cameras[b]], directions[b, j])
                n += 1
            if n >= min_count:
                out[a, b] = out[b, a] = _median(buf, n)
    return out
