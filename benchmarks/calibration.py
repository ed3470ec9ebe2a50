"""Multi-camera extrinsics from the same board detections, in one run: capture3d's bundle
adjustment against aniposelib 0.8's ``CameraGroup.calibrate_rows`` (PnP, spanning-tree initial
poses, then its iterative bundle adjustment), for 4, 8 and 16 synthetic cameras.

    python benchmarks/calibration.py [--cameras 4 8 16] [--frames 300] [--noise 1.0]

The detections: a 7 x 5 checkerboard (12 cm squares, 24 inner corners) moved through the volume
for ``--frames`` frames (:func:`capture3d.synthetic.boards.board_trajectory`), projected into a
ring of cameras (:func:`observe_board`: a camera reports a frame when it sees every corner and the
printed side), with ``--noise`` px of Gaussian noise per axis. Both engines get the true
intrinsics and the same detections; aniposelib refines its focal lengths and distortion as its
bundle adjustment does by default, capture3d keeps them.

Columns: seconds (detections in, camera poses out), iterations (capture3d: residual evaluations
of scipy's least_squares; aniposelib: the same, summed over its rounds), RMS reprojection error of
the result on *every* detection (board poses re-fitted with the cameras held fixed:
:func:`capture3d.calibrate.report.evaluate`, the same judge for both), and against the truth after
the best rigid alignment: the largest camera-centre error (mm) and rotation error (degrees), and
the metric check (triangulated neighbouring corners minus the square size, mean, mm). The last
column is each engine's time over capture3d's.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import time

import numpy as np

from capture3d.calibrate.boards import Board
from capture3d.calibrate.extrinsics import ExtrinsicsOptions, calibrate_extrinsics
from capture3d.calibrate.geometry import rigid_alignment, rotation_angle_deg
from capture3d.calibrate.report import evaluate
from capture3d.camera import Camera
from capture3d.rig import Rig
from capture3d.synthetic import make_rig
from capture3d.synthetic.boards import board_trajectory, observe_board

BOARD = Board(type="checkerboard", squares_x=7, squares_y=5, square_length_m=0.12)


def ours(observations, truth):
    res = calibrate_extrinsics(observations, truth, BOARD, options=ExtrinsicsOptions())
    if not res.ok:
        raise RuntimeError(res.message)
    return res.rig, res.iterations


def anipose(observations, truth):
    from aniposelib.boards import Checkerboard
    from aniposelib.cameras import CameraGroup

    nx, ny = BOARD.inner_corners
    board = Checkerboard(nx, ny, square_length=BOARD.square_length_m)
    group = CameraGroup.from_dicts([{"name": c.name, "size": list(c.size), "matrix": c.matrix.tolist(),
                                     "distortions": list(c.dist[:5]), "rotation": [0.0, 0.0, 0.0],
                                     "translation": [0.0, 0.0, 0.0]} for c in truth])
    rows = [[{"framenum": (0, int(f)), "corners": corners.reshape(-1, 1, 2).astype(np.float32),
              "ids": ids.reshape(-1, 1)} for f, ids, corners in zip(o.frames, o.ids, o.corners)]
            for o in (observations[c.name] for c in truth)]
    rows = [board.fill_points_rows(r) for r in rows]
    calls = [0]
    original = group._error_fun_bundle

    def counted(*a, **k):
        calls[0] += 1
        return original(*a, **k)

    group._error_fun_bundle = counted
    with contextlib.redirect_stdout(io.StringIO()):    # it prints its camera dicts
        group.calibrate_rows(rows, board, init_intrinsics=False, init_extrinsics=True, verbose=False)
    cams = []
    for t, d in zip(truth, group.get_dicts()):
        dist = np.zeros(len(t.dist))
        dist[:5] = d["distortions"]
        cams.append(Camera(t.name, t.size, np.array(d["matrix"]), dist, np.array(d["rotation"]),
                           np.array(d["translation"])))
    return Rig(cams), calls[0]


def against_truth(rig, truth):
    """Largest centre (mm) and rotation (degrees) error after the best rigid alignment."""
    A, B = rig.centers, truth.centers
    R, t = rigid_alignment(A, B)
    centre = np.linalg.norm(A @ R.T + t - B, axis=1).max() * 1000
    rot = max(rotation_angle_deg(a.rotation @ R.T, b.rotation) for a, b in zip(rig, truth))
    return centre, rot


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--noise", type=float, default=1.0)
    args = ap.parse_args()
    engines = {"capture3d": ours}
    try:
        import aniposelib.cameras  # noqa: F401
        engines["aniposelib 0.8"] = anipose
    except ImportError as exc:
        print(f"(aniposelib skipped: {exc}; pip install -e '.[bench]')")
    print(f"{args.frames} board frames, {BOARD.n_corners} corners each, {args.noise} px noise; "
          f"{os.cpu_count()} cores; one run per row")
    head = (f"{'cams':>4} {'corners':>8} | {'engine':>15} {'seconds':>8} {'iterations':>10} {'RMS px':>7} "
            f"{'centre mm':>9} {'rot deg':>8} {'metric mm':>9} | {'time / capture3d':>16}")
    print(head)
    print("-" * len(head))
    for n in args.cameras:
        truth = make_rig(n, radius_m=3.5, height_m=2.2, seed=n)
        poses = board_trajectory(args.frames, BOARD, seed=n)
        obs = observe_board(truth, BOARD, poses, noise_px=args.noise, seed=n)
        corners = sum(sum(len(i) for i in o.ids) for o in obs.values())
        base = None
        for name, fn in engines.items():
            t = time.perf_counter()
            rig, iterations = fn(obs, truth)
            sec = time.perf_counter() - t
            q = evaluate(rig, obs, BOARD)
            centre, rot = against_truth(rig, truth)
            base = base or sec
            print(f"{n:>4} {corners:>8} | {name:>15} {sec:>8.2f} {iterations:>10} {q.rms_px:>7.3f} {centre:>9.2f} "
                  f"{rot:>8.3f} {q.metric_mean_mm:>+9.3f} | {sec / base:>16.1f}", flush=True)


if __name__ == "__main__":
    main()
