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
from scipy.optimize import least_squares

from ..rig import Rig
from .boards import Board
from .bundle import BoardBundleProblem
from .detect import BoardObservations, stack_observations
from .geometry import invert, pose
from .intrinsics import coverage_grid


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


def fit_board_poses(rig: Rig, observations: dict, board: Board):
    """world_from_board ``{frame: (4, 4)}`` of every frame, fitted with the cameras held fixed.

    Each frame starts from PnP in the camera that saw most of its corners; then the bundle
    adjustment's problem (:class:`~capture3d.calibrate.bundle.BoardBundleProblem`, every
    camera fixed, plain least squares) refines all board poses together. Frames without a PnP pose are left
    out. Returns the poses, the residuals ``(M, 2)`` (reprojected minus detected, pixels) and
    every corner's camera ``(M,)`` and detected pixel ``(M, 2)``, in rig camera order.
    """
    frames, obs_cam, obs_frame, corner_id, px = stack_observations([observations.get(n) for n in rig.names])
    obj = board.object_points()[corner_id]
    initial = {}
    for k, f in enumerate(frames):
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
                initial[f] = invert(pose(cam.rvec, cam.tvec)) @ pose(rvec.ravel(), tvec.ravel())
                break
    frames, obs_cam, obs_frame, corner_id, px = stack_observations(
        [observations.get(n) for n in rig.names], use=lambda c, f: f in initial)
    if not frames:
        return {}, np.zeros((0, 2)), obs_cam, px
    prob = BoardBundleProblem(list(rig), list(range(len(rig))), frames, obs_cam, obs_frame,
                    board.object_points()[corner_id], px, False)
    x0 = prob.pack([pose(c.rvec, c.tvec) for c in rig], [initial[f] for f in frames])
    sol = least_squares(prob.residuals, x0, jac=prob.jacobian, method="trf", x_scale="jac",
                        ftol=1e-12, xtol=1e-12, gtol=1e-12)
    _cams, poses = prob.unpack(sol.x)
    return dict(zip(frames, poses)), sol.fun.reshape(-1, 2), obs_cam, px


def metric_check(rig: Rig, observations: dict, board: Board) -> np.ndarray:
    """Triangulated distance between every two neighbouring corners (along rows and columns) in
    frames seen by at least two cameras, minus the square size: ``(pairs,)`` meters."""
    from ..reconstruct import triangulate

    frames, obs_cam, obs_frame, corner_id, px = stack_observations([observations.get(n) for n in rig.names])
    kp = np.full((len(rig), len(frames), board.n_corners, 3), np.nan)
    kp[obs_cam, obs_frame, corner_id, :2] = px
    kp[obs_cam, obs_frame, corner_id, 2] = 1.0
    seen = (np.isfinite(kp[..., 0]).sum(axis=0) >= 2).any(axis=1)      # frames with a corner in two views
    if not seen.any():
        return np.zeros(0)
    # the per-point test alone: the report measures the calibration, not the passes that rescue points
    pts = triangulate(kp[:, seen], rig, max_error_px=5.0, min_ray_angle_deg=2.0, suspect_views=False).points
    nx, ny = board.inner_corners
    grid = pts.reshape(int(seen.sum()), ny, nx, 3)
    d = np.concatenate([np.linalg.norm(np.diff(grid, axis=2), axis=-1).ravel(),
                        np.linalg.norm(np.diff(grid, axis=1), axis=-1).ravel()])
    d = d[np.isfinite(d)]
    return d - board.square_length_m


def evaluate(rig: Rig, observations: dict[str, BoardObservations], board: Board) -> CalibrationQuality:
    """Reprojection error and metric check of ``rig`` on board ``observations`` (by camera name;
    cameras the rig does not have are ignored). The rig is not changed."""
    poses, res, cam_of, px = fit_board_poses(rig, observations, board)
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


def write_coverage_picture(results: list, observations: dict, path) -> Path:
    """Where on each sensor the corners of the views used for intrinsics fell: one panel per
    camera (a list of :class:`~capture3d.calibrate.intrinsics.IntrinsicsResult`, with the
    :class:`BoardObservations` by camera name), corners coloured by their view's RMS, and the
    cells of a 10 x 10 grid that no corner reached shaded red: distortion is only measured
    where corners were. Returns ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    ok = [r for r in results if r.ok]
    fig, axes = plt.subplots(1, max(len(ok), 1), figsize=(5.2 * max(len(ok), 1), 3.6), squeeze=False)
    for ax, res in zip(axes[0], ok):
        obs = observations[res.camera_name]
        W, H = obs.image_size
        index = {int(f): k for k, f in enumerate(obs.frames)}
        views = [index[int(f)] for f in res.view_frames]
        pts = np.concatenate([obs.corners[k] for k in views]) if views else np.zeros((0, 2))
        rms = np.concatenate([np.full(len(obs.corners[k]), e) for k, e in zip(views, res.view_rms_px)]) \
            if views else np.zeros(0)
        for j, i in zip(*np.nonzero(~coverage_grid(obs, views))):
            ax.add_patch(Rectangle((i * W / 10, j * H / 10), W / 10, H / 10, color="tab:red", alpha=0.25, lw=0))
        sc = ax.scatter(pts[:, 0], pts[:, 1], c=rms, s=1, cmap="viridis", rasterized=True)
        fig.colorbar(sc, ax=ax, fraction=0.046, label="view RMS (px)")
        ax.set_xlim(0, W)
        ax.set_ylim(H, 0)
        ax.set_aspect("equal")
        ax.set_title(f"{res.camera_name}: {len(views)} views, RMS {res.rms_px:.2f} px, coverage "
                     f"{res.coverage:.0%}\npointing known to +- {res.pointing_std_deg:.3f} deg", fontsize=9)
    fig.suptitle("intrinsics: where the corners fell (red: cells no corner reached)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
