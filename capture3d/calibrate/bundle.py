"""The board bundle adjustment that intrinsics and extrinsics share.

Cameras and board poses are the unknowns; every detected corner is two residuals (pixels).
:class:`BoardBundleProblem` gives the residuals and their analytic Jacobian (poses, and the
intrinsics when they are refined too); :func:`board_poses_pnp` the starting board poses;
:func:`schur_levenberg_marquardt` solves it with the board poses eliminated (intrinsics use it;
extrinsics, which need a robust loss, use scipy's ``least_squares`` with the same Jacobian);
:func:`camera_covariance` gives the cameras' uncertainty from the Jacobian at the solution.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.sparse import coo_matrix, lil_matrix

from ..camera import MODELS, Camera
from .boards import Board
from .detect import BoardObservations
from .geometry import pose, rodrigues_batch, rodrigues_derivatives, rvec_tvec


def refined_distortion_count(camera: Camera) -> int:
    """How many leading distortion coefficients a calibration adjusts: all of them, except that
    OpenCV's 5-coefficient pinhole model keeps ``k3`` (the fifth) fixed, as intrinsics do."""
    n = len(camera.dist)
    return 4 if camera.model == "pinhole" and n == 5 else n


def board_poses_pnp(obs: BoardObservations, camera: Camera, board: Board, *, min_corners: int = 6,
                    max_rms_px: float = 3.0) -> dict:
    """``{frame: cam_from_board (4, 4)}`` for the views with at least ``min_corners`` corners whose
    PnP pose reprojects within ``max_rms_px`` (RMS, pixels) through ``camera``."""
    objp = board.object_points()
    out = {}
    for f, ids, corners in zip(obs.frames, obs.ids, obs.corners):
        if len(ids) < min_corners:
            continue
        xn = camera.pixels_to_normalized(corners)
        ok = np.isfinite(xn).all(1)
        if ok.sum() < min_corners:
            continue
        o, x = objp[ids[ok]], xn[ok]
        good, rvec, tvec = cv2.solvePnP(o, x, np.eye(3), None, flags=cv2.SOLVEPNP_IPPE)
        if not good:
            continue
        rvec, tvec = cv2.solvePnPRefineLM(o, x, np.eye(3), None, rvec, tvec)
        T = pose(rvec.ravel(), tvec.ravel())
        X = o @ T[:3, :3].T + T[:3, 3]
        if (X[:, 2] <= 0).any():
            continue
        err = np.linalg.norm(camera.normalized_to_pixels(X[:, :2] / X[:, 2:]) - corners[ok], axis=1)
        if np.sqrt(np.mean(err ** 2)) <= max_rms_px:
            out[int(f)] = T
    return out


