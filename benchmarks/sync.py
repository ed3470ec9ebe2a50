"""Synchronisation accuracy and time against Pose2Sim 0.10.49's ``synchronize_cams_all``, on the
same keypoints, in one run.

    python benchmarks/sync.py [--seconds 10] [--pose2d /tmp/p2s_recut/pose2d --truth 0,7,13,22]

Synthetic: 4 cameras at 60 fps around one person (capture3d.synthetic, 1 px noise) with known
starts in frames (whole and fractional), capture3d with and without the calibration. With
``--pose2d`` (pose2d/<camera>.npz of real videos re-cut so that they start ``--truth`` frames
late, e.g. pose2sim_multiperson) and ``--calibration``, the same on real detections. A lossless
re-cut keeps the original pixels (frame n of cam02 re-cut by 7 is frame n + 7 of the original)::

    ffmpeg -i cam02.mp4 -vf "select=gte(n\\,7),setpts=N/60/TB" -r 60 -c:v libx264 -qp 0 -pix_fmt yuv420p cut/cam02.mp4
    capture3d detect cut --persons 3 -o cut/pose2d

Pose2Sim gets the keypoints as OpenPose BODY_25 JSON (capture3d's writer) in a project folder, its GUI
and plots off, the whole sequence searched; it reports whole frames, relative to the camera
with the fewest frames, which is converted to starts relative to the first camera here.
Pose2Sim is optional: ``pip install --no-deps pose2sim==0.10.49 rtoml anytree`` (it needs
pandas too); without it its rows are skipped.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from capture3d.formats.openpose_json import write_openpose_json  # noqa: E402
from capture3d.skeleton import COCO17  # noqa: E402
from capture3d.sync import SyncOptions, align_keypoints  # noqa: E402
from tests.sync.helpers import unsynced_session  # noqa: E402


def pose2sim_offsets(keypoints: dict, fps: float) -> tuple[dict | None, float, str]:
    """Starts in frames relative to the first camera from Pose2Sim's synchronisation, its time,
    and why it failed if it did."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from Pose2Sim.synchronization import synchronize_cams_all
    except ImportError as exc:
        return None, 0.0, f"not installed ({exc})"
    names = list(keypoints)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        for n, kp in keypoints.items():   # the first 17 joints are COCO-17 (the canonical layout)
            write_openpose_json(project / "pose" / f"{n}_json", kp[:, :, :len(COCO17)], list(COCO17), stem=n)
        (project / "videos").mkdir()
        config = {"project": {"project_dir": str(project), "frame_rate": fps, "frame_range": "all"},
                  "pose": {"pose_model": "BODY_25"},
                  "synchronization": {"display_sync_plots": False, "save_sync_plots": False,
                                      "keypoints_to_consider": "all", "approx_time_maxspeed": "auto",
                                      "time_range_around_maxspeed": 2.0, "synchronization_gui": False,
                                      "likelihood_threshold_synchronization": 0.4, "filter_cutoff": 6,
                                      "filter_order": 4}}
        records = []

        class Grab(logging.Handler):
            def emit(self, record):
                records.append(record.getMessage())

        root = logging.getLogger()
        saved, level = root.handlers[:], root.level
        root.handlers, root.level = [Grab()], logging.INFO   # its log is where it says the offsets
        t0 = time.perf_counter()
        try:
            synchronize_cams_all(config)
        except Exception as exc:  # noqa: BLE001  (report why the reference failed, whatever it is)
            return None, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"
        finally:
            root.handlers, root.level = saved, level
        seconds = time.perf_counter() - t0
    found = {}
    for msg in records:
        m = re.search(r"Camera (\S+) and (\S+): (-?\d+) frames offset", msg)
        if m:
            found[m.group(2)] = (m.group(1), int(m.group(3)))
    if not found:
        return None, seconds, "no offset in its log"
    ref = next(iter(found.values()))[0]
    # Pose2Sim renames frame j of a camera to j - offset: offset = that camera's lag behind the
    # reference in frames, i.e. start_cam - start_ref = -offset / fps (checked on whole frames)
    rel = {ref: 0.0, **{cam: -float(off) for cam, (_, off) in found.items()}}
    return {n: rel[n] - rel[names[0]] for n in names}, seconds, ""


