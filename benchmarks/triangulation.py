"""Triangulation speed and accuracy on the same synthetic data, in one run: capture3d's numba
engine, a plain NumPy batched-SVD DLT, aniposelib 0.8 (``CameraGroup.triangulate`` and
``triangulate_ransac``) and Pose2Sim's ``triangulation_from_best_cameras``, for 4, 8 and 16
cameras, clean / noisy (1 px, ``--noise-px``) / noisy with outliers (10 % missing views, 5 % outliers of
100-300 px).

With outliers four more rows: "capture3d no suspect views" (``suspect_views=False``: without
the pass that drops a view wrong for most of a person's joints), "capture3d temporal refused
only" (``temporal_refused_only=True``, as ``process`` runs it: the temporal pass judges only the
points the per-point test refused), "capture3d no temporal"
(``temporal=False, suspect_views=False``: the per-point test alone, as before both passes) and
"oracle": told which views are outliers (those more than
50 px from the exact projection: 1 px noise never gets there, outliers start at 100 px), it drops
them and refines the rest to the maximum-likelihood point (``robust=False``; its speed is not
comparable). The line under them gives capture3d's mean error and share against the oracle's.

    python benchmarks/triangulation.py [--frames 20000] [--slow-points 300]

The reference engines are optional (``pip install -e ".[bench]"`` for aniposelib and jax;
Pose2Sim drags in OpenSim and Qt, so install only its code:
``pip install --no-deps pose2sim==0.10.49 rtoml anytree``); missing ones are skipped.
aniposelib's RANSAC and Pose2Sim run up to a few hundred points each (``--slow-points``, at
most ``--budget`` seconds per row): they manage a few to thousands per second. Their rows also
show capture3d's error on exactly the points they did, since a mean over 300 points and one
over 340,000 see different tails. Pose2Sim runs twice, with its default 15 px threshold:
"Pose2Sim default" as its Config.toml ships (``undistort_points = false``: distorted pixels,
distortion-free projection matrices, so lens distortion becomes error), and "Pose2Sim
undistorted" with undistorted pixels, as its ``undistort_points`` option arranges. aniposelib
undistorts itself. Speed x is against the NumPy DLT of the same row group; "share" is the
fraction of points an engine returned (means are over those).
"""
from __future__ import annotations

import argparse
import logging
import os
import time
import warnings

import numpy as np

import capture3d
from capture3d.reconstruct.reference import dlt_svd_numpy
from capture3d.synthetic import corrupt_keypoints, make_motion, make_rig, project_keypoints

os.environ.setdefault("ANIPOSE_DISABLE_JAX_X64", "0")


def numpy_svd(kp, rig):
    flat = kp.reshape(len(rig), -1, 3)
    xn = np.stack([cam.pixels_to_normalized(flat[c, :, :2]) for c, cam in enumerate(rig)])
    _, _, _, pose = rig.kernel_arrays()
    return dlt_svd_numpy(xn, pose, np.nan_to_num(flat[..., 2])).reshape(-1, 3)


def ours(kp, rig):
    return capture3d.triangulate(kp, rig, temporal=True).points.reshape(-1, 3)


def ours_no_suspect(kp, rig):
    return capture3d.triangulate(kp, rig, temporal=True, suspect_views=False).points.reshape(-1, 3)


def ours_refused_only(kp, rig):
    return capture3d.triangulate(kp, rig, temporal=True, temporal_refused_only=True).points.reshape(-1, 3)


def ours_per_point(kp, rig):
    return capture3d.triangulate(kp, rig, temporal=False, suspect_views=False).points.reshape(-1, 3)


def oracle(kp, rig, exact):
    """The views more than 50 px from their exact projection dropped, the rest refined to the
    maximum-likelihood point with no rejection."""
    inliers = kp.copy()
    inliers[np.linalg.norm(kp[..., :2] - exact[..., :2], axis=-1) > 50.0] = np.nan
    return capture3d.triangulate(inliers, rig, robust=False, temporal=False).points.reshape(-1, 3)


