"""Live 3D without the machine's noise: a recorded synthetic session replayed frame by frame
through :class:`capture3d.live.LiveReconstructor` at a fixed detection rate (one fresh camera an
update, the camera detected longest ago, each update at the newest frame of its instant), so that
the figures depend on the rate only, not on the load. Live people against the synthetic truth and
against ``process``'s ``points3d.npz`` of the same session.

    python benchmarks/live_fixed_rate.py SESSION --people 2 --rate 28 15 [--offline OUT/points3d.npz]

SESSION is one of ``benchmarks/live.py --keep DIR``'s (``DIR/people2``, its ``calibration.toml``
beside the videos) recorded from rigs/synthetic_4cam.toml's person scene. ``--rate`` is in
detections per second: two free cores give about 28 with two people, 44 with one.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from capture3d.capture.synthetic import SyntheticScene
from capture3d.live import LiveOptions, LiveReconstructor, load_calibration
from capture3d.skeleton import COCO17

J = len(COCO17)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from live import _match  # noqa: E402  (benchmarks/live.py: the same person matching)


def run(session, people, rate, n_frames, offline=None):
    rig, _ = load_calibration(session / "calibration.toml")
    truth = SyntheticScene(4, kind="person", n_frames=90, fps=30.0, size=(1280, 720), seed=0,
                           people=people).people_points[..., :J, :]
    caps = {n: cv2.VideoCapture(str(next((session / "videos").glob(f"{n}.*")))) for n in rig.names}
    read = {n: 0 for n in rig.names}
    image = {}
    recon = LiveReconstructor(rig, 30.0, LiveOptions(max_persons=max(1, people), detect_workers=1,
                                                     cameras_per_update=1))
    recon.warm_up()
    if offline is not None:
        off = np.load(offline)
        off_points = off["points"] if off["points"].ndim == 4 else off["points"][None]
        off_frames = off["frame_index"]
    to_truth, to_offline, found = [], [], []
    cpu, update = time.process_time(), 0
    while (frame := int(update / rate * 30.0)) < n_frames:
        for n in rig.names:                     # every camera's video read up to this instant
            while read[n] <= frame:
                image[n] = caps[n].read()[1]
                read[n] += 1
        name = recon.cameras_to_detect(rig.names, 1)[0]
        persons = recon.update({name: image[name]}, {name: int(frame * 1e9 / 30.0)}).persons
        update += 1
        live = np.array([p[:J] for p in persons.values()]).reshape(-1, J, 3)
        true = truth[:, frame % truth.shape[1]]
        found += [_match(t, live) < 0.15 for t in true]
        to_truth += [_match(p, true) for p in live]
        if offline is not None and (k := np.searchsorted(off_frames, frame)) < len(off_frames) and off_frames[k] == frame:
            to_offline += [_match(p, off_points[:, k, :J]) for p in live]
    cpu = time.process_time() - cpu
    fmt = lambda d: f"{np.nanmedian(d) * 1e3:.1f} mm (p95 {np.nanpercentile(d, 95) * 1e3:.0f})" if np.isfinite(d).any() else "-"  # noqa: E731
    print(f"{rate:g} detections/s: {update} updates ({cpu / update * 1e3:.0f} ms CPU each); true person-updates found "
          f"{np.mean(found) * 100:.0f} %; live vs truth {fmt(np.array(to_truth))}"
          + (f", vs process {fmt(np.array(to_offline))}" if offline is not None else "")
          + f"; load {os.getloadavg()[0]:.1f}", flush=True)


def process_found(session, people, offline, n_frames):
    """What ``process`` found of the same truth: share of true person-frames, median distance."""
    truth = SyntheticScene(4, kind="person", n_frames=90, fps=30.0, size=(1280, 720), seed=0,
                           people=people).people_points[..., :J, :]
    off = np.load(offline)
    pts = off["points"] if off["points"].ndim == 4 else off["points"][None]
    d = np.array([_match(t, pts[:, k, :J]) for k, f in enumerate(off["frame_index"]) if f < n_frames
                  for t in truth[:, f % truth.shape[1]]])
    print(f"process: true person-frames found {np.mean(d < 0.15) * 100:.0f} %, "
          f"{np.nanmedian(d) * 1e3:.1f} mm from the truth (median)", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("session", type=Path)
    ap.add_argument("--people", type=int, default=2)
    ap.add_argument("--rate", type=float, nargs="+", default=[28.0, 15.0], help="detections per second")
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("--offline", type=Path, help="process's points3d.npz of the session")
    args = ap.parse_args()
    logging.getLogger("capture3d.reconstruct").setLevel(logging.ERROR)   # "no joint reconstructed": an update is one frame
    if args.offline is not None:
        process_found(args.session, args.people, args.offline, args.frames)
    for rate in args.rate:
        run(args.session, args.people, rate, args.frames, args.offline)


if __name__ == "__main__":
    main()
