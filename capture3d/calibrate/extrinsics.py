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

import numpy as np
from scipy.optimize import least_squares

from ..rig import Rig
from .boards import Board
from .bundle import BoardBundleProblem, board_poses_pnp, pose_uncertainty
from .detect import BoardObservations, stack_observations
from .geometry import FLOOR_FROM_BOARD, average_poses, invert, pose, rvec_tvec

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
    views = [board_poses_pnp(observations[n], cam, board, min_corners=opts.min_corners,
                             max_rms_px=opts.max_pnp_rms_px) for n, cam in zip(names, cams)]
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
        # the analytic Jacobian: 6x faster than finite differences over prob.sparsity() at 8 cameras
        sol = least_squares(prob.residuals, x0, jac=prob.jacobian, method="trf",
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
