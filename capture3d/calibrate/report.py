"""How good is a calibration: reprojection error on board detections, the metric check, pictures.

:func:`evaluate` judges any rig (ours, or one converted from caliscope, anipose, Qualisys...) on
board detections without changing it: every frame's board pose is fitted with the cameras held
fixed, so the error is what the calibration itself gives on those corners. The metric check
triangulates the corners and compares neighbouring-corner distances with the printed square size:
a calibration with a wrong scale reprojects perfectly and fails only this check.

:func:`write_report` saves ``report.json`` (every number) and ``report.png`` (camera layout and
board poses in 3D, per-camera residual histograms, per-camera error maps over the sensor).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..rig import Rig
from .boards import Board
from .detect import BoardObservations
from .geometry import invert, pose, rodrigues_batch, rvec_tvec


@dataclass
class CalibrationQuality:
    """Quality of a rig on board detections.

    Attributes
    ----------
    rms_px : float
        Root-mean-square reprojection error over every corner used, pixels.
    per_camera_rms_px : {camera: float}
    residuals_px : (M, 2) float
        Reprojected minus detected pixel of every corner used; ``observation_camera (M,)`` its
        camera index (rig order), ``observation_pixel (M, 2)`` where it was detected.
    board_poses : {frame: (4, 4)}
        world_from_board of every frame seen by at least one camera, meters.
    metric_mean_mm, metric_std_mm : float
        Triangulated distance between neighbouring corners minus the square size, over frames seen
        by at least two cameras (mean, std), millimetres; NaN without such frames.
    n_metric_pairs : int
    """

    rms_px: float
    per_camera_rms_px: dict
    residuals_px: np.ndarray
    observation_camera: np.ndarray
    observation_pixel: np.ndarray
    board_poses: dict
    metric_mean_mm: float = float("nan")
    metric_std_mm: float = float("nan")
    n_metric_pairs: int = 0
    square_mm: float = float("nan")
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {"rms_px": self.rms_px, "per_camera_rms_px": self.per_camera_rms_px,
                "corners": int(len(self.residuals_px)), "frames": len(self.board_poses),
                "metric_check": {"square_mm": self.square_mm, "mean_error_mm": self.metric_mean_mm,
                                 "std_mm": self.metric_std_mm, "neighbour_pairs": self.n_metric_pairs},
                **self.extra}


def _stack(rig: Rig, observations: dict, board: Board):
    """Observations of the rig's cameras as flat arrays (camera, frame index, object point, pixel)."""
    objp = board.object_points()
    frames = sorted({int(f) for n, o in observations.items() if n in rig.names for f in o.frames})
    fidx = {f: k for k, f in enumerate(frames)}
    cams, fr, obj, px = [], [], [], []
    for c, name in enumerate(rig.names):
        o = observations.get(name)
        if o is None:
            continue
        for f, ids, corners in zip(o.frames, o.ids, o.corners):
            cams.append(np.full(len(ids), c))
            fr.append(np.full(len(ids), fidx[int(f)]))
            obj.append(objp[ids])
            px.append(corners)
    if not cams:
        return frames, np.zeros(0, int), np.zeros(0, int), np.zeros((0, 3)), np.zeros((0, 2))
    return frames, np.concatenate(cams), np.concatenate(fr), np.concatenate(obj), np.concatenate(px)


def _project_boards(rig: Rig, params, obs_cam, obs_frame, obj):
    """Pixels of the observed corners for board poses ``params (F, 6)`` (rvec, tvec world_from_board)."""
    Rb = rodrigues_batch(params[:, :3])
    world = np.einsum("nij,nj->ni", Rb[obs_frame], obj) + params[obs_frame, 3:]
    out = np.empty((len(obj), 2))
    for c, cam in enumerate(rig):
        m = obs_cam == c
        if m.any():
            out[m] = cam.project(world[m])
    return out


