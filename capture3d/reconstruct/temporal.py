"""Outlier views found from the neighbouring frames: the second pass of :func:`triangulate`.

A per-point test cannot see every outlier. With two views, an outlier along the other view's
epipolar line passes any reprojection test (the 3D point then lands a metre away); with three
views, one outlier among two inliers may leave two pairs that agree equally, or pull the point so
that all three residuals stay under the threshold. The neighbouring frames know better: the same
joint a few frames before and after, where enough views agreed, says where the point must be now.

This pass predicts each point that fewer than four agreeing views support (four hide no outlier
from the per-point test) from the *trusted* points of the same joint (status ok, three or more
views) in the nearest frames before and after (linear interpolation; where one side has none,
constant velocity from the two nearest on the other: a limb that a view gets wrong for several
frames leaves no trusted point after it nearby), projects the prediction into every view, and marks
off the views that land farther than ``temporal_error_factor x max_error_px`` from it. A point with
an off view that its first solve may have used (or that had no solve) is triangulated again without
its off views, by the same kernel (its per-point test still applies).

Guards against a prediction of something else: the two trusted neighbours must be within
``temporal_window_frames`` and have moved less than ``temporal_max_step_m`` per frame between
them, and a prediction that none of the point's views agrees with, or fewer than are off less
one, judges nothing. Rows that are not one time series need ``frame_index`` (a frame number not
above the previous row's starts a new sequence): without it, a seam between two stacked people
whose jump stays under ``temporal_max_step_m`` x the gap is taken for motion (measured: one point
of 17 moved 13 mm at such a seam), and rows alternating between two people defeat the guards.
Not caught: a three-view point that absorbs a wrong view under ``max_error_px`` is trusted; when
the same view stays wrong for several frames (a whole-limb error) the predictions follow it.

Measured on ``benchmarks/triangulation.py``'s outlier data (4 cameras, 1 px noise, 10 % missing,
5 % of views 100-300 px off, 60 fps): the inlier views land within 8.4 px of the interpolated
prediction at the 99th percentile (2-frame gaps; 40 px at the 99.9th), the outliers no nearer than
76 px. Mean error 5.39 -> 4.26 mm at 3,000 frames (oracle told the outliers: 4.23 mm, same share),
5.24 -> 4.33 mm at 20,000 (oracle 4.26 mm; share 98.34 -> 98.84 %, the oracle's 98.84 %); with
whole-limb outliers (``--limbs``) 5.37 -> 4.40 mm against the oracle's 4.21 mm.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..camera.pinhole import distort_coeffs
from .kernels import CX, CY, DIST, FX, FY, SKEW, _project, camera_table


def views_off_neighbours(keypoints, rig, points, trusted, *, window: int, max_step_m: float,
                         max_distance_px: float, frame_index=None, solved=None, unused_px: float = np.inf,
                         check=None):
    """The views farther than ``max_distance_px`` from the point predicted by the neighbouring frames.

    Parameters
    ----------
    keypoints : (C, F, J, 3) float64
        Pixels ``x, y`` (distorted, as detected) and score, rig camera order; NaN where missing.
    rig : Rig
    points : (F, J, 3) float64
        World meters (the first pass); only rows where ``trusted`` are read.
    trusted : (F, J) bool
        Points whose views agreed well enough to predict their neighbours.
    window : int
        Frames: the trusted neighbours used must each be at most this far from the row (and, on
        one side, from each other).
    max_step_m : float
        Meters per frame between the two neighbours used above which they are not one motion.
    max_distance_px : float
        Pixels between a view and the projected prediction beyond which the view is off.
    frame_index : (F,) int, optional
        Frame number of each row (default ``0 .. F-1``); a row whose number is not larger than
        the previous row's starts a new sequence, and nothing is predicted across that break.
    solved : (F, J) bool, optional
        Points the first pass reconstructed; with ``unused_px``, a view farther than that from
        its solved point was not used there, and being off does not call for a new solve.
    unused_px : float
        Pixels; see ``solved``.
    check : (F, J) bool, optional
        The points to judge (default all); the others get no prediction and no off view.

    Returns
    -------
    off : (C, F, J) bool
        True for an observed view of a point with a prediction that lies too far from it (a
        prediction behind the camera judges nothing). A prediction that no view of the point
        agrees with, or fewer than the off views less one, is taken for another person's or
        motion's (stacked rows): it judges nothing either.
    predicted : (F, J, 3) float64
        World meters: linear interpolation between the nearest trusted point of the joint before
        and the one after; where that fails, constant velocity from the two nearest trusted
        points before (else after); NaN where there is none within the limits.
    redo : (F, J) bool
        Points with an off view that is not known to be unused (see ``solved``).

    The NumPy versions in ``reference.py`` (:func:`neighbour_predictions_numpy`,
    :func:`views_off_prediction_numpy`) are this kernel's test oracle.
    """
    C, F, J, _ = keypoints.shape
    t = np.arange(F, dtype=np.int64) if frame_index is None else np.asarray(frame_index, dtype=np.int64)
    sequence = np.concatenate([[0], np.cumsum(np.diff(t) <= 0)]).astype(np.int64)
    K, dist, model, pose = rig.kernel_arrays()
    off = np.zeros((C, F, J), dtype=np.bool_)
    redo = np.zeros((F, J), dtype=np.bool_)
    predicted = np.full((F, J, 3), np.nan)
    solved = np.zeros((F, J), dtype=np.bool_) if solved is None else np.ascontiguousarray(solved)
    check = np.ones((F, J), dtype=np.bool_) if check is None else np.ascontiguousarray(check)
    _off_neighbours_kernel(np.ascontiguousarray(keypoints, dtype=np.float64),
                           np.ascontiguousarray(points, dtype=np.float64), np.ascontiguousarray(trusted),
                           solved, check, t, sequence, camera_table(K, dist, pose), model, bool((model == 0).all()),
                           int(window), float(max_step_m), float(max_distance_px), float(unused_px),
                           predicted, off, redo)
    return off, predicted, redo


@njit(cache=True, error_model="numpy", inline="always")
def _project_point(c, X, cam, model, pinhole_only):
    """Pixel ``(u, v)`` of ``X (3,)`` in camera ``c``; NaN behind it. Pinhole rigs get the
    straight-line projection (the generic one, through the distortion dispatch, cost about 5x)."""
    if not pinhole_only:
        u, v, _z = _project(c, X, cam, model, pinhole_only)
        return u, v
    xc = cam[0, c] * X[0] + cam[1, c] * X[1] + cam[2, c] * X[2] + cam[3, c]
    yc = cam[4, c] * X[0] + cam[5, c] * X[1] + cam[6, c] * X[2] + cam[7, c]
    zc = cam[8, c] * X[0] + cam[9, c] * X[1] + cam[10, c] * X[2] + cam[11, c]
    iz = 1.0 / zc if zc > 1e-9 else np.nan
    xd, yd, _a, _b, _c, _d = distort_coeffs(xc * iz, yc * iz, cam[DIST, c], cam[DIST + 1, c], cam[DIST + 2, c],
                                            cam[DIST + 3, c], cam[DIST + 4, c], cam[DIST + 5, c],
                                            cam[DIST + 6, c], cam[DIST + 7, c])
    return cam[FX, c] * xd + cam[SKEW, c] * yd + cam[CX, c], cam[FY, c] * yd + cam[CY, c]


@njit(cache=True, error_model="numpy", inline="always")
def _near_step(points, a, b, j, limit):
    """Whether joint ``j`` moved at most ``limit`` meters from row ``b`` to row ``a``."""
    d0 = points[a, j, 0] - points[b, j, 0]
    d1 = points[a, j, 1] - points[b, j, 1]
    d2 = points[a, j, 2] - points[b, j, 2]
    return np.sqrt(d0 * d0 + d1 * d1 + d2 * d2) <= limit


@njit(cache=True, parallel=True, error_model="numpy")
def _off_neighbours_kernel(keypoints, points, trusted, solved, check, t, sequence, cam, model, pinhole_only,
                           window, max_step_m, max_distance_px, unused_px, predicted, off, redo):
    """:func:`views_off_neighbours`: the nearest trusted rows found in two sweeps over frames,
    then the frames in parallel, joints inside (the input's memory order)."""
    C = keypoints.shape[0]
    F, J = trusted.shape
    # nearest trusted row before / after each row, and the one before / after that
    before = np.empty((F, J), dtype=np.int64)
    before2 = np.empty((F, J), dtype=np.int64)
    after = np.empty((F, J), dtype=np.int64)
    after2 = np.empty((F, J), dtype=np.int64)
    last = np.full(J, -1, dtype=np.int64)
    last2 = np.full(J, -1, dtype=np.int64)
    for f in range(F):
        for j in range(J):
            before[f, j], before2[f, j] = last[j], last2[j]
            if trusted[f, j]:
                last2[j], last[j] = last[j], f
    last[:] = F
    last2[:] = F
    for f in range(F - 1, -1, -1):
        for j in range(J):
            after[f, j], after2[f, j] = last[j], last2[j]
            if trusted[f, j]:
                last2[j], last[j] = last[j], f
    for f in prange(F):
        X = np.empty(3)
        for j in range(J):
            if not check[f, j]:
                continue
            b, a, b2, a2 = before[f, j], after[f, j], before2[f, j], after2[f, j]
            ok_b = b >= 0 and sequence[b] == sequence[f] and t[f] - t[b] <= window
            ok_a = a < F and sequence[a] == sequence[f] and t[a] - t[f] <= window
            if ok_b and ok_a and _near_step(points, a, b, j, max_step_m * max(t[a] - t[b], 1)):
                share = (t[f] - t[b]) / max(t[a] - t[b], 1)       # both sides: interpolation
                for k in range(3):
                    X[k] = points[b, j, k] + share * (points[a, j, k] - points[b, j, k])
            elif (ok_b and b2 >= 0 and sequence[b2] == sequence[f] and t[b] - t[b2] <= window
                  and _near_step(points, b, b2, j, max_step_m * max(t[b] - t[b2], 1))):
                share = (t[f] - t[b]) / max(t[b] - t[b2], 1)      # one side: constant velocity
                for k in range(3):
                    X[k] = points[b, j, k] + share * (points[b, j, k] - points[b2, j, k])
            elif (ok_a and a2 < F and sequence[a2] == sequence[f] and t[a2] - t[a] <= window
                  and _near_step(points, a2, a, j, max_step_m * max(t[a2] - t[a], 1))):
                share = (t[a] - t[f]) / max(t[a2] - t[a], 1)
                for k in range(3):
                    X[k] = points[a, j, k] + share * (points[a, j, k] - points[a2, j, k])
            else:
                continue
            predicted[f, j, 0], predicted[f, j, 1], predicted[f, j, 2] = X[0], X[1], X[2]
            n_off = n_near = 0
            for c in range(C):
                u, v = _project_point(c, X, cam, model, pinhole_only)
                du, dv = u - keypoints[c, f, j, 0], v - keypoints[c, f, j, 1]
                e = np.sqrt(du * du + dv * dv)
                off[c, f, j] = e > max_distance_px                # False for NaN
                n_off += 1 if e > max_distance_px else 0
                n_near += 1 if e <= max_distance_px else 0
            if n_near == 0 or n_near < n_off - 1:
                for c in range(C):                                 # the prediction is not of this point
                    off[c, f, j] = False
                continue
            for c in range(C):
                if off[c, f, j] and not redo[f, j]:
                    if solved[f, j]:
                        u, v = _project_point(c, points[f, j], cam, model, pinhole_only)
                        du, dv = u - keypoints[c, f, j, 0], v - keypoints[c, f, j, 1]
                        redo[f, j] = not np.sqrt(du * du + dv * dv) > unused_px
                    else:
                        redo[f, j] = True
