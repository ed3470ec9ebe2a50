"""Numba kernels of the triangulation: weighted DLT, robust view rejection, LM refinement.

One point is one (frame, joint). The kernel reads ``keypoints (C, N, 3)`` camera-major, as the
public API lays them out, in parallel over blocks of points; for each point it copies the views
into small scratch arrays (``px (C, 2)``, ``sc (C,)``, undistorted ``xn (C, 2)``) that the
helpers below work on, so its working memory does not grow with the number of frames.

The DLT solves the inhomogeneous normal equations ``sum w_c^2 a_c a_c^T X = -sum w_c^2 a_c b_c``
(3x3, closed form) on undistorted normalised coordinates. Its algebraic residual of a view is
the image error times that view's depth, so the view weight is ``score * f / depth`` (``f`` the
focal length in pixels, depth from the previous solve): after one re-weighting the DLT minimises
the score-weighted *pixel* error to first order. See ``reference.py`` for the NumPy oracle.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..camera.kernels import distort_any, undistort_block

STATUS_OK = 0
STATUS_TOO_FEW_VIEWS = 1
STATUS_INCONSISTENT = 2
STATUS_DEGENERATE = 3

BLOCK = 256   # points per parallel work item: their undistorted views stay in L1/L2 cache


@njit(cache=True, error_model="numpy")
def _solve_dlt(xn, view_weight, use, pose, out):
    """Weighted DLT over the views with ``use[c]``; writes ``out[:3]``; False if singular."""
    m00 = m01 = m02 = m11 = m12 = m22 = 0.0
    b0 = b1 = b2 = 0.0
    for c in range(use.shape[0]):
        if not use[c]:
            continue
        w2 = view_weight[c] * view_weight[c]
        for k in range(2):
            u = xn[c, k]
            a0 = u * pose[c, 2, 0] - pose[c, k, 0]
            a1 = u * pose[c, 2, 1] - pose[c, k, 1]
            a2 = u * pose[c, 2, 2] - pose[c, k, 2]
            a3 = u * pose[c, 2, 3] - pose[c, k, 3]
            m00 += w2 * a0 * a0
            m01 += w2 * a0 * a1
            m02 += w2 * a0 * a2
            m11 += w2 * a1 * a1
            m12 += w2 * a1 * a2
            m22 += w2 * a2 * a2
            b0 -= w2 * a0 * a3
            b1 -= w2 * a1 * a3
            b2 -= w2 * a2 * a3
    c00 = m11 * m22 - m12 * m12
    c01 = m02 * m12 - m01 * m22
    c02 = m01 * m12 - m02 * m11
    det = m00 * c00 + m01 * c01 + m02 * c02
    scale = m00 * m11 * m22
    if not (abs(det) > 1e-12 * abs(scale)) or scale == 0.0:
        return False
    c11 = m00 * m22 - m02 * m02
    c12 = m01 * m02 - m00 * m12
    c22 = m00 * m11 - m01 * m01
    out[0] = (c00 * b0 + c01 * b1 + c02 * b2) / det
    out[1] = (c01 * b0 + c11 * b1 + c12 * b2) / det
    out[2] = (c02 * b0 + c12 * b1 + c22 * b2) / det
    return True


@njit(cache=True, error_model="numpy")
def _weighted_dlt(xn, scores, use, pose, focal, view_weight, X):
    """DLT, then one re-solve with view weights ``score * f / depth``; False if degenerate."""
    for c in range(use.shape[0]):
        view_weight[c] = scores[c] * focal[c]
    if not _solve_dlt(xn, view_weight, use, pose, X):
        return False
    for c in range(use.shape[0]):
        depth = pose[c, 2, 0] * X[0] + pose[c, 2, 1] * X[1] + pose[c, 2, 2] * X[2] + pose[c, 2, 3]
        view_weight[c] = scores[c] * focal[c] / max(abs(depth), 1e-6)
    return _solve_dlt(xn, view_weight, use, pose, X)


@njit(cache=True, error_model="numpy")
def _project(c, X, K, dist, model, pose):
    """Pixel ``(u, v)`` of world point X in camera c and its depth; the Jacobian is not needed here."""
    xc = pose[c, 0, 0] * X[0] + pose[c, 0, 1] * X[1] + pose[c, 0, 2] * X[2] + pose[c, 0, 3]
    yc = pose[c, 1, 0] * X[0] + pose[c, 1, 1] * X[1] + pose[c, 1, 2] * X[2] + pose[c, 1, 3]
    zc = pose[c, 2, 0] * X[0] + pose[c, 2, 1] * X[1] + pose[c, 2, 2] * X[2] + pose[c, 2, 3]
    if zc <= 1e-9:
        return np.nan, np.nan, zc
    xd, yd, _a, _b, _c, _d = distort_any(model[c], xc / zc, yc / zc, dist[c])
    return K[c, 0, 0] * xd + K[c, 0, 1] * yd + K[c, 0, 2], K[c, 1, 1] * yd + K[c, 1, 2], zc


@njit(cache=True, error_model="numpy")
def _view_errors(X, pixels, use, K, dist, model, pose, err):
    """Pixel error of every used view into ``err`` (inf behind the camera); returns the argmax."""
    worst = -1
    worst_e = -1.0
    for c in range(use.shape[0]):
        if not use[c]:
            err[c] = np.nan
            continue
        u, v, zc = _project(c, X, K, dist, model, pose)
        if zc <= 1e-9:
            e = np.inf
        else:
            e = np.sqrt((u - pixels[c, 0]) ** 2 + (v - pixels[c, 1]) ** 2)
        err[c] = e
        if e > worst_e:
            worst_e = e
            worst = c
    return worst


@njit(cache=True, error_model="numpy")
def _normal_equations(X, pixels, scores, use, K, dist, model, pose, err):
    """One pass over the used views at ``X``: the score-weighted squared pixel error, the
    Gauss-Newton normal equations ``H`` (upper triangle) and gradient ``g``, and every view's
    pixel error into ``err``. Returns ``(cost, h00, h01, h02, h11, h12, h22, g0, g1, g2)``;
    cost is inf when the point is behind a used camera."""
    h00 = h01 = h02 = h11 = h12 = h22 = 0.0
    g0 = g1 = g2 = 0.0
    cost = 0.0
    for c in range(use.shape[0]):
        if not use[c]:
            err[c] = np.nan
            continue
        xc = pose[c, 0, 0] * X[0] + pose[c, 0, 1] * X[1] + pose[c, 0, 2] * X[2] + pose[c, 0, 3]
        yc = pose[c, 1, 0] * X[0] + pose[c, 1, 1] * X[1] + pose[c, 1, 2] * X[2] + pose[c, 1, 3]
        zc = pose[c, 2, 0] * X[0] + pose[c, 2, 1] * X[1] + pose[c, 2, 2] * X[2] + pose[c, 2, 3]
        if zc <= 1e-9:
            err[c] = np.inf
            cost = np.inf
            continue
        xn, yn = xc / zc, yc / zc
        xd, yd, d00, d01, d10, d11 = distort_any(model[c], xn, yn, dist[c])
        ru = K[c, 0, 0] * xd + K[c, 0, 1] * yd + K[c, 0, 2] - pixels[c, 0]
        rv = K[c, 1, 1] * yd + K[c, 1, 2] - pixels[c, 1]
        e2 = ru * ru + rv * rv
        err[c] = np.sqrt(e2)
        w = scores[c]
        cost += w * e2
        # d(pixel)/d(normalised) = Kxy @ D, a 2x2
        a00 = K[c, 0, 0] * d00 + K[c, 0, 1] * d10
        a01 = K[c, 0, 0] * d01 + K[c, 0, 1] * d11
        a10 = K[c, 1, 1] * d10
        a11 = K[c, 1, 1] * d11
        iz = 1.0 / zc
        # rows of d(pixel)/d(X) = A @ dn/dXc @ R, with dn/dXc = [[iz, 0, -xn iz], [0, iz, -yn iz]]
        dx0 = iz * (pose[c, 0, 0] - xn * pose[c, 2, 0])
        dx1 = iz * (pose[c, 0, 1] - xn * pose[c, 2, 1])
        dx2 = iz * (pose[c, 0, 2] - xn * pose[c, 2, 2])
        dy0 = iz * (pose[c, 1, 0] - yn * pose[c, 2, 0])
        dy1 = iz * (pose[c, 1, 1] - yn * pose[c, 2, 1])
        dy2 = iz * (pose[c, 1, 2] - yn * pose[c, 2, 2])
        ju0, ju1, ju2 = a00 * dx0 + a01 * dy0, a00 * dx1 + a01 * dy1, a00 * dx2 + a01 * dy2
        jv0, jv1, jv2 = a10 * dx0 + a11 * dy0, a10 * dx1 + a11 * dy1, a10 * dx2 + a11 * dy2
        h00 += w * (ju0 * ju0 + jv0 * jv0)
        h01 += w * (ju0 * ju1 + jv0 * jv1)
        h02 += w * (ju0 * ju2 + jv0 * jv2)
        h11 += w * (ju1 * ju1 + jv1 * jv1)
        h12 += w * (ju1 * ju2 + jv1 * jv2)
        h22 += w * (ju2 * ju2 + jv2 * jv2)
        g0 += w * (ju0 * ru + jv0 * rv)
        g1 += w * (ju1 * ru + jv1 * rv)
        g2 += w * (ju2 * ru + jv2 * rv)
    return cost, h00, h01, h02, h11, h12, h22, g0, g1, g2


@njit(cache=True, error_model="numpy")
def _refine(X, pixels, scores, use, K, dist, model, pose, iterations, err, first):
    """Levenberg-Marquardt on the score-weighted squared pixel error (distortion included).

    ``first`` is :func:`_normal_equations` at ``X`` (with ``err`` filled by it), as the view
    rejection leaves it, or ``None``-like ``(nan, ...)`` to compute it here. One pass over the
    views per iteration: the pass that builds the next step also prices the last one (a step
    that raised the cost is taken back and damped). Stops when the next step would move the
    point less than 10 micrometres, far below any pixel noise: from the re-weighted DLT that is
    usually after one step, two passes over the views in all. On return ``err`` holds every
    used view's pixel error at the returned ``X``.
    """
    lam = 1e-3
    best = first
    if np.isnan(first[0]):
        best = _normal_equations(X, pixels, scores, use, K, dist, model, pose, err)
    if not np.isfinite(best[0]):
        return best[0]
    x0, x1, x2 = X[0], X[1], X[2]           # the accepted point
    stale = False                           # err holds a rejected trial's errors
    for _ in range(iterations):
        cost, h00, h01, h02, h11, h12, h22, g0, g1, g2 = best
        a00, a11, a22 = h00 * (1.0 + lam), h11 * (1.0 + lam), h22 * (1.0 + lam)
        c00 = a11 * a22 - h12 * h12
        c01 = h02 * h12 - h01 * a22
        c02 = h01 * h12 - h02 * a11
        det = a00 * c00 + h01 * c01 + h02 * c02
        if det == 0.0 or not np.isfinite(det):
            break
        c11 = a00 * a22 - h02 * h02
        c12 = h01 * h02 - a00 * h12
        c22 = a00 * a11 - h01 * h01
        s0 = (c00 * g0 + c01 * g1 + c02 * g2) / det
        s1 = (c01 * g0 + c11 * g1 + c12 * g2) / det
        s2 = (c02 * g0 + c12 * g1 + c22 * g2) / det
        if s0 * s0 + s1 * s1 + s2 * s2 < 1e-10:   # 10 micrometres
            break
        X[0], X[1], X[2] = x0 - s0, x1 - s1, x2 - s2
        trial = _normal_equations(X, pixels, scores, use, K, dist, model, pose, err)
        if trial[0] < cost:
            best = trial
            x0, x1, x2 = X[0], X[1], X[2]
            stale = False
            lam = max(lam * 0.1, 1e-9)
            if cost - trial[0] < 1e-10 * cost:
                break
        else:
            stale = True
            lam *= 10.0
    X[0], X[1], X[2] = x0, x1, x2
    if stale:
        _view_errors(X, pixels, use, K, dist, model, pose, err)
    return best[0]


@njit(cache=True, error_model="numpy")
def _usable(c, pixels, normalized, scores, min_score):
    """Whether view ``c`` can be used: observed, undistortable, scored enough."""
    s = scores[c]
    return (s >= min_score and s > 0.0 and not np.isnan(normalized[c, 0])
            and not np.isnan(normalized[c, 1]) and not np.isnan(pixels[c, 0]))


@njit(cache=True, error_model="numpy")
def _max_error_used(err, use):
    m = 0.0
    for c in range(use.shape[0]):
        if use[c] and err[c] > m:
            m = err[c]
    return m


NO_NORMAL_EQUATIONS = (np.nan, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@njit(cache=True, error_model="numpy")
def _reject_views(X, pixels, normalized, scores, use, count, K, dist, model, pose, focal,
                  view_weight, err, min_score, max_error_px, max_error_two_views_px, min_views):
    """Drop views until every used view reprojects within the threshold.

    With few views (<= 5) each round tries leaving out every view in turn and drops the one whose
    removal leaves the smallest worst error: an outlier pulls a small DLT so much that it need not
    have the largest residual itself. With more views the worst residual is the outlier, and
    dropping it is enough. Either way the cost is bounded (at most C^2 solves), never a subset search.

    Returns ``(ok, normal_equations)``: ok is False when no consistent set of ``min_views``
    remains; the second is :func:`_normal_equations` at the returned ``X`` and views (``err``
    filled to match), which the refinement starts from, or :data:`NO_NORMAL_EQUATIONS` when
    the last solve changed ``X`` after it.
    """
    C = use.shape[0]
    ne = _normal_equations(X, pixels, scores, use, K, dist, model, pose, err)
    worst = _worst_used(err, use)
    while err[worst] > max_error_px:
        if count <= 2:
            return False, ne
        if count <= 5:
            Xtry = np.empty(3)   # only for points with an outlier
            best_c = -1
            best_e = np.inf
            for c in range(C):
                if not use[c]:
                    continue
                use[c] = False
                if _weighted_dlt(normalized, scores, use, pose, focal, view_weight, Xtry):
                    _view_errors(Xtry, pixels, use, K, dist, model, pose, err)
                    e = _max_error_used(err, use)
                    if e < best_e:
                        best_e = e
                        best_c = c
                use[c] = True
            if best_c < 0:
                return False, ne
            worst = best_c
        use[worst] = False
        count -= 1
        if count < min_views or not _weighted_dlt(normalized, scores, use, pose, focal,
                                                  view_weight, X):
            return False, ne
        ne = _normal_equations(X, pixels, scores, use, K, dist, model, pose, err)
        worst = _worst_used(err, use)
    # Views dropped early, while an outlier still pulled the point, may agree with the final
    # point: take them back.
    readded = False
    for c in range(C):
        if not use[c] and _usable(c, pixels, normalized, scores, min_score):
            u, v, zc = _project(c, X, K, dist, model, pose)
            if zc > 1e-9 and np.sqrt((u - pixels[c, 0]) ** 2 + (v - pixels[c, 1]) ** 2) \
                    <= max_error_px:
                use[c] = True
                count += 1
                readded = True
    if readded:
        _weighted_dlt(normalized, scores, use, pose, focal, view_weight, X)
        ne = _normal_equations(X, pixels, scores, use, K, dist, model, pose, err)
    if count == 2 and _max_error_used(err, use) > max_error_two_views_px:
        return False, ne
    return True, ne


@njit(cache=True, error_model="numpy")
def _worst_used(err, use):
    """Index of the used view with the largest error (``err`` as :func:`_view_errors` fills it)."""
    worst = -1
    worst_e = -1.0
    for c in range(use.shape[0]):
        if use[c] and err[c] > worst_e:
            worst_e = err[c]
            worst = c
    return worst


@njit(cache=True, error_model="numpy")
def _max_ray_sine(X, use, centers):
    """Largest |sin| of the angle between two used viewing rays: near 0, depth is undetermined."""
    best = 0.0
    C = use.shape[0]
    for a in range(C):
        if not use[a]:
            continue
        ax, ay, az = X[0] - centers[a, 0], X[1] - centers[a, 1], X[2] - centers[a, 2]
        na = np.sqrt(ax * ax + ay * ay + az * az)
        for b in range(a + 1, C):
            if not use[b]:
                continue
            bx, by, bz = X[0] - centers[b, 0], X[1] - centers[b, 1], X[2] - centers[b, 2]
            cx, cy, cz = ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx
            s = np.sqrt(cx * cx + cy * cy + cz * cz) / (na * np.sqrt(bx * bx + by * by + bz * bz))
            if s > best:
                best = s
    return best


@njit(cache=True, error_model="numpy")
def _triangulate_point(i, o, k, keypoints, undistorted, K, dist, model, pose, focal, centers, min_score,
                       max_error_px, max_error_two_views_px, min_views, refine_iterations, robust,
                       min_ray_sine, px, xn, sc, use, view_weight, err, X,
                       points, error, n_views, mean_score, status):
    """Point ``i`` (output row ``o``, column ``k`` of the block's ``undistorted (C, 2, B)``):
    copy its views into the scratch arrays and solve."""
    C = keypoints.shape[0]
    count = 0
    for c in range(C):
        px[c, 0], px[c, 1] = keypoints[c, i, 0], keypoints[c, i, 1]
        s = keypoints[c, i, 2]
        sc[c] = s if s == s else 0.0            # NaN score = not seen
        xn[c, 0], xn[c, 1] = undistorted[c, 0, k], undistorted[c, 1, k]
        use[c] = xn[c, 0] == xn[c, 0] and xn[c, 1] == xn[c, 1]   # NaN = not usable
        if use[c]:
            count += 1
    points[o, 0] = points[o, 1] = points[o, 2] = np.nan
    error[o] = np.nan
    mean_score[o] = np.nan
    n_views[o] = 0
    if count < min_views:
        status[o] = STATUS_TOO_FEW_VIEWS
        return
    if not _weighted_dlt(xn, sc, use, pose, focal, view_weight, X):
        status[o] = STATUS_DEGENERATE
        return
    ne = NO_NORMAL_EQUATIONS
    if robust:
        ok, ne = _reject_views(X, px, xn, sc, use, count, K, dist, model, pose, focal, view_weight, err,
                               min_score, max_error_px, max_error_two_views_px, min_views)
        if not ok:
            status[o] = STATUS_INCONSISTENT
            return
    count = 0
    for c in range(C):
        if use[c]:
            count += 1
    if count <= 3 and _max_ray_sine(X, use, centers) < min_ray_sine:
        status[o] = STATUS_DEGENERATE
        return
    if refine_iterations > 0:
        _refine(X, px, sc, use, K, dist, model, pose, refine_iterations, err, ne)
    elif np.isnan(ne[0]):
        _view_errors(X, px, use, K, dist, model, pose, err)
    total = 0.0
    stot = 0.0
    for c in range(C):
        if use[c]:
            total += err[c]
            stot += sc[c]
    if not np.isfinite(total):
        status[o] = STATUS_DEGENERATE
        return
    points[o, 0], points[o, 1], points[o, 2] = X[0], X[1], X[2]
    error[o] = total / count
    n_views[o] = count
    mean_score[o] = stot / count
    status[o] = STATUS_OK


@njit(cache=True, parallel=True, error_model="numpy")
def triangulate_kernel(keypoints, start, K, dist, model, pose,
                       min_score, max_error_px, max_error_two_views_px, min_views, refine_iterations, robust,
                       min_ray_sine,
                       points, error, n_views, mean_score, status):
    """Triangulate every point; outputs are written into the last five arrays.

    Parameters
    ----------
    keypoints : (C, N, 3) float64
        Observed (distorted) pixels x, y and the detector score in [0, 1]; NaN = missing. Views
        below ``min_score`` are not used. Read in place: no copy of the whole input.
    start : int
        First point of this call; the outputs' length says how many (the chunk).
    K, dist, model, pose : rig arrays from :meth:`capture3d.Rig.kernel_arrays`.
    max_error_px : float
        A view whose reprojection error exceeds this is rejected (worst first, one at a time).
    max_error_two_views_px : float
        Stricter threshold for a point left with two views, where an outlier cannot be told
        from an inlier and only the epipolar part of the error shows.
    robust : bool
        Whether to reject views at all.
    min_ray_sine : float
        A point seen by at most three views whose rays are all within this sine of parallel (or
        anti-parallel, as opposite cameras are) has no depth: status degenerate.
    points : (N, 3) out; error : (N,) out, mean pixel error of used views; n_views : (N,) out;
    mean_score : (N,) out; status : (N,) out, ``STATUS_*``.

    Work is split into blocks of ``BLOCK`` points. Each block first undistorts its usable views
    camera by camera in one vectorised loop (:func:`capture3d.camera.kernels.undistort_block`:
    that was most of the time when done view by view), then solves point by point in scratch
    arrays allocated once per block, so the inner loop allocates nothing.
    """
    C = keypoints.shape[0]
    N = points.shape[0]
    focal = np.empty(C)
    centers = np.empty((C, 3))
    for c in range(C):
        focal[c] = 0.5 * (K[c, 0, 0] + K[c, 1, 1])
        for k in range(3):  # centre = -R^T t
            centers[c, k] = -(pose[c, 0, k] * pose[c, 0, 3] + pose[c, 1, k] * pose[c, 1, 3]
                              + pose[c, 2, k] * pose[c, 2, 3])
    n_blocks = (N + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        lo = b * BLOCK
        n = min(N, lo + BLOCK) - lo
        xd = np.empty(BLOCK)
        yd = np.empty(BLOCK)
        residual2 = np.empty(BLOCK)
        undistorted = np.empty((C, 2, BLOCK))
        for c in range(C):
            fx, skew, cx, fy, cy = K[c, 0, 0], K[c, 0, 1], K[c, 0, 2], K[c, 1, 1], K[c, 1, 2]
            for k in range(n):
                i = start + lo + k
                u, v, s = keypoints[c, i, 0], keypoints[c, i, 1], keypoints[c, i, 2]
                if s >= min_score and s > 0.0:   # False for NaN: unusable views stay NaN
                    yd[k] = (v - cy) / fy
                    xd[k] = (u - cx - skew * yd[k]) / fx
                else:
                    xd[k] = yd[k] = np.nan
            undistort_block(model[c], xd, yd, n, dist[c], undistorted[c, 0], undistorted[c, 1],
                            residual2)
        px = np.empty((C, 2))
        xn = np.empty((C, 2))
        sc = np.empty(C)
        use = np.zeros(C, dtype=np.bool_)
        view_weight = np.empty(C)
        err = np.empty(C)
        X = np.empty(3)
        for k in range(n):
            _triangulate_point(start + lo + k, lo + k, k, keypoints, undistorted, K, dist, model, pose, focal,
                               centers, min_score, max_error_px, max_error_two_views_px, min_views,
                               refine_iterations, robust, min_ray_sine, px, xn, sc, use, view_weight, err, X,
                               points, error, n_views, mean_score, status)

