"""``capture3d demo``: the whole path on a synthetic rig, measured against its ground truth.

1. a synthetic rig of 4 cameras and a ChArUco board (``board.toml``);
2. board videos rendered into every camera: one close-up intrinsics video per camera, and a
   synchronized session where the board lies on the floor, then moves through the volume;
3. intrinsics, then extrinsics by bundle adjustment, world frame from the floor board
   (``intrinsics.toml``, ``calibration.toml``);
4. a walking, jumping, arm-swinging skeleton; its 2D keypoints in every camera with 1 px noise
   and 5 % missing views (``pose2d/<camera>.npz``), standing in for the 2D detector;
5. triangulation with the *calibrated* rig (``points3d_raw.npz``), then spike removal, gap filling
   and the whole-sequence skeleton fit: reprojection, smoothness and steady bone lengths
   (``points3d.npz``);
6. exports (BVH, CSV, TRC, C3D), a picture (``render.png``, Open3D offscreen), a reprojection
   overlay video of the first camera (``overlay_<camera>.mp4``) and plots (``plots/``).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from . import io, synthetic
from .calibrate.boards import Board
from .calibrate.detect import detect_board
from .calibrate.extrinsics import calibrate_extrinsics
from .calibrate.geometry import rotation_angle_deg
from .calibrate.intrinsics import calibrate_intrinsics
from .export import read_bvh, write_bvh, write_c3d, write_csv, write_trc
from .reconstruct import FilterOptions, SkeletonFitOptions, postprocess, triangulate
from .rig import Rig
from .skeleton import COCO17, bone_length_cv
from .synthetic.boards import BoardRenderer, board_trajectory, intrinsic_board_poses
from .video import VideoWriter

log = logging.getLogger("capture3d.demo")

DEMO_BOARD = Board(type="charuco", squares_x=7, squares_y=5, square_length_m=0.12, marker_length_m=0.09,
                   dictionary="DICT_4X4_50")
#: Stages the demo runs on their simplest correct form, until their issue lands.
MISSING_STAGES = ["2D detection (synthetic projections stand in for BlazePose)",
                  "recording (the videos are rendered, not captured)"]


def _render_videos(out: Path, rig: Rig, board: Board, fps: float, seed: int, say) -> tuple[Path, Path]:
    intr_dir, session = out / "intrinsics_videos", out / "calibration_session"
    poses = board_trajectory(90, board, seed=seed)
    for c, cam in enumerate(rig):
        renderer = BoardRenderer(board, cam, seed=seed + c)
        rng = np.random.default_rng(seed + 100 + c)
        with VideoWriter(intr_dir / f"{cam.name}.mp4", fps, cam.size) as w:
            for T in intrinsic_board_poses(cam, board, 24, seed=seed + c):
                w.write(renderer.render(T, rng=rng))
        with VideoWriter(session / "videos" / f"{cam.name}.mp4", fps, cam.size) as w:
            for T in poses:
                w.write(renderer.render(T, rng=rng))
        say(f"  rendered board videos of {cam.name}")
    return intr_dir, session


def run_demo(out, *, n_cameras: int = 4, n_frames: int = 240, fps: float = 30.0, seed: int = 0,
             say=print) -> dict:
    """Run the demo into folder ``out``; returns the measured numbers (and prints a table)."""
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    truth = synthetic.make_rig(n_cameras, radius_m=3.5, height_m=2.2, seed=seed)
    board = DEMO_BOARD
    board.save(out / "board.toml")
    say(f"[1/6] synthetic rig: {n_cameras} cameras {truth[0].size[0]}x{truth[0].size[1]}, board "
        f"{board.squares_x}x{board.squares_y} ChArUco, {board.square_length_m * 100:.0f} cm squares")
    say("[2/6] rendering board videos")
    intr_dir, session = _render_videos(out, truth, board, fps, seed, say)

    say("[3/6] calibrating")
    cache = out / ".cache"
    intrinsics = []
    for cam in truth:
        obs = detect_board(intr_dir / f"{cam.name}.mp4", board, cache_dir=cache)
        res = calibrate_intrinsics(obs, board)
        if not res.ok:
            raise RuntimeError(res.message)
        intrinsics.append(res.camera)
        say(f"  intrinsics {cam.name}: RMS {res.rms_px:.3f} px over {len(res.view_frames)} views, "
            f"coverage {res.coverage:.0%}")
    intr_rig = Rig(intrinsics)
    intr_rig.save(out / "intrinsics.toml")
    observations = {cam.name: detect_board(session / "videos" / f"{cam.name}.mp4", board, cache_dir=cache)
                    for cam in truth}
    ext = calibrate_extrinsics(observations, intr_rig, board)
    if not ext.ok:
        raise RuntimeError(ext.message)
    rig = ext.rig
    rig.save(out / "calibration.toml")
    say(f"  extrinsics: RMS {ext.rms_px:.3f} px, {ext.n_observations} corners, {ext.seconds:.2f} s; "
        f"world: {ext.world}")

    say("[4/6] skeleton and its 2D keypoints (1 px noise, 5 % missing)")
    motion = synthetic.make_motion(n_frames, fps=fps, kind="mixed", seed=seed)
    kp = synthetic.corrupt_keypoints(synthetic.project_keypoints(motion.points, truth), noise_px=1.0,
                                     missing=0.05, seed=seed)
    # The ground truth beside the results, so that anyone can check the numbers printed below.
    truth.save(out / "ground_truth" / "calibration.toml")
    io.save_points3d(out / "ground_truth" / "points3d.npz", motion.points, joint_names=motion.joint_names,
                     time_s=motion.time_s)
    np.save(out / "ground_truth" / "board_poses_world_from_board.npy", board_trajectory(90, board, seed=seed))
    for c, cam in enumerate(truth):
        io.save_pose2d(out / "pose2d" / f"{cam.name}.npz", kp[c][:, None], joint_names=COCO17,
                       image_size=cam.size, detector="synthetic")

    say("[5/6] triangulating with the calibrated rig")
    stacked, frame_index, names = io.stack_pose2d(out / "pose2d", rig)
    res = triangulate(stacked, rig)
    post = postprocess(res.points, fps=fps, options=FilterOptions(
        smoother="skeleton", max_gap=int(fps / 2), skeleton=SkeletonFitOptions(sigma_bone_m=0.001, max_iterations=100)),
                       keypoints=stacked, rig=rig, joint_names=names)
    smooth = post.points
    say(f"  {post.summary()}")
    time_s = frame_index / fps
    io.save_points3d(out / "points3d.npz", smooth, joint_names=names, frame_index=frame_index, time_s=time_s,
                     reprojection_error_px=res.reprojection_error_px, n_views=res.n_views, score=res.score)
    io.save_points3d(out / "points3d_raw.npz", res.points, joint_names=names, frame_index=frame_index,
                     time_s=time_s, reprojection_error_px=res.reprojection_error_px, n_views=res.n_views,
                     score=res.score)

    say("[6/6] exporting")
    written = [out / "ground_truth", out / "board.toml", out / "intrinsics.toml", out / "calibration.toml", out / "pose2d",
               out / "points3d.npz", out / "points3d_raw.npz"]
    data = io.load_points3d(out / "points3d.npz")
    written.append(write_csv(out / "points3d.csv", data))
    written.append(write_trc(out / "points3d.trc", data))
    written.append(write_c3d(out / "points3d.c3d", data))
    written.append(write_bvh(out / "points3d.bvh", data))
    bvh_points, bvh_names = read_bvh(out / "points3d.bvh").encoded_points()
    bvh_gap = np.linalg.norm(bvh_points - smooth[:, [names.index(n) for n in bvh_names]], axis=-1) * 1000
    from .viz.overlay import overlay_video
    from .viz.plots import plot_reprojection_error, plot_trajectories

    first = rig[0]
    written.append(overlay_video(out / f"overlay_{first.name}.mp4", first, smooth, names, stacked[0], fps=fps,
                                 frame_index=frame_index))
    written.append(plot_trajectories(smooth, names, time_s, out / "plots" / "trajectories.png"))
    written.append(plot_reprojection_error(res.reprojection_error_px, names, time_s,
                                           out / "plots" / "reprojection_error.png", n_views=res.n_views))
    try:
        from .viz.render import render

        written.append(render(smooth, names, out / "render.png", rig=rig, trail_frames=int(fps)))
    except (ImportError, RuntimeError) as exc:  # no Open3D / no EGL: everything else stands
        say(f"  no picture: Open3D could not render here ({exc})")

    metrics = _measure(truth, rig, ext, motion.points, res.points, smooth, names)
    metrics["bvh_fk_error_mm_mean"] = float(np.nanmean(bvh_gap))
    metrics["bvh_fk_error_mm_max"] = float(np.nanmax(bvh_gap))
    metrics["seconds"] = time.perf_counter() - t0
    _print_table(metrics, written, say)
    return metrics


def _measure(truth, rig, ext, gt_points, raw, smooth, names) -> dict:
    focal = [abs(c.matrix[0, 0] / t.matrix[0, 0] - 1) * 100 for c, t in zip(rig, truth)]
    centre = [np.linalg.norm(c.center - t.center) * 1000 for c, t in zip(rig, truth)]
    rot = [rotation_angle_deg(c.rotation, t.rotation) for c, t in zip(rig, truth)]
    err_raw = np.linalg.norm(raw - gt_points, axis=-1) * 1000
    err_smooth = np.linalg.norm(smooth - gt_points, axis=-1) * 1000
    cv_raw = np.nanmean(list(bone_length_cv(raw, names).values()))
    cv_smooth = np.nanmean(list(bone_length_cv(smooth, names).values()))
    return {"focal_error_pct_max": max(focal), "center_error_mm_max": max(centre),
            "rotation_error_deg_max": max(rot), "calibration_rms_px": ext.rms_px,
            "error_mm_raw": float(np.nanmean(err_raw)), "error_mm_filtered": float(np.nanmean(err_smooth)),
            "reconstructed_share": float(np.isfinite(raw).all(-1).mean()),
            "bone_cv_raw": float(cv_raw), "bone_cv_filtered": float(cv_smooth)}


def _print_table(m, written, say):
    rows = [("calibration RMS reprojection error", f"{m['calibration_rms_px']:.3f} px"),
            ("focal length error (worst camera)", f"{m['focal_error_pct_max']:.3f} %"),
            ("camera centre error (worst camera)", f"{m['center_error_mm_max']:.2f} mm"),
            ("camera rotation error (worst camera)", f"{m['rotation_error_deg_max']:.3f} deg"),
            ("joints reconstructed", f"{m['reconstructed_share']:.1%}"),
            ("3D joint error, triangulated", f"{m['error_mm_raw']:.2f} mm"),
            ("3D joint error, after the skeleton fit", f"{m['error_mm_filtered']:.2f} mm"),
            ("bone length CV, raw -> fitted", f"{m['bone_cv_raw']:.4f} -> {m['bone_cv_filtered']:.4f}"),
            ("BVH forward kinematics vs joints (mean / max)",
             f"{m['bvh_fk_error_mm_mean']:.2f} / {m['bvh_fk_error_mm_max']:.2f} mm")]
    width = max(len(r[0]) for r in rows)
    say("")
    say(f"{'measured against the ground truth'.ljust(width)}   value")
    say("-" * (width + 14))
    for k, v in rows:
        say(f"{k.ljust(width)}   {v}")
    say("")
    say("files written:")
    for p in written:
        say(f"  {p}")
    say("stages not yet in the demo: " + "; ".join(MISSING_STAGES))
    say(f"done in {m['seconds']:.0f} s")
