"""capture3d's calibration of ../shared/data/caliscope_4cam against caliscope's own result there.

    python benchmarks/caliscope_4cam.py [--data ../shared/data/caliscope_4cam] [--report DIR]

capture3d calibrates from the videos alone: intrinsics from each camera's board views, the
frames grouped by caliscope's ``timestamps.csv``, then the bundle adjustment. Both calibrations
are then judged on the same corners (capture3d's detections) by
:func:`capture3d.calibrate.report.evaluate`, which re-fits every frame's board pose with the
cameras held fixed: so the error is what each calibration gives on those corners. The relative
camera layout is compared after the best rigid alignment (caliscope's world is its camera 1).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from capture3d.calibrate.boards import Board
from capture3d.calibrate.detect import detect_board
from capture3d.calibrate.extrinsics import ExtrinsicsOptions, calibrate_extrinsics
from capture3d.calibrate.geometry import rigid_alignment, rotation_angle_deg
from capture3d.calibrate.intrinsics import IntrinsicsOptions, calibrate_intrinsics
from capture3d.calibrate.report import evaluate, write_report
from capture3d.rig import Rig
from capture3d.sources import session_frame_map, session_videos


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared/data/caliscope_4cam"))
    ap.add_argument("--report", help="write capture3d's report (report.json, report.png) here")
    ap.add_argument("--refine-intrinsics", action="store_true")
    args = ap.parse_args()
    data = Path(args.data)
    board = Board.load(data / "charuco.toml")
    # The board is printed on a sheet that one camera (cam_1) films from behind: mirrored.
    board = Board(**{**board.__dict__, "see_through": True})
    session = data / "extrinsic"
    frame_map = session_frame_map(session)
    observations = {}
    for name, path in session_videos(session).items():
        obs = detect_board(path, board, camera=name)
        obs.frames = frame_map[name][obs.frames]
        observations[name] = obs
        print(f"{name}: board in {len(obs)} of {obs.frames_read} frames, {sum(len(i) for i in obs.ids)} corners")
    cams = []
    for name, obs in observations.items():
        res = calibrate_intrinsics(obs, board, options=IntrinsicsOptions())
        if not res.ok:
            raise SystemExit(res.message)
        print(f"{name}: intrinsics RMS {res.rms_px:.3f} px from {len(res.view_frames)} views, f = "
              f"{res.camera.matrix[0, 0]:.1f} px")
        cams.append(res.camera)
    ext = calibrate_extrinsics(observations, Rig(cams), board,
                               options=ExtrinsicsOptions(use_floor=False, refine_intrinsics=args.refine_intrinsics))
    if not ext.ok:
        raise SystemExit(ext.message)
    print(f"bundle adjustment: RMS {ext.rms_px:.3f} px, {ext.n_observations} corners, {ext.seconds:.1f} s")
    theirs = Rig.load(data / "camera_array.toml")
    ours = ext.rig
    q_ours, q_theirs = evaluate(ours, observations, board), evaluate(theirs, observations, board)
    print("\nOn the same detected corners (board poses re-fitted, cameras held fixed):")
    print(f"{'':>12} {'RMS px':>8} " + " ".join(f"{n:>8}" for n in ours.names) + f" {'metric mm':>14}")
    for label, q in (("capture3d", q_ours), ("caliscope", q_theirs)):
        print(f"{label:>12} {q.rms_px:>8.3f} " + " ".join(f"{q.per_camera_rms_px[n]:>8.3f}" for n in ours.names)
              + f" {q.metric_mean_mm:>+7.2f} +-{q.metric_std_mm:.2f}")
    A, B = ours.centers, np.array([theirs[n].center for n in ours.names])
    R, t = rigid_alignment(A, B)
    print("\nCamera layout, capture3d aligned onto caliscope (rigid):")
    for k, n in enumerate(ours.names):
        rot = rotation_angle_deg(ours[n].rotation @ R.T, theirs[n].rotation)
        print(f"  {n}: centre {np.linalg.norm(A[k] @ R.T + t - B[k]) * 1000:6.1f} mm apart, "
              f"orientation {rot:5.2f} deg apart")
    print("Distances between camera centres (m), capture3d / caliscope:")
    for a in range(len(A)):
        for b in range(a + 1, len(A)):
            print(f"  {ours.names[a]}-{ours.names[b]}: {np.linalg.norm(A[a] - A[b]):.3f} / "
                  f"{np.linalg.norm(B[a] - B[b]):.3f}")
    if args.report:
        paths = write_report(q_ours, ours, args.report, board=board, title="caliscope_4cam, capture3d")
        print(f"\nwrote {paths['png']}")


if __name__ == "__main__":
    main()
