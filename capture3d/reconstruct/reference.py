"""Plain NumPy versions of the triangulation maths: the test oracle of the numba kernels and the
baseline of ``benchmarks/triangulation.py``. Slow on purpose (batched, but no tricks)."""
from __future__ import annotations

import numpy as np


def weighted_dlt_numpy(normalized, scores, pose, focal):
    """Same maths as the kernel's ``_weighted_dlt`` for every point, all views used.

    Parameters
    ----------
    normalized : (C, N, 2) float
        Undistorted normalised coordinates; views with NaN or score <= 0 are skipped.
    scores : (C, N) float
    pose : (C, 3, 4) float
        ``[R | t]`` world -> camera.
    focal : (C,) float
        Focal length per camera, pixels.

    Returns
    -------
    (N, 3) float64, NaN where fewer than 2 views.
    """
    valid = np.isfinite(normalized).all(-1) & (scores > 0)
    xn = np.where(valid[..., None], normalized, 0.0)
    # rows a_{c,k} = u_k P_2 - P_k, shape (C, N, 2, 4)
    a = xn[..., :, None] * pose[:, None, None, 2, :] - pose[:, None, :2, :]

    def solve(weight):
        w2 = np.where(valid, weight, 0.0) ** 2
        M = np.einsum("cn,cnki,cnkj->nij", w2, a[..., :3], a[..., :3])
        b = -np.einsum("cn,cnki,cnk->ni", w2, a[..., :3], a[..., 3])
        out = np.full((M.shape[0], 3), np.nan)
        ok = valid.sum(0) >= 2
        out[ok] = np.linalg.solve(M[ok], b[ok][..., None])[..., 0]
        return out

    X = solve(scores * focal[:, None])
    depth = np.einsum("cj,nj->cn", pose[:, 2, :3], X) + pose[:, 2, 3][:, None]
    return solve(scores * focal[:, None] / np.maximum(np.abs(depth), 1e-6))