def fit_board_poses(rig: Rig, observations: dict, board: Board, *, iterations: int = 15):
    """world_from_board ``{frame: (4, 4)}`` of every frame, fitted with the cameras held fixed.

    Each frame starts from PnP in the camera that saw most of its corners; then all frames take
    Gauss-Newton steps together (each frame is its own 6-parameter problem: the Jacobian is taken
    by perturbing one parameter of every frame at once). Returns the poses and the flat
    observation arrays ``(obs_cam, obs_frame, obj, px)`` in rig camera order.
    """
    frames, obs_cam, obs_frame, obj, px = _stack(rig, observations, board)
    F = len(frames)
    params = np.full((F, 6), np.nan)
    for k in range(F):
        m = obs_frame == k
        cams, counts = np.unique(obs_cam[m], return_counts=True)
        for c in cams[np.argsort(-counts)]:
            sel = m & (obs_cam == c)
            cam = rig[int(c)]
            xn = cam.pixels_to_normalized(px[sel])
            ok = np.isfinite(xn).all(1)
            if ok.sum() < 4:
                continue
            good, rvec, tvec = cv2.solvePnP(obj[sel][ok], xn[ok], np.eye(3), None, flags=cv2.SOLVEPNP_IPPE)
            if good:
                world_from_board = invert(pose(cam.rvec, cam.tvec)) @ pose(rvec.ravel(), tvec.ravel())
                params[k] = np.concatenate(rvec_tvec(world_from_board))
                break
    posed = np.isfinite(params).all(1)
    keep = posed[obs_frame]
    obs_cam, obs_frame, obj, px = obs_cam[keep], obs_frame[keep], obj[keep], px[keep]
    remap = np.cumsum(posed) - 1
    obs_frame = remap[obs_frame]
    frames = [f for f, p in zip(frames, posed) if p]
    params = params[posed]
    h = 1e-6
    for _ in range(iterations):
        r = (_project_boards(rig, params, obs_cam, obs_frame, obj) - px).ravel()
        J = np.empty((len(r), 6))
        for j in range(6):
            step = params.copy()
            step[:, j] += h
            J[:, j] = ((_project_boards(rig, step, obs_cam, obs_frame, obj) - px).ravel() - r) / h
        rows = np.repeat(obs_frame, 2)
        H = np.zeros((len(frames), 6, 6))
        g = np.zeros((len(frames), 6))
        np.add.at(H, rows, J[:, :, None] * J[:, None, :])
        np.add.at(g, rows, J * r[:, None])
        H += 1e-9 * np.eye(6)
        delta = np.linalg.solve(H, g[..., None])[..., 0]
        params -= delta
        if np.abs(delta).max() < 1e-10:
            break
    poses = {f: pose(p[:3], p[3:]) for f, p in zip(frames, params)}
    return poses, params, (obs_cam, obs_frame, obj, px)


def metric_check(rig: Rig, observations: dict, board: Board) -> np.ndarray:
    """Triangulated distance between every two neighbouring corners (along rows and columns) in
    frames seen by at least two cameras, minus the square size: ``(pairs,)`` meters."""
    from ..reconstruct import triangulate

    frames = sorted({int(f) for n, o in observations.items() if n in rig.names for f in o.frames})
    if not frames:
        return np.zeros(0)
    fidx = {f: k for k, f in enumerate(frames)}
    kp = np.full((len(rig), len(frames), board.n_corners, 3), np.nan)
    for c, name in enumerate(rig.names):
        o = observations.get(name)
        if o is None:
            continue
        for f, ids, corners in zip(o.frames, o.ids, o.corners):
            kp[c, fidx[int(f)], ids, :2] = corners
            kp[c, fidx[int(f)], ids, 2] = 1.0
    seen = (np.isfinite(kp[..., 0]).sum(axis=0) >= 2).any(axis=1)      # frames with a corner in two views
    if not seen.any():
        return np.zeros(0)
    kp, frames = kp[:, seen], [f for f, s in zip(frames, seen) if s]
    pts = triangulate(kp, rig, max_error_px=5.0, min_ray_angle_deg=2.0).points
    nx, ny = board.inner_corners
    grid = pts.reshape(len(frames), ny, nx, 3)
    d = np.concatenate([np.linalg.norm(np.diff(grid, axis=2), axis=-1).ravel(),
                        np.linalg.norm(np.diff(grid, axis=1), axis=-1).ravel()])
    d = d[np.isfinite(d)]
    return d - board.square_length_m


def evaluate(rig: Rig, observations: dict[str, BoardObservations], board: Board) -> CalibrationQuality:
    """Reprojection error and metric check of ``rig`` on board ``observations`` (by camera name;
    cameras the rig does not have are ignored). The rig is not changed."""
    poses, params, (cam_of, obs_frame, obj, px) = fit_board_poses(rig, observations, board)
    res = _project_boards(rig, params, cam_of, obs_frame, obj) - px
    err = np.linalg.norm(res, axis=1)
    per = {name: float(np.sqrt(np.mean(err[cam_of == c] ** 2))) if (cam_of == c).any() else float("nan")
           for c, name in enumerate(rig.names)}
    d = metric_check(rig, observations, board)
    return CalibrationQuality(float(np.sqrt(np.mean(err ** 2))) if len(err) else float("nan"), per, res,
                              cam_of, px, poses,
                              float(d.mean() * 1000) if len(d) else float("nan"),
                              float(d.std() * 1000) if len(d) else float("nan"), int(len(d)),
                              board.square_length_m * 1000)