class BoardBundleProblem:
    """Residuals of the board bundle adjustment, their analytic Jacobian and its sparsity pattern.

    ``cams``: the cameras (their intrinsics are the start, or fixed); ``fixed``: indices of the
    cameras whose pose is held (the gauge); ``frames``: frame numbers, one board pose each; per
    corner ``obs_cam (M,)``, ``obs_frame (M,)`` (index into ``frames``), ``obj (M, 3)`` board
    coordinates (meters) and ``px (M, 2)`` detected pixels. Parameters ``x``: per camera rvec,
    tvec (cam_from_root), then with ``refine_intrinsics`` fx, fy, cx, cy and the refined
    distortion coefficients; then per frame the board's rvec, tvec (root_from_board)."""

    def __init__(self, cams, fixed, frames, obs_cam, obs_frame, obj, px, refine_intrinsics):
        self.cams, self.fixed = cams, fixed
        self.C, self.F = len(cams), len(frames)
        self.obs_cam, self.obs_frame, self.obj, self.px = obs_cam, obs_frame, obj, px
        self.refine = refine_intrinsics
        # refined distortion coefficients: the leading ones; the rest keep their values
        self.n_dist = [refined_distortion_count(c) for c in cams]
        self.n_intr = [4 + n for n in self.n_dist] if refine_intrinsics else [0] * self.C
        self.cam_offset = np.cumsum([0] + [6 + n for n in self.n_intr])
        self.board_offset = self.cam_offset[-1]

    def pack(self, cam_from_root, board_root):
        x = []
        for c, cam in enumerate(self.cams):
            r, t = rvec_tvec(cam_from_root[c])
            x += [r, t]
            if self.refine:
                K = cam.matrix
                x += [np.array([K[0, 0], K[1, 1], K[0, 2], K[1, 2]]), cam.dist[:self.n_dist[c]]]
        for T in board_root:
            x += list(rvec_tvec(T))
        return np.concatenate(x)

    def unpack(self, x):
        cams, poses = [], []
        for c, cam in enumerate(self.cams):
            o = self.cam_offset[c]
            rv, tv = x[o:o + 3], x[o + 3:o + 6]
            if self.refine:
                fx, fy, cx, cy = x[o + 6:o + 10]
                K = np.array([[fx, cam.matrix[0, 1], cx], [0, fy, cy], [0, 0, 1]])
                cams.append(Camera(cam.name, cam.size, K, self._dist(x, c), rv, tv, cam.model, cam.serial))
            else:
                cams.append(cam.with_pose(rv, tv))
        b = x[self.board_offset:].reshape(self.F, 6)
        for row in b:
            poses.append(pose(row[:3], row[3:]))
        return cams, poses

    def _dist(self, x, c):
        """Camera ``c``'s distortion coefficients: the refined leading ones from ``x``, then the rest."""
        o = self.cam_offset[c] + 10
        return np.concatenate([x[o:o + self.n_dist[c]], self.cams[c].dist[self.n_dist[c]:]])

    def _pose_params(self, x):
        """Camera poses ``(C, 6)`` and board poses ``(F, 6)`` (rvec, tvec) out of ``x``."""
        cam = np.array([x[self.cam_offset[c]:self.cam_offset[c] + 6] for c in range(self.C)])
        return cam, x[self.board_offset:].reshape(self.F, 6)

    def _corners(self, cam, b, Rc, Rb):
        """Every observed corner in its board's reference frame (``Xr``) and in its camera's (``Xc``)."""
        Xr = np.einsum("nij,nj->ni", Rb[self.obs_frame], self.obj) + b[self.obs_frame, 3:]
        return Xr, np.einsum("nij,nj->ni", Rc[self.obs_cam], Xr) + cam[self.obs_cam, 3:]

    def _intrinsics(self, x, c):
        """Camera ``c``'s ``(fx, fy, cx, cy, skew, dist)``: from ``x`` when they are refined."""
        cam = self.cams[c]
        K = cam.matrix
        if not self.refine:
            return K[0, 0], K[1, 1], K[0, 2], K[1, 2], K[0, 1], cam.dist
        o = self.cam_offset[c]
        fx, fy, cx, cy = x[o + 6:o + 10]
        return fx, fy, cx, cy, K[0, 1], self._dist(x, c)

    def _normalised(self, x):
        cam, b = self._pose_params(x)
        Rc, Rb = rodrigues_batch(cam[:, :3]), rodrigues_batch(b[:, :3])
        Xr, Xc = self._corners(cam, b, Rc, Rb)
        return cam, b, Rc, Rb, Xr, Xc, Xc[:, :2] / Xc[:, 2:3]

    def residuals(self, x):
        """Pixel error of every corner, ``(2M,)`` (x0, y0, x1, y1...)."""
        xn = self._normalised(x)[-1]
        out = np.empty_like(self.px)
        for c, cam in enumerate(self.cams):
            m = self.obs_cam == c
            fx, fy, cx, cy, skew, dist = self._intrinsics(x, c)
            xd = MODELS[cam.model].distort(xn[m], dist)
            out[m, 0] = fx * xd[:, 0] + skew * xd[:, 1] + cx
            out[m, 1] = fy * xd[:, 1] + cy
        return (out - self.px).ravel()

    def jacobian_blocks(self, x):
        """Per-corner dense Jacobian blocks of :meth:`residuals`.

        Returns ``J (M, 2, 12 + P)``, ``cols (M, 12 + P)`` and ``used (M, 12 + P)``: the derivatives
        of each corner's pixel with respect to its camera's rvec and tvec, its board's rvec and
        tvec, then (with ``refine_intrinsics``) its camera's ``fx, fy, cx, cy`` and refined
        distortion coefficients (``P`` = the most any camera refines), the parameter index of
        each column, and which columns are real (not a fixed camera, not padding).

        Chain rule: pixel <- distortion (the model's ``distort_jacobian``) <- normalised point
        <- camera point ``Xc = Rc (Rb obj + tb) + tc``, with the exact derivative of the Rodrigues
        map (:func:`rodrigues_derivatives`). Intrinsics: ``d pixel / d (fx, fy, cx, cy)`` is
        exact; the distortion coefficients' columns are central differences of the model's
        ``distort`` (step 1e-6 on polynomials in them: error about 1e-12 of a pixel)."""
        M = len(self.obs_cam)
        oc, of = self.obs_cam, self.obs_frame
        cam, b, Rc, Rb, Xr, Xc, xn = self._normalised(x)
        dRc, dRb = rodrigues_derivatives(cam[:, :3]), rodrigues_derivatives(b[:, :3])
        iz = 1.0 / Xc[:, 2]
        P_intr = max(self.n_intr)
        Ji = np.zeros((M, 2, P_intr))
        # d pixel / d normalised point: K's 2x2 part times the distortion Jacobian
        A = np.empty((M, 2, 2))
        for c, c_obj in enumerate(self.cams):
            m = oc == c
            fx, fy, cx, cy, skew, dist = self._intrinsics(x, c)
            model = MODELS[c_obj.model]
            Kc = np.array([[fx, skew], [0.0, fy]])
            A[m] = Kc @ model.distort_jacobian(xn[m], dist)
            if self.refine:
                xd = model.distort(xn[m], dist)
                Ji[m, 0, 0], Ji[m, 1, 1] = xd[:, 0], xd[:, 1]
                Ji[m, 0, 2] = Ji[m, 1, 3] = 1.0
                for k in range(self.n_dist[c]):
                    step = np.zeros(len(dist))
                    step[k] = 1e-6
                    d_xd = (model.distort(xn[m], dist + step) - model.distort(xn[m], dist - step)) / 2e-6
                    Ji[m, :, 4 + k] = d_xd @ Kc.T
        dn = np.zeros((M, 2, 3))
        dn[:, 0, 0] = dn[:, 1, 1] = iz
        dn[:, 0, 2], dn[:, 1, 2] = -xn[:, 0] * iz, -xn[:, 1] * iz
        P = A @ dn                                                      # d pixel / d Xc, (M, 2, 3)
        PR = P @ Rc[oc]                                                 # d pixel / d Xr
        blocks = [P @ np.einsum("mikl,ml->mki", dRc[oc], Xr), P,        # camera rvec, tvec
                  PR @ np.einsum("mikl,ml->mki", dRb[of], self.obj), PR, Ji]  # board rvec, tvec; intrinsics
        J = np.concatenate(blocks, axis=2)                              # (M, 2, 12 + P)
        cols = np.concatenate([self.cam_offset[oc][:, None] + np.arange(6),
                               self.board_offset + 6 * of[:, None] + np.arange(6),
                               self.cam_offset[oc][:, None] + 6 + np.arange(P_intr)], axis=1)
        free = ~np.isin(oc, self.fixed)
        n_intr = np.array(self.n_intr)[oc]
        used = np.concatenate([np.repeat(free[:, None], 6, axis=1), np.ones((M, 6), bool),
                               np.arange(P_intr)[None, :] < n_intr[:, None]], axis=1)
        return J, cols, used

    def jacobian(self, x):
        """Analytic Jacobian of :meth:`residuals`, sparse ``(2M, n)``, from :meth:`jacobian_blocks`.
        The fixed cameras' poses have no entries."""
        J, cols, used = self.jacobian_blocks(x)
        M = len(J)
        rows = np.broadcast_to((2 * np.arange(M))[:, None, None] + np.arange(2)[None, :, None], J.shape)
        cols2 = np.broadcast_to(cols[:, None, :], J.shape)
        keep = np.broadcast_to(used[:, None, :], J.shape)
        n = self.board_offset + 6 * self.F
        return coo_matrix((J[keep], (rows[keep], cols2[keep])), shape=(2 * M, n)).tocsr()

    def sparsity(self, n_params: int):
        M = len(self.obs_cam)
        S = lil_matrix((2 * M, n_params), dtype=np.int8)
        rows = np.arange(M)
        for k in range(6 + max(self.n_intr)):
            cols = self.cam_offset[self.obs_cam] + k
            ok = k < 6 + np.array(self.n_intr)[self.obs_cam]
            ok &= ~np.isin(self.obs_cam, self.fixed) | (k >= 6)
            S[2 * rows[ok], cols[ok]] = 1
            S[2 * rows[ok] + 1, cols[ok]] = 1
        for k in range(6):
            cols = self.board_offset + 6 * self.obs_frame + k
            S[2 * rows, cols] = 1
            S[2 * rows + 1, cols] = 1
        return S