def anipose_group(rig):
    from aniposelib.cameras import CameraGroup

    return CameraGroup.from_dicts([{"name": c.name, "size": list(c.size), "matrix": c.matrix.tolist(),
                                    "distortions": list(c.dist), "rotation": list(c.rvec),
                                    "translation": list(c.tvec)} for c in rig])


def anipose_dlt(kp, rig, group):
    return group.triangulate(np.ascontiguousarray(kp[..., :2].reshape(len(rig), -1, 2)), undistort=True)


def anipose_ransac(kp, rig, group):
    out, _picked, _p2d, _errors = group.triangulate_ransac(np.ascontiguousarray(kp[..., :2].reshape(len(rig), -1, 2)),
                                                           undistort=True)
    return out


def pose2sim(kp, rig, _, undistort=True):
    """Pose2Sim's robust triangulation. With ``undistort`` it gets undistorted pixels, as its
    ``undistort_points`` option arranges; without, it runs as its default Config.toml has it
    (``undistort_points = false``): distorted pixels and distortion-free projection matrices."""
    from Pose2Sim.triangulation import triangulation_from_best_cameras

    flat = kp.reshape(len(rig), -1, 3)
    und = np.stack([cam.undistort_pixels(flat[c, :, :2]) if undistort else flat[c, :, :2]
                    for c, cam in enumerate(rig)])
    P = [cam.matrix @ np.hstack([cam.rotation, cam.tvec[:, None]]) for cam in rig]
    config = {"triangulation": {"reproj_error_threshold_triangulation": 15, "min_cameras_for_triangulation": 2,
                                "handle_LR_swap": False, "undistort_points": False}}
    out = np.full((flat.shape[1], 3), np.nan)
    for i in range(flat.shape[1]):
        lik = np.where(np.isfinite(und[:, i, 0]), flat[:, i, 2], np.nan)
        coords = np.array([und[:, i, 0], und[:, i, 1], lik])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Q, err, *_ = triangulation_from_best_cameras(config, coords, coords, P, None)
        if np.isfinite(err) and err <= 15:
            out[i] = Q[:3]
    return out


LIMBS = ((5, 7, 9), (6, 8, 10), (11, 13, 15), (12, 14, 16))   # COCO-17 arms and legs


def limb_outliers(kp, *, seed, rate=0.013, longest=10, outlier_px=(100.0, 300.0)):
    """A copy of ``kp (C, F, 17, 3)`` with whole-limb outliers, as a 2D detector makes them (a
    wrong person's arm, a limb put on the other side): per camera, frame and limb (shoulder-
    elbow-wrist, hip-knee-ankle) an event starts with probability ``rate`` and moves the limb's
    three joints by one offset of ``outlier_px`` (random direction) for 1 to ``longest`` frames.
    The defaults put about 5 % of the views off, as the independent "outliers" condition."""
    rng = np.random.default_rng(seed)
    out = kp.copy()
    C, F = kp.shape[:2]
    for c in range(C):
        for limb in LIMBS:
            for f in np.nonzero(rng.random(F) < rate)[0]:
                r, a = rng.uniform(*outlier_px), rng.uniform(0, 2 * np.pi)
                span = slice(f, f + rng.integers(1, longest + 1))
                out[c, span, limb, 0] += r * np.cos(a)
                out[c, span, limb, 1] += r * np.sin(a)
    return out


