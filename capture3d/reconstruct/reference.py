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
