"""Numba kernels of the triangulation: weighted DLT, robust view rejection, LM refinement.

One point is one (frame, joint). The kernel reads ``keypoints (C, N, 3)`` camera-major, as the
public API lays them out, in parallel over blocks of ``BLOCK`` points. A block first undistorts
its usable views camera by camera in one vectorised loop. Then two paths share the work:

- the **block path** (:func:`_solve_block`) solves the common point, which needs no view rejected
  and one short refinement step, for all the block's points at once: loops over cameras outside
  and points inside, vectorised over points (4.7x the speed of the per-point path at 4 cameras,
  2.5x at 16; pinhole rigs);
- the **per-point path** (:func:`_triangulate_point`) takes every other point (an outlier to
  reject, a long refinement, a degenerate solve) and starts over on it: it copies the point's
  views into small scratch arrays that the helpers below work on, looping over cameras.

Either way the working memory does not grow with the number of frames. The per-point helpers'
loops over cameras are written without branches over structure-of-arrays data (the camera table
``cam (CAM_ROWS, C)``, scratch arrays ``(k, C)``), so that LLVM vectorises them too (4 to 8
cameras per instruction). Rigs with a fisheye camera take the per-point path with a per-camera
distortion dispatch instead (not vectorised).

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
from ..camera.pinhole import distort_coeffs

STATUS_OK = 0
STATUS_TOO_FEW_VIEWS = 1
STATUS_INCONSISTENT = 2
STATUS_DEGENERATE = 3

LINEAR_STEP_M = 1e-3   # refinement steps shorter than this end it (see _refine), meters
BLOCK = 256            # points per parallel work item: their undistorted views stay in cache

# Rows of the camera table: [R | t] row-major, then fx, skew, cx, fy, cy, then the 8 pinhole
# (or 4 fisheye, zero-padded) distortion coefficients.
POSE, FX, SKEW, CX, FY, CY, DIST = 0, 12, 13, 14, 15, 16, 17
CAM_ROWS = 25

# Sums over cameras may be reordered (and so vectorised); NaN and inf keep their meaning.
VECTOR_MATH = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, error_model="numpy")
def camera_table(K, dist, pose):
    """``(CAM_ROWS, C)`` table of the rig arrays of :meth:`capture3d.Rig.kernel_arrays`."""
    C = K.shape[0]
    cam = np.empty((CAM_ROWS, C))
    for c in range(C):
        for r in range(3):
            for k in range(4):
                cam[POSE + 4 * r + k, c] = pose[c, r, k]
        cam[FX, c], cam[SKEW, c], cam[CX, c] = K[c, 0, 0], K[c, 0, 1], K[c, 0, 2]
        cam[FY, c], cam[CY, c] = K[c, 1, 1], K[c, 1, 2]
        for k in range(8):
            cam[DIST + k, c] = dist[c, k]
    return cam


@njit(cache=True, error_model="numpy", inline="always")
def _distort(pinhole_only, model, x, y, cam, c):
    """Distorted normalised point and its 2x2 Jacobian for camera ``c``."""
    if pinhole_only:
        return distort_coeffs(x, y, cam[DIST, c], cam[DIST + 1, c], cam[DIST + 2, c], cam[DIST + 3, c],
                              cam[DIST + 4, c], cam[DIST + 5, c], cam[DIST + 6, c], cam[DIST + 7, c])
    return distort_any(model[c], x, y, cam[DIST:DIST + 8, c])


@njit(cache=True, error_model="numpy", fastmath=VECTOR_MATH)
def _solve_dlt(xn, view_weight, use, cam, out):
    """Weighted DLT over the views with ``use[c]``; writes ``out[:3]``; False if singular.

    ``xn (2, C)`` undistorted normalised coordinates (NaN where not used)."""
    m00 = m01 = m02 = m11 = m12 = m22 = 0.0
    b0 = b1 = b2 = 0.0
    for c in range(use.shape[0]):
        w2 = view_weight[c] * view_weight[c] if use[c] else 0.0
        u = xn[0, c] if use[c] else 0.0
        v = xn[1, c] if use[c] else 0.0
        # rows a_k = x_k P_2 - P_k, k = 0 (u) and 1 (v)
        a0 = u * cam[8, c] - cam[0, c]
        a1 = u * cam[9, c] - cam[1, c]
        a2 = u * cam[10, c] - cam[2, c]
        a3 = u * cam[11, c] - cam[3, c]
        e0 = v * cam[8, c] - cam[4, c]
        e1 = v * cam[9, c] - cam[5, c]
        e2 = v * cam[10, c] - cam[6, c]
        e3 = v * cam[11, c] - cam[7, c]
        m00 += w2 * (a0 * a0 + e0 * e0)
        m01 += w2 * (a0 * a1 + e0 * e1)
        m02 += w2 * (a0 * a2 + e0 * e2)
        m11 += w2 * (a1 * a1 + e1 * e1)
        m12 += w2 * (a1 * a2 + e1 * e2)
        m22 += w2 * (a2 * a2 + e2 * e2)
        b0 -= w2 * (a0 * a3 + e0 * e3)
        b1 -= w2 * (a1 * a3 + e1 * e3)
        b2 -= w2 * (a2 * a3 + e2 * e3)
    det, x0, x1, x2 = _solve_symmetric3(m00, m01, m02, m11, m12, m22, b0, b1, b2)
    scale = m00 * m11 * m22
    if not (abs(det) > 1e-12 * abs(scale)) or scale == 0.0:
        return False
    out[0], out[1], out[2] = x0, x1, x2
    return True


@njit(cache=True, error_model="numpy", inline="always")
def _solve_symmetric3(m00, m01, m02, m11, m12, m22, b0, b1, b2):
    """Solve the symmetric 3x3 system ``M x = b`` (upper triangle given) by cofactors.

    Returns ``(det, x0, x1, x2)``; the caller judges ``det`` (x is inf or NaN where it is 0)."""
    c00 = m11 * m22 - m12 * m12
    c01 = m02 * m12 - m01 * m22
    c02 = m01 * m12 - m02 * m11
    det = m00 * c00 + m01 * c01 + m02 * c02
    c11 = m00 * m22 - m02 * m02
    c12 = m01 * m02 - m00 * m12
    c22 = m00 * m11 - m01 * m01
    return (det, (c00 * b0 + c01 * b1 + c02 * b2) / det, (c01 * b0 + c11 * b1 + c12 * b2) / det,
            (c02 * b0 + c12 * b1 + c22 * b2) / det)


@njit(cache=True, error_model="numpy")
def _weighted_dlt(xn, scores, use, cam, focal, view_weight, X):
    """DLT, then one re-solve with view weights ``score * f / depth``; False if degenerate."""
    for c in range(use.shape[0]):
        view_weight[c] = scores[c] * focal[c]
    if not _solve_dlt(xn, view_weight, use, cam, X):
        return False
    for c in range(use.shape[0]):
        depth = cam[8, c] * X[0] + cam[9, c] * X[1] + cam[10, c] * X[2] + cam[11, c]
        view_weight[c] = scores[c] * focal[c] / max(abs(depth), 1e-6)
    return _solve_dlt(xn, view_weight, use, cam, X)


@njit(cache=True, error_model="numpy")
def _project(c, X, cam, model, pinhole_only):
    """Pixel ``(u, v)`` of world point X in camera c and its depth; the Jacobian is not needed here."""
    xc = cam[0, c] * X[0] + cam[1, c] * X[1] + cam[2, c] * X[2] + cam[3, c]
    yc = cam[4, c] * X[0] + cam[5, c] * X[1] + cam[6, c] * X[2] + cam[7, c]
    zc = cam[8, c] * X[0] + cam[9, c] * X[1] + cam[10, c] * X[2] + cam[11, c]
    if zc <= 1e-9:
        return np.nan, np.nan, zc
    xd, yd, _a, _b, _c, _d = _distort(pinhole_only, model, xc / zc, yc / zc, cam, c)
    return cam[FX, c] * xd + cam[SKEW, c] * yd + cam[CX, c], cam[FY, c] * yd + cam[CY, c], zc


@njit(cache=True, error_model="numpy", fastmath=VECTOR_MATH)
def _view_errors(X, pixels, use, cam, model, pinhole_only, err):
    """Pixel error of every used view into ``err`` (inf behind the camera, NaN if unused)."""
    X0, X1, X2 = X[0], X[1], X[2]
    for c in range(use.shape[0]):
        xc = cam[0, c] * X0 + cam[1, c] * X1 + cam[2, c] * X2 + cam[3, c]
        yc = cam[4, c] * X0 + cam[5, c] * X1 + cam[6, c] * X2 + cam[7, c]
        zc = cam[8, c] * X0 + cam[9, c] * X1 + cam[10, c] * X2 + cam[11, c]
        front = zc > 1e-9
        iz = 1.0 / zc if front else 0.0
        xd, yd, _a, _b, _c, _d = _distort(pinhole_only, model, xc * iz, yc * iz, cam, c)
        ru = cam[FX, c] * xd + cam[SKEW, c] * yd + cam[CX, c] - pixels[0, c]
        rv = cam[FY, c] * yd + cam[CY, c] - pixels[1, c]
        e = np.sqrt(ru * ru + rv * rv) if front else np.inf
        err[c] = e if use[c] else np.nan


@njit(cache=True, error_model="numpy")
def _worst_used(err, use):
    """Index of the used view with the largest error."""
    worst = -1
    worst_e = -1.0
    for c in range(use.shape[0]):
        if use[c] and err[c] > worst_e:
            worst_e = err[c]
            worst = c
    return worst


@njit(cache=True, error_model="numpy")
def _max_error_used(err, use):
    m = 0.0
    for c in range(use.shape[0]):
        if use[c] and err[c] > m:
            m = err[c]
    return m


@njit(cache=True, error_model="numpy", fastmath=VECTOR_MATH)
def _normal_equations(X, pixels, scores, use, cam, model, pinhole_only, err, lin):
    """One pass over the used views at ``X``: the score-weighted squared pixel error, the
    Gauss-Newton normal equations ``H`` (upper triangle) and gradient ``g``, and every view's
    pixel error into ``err``; ``lin (8, C)`` receives each used view's residual and Jacobian rows
    ``(ru, rv, du/dX (3), dv/dX (3))`` for the linearised update in :func:`_refine`. Returns
    ``(cost, h00, h01, h02, h11, h12, h22, g0, g1, g2)``; cost is inf when the point is behind a
    used camera."""
    h00 = h01 = h02 = h11 = h12 = h22 = 0.0
    g0 = g1 = g2 = 0.0
    cost = 0.0
    behind = 0
    X0, X1, X2 = X[0], X[1], X[2]
    for c in range(use.shape[0]):
        xc = cam[0, c] * X0 + cam[1, c] * X1 + cam[2, c] * X2 + cam[3, c]
        yc = cam[4, c] * X0 + cam[5, c] * X1 + cam[6, c] * X2 + cam[7, c]
        zc = cam[8, c] * X0 + cam[9, c] * X1 + cam[10, c] * X2 + cam[11, c]
        front = zc > 1e-9
        ok = use[c] and front
        behind += 1 if use[c] and not front else 0
        iz = 1.0 / zc if ok else 0.0
        xn, yn = xc * iz, yc * iz
        xd, yd, d00, d01, d10, d11 = _distort(pinhole_only, model, xn, yn, cam, c)
        fx, skew, fy = cam[FX, c], cam[SKEW, c], cam[FY, c]
        ru = fx * xd + skew * yd + cam[CX, c] - pixels[0, c] if ok else 0.0
        rv = fy * yd + cam[CY, c] - pixels[1, c] if ok else 0.0
        e2 = ru * ru + rv * rv
        err[c] = np.sqrt(e2) if ok else (np.inf if use[c] else np.nan)
        w = scores[c] if ok else 0.0
        cost += w * e2
        # d(pixel)/d(normalised) = Kxy @ D, a 2x2
        a00 = fx * d00 + skew * d10
        a01 = fx * d01 + skew * d11
        a10 = fy * d10
        a11 = fy * d11
        # rows of d(pixel)/d(X) = A @ dn/dXc @ R, with dn/dXc = [[iz, 0, -xn iz], [0, iz, -yn iz]]
        dx0 = iz * (cam[0, c] - xn * cam[8, c])
        dx1 = iz * (cam[1, c] - xn * cam[9, c])
        dx2 = iz * (cam[2, c] - xn * cam[10, c])
        dy0 = iz * (cam[4, c] - yn * cam[8, c])
        dy1 = iz * (cam[5, c] - yn * cam[9, c])
        dy2 = iz * (cam[6, c] - yn * cam[10, c])
        ju0, ju1, ju2 = a00 * dx0 + a01 * dy0, a00 * dx1 + a01 * dy1, a00 * dx2 + a01 * dy2
        jv0, jv1, jv2 = a10 * dx0 + a11 * dy0, a10 * dx1 + a11 * dy1, a10 * dx2 + a11 * dy2
        lin[0, c], lin[1, c] = ru, rv
        lin[2, c], lin[3, c], lin[4, c] = ju0, ju1, ju2
        lin[5, c], lin[6, c], lin[7, c] = jv0, jv1, jv2
        h00 += w * (ju0 * ju0 + jv0 * jv0)
        h01 += w * (ju0 * ju1 + jv0 * jv1)
        h02 += w * (ju0 * ju2 + jv0 * jv2)
        h11 += w * (ju1 * ju1 + jv1 * jv1)
        h12 += w * (ju1 * ju2 + jv1 * jv2)
        h22 += w * (ju2 * ju2 + jv2 * jv2)
        g0 += w * (ju0 * ru + jv0 * rv)
        g1 += w * (ju1 * ru + jv1 * rv)
        g2 += w * (ju2 * ru + jv2 * rv)
    if behind > 0:
        cost = np.inf
    return cost, h00, h01, h02, h11, h12, h22, g0, g1, g2


NO_NORMAL_EQUATIONS = (np.nan, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@njit(cache=True, error_model="numpy")
def _refine(X, pixels, scores, use, cam, model, pinhole_only, iterations, err, lin, first):
    """Levenberg-Marquardt on the score-weighted squared pixel error (distortion included).

    ``first`` is :func:`_normal_equations` at ``X`` (with ``err`` and ``lin`` filled by it), as
    the view rejection leaves it, or :data:`NO_NORMAL_EQUATIONS` to compute it here. One pass
    over the views per iteration: the pass that builds the next step also prices the last one
    (a step that raised the cost is taken back and damped). Stops when the next step would move
    the point less than 10 micrometres, far below any pixel noise. A step shorter than
    ``LINEAR_STEP_M`` is the last one: it is taken without a new pass, the errors updated from
    the linearisation. From the re-weighted DLT that is usually the first step, so a clean point
    costs one pass over its views. On return ``err`` holds every used view's pixel error at the
    returned ``X`` (from the linearisation after a short last step: within about 1e-3 px).
    """
    lam = 1e-3
    best = first
    if np.isnan(first[0]):
        best = _normal_equations(X, pixels, scores, use, cam, model, pinhole_only, err, lin)
    if not np.isfinite(best[0]):
        return best[0]
    x0, x1, x2 = X[0], X[1], X[2]           # the accepted point
    stale = False                           # err and lin hold a rejected trial's values
    for _ in range(iterations):
        cost, h00, h01, h02, h11, h12, h22, g0, g1, g2 = best
        det, s0, s1, s2 = _solve_symmetric3(h00 * (1.0 + lam), h01, h02, h11 * (1.0 + lam), h12,
                                            h22 * (1.0 + lam), g0, g1, g2)
        if det == 0.0 or not np.isfinite(det):
            break
        step2 = s0 * s0 + s1 * s1 + s2 * s2
        if step2 < 1e-10:   # 10 micrometres
            break
        if step2 < LINEAR_STEP_M ** 2 and not stale:
            # Over a step this short the projection is linear to about 1e-3 px (the step over
            # the depth, squared, times the focal length): take it, and update the errors from
            # the residuals and Jacobians of the last pass instead of a new pass over the views.
            X[0], X[1], X[2] = x0 - s0, x1 - s1, x2 - s2
            cost = 0.0
            for c in range(use.shape[0]):
                if use[c]:
                    ru = lin[0, c] - (lin[2, c] * s0 + lin[3, c] * s1 + lin[4, c] * s2)
                    rv = lin[1, c] - (lin[5, c] * s0 + lin[6, c] * s1 + lin[7, c] * s2)
                    err[c] = np.sqrt(ru * ru + rv * rv)
                    cost += scores[c] * (ru * ru + rv * rv)
            return cost
        X[0], X[1], X[2] = x0 - s0, x1 - s1, x2 - s2
        trial = _normal_equations(X, pixels, scores, use, cam, model, pinhole_only, err, lin)
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
        _view_errors(X, pixels, use, cam, model, pinhole_only, err)
    return best[0]


@njit(cache=True, error_model="numpy")
def _usable(c, pixels, normalized, scores, min_score):
    """Whether view ``c`` can be used: observed, undistortable, scored enough."""
    s = scores[c]
    return (s >= min_score and s > 0.0 and not np.isnan(normalized[0, c])
            and not np.isnan(normalized[1, c]) and not np.isnan(pixels[0, c]))


@njit(cache=True, error_model="numpy")
def _reject_views(X, pixels, normalized, scores, use, count, cam, model, pinhole_only, focal,
                  view_weight, err, lin, min_score, max_error_px, max_error_two_views_px, min_views):
    """Drop views until every used view reprojects within the threshold.

    With few views (<= 5) each round tries leaving out every view in turn and drops the one whose
    removal leaves the smallest worst error: an outlier pulls a small DLT so much that it need not
    have the largest residual itself. With more views the worst residual is the outlier, and
    dropping it is enough. Either way the cost is bounded (at most C^2 solves), never a subset search.

    Returns ``(ok, normal_equations)``: ok is False when no consistent set of ``min_views``
    remains; the second is :func:`_normal_equations` at the returned ``X`` and views (``err``
    and ``lin`` filled to match), which the refinement starts from.
    """
    C = use.shape[0]
    ne = _normal_equations(X, pixels, scores, use, cam, model, pinhole_only, err, lin)
    worst = _worst_used(err, use)
    while err[worst] > max_error_px:
        if count <= 2:
            return False, ne
        if count <= 5:
            # Allocated here, only for points with an outlier: a scratch argument threaded
            # through from the kernel cost every point about 15 % (measured).
            x_trial = np.empty(3)
            best_c = -1
            best_e = second_e = np.inf
            for c in range(C):
                if not use[c]:
                    continue
                use[c] = False
                if _weighted_dlt(normalized, scores, use, cam, focal, view_weight, x_trial):
                    _view_errors(x_trial, pixels, use, cam, model, pinhole_only, err)
                    e = _max_error_used(err, use)
                    if e < best_e:
                        second_e = best_e
                        best_e = e
                        best_c = c
                    elif e < second_e:
                        second_e = e
                use[c] = True
            if best_c < 0:
                return False, ne
            if count == 3 and second_e <= max_error_two_views_px:
                # Two different pairs of views each agree: one of them holds the outlier, and
                # two views cannot tell which (an error along the epipolar line does not show).
                return False, ne
            use[best_c] = False
            count -= 1
            if count < min_views or not _weighted_dlt(normalized, scores, use, cam, focal,
                                                      view_weight, X):
                return False, ne
        else:
            # Many views: the worst one is an outlier, and so is any other view with more than
            # half its error (the inliers, pulled by the outliers, stay well below that). The
            # depths barely move, so the last solve's view weights serve for one re-solve.
            cut = max(max_error_px, 0.5 * err[worst])
            for c in range(C):
                if use[c] and err[c] > cut:
                    use[c] = False
                    count -= 1
            if count < min_views or not _solve_dlt(normalized, view_weight, use, cam, X):
                return False, ne
        ne = _normal_equations(X, pixels, scores, use, cam, model, pinhole_only, err, lin)
        worst = _worst_used(err, use)
    # Views dropped early, while an outlier still pulled the point, may agree with the final
    # point: take them back.
    readded = False
    for c in range(C):
        if not use[c] and _usable(c, pixels, normalized, scores, min_score):
            u, v, zc = _project(c, X, cam, model, pinhole_only)
            if zc > 1e-9 and np.sqrt((u - pixels[0, c]) ** 2 + (v - pixels[1, c]) ** 2) \
                    <= max_error_px:
                use[c] = True
                count += 1
                readded = True
    if readded:
        _weighted_dlt(normalized, scores, use, cam, focal, view_weight, X)
        ne = _normal_equations(X, pixels, scores, use, cam, model, pinhole_only, err, lin)
    if count == 2 and _max_error_used(err, use) > max_error_two_views_px:
        return False, ne
    return True, ne


@njit(cache=True, error_model="numpy")
def _max_ray_sine(x0, x1, x2, use, centers):
    """Largest |sin| of the angle between two used viewing rays: near 0, depth is undetermined.

    ``use (C,)``: bools, or per-view weights that are 0 where a view is unused."""
    best = 0.0
    C = use.shape[0]
    for a in range(C):
        if not use[a]:
            continue
        ax, ay, az = x0 - centers[a, 0], x1 - centers[a, 1], x2 - centers[a, 2]
        na = np.sqrt(ax * ax + ay * ay + az * az)
        for b in range(a + 1, C):
            if not use[b]:
                continue
            bx, by, bz = x0 - centers[b, 0], x1 - centers[b, 1], x2 - centers[b, 2]
            cx, cy, cz = ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx
            s = np.sqrt(cx * cx + cy * cy + cz * cz) / (na * np.sqrt(bx * bx + by * by + bz * bz))
            if s > best:
                best = s
    return best


@njit(cache=True, error_model="numpy")
def _triangulate_point(i, o, k, keypoints, undistorted, cam, model, pinhole_only, focal, centers,
                       min_score, max_error_px, max_error_two_views_px, min_views, refine_iterations,
                       robust, min_ray_sine, px, xn, sc, use, view_weight, err, lin, X,
                       points, error, n_views, mean_score, status):
    """Point ``i`` (output row ``o``, column ``k`` of the block's ``undistorted (C, 2, B)``):
    copy its views into the scratch arrays (``px, xn (2, C)``, ``sc (C,)``) and solve."""
    C = keypoints.shape[0]
    count = 0
    for c in range(C):
        px[0, c], px[1, c] = keypoints[c, i, 0], keypoints[c, i, 1]
        s = keypoints[c, i, 2]
        sc[c] = s if s == s else 0.0            # NaN score = not seen
        xn[0, c], xn[1, c] = undistorted[c, 0, k], undistorted[c, 1, k]
        use[c] = xn[0, c] == xn[0, c] and xn[1, c] == xn[1, c]   # NaN = not usable
        if use[c]:
            count += 1
    points[o, 0] = points[o, 1] = points[o, 2] = np.nan
    error[o] = np.nan
    mean_score[o] = np.nan
    n_views[o] = 0
    if count < min_views:
        status[o] = STATUS_TOO_FEW_VIEWS
        return
    if not _weighted_dlt(xn, sc, use, cam, focal, view_weight, X):
        status[o] = STATUS_DEGENERATE
        return
    ne = NO_NORMAL_EQUATIONS
    if robust:
        ok, ne = _reject_views(X, px, xn, sc, use, count, cam, model, pinhole_only, focal, view_weight,
                               err, lin, min_score, max_error_px, max_error_two_views_px, min_views)
        if not ok:
            status[o] = STATUS_INCONSISTENT
            return
    count = 0
    for c in range(C):
        if use[c]:
            count += 1
    if count <= 3 and _max_ray_sine(X[0], X[1], X[2], use, centers) < min_ray_sine:
        status[o] = STATUS_DEGENERATE
        return
    if refine_iterations > 0:
        _refine(X, px, sc, use, cam, model, pinhole_only, refine_iterations, err, lin, ne)
    elif np.isnan(ne[0]):
        _view_errors(X, px, use, cam, model, pinhole_only, err)
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


# ---------------------------------------------------------------------------------------------
# The block path: the common case, vectorised over the points of a block.
#
# Most points need no view rejected and one short refinement step. For them the kernel runs the
# same maths as :func:`_triangulate_point` with the loops turned around: cameras outside, the
# block's points inside, on ``(C, BLOCK)`` arrays. Those inner loops have no branches, so LLVM
# vectorises them over points, which keeps every SIMD lane busy even with 4 cameras (the per-point
# path vectorises over cameras). A point that needs anything else (a view rejected, a long
# refinement step, a degenerate solve, a camera behind it) is handed to the per-point path, which
# starts over on it; so both paths give the same results (``test_block_path_matches_per_point_path``).
# Pinhole rigs only: a rig with a fisheye camera takes the per-point path throughout.

@njit(cache=True, error_model="numpy", fastmath=VECTOR_MATH)
def _dlt_block(xs, ys, weight, cam, n, acc, X, solved):
    """Weighted DLT of the block's first ``n`` points at once (the maths of :func:`_solve_dlt`).

    ``xs, ys (C, BLOCK)`` undistorted normalised coordinates, 0 where unused; ``weight (C, BLOCK)``
    view weights, 0 where unused; ``acc (9, BLOCK)`` scratch. Writes ``X (3, BLOCK)`` and
    ``solved (BLOCK,)``: False where the normal equations are singular."""
    m00, m01, m02, m11, m12, m22 = acc[0], acc[1], acc[2], acc[3], acc[4], acc[5]
    b0, b1, b2 = acc[6], acc[7], acc[8]
    for k in range(n):
        m00[k] = m01[k] = m02[k] = m11[k] = m12[k] = m22[k] = b0[k] = b1[k] = b2[k] = 0.0
    for c in range(xs.shape[0]):
        p00, p01, p02, p03 = cam[0, c], cam[1, c], cam[2, c], cam[3, c]
        p10, p11, p12, p13 = cam[4, c], cam[5, c], cam[6, c], cam[7, c]
        p20, p21, p22, p23 = cam[8, c], cam[9, c], cam[10, c], cam[11, c]
        u_c, v_c, w_c = xs[c], ys[c], weight[c]
        for k in range(n):
            w2 = w_c[k] * w_c[k]
            u, v = u_c[k], v_c[k]
            a0, a1, a2, a3 = u * p20 - p00, u * p21 - p01, u * p22 - p02, u * p23 - p03
            e0, e1, e2, e3 = v * p20 - p10, v * p21 - p11, v * p22 - p12, v * p23 - p13
            m00[k] += w2 * (a0 * a0 + e0 * e0)
            m01[k] += w2 * (a0 * a1 + e0 * e1)
            m02[k] += w2 * (a0 * a2 + e0 * e2)
            m11[k] += w2 * (a1 * a1 + e1 * e1)
            m12[k] += w2 * (a1 * a2 + e1 * e2)
            m22[k] += w2 * (a2 * a2 + e2 * e2)
            b0[k] -= w2 * (a0 * a3 + e0 * e3)
            b1[k] -= w2 * (a1 * a3 + e1 * e3)
            b2[k] -= w2 * (a2 * a3 + e2 * e3)
    X0, X1, X2 = X[0], X[1], X[2]
    for k in range(n):
        det, x0, x1, x2 = _solve_symmetric3(m00[k], m01[k], m02[k], m11[k], m12[k], m22[k],
                                            b0[k], b1[k], b2[k])
        scale = m00[k] * m11[k] * m22[k]
        solved[k] = abs(det) > 1e-12 * abs(scale) and scale != 0.0
        X0[k], X1[k], X2[k] = x0, x1, x2


@njit(cache=True, error_model="numpy", inline="always")
def _camera_row(cam, c):
    """Camera ``c`` of the table as scalars (loop invariants of the block loops): ``[R | t]``
    row-major, fx, skew, cx, fy, cy, and the 8 pinhole distortion coefficients."""
    return (cam[0, c], cam[1, c], cam[2, c], cam[3, c], cam[4, c], cam[5, c], cam[6, c], cam[7, c],
            cam[8, c], cam[9, c], cam[10, c], cam[11, c], cam[FX, c], cam[SKEW, c], cam[CX, c],
            cam[FY, c], cam[CY, c], cam[DIST, c], cam[DIST + 1, c], cam[DIST + 2, c], cam[DIST + 3, c],
            cam[DIST + 4, c], cam[DIST + 5, c], cam[DIST + 6, c], cam[DIST + 7, c])


@njit(cache=True, error_model="numpy", fastmath=VECTOR_MATH)
def _normal_equations_block(X, pixels_u, pixels_v, scores, cam, n, acc, err_sum, err_max):
    """:func:`_normal_equations` for the block's first ``n`` points at once (pinhole cameras).

    ``pixels_u, pixels_v, scores (C, BLOCK)``, scores 0 where a view is unused. Writes the
    Gauss-Newton normal equations into ``acc (9, BLOCK)`` (h00 h01 h02 h11 h12 h22 g0 g1 g2) and,
    over the used views, the sum and the largest of the pixel errors; a used view behind its
    camera counts as an infinite error.

    Eleven output rows is the most this loop can write and stay vectorised: with a twelfth (a
    count of views behind the camera, even written unconditionally) LLVM left it scalar, most
    likely at its limit of run-time aliasing checks: no packed instructions, 3.4x slower."""
    h00, h01, h02, h11, h12, h22 = acc[0], acc[1], acc[2], acc[3], acc[4], acc[5]
    g0, g1, g2 = acc[6], acc[7], acc[8]
    for k in range(n):
        h00[k] = h01[k] = h02[k] = h11[k] = h12[k] = h22[k] = g0[k] = g1[k] = g2[k] = 0.0
        err_sum[k] = err_max[k] = 0.0
    X0, X1, X2 = X[0], X[1], X[2]
    for c in range(scores.shape[0]):
        (r00, r01, r02, t0, r10, r11, r12, t1, r20, r21, r22, t2, fx, skew, cx, fy, cy,
         k1, k2, p1, p2, k3, k4, k5, k6) = _camera_row(cam, c)
        pu, pv, sc = pixels_u[c], pixels_v[c], scores[c]
        for k in range(n):
            xc = r00 * X0[k] + r01 * X1[k] + r02 * X2[k] + t0
            yc = r10 * X0[k] + r11 * X1[k] + r12 * X2[k] + t1
            zc = r20 * X0[k] + r21 * X1[k] + r22 * X2[k] + t2
            used = sc[k] > 0.0
            ok = used and zc > 1e-9
            iz = 1.0 / zc if ok else 0.0
            xn, yn = xc * iz, yc * iz
            xd, yd, d00, d01, d10, d11 = distort_coeffs(xn, yn, k1, k2, p1, p2, k3, k4, k5, k6)
            ru = fx * xd + skew * yd + cx - pu[k] if ok else 0.0
            rv = fy * yd + cy - pv[k] if ok else 0.0
            e = np.sqrt(ru * ru + rv * rv) if ok else (np.inf if used else 0.0)
            err_sum[k] += e
            err_max[k] = max(err_max[k], e)
            w = sc[k] if ok else 0.0
            a00, a01 = fx * d00 + skew * d10, fx * d01 + skew * d11
            a10, a11 = fy * d10, fy * d11
            dx0, dx1, dx2 = iz * (r00 - xn * r20), iz * (r01 - xn * r21), iz * (r02 - xn * r22)
            dy0, dy1, dy2 = iz * (r10 - yn * r20), iz * (r11 - yn * r21), iz * (r12 - yn * r22)
            ju0, ju1, ju2 = a00 * dx0 + a01 * dy0, a00 * dx1 + a01 * dy1, a00 * dx2 + a01 * dy2
            jv0, jv1, jv2 = a10 * dx0 + a11 * dy0, a10 * dx1 + a11 * dy1, a10 * dx2 + a11 * dy2
            h00[k] += w * (ju0 * ju0 + jv0 * jv0)
            h01[k] += w * (ju0 * ju1 + jv0 * jv1)
            h02[k] += w * (ju0 * ju2 + jv0 * jv2)
            h11[k] += w * (ju1 * ju1 + jv1 * jv1)
            h12[k] += w * (ju1 * ju2 + jv1 * jv2)
            h22[k] += w * (ju2 * ju2 + jv2 * jv2)
            g0[k] += w * (ju0 * ru + jv0 * rv)
            g1[k] += w * (ju1 * ru + jv1 * rv)
            g2[k] += w * (ju2 * ru + jv2 * rv)


@njit(cache=True, error_model="numpy", fastmath=VECTOR_MATH)
def _error_sum_block(X, pixels_u, pixels_v, scores, cam, n, err_sum):
    """Sum over the used views of the pixel error at ``X (3, BLOCK)``, for the first ``n`` points
    (pinhole cameras, every used view in front of its camera)."""
    for k in range(n):
        err_sum[k] = 0.0
    X0, X1, X2 = X[0], X[1], X[2]
    for c in range(scores.shape[0]):
        (r00, r01, r02, t0, r10, r11, r12, t1, r20, r21, r22, t2, fx, skew, cx, fy, cy,
         k1, k2, p1, p2, k3, k4, k5, k6) = _camera_row(cam, c)
        pu, pv, sc = pixels_u[c], pixels_v[c], scores[c]
        for k in range(n):
            zc = r20 * X0[k] + r21 * X1[k] + r22 * X2[k] + t2
            iz = 1.0 / zc if sc[k] > 0.0 else 0.0
            xn = (r00 * X0[k] + r01 * X1[k] + r02 * X2[k] + t0) * iz
            yn = (r10 * X0[k] + r11 * X1[k] + r12 * X2[k] + t1) * iz
            xd, yd, _a, _b, _c, _d = distort_coeffs(xn, yn, k1, k2, p1, p2, k3, k4, k5, k6)
            ru = fx * xd + skew * yd + cx - pu[k]
            rv = fy * yd + cy - pv[k]
            err_sum[k] += np.sqrt(ru * ru + rv * rv) if sc[k] > 0.0 else 0.0


@njit(cache=True, error_model="numpy")
def _solve_block(keypoints, first, n, undistorted, cam, focal, centers, max_error_px,
                 max_error_two_views_px, min_views, refine_iterations, robust, min_ray_sine, scratch,
                 points, error, n_views, mean_score, status, lo, per_point):
    """Solve the block's points ``first .. first + n - 1`` that need no view rejected and at most
    one short refinement step (see the section comment); mark the others in ``per_point (BLOCK,)``.

    ``undistorted (C, 2, BLOCK)`` as the kernel made it (NaN = view unusable); outputs are written
    at rows ``lo .. lo + n - 1``. ``scratch`` holds the ``(C, BLOCK)`` and ``(k, BLOCK)`` work arrays."""
    xs, ys, pu, pv, sc, weight, acc, X, vec = scratch
    C = undistorted.shape[0]
    solved = np.empty(n, dtype=np.bool_)
    count, score_sum, err_sum, err_max = vec[0], vec[1], vec[2], vec[3]
    for k in range(n):
        count[k] = score_sum[k] = 0.0
    for c in range(C):
        for k in range(n):
            x, y = undistorted[c, 0, k], undistorted[c, 1, k]
            usable = x == x and y == y
            s = keypoints[c, first + k, 2] if usable else 0.0
            xs[c, k] = x if usable else 0.0
            ys[c, k] = y if usable else 0.0
            pu[c, k] = keypoints[c, first + k, 0] if usable else 0.0
            pv[c, k] = keypoints[c, first + k, 1] if usable else 0.0
            sc[c, k] = s
            weight[c, k] = s * focal[c]
            count[k] += 1.0 if usable else 0.0
            score_sum[k] += s
    # the weighted DLT, then the re-solve with the view weights score * f / depth
    _dlt_block(xs, ys, weight, cam, n, acc, X, solved)
    for c in range(C):
        r20, r21, r22, t2 = cam[8, c], cam[9, c], cam[10, c], cam[11, c]
        for k in range(n):
            depth = r20 * X[0, k] + r21 * X[1, k] + r22 * X[2, k] + t2
            weight[c, k] = sc[c, k] * focal[c] / max(abs(depth), 1e-6)
    first_solved = solved.copy()
    _dlt_block(xs, ys, weight, cam, n, acc, X, solved)
    _normal_equations_block(X, pu, pv, sc, cam, n, acc, err_sum, err_max)
    moved = False
    for k in range(n):
        views = int(count[k])
        # (a view behind its camera made the error sum infinite)
        bad = views < min_views or not (first_solved[k] and solved[k]) or not np.isfinite(err_sum[k])
        if robust:
            bad = bad or err_max[k] > max_error_px or (views == 2 and err_max[k] > max_error_two_views_px)
        if not bad and views <= 3:
            bad = _max_ray_sine(X[0, k], X[1, k], X[2, k], sc[:, k], centers) < min_ray_sine
        if not bad and refine_iterations > 0:
            # The first Levenberg-Marquardt step of _refine; a long one goes to the per-point path.
            lam = 1.0 + 1e-3
            det, s0, s1, s2 = _solve_symmetric3(acc[0, k] * lam, acc[1, k], acc[2, k], acc[3, k] * lam,
                                                acc[4, k], acc[5, k] * lam, acc[6, k], acc[7, k], acc[8, k])
            if det != 0.0 and np.isfinite(det):
                step2 = s0 * s0 + s1 * s1 + s2 * s2
                if step2 >= LINEAR_STEP_M ** 2:
                    bad = True
                elif step2 >= 1e-10:
                    X[0, k] -= s0
                    X[1, k] -= s1
                    X[2, k] -= s2
                    moved = True
        per_point[k] = bad
    if moved:
        _error_sum_block(X, pu, pv, sc, cam, n, err_sum)
    for k in range(n):
        if per_point[k]:
            continue
        o = lo + k
        points[o, 0], points[o, 1], points[o, 2] = X[0, k], X[1, k], X[2, k]
        error[o] = err_sum[k] / count[k]
        n_views[o] = int(count[k])
        mean_score[o] = score_sum[k] / count[k]
        status[o] = STATUS_OK


@njit(cache=True, parallel=True, error_model="numpy")
def triangulate_kernel(keypoints, start, K, dist, model, pose,
                       min_score, max_error_px, max_error_two_views_px, min_views, refine_iterations, robust,
                       min_ray_sine, block_path,
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
    block_path : bool
        Solve the common case vectorised over points (:func:`_solve_block`); False sends every
        point through the per-point path (the tests compare the two).
    points : (N, 3) out; error : (N,) out, mean pixel error of used views; n_views : (N,) out;
    mean_score : (N,) out; status : (N,) out, ``STATUS_*``.

    Work is split into blocks of ``BLOCK`` points. Each block first undistorts its usable views
    camera by camera in one vectorised loop (:func:`capture3d.camera.kernels.undistort_block`:
    that was most of the time when done view by view), then solves point by point in scratch
    arrays allocated once per block; the inner loop allocates only a 3-vector per rejection round
    of a point with at most 5 views.
    """
    C = keypoints.shape[0]
    N = points.shape[0]
    cam = camera_table(K, dist, pose)
    pinhole_only = True
    focal = np.empty(C)
    centers = np.empty((C, 3))
    for c in range(C):
        pinhole_only = pinhole_only and model[c] == 0
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
        px = np.empty((2, C))
        xn = np.empty((2, C))
        sc = np.empty(C)
        use = np.zeros(C, dtype=np.bool_)
        view_weight = np.empty(C)
        err = np.empty(C)
        lin = np.empty((8, C))
        X = np.empty(3)
        per_point = np.ones(BLOCK, dtype=np.bool_)
        if block_path and pinhole_only:
            scratch = (np.empty((C, BLOCK)), np.empty((C, BLOCK)), np.empty((C, BLOCK)),
                       np.empty((C, BLOCK)), np.empty((C, BLOCK)), np.empty((C, BLOCK)),
                       np.empty((9, BLOCK)), np.empty((3, BLOCK)), np.empty((4, BLOCK)))
            _solve_block(keypoints, start + lo, n, undistorted, cam, focal, centers, max_error_px,
                         max_error_two_views_px, min_views, refine_iterations, robust, min_ray_sine,
                         scratch, points, error, n_views, mean_score, status, lo, per_point)
        for k in range(n):
            if not per_point[k]:
                continue
            _triangulate_point(start + lo + k, lo + k, k, keypoints, undistorted, cam, model, pinhole_only,
                               focal, centers, min_score, max_error_px, max_error_two_views_px, min_views,
                               refine_iterations, robust, min_ray_sine, px, xn, sc, use, view_weight, err,
                               lin, X, points, error, n_views, mean_score, status)