def available():
    engines = {"numpy SVD DLT": (numpy_svd, None), "capture3d": (ours, None),
               "capture3d no suspect views": (ours_no_suspect, "outliers"),
               "capture3d temporal refused only": (ours_refused_only, "outliers"),
               "capture3d no temporal": (ours_per_point, "outliers"), "oracle": (oracle, "oracle")}
    try:
        import aniposelib.cameras  # noqa: F401
        import jax  # noqa: F401

        engines["aniposelib DLT"] = (anipose_dlt, "group")
        engines["aniposelib RANSAC"] = (anipose_ransac, "group-slow")
    except ImportError as exc:
        print(f"(aniposelib skipped: {exc})")
    try:
        logging.disable(logging.WARNING)
        import Pose2Sim.triangulation  # noqa: F401

        engines["Pose2Sim undistorted"] = (pose2sim, "slow")
        engines["Pose2Sim default"] = (lambda kp, rig, g: pose2sim(kp, rig, g, undistort=False), "slow")
    except ImportError as exc:
        print(f"(Pose2Sim skipped: {exc})")
    return engines


def timed_budget(fn, kp_slow, rig, group, budget_s):
    """Run a slow engine on batches of 10 points until ``budget_s`` seconds have passed."""
    done, parts = 0, []
    t = time.perf_counter()
    while done < kp_slow.shape[1] and time.perf_counter() - t < budget_s:
        parts.append(np.asarray(fn(kp_slow[:, done:done + 10], rig, group)).reshape(-1, 3))
        done += len(parts[-1])
    return np.concatenate(parts), done, time.perf_counter() - t


def timed(fn, *args, repeat=1):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return out, best


MEMORY_CHILD = """
import sys, numpy as np, capture3d
from capture3d.synthetic import corrupt_keypoints, make_motion, make_rig, project_keypoints
frames = int(sys.argv[1])
rig = make_rig(16, seed=16)
base = corrupt_keypoints(project_keypoints(make_motion(1000, fps=60, kind="mixed", seed=0).points, rig),
                         seed=1, noise_px=1.0, missing=0.1, outliers=0.05, outlier_px=(100, 300))
kp = np.concatenate([base] * (frames // 1000), axis=1)      # (16, frames, 17, 3)
capture3d.triangulate(kp[:, :10], rig)                      # numba compiled / cache loaded


def status_kb(key):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key))


# Reset the peak (VmHWM) so that making the input above does not count: Linux's clear_refs "5".
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status_kb("VmRSS:") * 1024
res = capture3d.triangulate(kp, rig)
peak = status_kb("VmHWM:") * 1024
out = sum(a.nbytes for a in (res.points, res.reprojection_error_px, res.n_views, res.score, res.status))
print(kp.nbytes, out, peak - before)
"""