def write_report(quality: CalibrationQuality, rig: Rig, folder, *, board: Board | None = None,
                 title: str = "calibration") -> dict:
    """``folder/report.json`` and ``folder/report.png``; returns ``{"json": path, "png": path}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary = quality.summary()
    summary["cameras"] = {cam.name: {"center_m": cam.center.tolist(), "size": list(cam.size),
                                     "focal_px": float(cam.matrix[0, 0])} for cam in rig}
    (folder / "report.json").write_text(json.dumps(summary, indent=2))

    C = len(rig)
    cols = max(C, 2)
    fig = plt.figure(figsize=(4.2 * cols, 13.5))
    grid = fig.add_gridspec(3, cols, height_ratios=[1.7, 1, 1])
    fig.suptitle(f"{title}: RMS {quality.rms_px:.3f} px over {len(quality.residuals_px)} corners; metric check "
                 f"{quality.metric_mean_mm:+.2f} +- {quality.metric_std_mm:.2f} mm "
                 f"(square {quality.square_mm:.1f} mm)", fontsize=12)
    ax3 = fig.add_subplot(grid[0, :], projection="3d")
    _draw_layout(ax3, rig, quality.board_poses, board)
    err = np.linalg.norm(quality.residuals_px, axis=1)
    top = float(np.percentile(err, 99.5)) * 1.1 if len(err) else 1.0
    for c, cam in enumerate(rig):
        m = quality.observation_camera == c
        ax = fig.add_subplot(grid[1, c])
        ax.hist(err[m], bins=40, range=(0, top), color="tab:blue")
        ax.set_title(f"{cam.name}: RMS {quality.per_camera_rms_px[cam.name]:.3f} px", fontsize=10)
        ax.set_xlabel("reprojection error (px)")
        ax = fig.add_subplot(grid[2, c])
        W, H = cam.size
        sc = ax.scatter(quality.observation_pixel[m, 0], quality.observation_pixel[m, 1], c=err[m], s=6,
                        cmap="viridis", vmin=0, vmax=top)
        ax.set_xlim(0, W)
        ax.set_ylim(H, 0)
        ax.set_aspect("equal")
        ax.set_title(f"{cam.name}: error over the sensor", fontsize=10)
        fig.colorbar(sc, ax=ax, fraction=0.046, label="px")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    png = folder / "report.png"
    fig.savefig(png, dpi=80)
    plt.close(fig)
    return {"json": folder / "report.json", "png": png}


def _draw_layout(ax, rig: Rig, board_poses: dict, board: Board | None):
    """Cameras as small pyramids with their names, board outlines at their fitted poses."""
    centers = rig.centers
    span = float(np.ptp(centers, axis=0).max()) if len(rig) > 1 else 1.0
    depth = 0.08 * max(span, 0.5)
    for cam in rig:
        R, c = cam.rotation, cam.center
        W, H = cam.size
        corners = np.array([[0, 0], [W, 0], [W, H], [0, H]], float)
        xn = (corners - cam.matrix[:2, 2]) / np.diag(cam.matrix)[:2]
        far = c + (np.c_[xn, np.ones(4)] * depth) @ R            # camera -> world: R^T x = x @ R
        for p in far:
            ax.plot(*np.c_[c, p], color="tab:red", lw=1)
        ax.plot(*np.r_[far, far[:1]].T, color="tab:red", lw=1)
        ax.text(*c, f" {cam.name}", fontsize=8)
    if board is not None and board_poses:
        w, h = board.size_m
        outline = np.array([[0, 0, 0], [w, 0, 0], [w, h, 0], [0, h, 0], [0, 0, 0]], float)
        step = max(1, len(board_poses) // 60)
        for f in sorted(board_poses)[::step]:
            T = board_poses[f]
            p = outline @ T[:3, :3].T + T[:3, 3]
            ax.plot(*p.T, color="tab:blue", lw=0.6, alpha=0.6)
    pts = np.r_[centers, *(T[:3, 3][None] for T in board_poses.values())] if board_poses else centers
    mid, half = pts.mean(0), max(float(np.ptp(pts, axis=0).max()) / 2, 0.5)
    ax.set_xlim(mid[0] - half, mid[0] + half)
    ax.set_ylim(mid[1] - half, mid[1] + half)
    ax.set_zlim(mid[2] - half, mid[2] + half)
    ax.set_xlabel("X (m)")
    ax.set_ylabel("Y (m)")
    ax.set_zlabel("Z (m)")
    ax.set_title("cameras (red) and board poses (blue), world frame", fontsize=10)