def _schur_parts(J, prob: BoardBundleProblem):
    """The normal equations of the sparse Jacobian ``J (2M, n)`` split at the board poses:
    ``A = Jc^T Jc`` over the camera parameters that have columns (``free``; a fixed camera's
    pose has none), dense; ``B = Jc^T Jb`` (free rows), sparse; and the board blocks of
    ``Jb^T Jb``, ``D (F, 6, 6)`` (each board pose touches only its own corners)."""
    b0 = prob.board_offset
    Jc, Jb = J[:, :b0], J[:, b0:]
    A = (Jc.T @ Jc).toarray()
    free = np.flatnonzero(np.diag(A) > 0)
    DD = (Jb.T @ Jb).tocoo()
    own = DD.row // 6 == DD.col // 6
    D = np.zeros((prob.F, 6, 6))
    np.add.at(D, (DD.row[own] // 6, DD.row[own] % 6, DD.col[own] % 6), DD.data[own])
    return A[np.ix_(free, free)], (Jc.T @ Jb).tocsr()[free], D, free


def _reduced_camera_system(A, B, D, damping: float = 0.0):
    """The Schur complement ``S = A' - B D'^-1 B^T`` (``'``: diagonals scaled by ``1 + damping``,
    Levenberg-Marquardt's) and ``D'^-1`` as ``(F, 6, 6)`` blocks and as a sparse block diagonal."""
    from scipy.sparse import block_diag

    Dd = D + damping * np.einsum("fii->fi", D)[:, :, None] * np.eye(6)
    Dinv = np.linalg.pinv(Dd)
    Dinv_sparse = block_diag(list(Dinv), format="csr")
    S = A + damping * np.diag(np.diag(A)) - (B @ Dinv_sparse @ B.T).toarray()
    return S, Dinv, Dinv_sparse


def schur_levenberg_marquardt(prob: BoardBundleProblem, x0, *, max_iterations: int = 100,
                              rtol: float = 1e-12):
    """Least squares of :meth:`BoardBundleProblem.residuals` by Levenberg-Marquardt with the board
    poses eliminated (the Schur complement), as bundle adjusters do.

    Each step solves the normal equations ``[[A, B], [B^T, D]] [dc, db] = -[gc, gb]`` exactly:
    ``D`` is block-diagonal (6 x 6 per board pose), so ``(A - B D^-1 B^T) dc = -gc + B D^-1 gb``
    is a system the size of the camera parameters, and each board's step follows from it. This
    is what an iterative sparse solver (scipy's LSMR) does poorly when the camera parameters are
    correlated with every board pose at once (a principal point and the boards' tilts); the
    price is a dense solve of the camera block, small for a handful of cameras. Squared loss
    only (no robust loss): callers drop outliers and solve again.

    Returns ``(x, residuals (2M,), iterations)``.
    """
    x = np.array(x0, float)
    r = prob.residuals(x)
    cost = float(r @ r)
    b0, F = prob.board_offset, prob.F
    lam, it = 1e-3, 0
    for it in range(1, max_iterations + 1):
        J = prob.jacobian(x)
        A, B, D, free = _schur_parts(J, prob)
        g = J.T @ r
        gc, gb = g[:b0][free], g[b0:].reshape(F, 6)
        while True:
            S, Dinv, Dinv_sparse = _reduced_camera_system(A, B, D, lam)
            dc = np.linalg.solve(S, -gc + B @ (Dinv_sparse @ gb.reshape(-1)))
            db = np.einsum("fij,fj->fi", Dinv, -gb - (B.T @ dc).reshape(F, 6))
            x_new = x.copy()
            x_new[free] += dc
            x_new[b0:] += db.reshape(-1)
            r_new = prob.residuals(x_new)
            cost_new = float(r_new @ r_new)
            if np.isfinite(cost_new) and cost_new < cost:
                break
            lam *= 10
            if lam > 1e12:
                return x, r, it
        done = cost - cost_new < rtol * cost
        x, r, cost = x_new, r_new, cost_new
        lam = max(lam / 10, 1e-9)
        if done:
            break
    return x, r, it


# rho'(z) of scipy's robust losses, z = (residual / f_scale)^2: the weight each residual has in
# the Jacobian that least_squares returns (scaled by sqrt(rho'))
LOSS_WEIGHT = {"linear": lambda z: np.ones_like(z), "soft_l1": lambda z: 1 / np.sqrt(1 + z),
               "huber": lambda z: np.where(z <= 1, 1.0, 1 / np.sqrt(np.maximum(z, 1))),
               "cauchy": lambda z: 1 / (1 + z), "arctan": lambda z: 1 / (1 + z * z)}


def camera_covariance(jac, residuals, prob: BoardBundleProblem, *, loss: str = "linear",
                      f_scale: float = 1.0) -> np.ndarray:
    """Covariance ``(P, P)`` of the camera parameters (``x[:prob.board_offset]``) at a solution.

    ``sigma^2 (J^T J)^-1`` restricted to the camera block, with ``sigma^2`` the residual variance
    (sum of squares over the degrees of freedom); with a robust loss, ``J`` is the loss-weighted
    Jacobian least_squares returns, and the squares are weighted alike. The camera block comes
    from the Schur complement of the board poses, ``A - B D^-1 B^T``, where ``D`` is
    block-diagonal (6 x 6 per board pose), so no matrix of the size of all board poses is ever
    inverted. Parameters without Jacobian columns (a fixed camera) get zero rows and columns.
    """
    from scipy.sparse import csr_matrix

    J = csr_matrix(jac)
    dof = max(J.shape[0] - np.count_nonzero(np.abs(J).sum(axis=0)), 1)
    weight = LOSS_WEIGHT[loss]((residuals / f_scale) ** 2)
    sigma2 = float(np.sum(weight * residuals ** 2)) / dof
    A, B, D, free = _schur_parts(J, prob)
    S, _Dinv, _ = _reduced_camera_system(A, B, D)
    cov = np.zeros((prob.board_offset, prob.board_offset))
    cov[np.ix_(free, free)] = sigma2 * np.linalg.pinv(S)
    return cov


def pose_uncertainty(x, jac, residuals, prob: BoardBundleProblem, names, *, loss: str = "linear",
                     f_scale: float = 1.0) -> dict:
    """Standard uncertainty of every camera pose from the Jacobian ``jac`` at the solution ``x``.

    From :func:`camera_covariance`. The reference camera is held fixed, so these are uncertainties *relative to it*
    (it reports 0). Checked against the spread of repeated calibrations in ``tests/calibrate``.

    Returns ``{camera: {"center_mm": ..., "rotation_deg": ...}}``: the standard deviation along the
    least certain direction (square root of the covariance's largest eigenvalue) of the camera
    centre (millimetres) and of its rotation (degrees).
    """
    cov = camera_covariance(jac, residuals, prob, loss=loss, f_scale=f_scale)
    out = {}
    for c, name in enumerate(names):
        o = prob.cam_offset[c]
        P = cov[o:o + 6, o:o + 6]
        r, t = x[o:o + 3], x[o + 3:o + 6]
        R, dR = rodrigues_batch(r[None])[0], rodrigues_derivatives(r[None])[0]
        # centre = -R^T t: d/dr_i = -(dR/dr_i)^T t, d/dt = -R^T
        G = np.concatenate([np.stack([-dR[i].T @ t for i in range(3)], axis=1), -R.T], axis=1)
        centre_cov = G @ P @ G.T
        out[name] = {"center_mm": float(np.sqrt(max(np.linalg.eigvalsh(centre_cov).max(), 0.0)) * 1000),
                     "rotation_deg": float(np.degrees(np.sqrt(max(np.linalg.eigvalsh(P[:3, :3]).max(), 0.0))))}
    return out