def memory_table(frame_counts):
    """Peak memory of one triangulate call beyond its input, in a fresh process per size."""
    import subprocess
    import sys

    print("\nMemory, 16 cameras with outliers, one triangulate() call per fresh process (peak RSS growth):")
    print(f"{'frames':>9} {'input MB':>9} {'outputs MB':>11} {'peak growth MB':>15} {'working MB':>11}")
    for frames in frame_counts:
        out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(frames)], capture_output=True, text=True,
                             check=True).stdout.split()
        inp, outputs, growth = (int(v) / 2**20 for v in out)
        print(f"{frames:>9,} {inp:>9.0f} {outputs:>11.1f} {growth:>15.1f} {growth - outputs:>11.1f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--slow-points", type=int, default=300)
    ap.add_argument("--cameras", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--budget", type=float, default=60.0, help="seconds per slow engine and row (checked "
                    "between batches of 10 points: aniposelib's RANSAC at 16 cameras overshoots it by minutes)")
    ap.add_argument("--fast-only", action="store_true", help="skip aniposelib's RANSAC and Pose2Sim")
    ap.add_argument("--limbs", action="store_true", help="also a 'limbs' condition: whole-limb outliers "
                    "(see limb_outliers) instead of independent ones")
    ap.add_argument("--noise-px", type=float, default=1.0, help="pixel noise of the noisy, outlier and limb "
                    "conditions (issue 22 states its goal at 2)")
    ap.add_argument("--memory", type=int, nargs="*", default=[20000, 200000],
                    help="frame counts of the memory table (none: skip it)")
    args = ap.parse_args()
    engines = available()
    if args.fast_only:
        engines = {k: v for k, v in engines.items() if v[1] not in ("slow", "group-slow")}
    motion = make_motion(args.frames, fps=60, kind="mixed", seed=0)
    truth = motion.points.reshape(-1, 3)
    n_points = len(truth)
    noise = args.noise_px
    conditions = {"clean": {}, "noisy": {"noise_px": noise},
                  "outliers": {"noise_px": noise, "missing": 0.1, "outliers": 0.05, "outlier_px": (100, 300)}}
    if args.limbs:
        conditions["limbs"] = {"noise_px": noise, "missing": 0.1, "outliers": 0.0, "limbs": True}
    slow = np.random.default_rng(0).choice(n_points, min(args.slow_points, n_points), replace=False)
    print(f"{n_points} points per run ({args.frames} frames x 17 joints; slow engines {len(slow)} of them); "
          f"{os.cpu_count()} cores; fast engines best of 3; share = points reconstructed")
    header = (f"{'cams':>4} {'data':>9} | {'engine':>31} {'points/s':>11} {'share':>6} {'mean mm':>8} {'median mm':>9} | "
              f"{'speed x':>8} | capture3d on the same points: mean, median mm")
    print(header)
    print("-" * len(header))
    for n_cams in args.cameras:
        rig = make_rig(n_cams, seed=n_cams)
        group = anipose_group(rig) if "aniposelib DLT" in engines else None
        exact = project_keypoints(motion.points, rig)
        ours(exact[:, :2], rig)  # compile / load the numba cache outside the timing
        if group is not None:
            anipose_dlt(exact[:, :2], rig, group)   # jax compiles on first use
        for label, corrupt in conditions.items():
            corrupt = dict(corrupt)
            limbs = corrupt.pop("limbs", False)
            kp = corrupt_keypoints(exact, seed=1, **corrupt) if corrupt else exact
            if limbs:
                kp = limb_outliers(kp, seed=2)
            kp_slow = kp.reshape(n_cams, -1, 3)[:, slow][:, :, None]
            base = None
            ours_err = None
            for name, (fn, kind) in engines.items():
                same = ""
                if kind in ("outliers", "oracle") and not (corrupt.get("outliers") or limbs):
                    continue
                if kind == "oracle":
                    pts, sec = timed(fn, kp, rig, exact, repeat=1)
                    count, ref = n_points, truth
                elif kind == "outliers":
                    pts, sec = timed(fn, kp, rig, repeat=3)
                    count, ref = n_points, truth
                elif kind in ("slow", "group-slow"):
                    pts, count, sec = timed_budget(fn, kp_slow, rig, group, args.budget)
                    ref = truth[slow[:count]]
                    mine = ours_err[slow[:count]]
                    same = f"{np.nanmean(mine):.2f}, {np.nanmedian(mine):.2f} ({count} points)"
                else:
                    pts, sec = timed(fn, kp, rig, group, repeat=3) if kind else timed(fn, kp, rig, repeat=3)
                    count, ref = n_points, truth
                err = np.linalg.norm(np.asarray(pts).reshape(-1, 3) - ref, axis=-1) * 1000
                if name == "capture3d":
                    ours_err = err
                rate = count / sec
                base = rate if name == "numpy SVD DLT" else base
                speed = f"{rate / base:8.1f}" if base else f"{'':>8}"
                share = np.isfinite(err).mean()
                print(f"{n_cams:>4} {label:>9} | {name:>31} {rate:>11,.0f} {share:>6.1%} {np.nanmean(err):>8.2f} "
                      f"{np.nanmedian(err):>9.2f} | {speed} | {same}", flush=True)
                if kind == "oracle":
                    ratio = np.nanmean(ours_err) / np.nanmean(err)
                    print(f"{'':>14} | capture3d against the oracle: mean error {ratio:.3f}x, "
                          f"share {np.isfinite(ours_err).mean() / share:.2%} of its share", flush=True)

    if args.memory:
        memory_table(args.memory)


if __name__ == "__main__":
    main()
