"""Multi-camera extrinsics from synchronized board detections.

1. Board pose in every view by PnP (on undistorted normalised corners, so fisheye works too).
2. The camera graph of co-observations, diagnosed before solving.
3. Initial camera poses along the maximum spanning tree (most shared frames first).
4. One global sparse bundle adjustment (scipy ``least_squares`` with a ``jac_sparsity``
   pattern, robust loss) over every camera pose and board pose, optionally the intrinsics too;
   outlier observations are dropped and the problem solved again.
5. The world frame from a board lying on the floor (z = 0 on the board plane, x along the
   board's first axis, +z up toward the cameras), else from the first camera.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix, lil_matrix

from ..camera import MODELS, Camera
from ..rig import Rig
from .boards import Board
from .detect import BoardObservations, stack_observations
from .geometry import (FLOOR_FROM_BOARD, average_poses, invert, pose, rodrigues_batch, rodrigues_derivatives,
                       rvec_tvec)

log = logging.getLogger("capture3d.calibrate")


@dataclass(frozen=True)
class ExtrinsicsOptions:
    min_corners: int = 6            # a view with fewer corners gives no board pose
    max_pnp_rms_px: float = 3.0     # a PnP pose reprojecting worse is not used
    loss: str = "soft_l1"           # scipy robust loss of the bundle adjustment
    loss_scale_px: float = 1.0      # residuals beyond about this are down-weighted, pixels
    outlier_px: float = 4.0         # observations off by more after the first solve are dropped
    refine_intrinsics: bool = False  # also adjust f, c and distortion per camera
    floor_frame: int | None = None  # frame with the board on the floor; None: find one still
    use_floor: bool = True          # False: the world is the first camera's frame
    max_nfev: int = 200

    def __post_init__(self):
        if self.loss not in ("linear", "huber", "soft_l1", "cauchy", "arctan"):
            raise ValueError(f"unknown loss {self.loss!r}")


@dataclass
class ExtrinsicsResult:
    status: str                     # "ok" or "failed"
    message: str = ""
    rig: Rig | None = None
    rms_px: float = float("nan")
    per_camera_rms_px: dict = field(default_factory=dict)
    pair_counts: dict = field(default_factory=dict)   # (cam_a, cam_b) -> shared frames
    n_observations: int = 0
    iterations: int = 0
    seconds: float = 0.0
    world: str = ""
    residuals_px: np.ndarray = field(default_factory=lambda: np.zeros(0))
    observation_camera: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    board_poses: dict = field(default_factory=dict)   # frame -> world_from_board (4, 4)
    # camera -> {"center_mm", "rotation_deg"}: 1-sigma, relative to the reference camera
    # (see pose_uncertainty)
    uncertainty: dict = field(default_factory=dict)
    reference_camera: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def board_poses_pnp(obs: BoardObservations, camera: Camera, board: Board, opts: ExtrinsicsOptions):
    """``{frame: cam_from_board (4, 4)}`` for the views whose PnP fits within ``max_pnp_rms_px``."""
    objp = board.object_points()
    out = {}
    for f, ids, corners in zip(obs.frames, obs.ids, obs.corners):
        if len(ids) < opts.min_corners:
            continue
        xn = camera.pixels_to_normalized(corners)
        ok = np.isfinite(xn).all(1)
        if ok.sum() < opts.min_corners:
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
        if np.sqrt(np.mean(err ** 2)) <= opts.max_pnp_rms_px:
            out[int(f)] = T
    return out


def diagnose_graph(names, views) -> tuple[dict, list[list[str]]]:
    """Shared-frame counts per camera pair and the connected groups of cameras."""
    counts = {}
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            n = len(set(views[a]) & set(views[b]))
            counts[(names[a], names[b])] = n
    groups, seen = [], set()
    for start in range(len(names)):
        if start in seen:
            continue
        stack, group = [start], []
        seen.add(start)
        while stack:
            a = stack.pop()
            group.append(names[a])
            for b in range(len(names)):
                if b not in seen and counts.get((names[min(a, b)], names[max(a, b)]), 0) > 0:
                    seen.add(b)
                    stack.append(b)
        groups.append(group)
    return counts, groups


def _spanning_tree_poses(names, views):
    """``cam_from_root`` per camera by the maximum spanning tree of shared frames (Prim)."""
    C = len(names)
    shared = np.zeros((C, C), int)
    for a in range(C):
        for b in range(C):
            if a != b:
                shared[a, b] = len(set(views[a]) & set(views[b]))
    root = int(np.argmax(shared.sum(1))) if C > 1 else 0
    poses = {root: np.eye(4)}
    while len(poses) < C:
        best = max(((shared[a, b], a, b) for a in poses for b in range(C) if b not in poses), default=None)
        if best is None or best[0] == 0:
            break
        _, a, b = best
        # cam_b_from_cam_a = cam_b_from_board @ board_from_cam_a, averaged over shared frames
        rel = [views[b][f] @ invert(views[a][f]) for f in set(views[a]) & set(views[b])]
        poses[b] = average_poses(rel) @ poses[a]
    return root, poses


def _find_still_floor_frames(board_world, min_run: int = 5, tol_m: float = 0.01):
    """The first run of at least ``min_run`` consecutive frames over which the board stayed within
    ``tol_m`` (a carried board moves far more between two frames); None if there is none."""
    frames = sorted(board_world)
    for k in range(len(frames) - min_run + 1):
        run = frames[k:k + min_run]
        if run[-1] - run[0] != min_run - 1:
            continue
        p = np.array([board_world[f][:3, 3] for f in run])
        if np.linalg.norm(p - p[0], axis=1).max() < tol_m:
            while run[-1] + 1 in board_world and \
                    np.linalg.norm(board_world[run[-1] + 1][:3, 3] - p[0]) < tol_m:
                run.append(run[-1] + 1)
            return run
    return None


class BoardBundleProblem:
    """Vectorised residuals of the bundle adjustment and their sparsity."""

    def __init__(self, cams, fixed, frames, obs_cam, obs_frame, obj, px, refine_intrinsics):
        self.cams, self.fixed = cams, fixed
        self.C, self.F = len(cams), len(frames)
        self.obs_cam, self.obs_frame, self.obj, self.px = obs_cam, obs_frame, obj, px
        self.refine = refine_intrinsics
        self.n_intr = [4 + len(c.dist) for c in cams] if refine_intrinsics else [0] * self.C
        self.cam_offset = np.cumsum([0] + [6 + n for n in self.n_intr])
        self.board_offset = self.cam_offset[-1]

    def pack(self, cam_from_root, board_root):
        x = []
        for c, cam in enumerate(self.cams):
            r, t = rvec_tvec(cam_from_root[c])
            x += [r, t]
            if self.refine:
                K = cam.matrix
                x += [np.array([K[0, 0], K[1, 1], K[0, 2], K[1, 2]]), cam.dist]
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
                cams.append(Camera(cam.name, cam.size, K, x[o + 10:o + 6 + self.n_intr[c]], rv, tv,
                                   cam.model, cam.serial))
            else:
                cams.append(cam.with_pose(rv, tv))
        b = x[self.board_offset:].reshape(self.F, 6)
        for row in b:
            poses.append(pose(row[:3], row[3:]))
        return cams, poses

    def _pose_params(self, x):
        """Camera poses ``(C, 6)`` and board poses ``(F, 6)`` (rvec, tvec) out of ``x``."""
        cam = np.array([x[self.cam_offset[c]:self.cam_offset[c] + 6] for c in range(self.C)])
        return cam, x[self.board_offset:].reshape(self.F, 6)

    def _corners(self, cam, b, Rc, Rb):
        """Every observed corner in its board's reference frame (``Xr``) and in its camera's (``Xc``)."""
        Xr = np.einsum("nij,nj->ni", Rb[self.obs_frame], self.obj) + b[self.obs_frame, 3:]
        return Xr, np.einsum("nij,nj->ni", Rc[self.obs_cam], Xr) + cam[self.obs_cam, 3:]

    def residuals(self, x):
        cam, b = self._pose_params(x)
        _Xr, Xc = self._corners(cam, b, rodrigues_batch(cam[:, :3]), rodrigues_batch(b[:, :3]))
        xn = Xc[:, :2] / Xc[:, 2:3]
        out = np.empty_like(self.px)
        for c, cam in enumerate(self.cams):
            m = self.obs_cam == c
            if self.refine:
                o = self.cam_offset[c]
                fx, fy, cx, cy = x[o + 6:o + 10]
                dist = x[o + 10:o + 6 + self.n_intr[c]]
                skew = cam.matrix[0, 1]
            else:
                fx, fy, cx, cy = cam.matrix[0, 0], cam.matrix[1, 1], cam.matrix[0, 2], cam.matrix[1, 2]
                dist, skew = cam.dist, cam.matrix[0, 1]
            xd = MODELS[cam.model].distort(xn[m], dist)
            out[m, 0] = fx * xd[:, 0] + skew * xd[:, 1] + cx
            out[m, 1] = fy * xd[:, 1] + cy
        return (out - self.px).ravel()

    def jacobian(self, x):
        """Analytic Jacobian of :meth:`residuals` (sparse ``(2M, n)``; extrinsics only: with
        ``refine_intrinsics`` the solver takes finite differences over :meth:`sparsity`).

        Chain rule per corner: pixel <- distortion (the model's ``distort_jacobian``) <-
        normalised point <- camera point ``Xc = Rc (Rb obj + tb) + tc``, with the exact derivative
        of the Rodrigues map (:func:`rodrigues_derivatives`). The fixed camera has no columns."""
        M = len(self.obs_cam)
        oc, of = self.obs_cam, self.obs_frame
        cam, b = self._pose_params(x)
        Rc, dRc = rodrigues_batch(cam[:, :3]), rodrigues_derivatives(cam[:, :3])
        Rb, dRb = rodrigues_batch(b[:, :3]), rodrigues_derivatives(b[:, :3])
        Xr, Xc = self._corners(cam, b, Rc, Rb)
        iz = 1.0 / Xc[:, 2]
        xn = Xc[:, :2] * iz[:, None]
        # d pixel / d normalised point: K's 2x2 part times the distortion Jacobian
        A = np.empty((M, 2, 2))
        for c, c_obj in enumerate(self.cams):
            m = oc == c
            K = c_obj.matrix
            A[m] = np.array([[K[0, 0], K[0, 1]], [0.0, K[1, 1]]]) @ MODELS[c_obj.model].distort_jacobian(xn[m], c_obj.dist)
        dn = np.zeros((M, 2, 3))
        dn[:, 0, 0] = dn[:, 1, 1] = iz
        dn[:, 0, 2], dn[:, 1, 2] = -xn[:, 0] * iz, -xn[:, 1] * iz
        P = A @ dn                                                      # d pixel / d Xc, (M, 2, 3)
        PR = P @ Rc[oc]                                                 # d pixel / d Xr
        blocks = [P @ np.einsum("mikl,ml->mki", dRc[oc], Xr), P,        # camera rvec, tvec
                  PR @ np.einsum("mikl,ml->mki", dRb[of], self.obj), PR]  # board rvec, tvec
        J = np.concatenate(blocks, axis=2)                              # (M, 2, 12)
        cols = np.concatenate([self.cam_offset[oc][:, None] + np.arange(6),
                               self.board_offset + 6 * of[:, None] + np.arange(6)], axis=1)   # (M, 12)
        free = ~np.isin(oc, self.fixed)
        use = np.concatenate([np.repeat(free[:, None], 6, axis=1), np.ones((M, 6), bool)], axis=1)
        rows = np.broadcast_to((2 * np.arange(M))[:, None, None] + np.arange(2)[None, :, None], J.shape)
        cols2 = np.broadcast_to(cols[:, None, :], J.shape)
        keep = np.broadcast_to(use[:, None, :], J.shape)
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


# rho'(z) of scipy's robust losses, z = (residual / f_scale)^2: the weight each residual has in
# the Jacobian that least_squares returns (scaled by sqrt(rho'))
LOSS_WEIGHT = {"linear": lambda z: np.ones_like(z), "soft_l1": lambda z: 1 / np.sqrt(1 + z),
               "huber": lambda z: np.where(z <= 1, 1.0, 1 / np.sqrt(np.maximum(z, 1))),
               "cauchy": lambda z: 1 / (1 + z), "arctan": lambda z: 1 / (1 + z * z)}


def pose_uncertainty(x, jac, residuals, prob: BoardBundleProblem, names, *, loss: str = "linear",
                     f_scale: float = 1.0) -> dict:
    """Standard uncertainty of every camera pose from the Jacobian ``jac`` at the solution ``x``.

    The covariance of all parameters is ``sigma^2 (J^T J)^-1`` with ``sigma^2`` the residual
    variance (sum of squares over the degrees of freedom); with a robust loss, ``J`` is the
    loss-weighted Jacobian least_squares returns, and the squares are weighted alike. The camera
    block comes from the Schur complement of the board poses, ``A - B D^-1 B^T``, where ``D`` is
    block-diagonal (6 x 6 per board pose), so no matrix of the size of all board poses is ever
    inverted. The reference camera is held fixed, so these are uncertainties *relative to it*
    (it reports 0). Checked against the spread of repeated calibrations in ``tests/calibrate``.

    Returns ``{camera: {"center_mm": ..., "rotation_deg": ...}}``: the standard deviation along the
    least certain direction (square root of the covariance's largest eigenvalue) of the camera
    centre (millimetres) and of its rotation (degrees).
    """
    from scipy.sparse import block_diag, csr_matrix

    J = csr_matrix(jac)
    b0 = prob.board_offset
    dof = max(J.shape[0] - np.count_nonzero(np.abs(J).sum(axis=0)), 1)
    weight = LOSS_WEIGHT[loss]((residuals / f_scale) ** 2)
    sigma2 = float(np.sum(weight * residuals ** 2)) / dof
    Jc, Jb = J[:, :b0], J[:, b0:]
    A = (Jc.T @ Jc).toarray()
    D = (Jb.T @ Jb).tocsr()
    blocks = np.array([D[6 * f:6 * f + 6, 6 * f:6 * f + 6].toarray() for f in range(prob.F)])
    Dinv = block_diag(list(np.linalg.pinv(blocks)), format="csr")
    B = (Jc.T @ Jb).tocsr()
    S = A - (B @ Dinv @ B.T).toarray()
    free = np.flatnonzero(np.diag(A) > 0)
    cov = np.zeros_like(S)
    cov[np.ix_(free, free)] = sigma2 * np.linalg.pinv(S[np.ix_(free, free)])
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


def calibrate_extrinsics(observations: dict[str, BoardObservations], intrinsics: Rig, board: Board, *,
                         options: ExtrinsicsOptions | None = None) -> ExtrinsicsResult:
    """Camera poses from synchronized board detections (frame ``f`` is the same instant in every
    camera). ``intrinsics`` gives each camera's matrix and distortion, by name.

    Returns
    -------
    ExtrinsicsResult
        ``ok`` with the calibrated rig, or ``failed`` with a message that says which cameras are
        not connected and what to record.
    """
    opts = options or ExtrinsicsOptions()
    t0 = time.perf_counter()
    names = list(observations)
    missing = [n for n in names if n not in intrinsics.names]
    if missing:
        return ExtrinsicsResult("failed", f"no intrinsics for cameras {missing}; intrinsics know {intrinsics.names}")
    cams = [intrinsics[n] for n in names]
    views = [board_poses_pnp(observations[n], cam, board, opts) for n, cam in zip(names, cams)]
    counts, groups = diagnose_graph(names, views)
    empty = [n for n, v in zip(names, views) if not v]
    if empty:
        return ExtrinsicsResult("failed", f"no usable board view in cameras {empty}: check that the board "
                                "is in view and the intrinsics are right", pair_counts=counts)
    if len(groups) > 1:
        pairs = ", ".join(f"{a}-{b}: {n}" for (a, b), n in counts.items())
        return ExtrinsicsResult(
            "failed", f"cameras are not connected: groups {groups} never see the board at the same time. "
            f"Shared frames per pair: {pairs}. Record the board where a camera of one group and a "
            f"camera of the other both see it.", pair_counts=counts)
    root, cam_from_root = _spanning_tree_poses(names, views)
    cam_from_root = [cam_from_root[c] for c in range(len(names))]
    # the corners of the views with a board pose
    frames, obs_cam, obs_frame, corner_id, px = stack_observations([observations[n] for n in names],
                                                                   use=lambda c, f: f in views[c])
    obj = board.object_points()[corner_id]
    board_root = []
    for f in frames:
        est = [invert(cam_from_root[c]) @ views[c][f] for c in range(len(names)) if f in views[c]]
        board_root.append(average_poses(est) if len(est) > 1 else est[0])
    iterations = 0
    for attempt in range(2):
        prob = BoardBundleProblem(cams, [root], frames, obs_cam, obs_frame, obj, px, opts.refine_intrinsics)
        x0 = prob.pack(cam_from_root, board_root)
        # Extrinsics: the analytic Jacobian (6x faster than finite differences at 8 cameras);
        # with the intrinsics: finite differences over the sparsity pattern.
        jac = dict(jac="2-point", jac_sparsity=prob.sparsity(len(x0))) if opts.refine_intrinsics \
            else dict(jac=prob.jacobian)
        sol = least_squares(prob.residuals, x0, **jac, method="trf",
                            loss=opts.loss, f_scale=opts.loss_scale_px, x_scale="jac",
                            max_nfev=opts.max_nfev)
        iterations += int(sol.nfev)
        cams_new, board_root = prob.unpack(sol.x)
        cam_from_root = [pose(c.rvec, c.tvec) for c in cams_new]
        cams = cams_new
        err = np.linalg.norm(sol.fun.reshape(-1, 2), axis=1)
        keep = err <= opts.outlier_px
        if keep.all() or attempt == 1:
            break
        obs_cam, obs_frame, obj, px = obs_cam[keep], obs_frame[keep], obj[keep], px[keep]
    # err: every corner's pixel error at the last solution (the loop left it)
    uncertainty = pose_uncertainty(sol.x, sol.jac, sol.fun, prob, names, loss=opts.loss,
                                   f_scale=opts.loss_scale_px)
    # World frame.
    root_from_world = np.eye(4)
    world = f"camera {names[root]}"
    board_world_root = dict(zip(frames, board_root))
    if opts.use_floor:
        floor = [opts.floor_frame] if opts.floor_frame is not None else \
            _find_still_floor_frames(board_world_root)
        if floor is not None and floor[0] in board_world_root:
            # the still frames' poses averaged: one frame's board pose is noisier
            root_from_board = average_poses([board_world_root[f] for f in floor])
            root_from_world = root_from_board @ invert(FLOOR_FROM_BOARD)
            world = f"floor board, frames {floor[0]}-{floor[-1]}"
        elif opts.floor_frame is not None:
            return ExtrinsicsResult("failed", f"the floor frame {opts.floor_frame} has no board pose "
                                    f"(the board was seen in frames {frames[0]}..{frames[-1]})")
    out = []
    for cam in cams:
        T = pose(cam.rvec, cam.tvec) @ root_from_world
        out.append(cam.with_pose(*rvec_tvec(T)))
    per_cam = {n: float(np.sqrt(np.mean(err[obs_cam == c] ** 2))) for c, n in enumerate(names)}
    rms = float(np.sqrt(np.mean(err ** 2)))
    rig = Rig(out, {"reprojection_error_px": rms, "per_camera_error_px": per_cam,
                    "n_observations": int(len(err)), "world": world, "reference_camera": names[root],
                    "pose_uncertainty": uncertainty,
                    "board": {k: v for k, v in board.__dict__.items()}})
    world_from_root = invert(root_from_world)
    return ExtrinsicsResult("ok", "", rig, rms, per_cam, counts, int(len(err)), iterations,
                            time.perf_counter() - t0, world, err, obs_cam,
                            {f: world_from_root @ T for f, T in board_world_root.items()}, uncertainty,
                            names[root])
