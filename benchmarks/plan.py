"""The rig planner: predicted error against Monte Carlo triangulation, and its time against the
grid size.

    python benchmarks/plan.py [--trials 300]

1. Synthetic rigs of 4, 8 and 16 cameras (``capture3d.synthetic.make_rig``, lens distortion
   included): the predicted RMS 3D error at the points of a 0.5 m grid over a 3 x 3 x 1.6 m
   volume, against the RMS error of ``capture3d.triangulate`` on noisy projections of those
   points (same pixel noise, the 7.5 px default; robust rejection off, since at 7.5 px the 8 px
   two-view threshold would drop views the prediction counts).
2. A 16-camera room (ring of radius 4 m, 4 x 4 x 2 m volume): ``capture3d.plan.plan`` time
   against the grid step, without and with ``--body``, then the picture and plan.json.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

import numpy as np

import capture3d
from capture3d.plan import Box, Layout, PlanOptions, grid_points, plan, predict, write_plan


def accuracy(trials: int):
    print("| cameras | points | predicted median (mm) | measured median (mm) | |pred/meas - 1| median | 95th pct | max |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    sigma = PlanOptions().pixel_noise_px
    for n in (4, 8, 16):
        rig = capture3d.synthetic.make_rig(n, seed=1)
        pts, _ = grid_points(Box((-1.5, -1.5, 0.2), (1.5, 1.5, 1.8)), 0.5)
        pred = predict(rig, pts)
        rng = np.random.default_rng(0)
        kp = rig.project(pts)[:, None] + rng.normal(0, sigma, (n, trials, len(pts), 2))
        kp[~np.broadcast_to(pred.visible[:, None], kp.shape[:-1])] = np.nan
        res = capture3d.triangulate(kp, rig, robust=False, min_ray_angle_deg=0.0)
        meas = np.sqrt(np.nanmean(np.sum((res.points - pts) ** 2, axis=-1), axis=0)) * 1000
        ok = pred.views >= 2
        rel = np.abs(pred.error_mm[ok] / meas[ok] - 1)
        print(f"| {n} | {ok.sum()} | {np.median(pred.error_mm[ok]):.1f} | {np.median(meas[ok]):.1f} | "
              f"{np.median(rel):.1%} | {np.percentile(rel, 95):.1%} | {rel.max():.1%} |")


def timing():
    rig = capture3d.synthetic.make_rig(16, seed=0)
    volume = Box((-2.0, -2.0, 0.0), (2.0, 2.0, 2.0))
    room = Box((-4.5, -4.5, 0.0), (4.5, 4.5, 3.0))
    layout = Layout(rig, volume, room, rig[0], "synthetic 16-camera ring")
    print("\n| grid step (m) | points | plan (s) | plan --body (s) | + plan.png and plan.json (s) |")
    print("|---:|---:|---:|---:|---:|")
    for step in (0.4, 0.2, 0.1, 0.05):
        t0 = time.perf_counter()
        res = plan(layout, options=PlanOptions(grid_step_m=step))
        t1 = time.perf_counter()
        plan(layout, options=PlanOptions(grid_step_m=step, body=True))
        t2 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            write_plan(res, tmp)
        t3 = time.perf_counter()
        print(f"| {step} | {res.summary['points']} | {t1 - t0:.2f} | {t2 - t1:.2f} | {t3 - t2:.2f} |")
    with tempfile.TemporaryDirectory() as tmp:    # the whole command, Python start-up included
        rig.save(f"{tmp}/calibration.toml")
        cmd = [sys.executable, "-m", "capture3d.cli", "plan", f"{tmp}/calibration.toml", "-o", f"{tmp}/plan",
               "--volume=" + ",".join(map(str, volume.as_list()))]
        for extra in ([], ["--body"]):
            t0 = time.perf_counter()
            subprocess.run(cmd + extra, check=True, capture_output=True)
            print(f"\n`capture3d plan` {' '.join(extra)} on the 16-camera calibration, 0.1 m grid, "
                  f"plan.png and plan.json included: {time.perf_counter() - t0:.1f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300, help="Monte Carlo trials per point")
    args = parser.parse_args()
    accuracy(args.trials)
    timing()


if __name__ == "__main__":
    main()