def dlt_svd_numpy(normalized, pose, scores=None):
    """Classic homogeneous DLT by batched SVD (the textbook baseline, e.g. aniposelib's).

    Same inputs as :func:`weighted_dlt_numpy`; views weighted by ``scores`` when given.
    """
    C, N, _ = normalized.shape
    w = np.ones((C, N)) if scores is None else np.asarray(scores, float)
    valid = np.isfinite(normalized).all(-1) & (w > 0)
    xn = np.where(valid[..., None], normalized, 0.0)
    a = xn[..., :, None] * pose[:, None, None, 2, :] - pose[:, None, :2, :]
    a = a * np.where(valid, w, 0.0)[..., None, None]
    A = a.transpose(1, 0, 2, 3).reshape(N, 2 * C, 4)
    _, _, vt = np.linalg.svd(A)
    h = vt[:, -1, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        X = h[:, :3] / h[:, 3:4]
    X[valid.sum(0) < 2] = np.nan
    return X


def reprojection_errors_numpy(points, pixels, rig):
    """Pixel distance ``(C, N)`` between ``rig.project(points)`` and observed ``pixels (C, N, 2)``."""
    return np.linalg.norm(rig.project(points) - pixels, axis=-1)


# The temporal pass (temporal.py): the oracle of its kernel.

def neighbour_predictions_numpy(points, trusted, *, window: int, max_step_m: float, frame_index=None,
                                check=None):
    """Each point predicted from the trusted points of its joint in the neighbouring frames.

    Parameters
    ----------
    points : (F, J, 3) float
        World meters (first pass); only rows where ``trusted`` are read.
    trusted : (F, J) bool
        Points whose views agreed well enough to predict their neighbours.
    window : int
        Frames: the trusted neighbours used must each be at most this far from the row (and, on
        one side, from each other).
    max_step_m : float
        Meters per frame between the two neighbours used above which they are not one motion.
    frame_index : (F,) int, optional
        Frame number of each row (default ``0 .. F-1``); a row whose number is not larger than
        the previous row's starts a new sequence, and nothing is predicted across that break.
    check : (F, J) bool, optional
        The rows to predict (default all).

    Returns
    -------
    predicted : (F, J, 3) float64
        World meters: interpolated between the nearest trusted point before and after; where
        that fails, extrapolated at constant velocity from the two nearest before (else after).
        NaN where there is no prediction.
    available : (F, J) bool
        Where ``predicted`` is finite.
    """
    F, J = trusted.shape
    t = np.arange(F) if frame_index is None else np.asarray(frame_index, dtype=np.int64)
    sequence = np.concatenate([[0], np.cumsum(np.diff(t) <= 0)])          # (F,) sequence id per row
    row = np.broadcast_to(np.arange(F)[:, None], (F, J))
    joint = np.broadcast_to(np.arange(J)[None], (F, J))
    # nearest trusted row strictly before / after each row, and the one before / after that
    last = np.maximum.accumulate(np.where(trusted, row, -1), axis=0)
    before = np.vstack([np.full((1, J), -1), last[:-1]])
    first = np.minimum.accumulate(np.where(trusted, row, F)[::-1], axis=0)[::-1]
    after = np.vstack([first[1:], np.full((1, J), F)])
    before2 = np.where(before >= 0, before[np.maximum(before, 0), joint], -1)
    after2 = np.where(after < F, after[np.minimum(after, F - 1), joint], F)
    tf = t[:, None]

    def near(r, outside, windowed=True):
        """Rows ``r`` that exist, are of each row's sequence (and within the window of it)."""
        rr = np.where(r == outside, 0, r)
        ok = (r != outside) & (sequence[rr] == sequence[row])
        return (ok & (np.abs(t[rr] - tf) <= window) if windowed else ok), rr

    ok_b, b = near(before, -1)
    ok_a, a = near(after, F)
    ok_b2, b2 = near(before2, -1, windowed=False)
    ok_a2, a2 = near(after2, F, windowed=False)
    p_b, p_a, p_b2, p_a2 = (points[r, joint] for r in (b, a, b2, a2))
    # both sides: linear interpolation
    span = np.maximum(t[a] - t[b], 1)
    both = ok_b & ok_a & (np.linalg.norm(p_a - p_b, axis=-1) <= max_step_m * span)
    predicted = np.where(both[..., None], p_b + ((tf - t[b]) / span)[..., None] * (p_a - p_b), np.nan)
    # else one side, the earlier first: constant velocity from its two nearest trusted points
    gap_b = np.maximum(t[b] - t[b2], 1)
    back = (~both & ok_b & ok_b2 & (t[b] - t[b2] <= window)
            & (np.linalg.norm(p_b - p_b2, axis=-1) <= max_step_m * gap_b))
    predicted = np.where(back[..., None], p_b + ((tf - t[b]) / gap_b)[..., None] * (p_b - p_b2), predicted)
    gap_a = np.maximum(t[a2] - t[a], 1)
    ahead = (~both & ~back & ok_a & ok_a2 & (t[a2] - t[a] <= window)
             & (np.linalg.norm(p_a - p_a2, axis=-1) <= max_step_m * gap_a))
    predicted = np.where(ahead[..., None], p_a + ((t[a] - tf) / gap_a)[..., None] * (p_a - p_a2), predicted)
    available = both | back | ahead
    if check is not None:
        available &= check
    predicted[~available] = np.nan
    return predicted, available


def views_off_prediction_numpy(keypoints, rig, predicted, available, *, max_distance_px: float):
    """The views farther than ``max_distance_px`` from the projection of the prediction.

    Parameters
    ----------
    keypoints : (C, F, J, 3) float
        Pixels ``x, y`` and score; NaN where missing.
    rig : Rig
    predicted : (F, J, 3) float, world meters; available : (F, J) bool
        From :func:`neighbour_predictions_numpy`.
    max_distance_px : float

    Returns
    -------
    (C, F, J) bool
        True for an observed view of a point with a prediction that lies too far from it (a
        prediction behind the camera judges nothing).
    """
    C, F, J = keypoints.shape[:3]
    off = np.zeros((C, F, J), dtype=bool)
    if not available.any():
        return off
    f, j = np.nonzero(available)
    projected = rig.project(predicted[f, j])                           # (C, M, 2)
    distance = np.linalg.norm(projected - keypoints[:, f, j, :2], axis=-1)
    with np.errstate(invalid="ignore"):
        off[:, f, j] = distance > max_distance_px                      # False for NaN
        near = (distance <= max_distance_px).sum(axis=0)
    n_off = off[:, f, j].sum(axis=0)
    off[:, f[(near == 0) | (near < n_off - 1)], j[(near == 0) | (near < n_off - 1)]] = False
    return off


def redo_numpy(keypoints, rig, points, solved, off, *, unused_px: float):
    """``(F, J)`` bool: points with an off view (``off (C, F, J)``) that is either of an unsolved
    point or within ``unused_px`` of its solved ``points (F, J, 3)`` (so perhaps used there)."""
    projected = rig.project(np.where(solved[..., None], points, np.nan))    # (C, F, J, 2)
    with np.errstate(invalid="ignore"):
        near = ~(np.linalg.norm(projected - keypoints[..., :2], axis=-1) > unused_px)
    return (off & (~solved[None] | near)).any(axis=0)