def ours(keypoints, times, rig, max_shift_s):
    t0 = time.perf_counter()
    res = align_keypoints(keypoints, times, rig=rig, options=SyncOptions(max_shift_s=max_shift_s))
    seconds = time.perf_counter() - t0
    fps = {n: len(t) / (t[-1] - t[0] + (t[1] - t[0])) for n, t in times.items()}
    starts = {n: c.start_s * fps[n] for n, c in res.cameras.items()}
    return starts, seconds, res.message


def row(label, starts, truth, seconds, why=""):
    if starts is None or not starts:
        print(f"{label:34s} failed ({why})  {seconds:6.2f} s")
        return
    err = [abs(starts[n] - truth[n]) for n in truth if n in starts]
    found = " ".join(f"{starts.get(n, float('nan')):7.2f}" for n in truth)
    miss = [n for n in truth if n not in starts]
    print(f"{label:34s} {found}   max err {max(err):5.2f} frames  {seconds:6.2f} s"
          + (f"  (not synced: {', '.join(miss)}: {why})" if miss else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="synthetic recording length")
    ap.add_argument("--pose2d", help="folder of <camera>.npz of re-cut real videos")
    ap.add_argument("--truth", default="0,7,13,22", help="their starts, frames")
    ap.add_argument("--calibration", default=None, help="calibration of the real cameras")
    ap.add_argument("--fps", type=float, default=60.0)
    args = ap.parse_args()
    logging.getLogger("capture3d.reconstruct").setLevel(logging.ERROR)
    logging.getLogger("capture3d.sync").setLevel(logging.WARNING)
    fps = 60.0
    truth_frames = [0.0, 7.0, 13.0, 22.0]
    cases = [("whole frames", truth_frames), ("fractional", [0.0, 7.37, 13.5, 22.81])]
    print(f"synthetic: 4 cameras at {fps:g} fps, {args.seconds:g} s, one person (mixed motion), 1 px noise")
    print(f"{'':34s} starts (frames) of cam01..cam04")
    for label, starts in cases:
        rig, _, kps, times = unsynced_session([s / fps for s in starts], [fps] * 4,
                                              [args.seconds - s / fps for s in starts], noise_px=1.0)
        truth = dict(zip(rig.names, starts))
        print(f"{label + ': truth':34s} " + " ".join(f"{s:7.2f}" for s in starts))
        for name, use_rig in (("capture3d, calibration", rig), ("capture3d, no calibration", None)):
            found, seconds, why = ours(kps, times, use_rig, max_shift_s=1.0)
            row(f"  {name}", found, truth, seconds, why)
        found, seconds, why = pose2sim_offsets(kps, fps)
        row("  Pose2Sim 0.10.49", found, truth, seconds, why)
    if args.pose2d:
        from capture3d.io import load_pose2d
        from capture3d.rig import Rig

        files = sorted(Path(args.pose2d).glob("*.npz"))
        kps = {p.stem: load_pose2d(p)["keypoints"].astype(float) for p in files}
        times = {n: np.arange(len(k)) / args.fps for n, k in kps.items()}
        truth = dict(zip(kps, (float(v) for v in args.truth.split(","))))
        print(f"real: {args.pose2d} ({', '.join(f'{n} {len(k)} frames' for n, k in kps.items())})")
        print(f"{'truth':34s} " + " ".join(f"{truth[n]:7.2f}" for n in kps))
        rig = Rig.load(args.calibration) if args.calibration else None
        for name, use_rig in (("capture3d, calibration", rig), ("capture3d, no calibration", None)):
            if name.endswith(", calibration") and rig is None:
                continue
            found, seconds, why = ours(kps, times, use_rig, max_shift_s=None)
            row(f"  {name}", found, truth, seconds, why)
        found, seconds, why = pose2sim_offsets(kps, args.fps)
        row("  Pose2Sim 0.10.49", found, truth, seconds, why)


if __name__ == "__main__":
    main()
