"""Live 3D, measured: updates per second and latency with ``capture3d live`` (a recorded session
replayed at its frame rate) and while recording, 1 and 2 people, and live 3D against the
offline ``process`` result and the synthetic truth on the same session.

    python benchmarks/live.py [--seconds 8] [--skip-process]

The rig is rigs/synthetic_4cam.toml (4 cameras, 1280 x 720, 30 fps, one hardware trigger) with
the person scene. Every figure comes with the machine's load average and the CPU time the process
used, because this machine is shared: wall-clock rates say what was achieved here and now, CPU
seconds per update say what an idle machine would allow.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from capture3d.capture import RecordOptions, RigConfig, record
from capture3d.live import LiveOptions, replay

RIG = Path(__file__).resolve().parents[1] / "rigs" / "synthetic_4cam.toml"


def _rig(people: int) -> RigConfig:
    rig = RigConfig.load(RIG)
    rig.synthetic.update(scene="person", people=people)
    return rig


def _load() -> str:
    return "load %.1f/%.1f/%.1f on %d cores" % (*os.getloadavg(), os.cpu_count())


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _line(name, live, cpu_s, wall_s, extra=""):
    """One result line; process CPU is the whole process's (recording, ffmpeg encoders, start-up
    included), live 3D's that of its threads (the live thread: tracking, triangulation, picture;
    the detection threads: decoding a replay's frames, BlazePose)."""
    n = max(live["updates"], 1)
    own = live["live_thread_cpu_s"] + live["detection_cpu_s"]
    print(f"{name}: {live['updates']} updates in {live['seconds']:.1f} s = {live['updates_per_s']:.1f}/s, latency median "
          f"{live['latency_ms_median']} ms, p95 {live['latency_ms_p95']} ms, {live['persons_median']} people (median); "
          f"process CPU {cpu_s:.1f} s in {wall_s:.1f} s wall; live 3D's CPU {own:.1f} s = {own / n * 1e3:.0f} ms per "
          f"update = {n / max(own, 1e-9):.1f} updates per CPU-second; {_load()}{extra}", flush=True)


def record_live(folder, people, seconds):
    """Record 4 x 30 fps with live 3D on; drops and the live figures."""
    rig = _rig(people)
    cams = rig.make_cameras()
    for i in range(len(cams)):      # rendered before, as real cameras cost nothing to "render"
        rig.scene.frames(i)
    c0, w0 = _cpu(), time.monotonic()
    res = record(rig, folder, RecordOptions(duration_s=seconds), cameras=cams, live_calibration="rig",
                 live_options=LiveOptions(max_persons=max(1, people)))
    cpu, wall = _cpu() - c0, time.monotonic() - w0
    cams = res.report["cameras"].values()
    drops = sum(c["queue_drops"] if c["drops"] is None else c["drops"] for c in cams)   # drops include queue drops
    frames = [c["frames"] for c in cams]
    _line(f"record + live, {people} people", res.report["live"], cpu, wall,
          f"; frames per camera {frames}, dropped {drops}")
    return res


def record_only(folder, people, seconds):
    """The same recording without live 3D: the drops the machine's load causes by itself."""
    rig = _rig(people)
    cams = rig.make_cameras()
    for i in range(len(cams)):
        rig.scene.frames(i)
    c0, w0 = _cpu(), time.monotonic()
    res = record(rig, folder, RecordOptions(duration_s=seconds), cameras=cams)
    cams = res.report["cameras"].values()
    drops = sum(c["queue_drops"] if c["drops"] is None else c["drops"] for c in cams)   # drops include queue drops
    print(f"record alone, {people} people: frames per camera {[c['frames'] for c in cams]}, dropped {drops}; "
          f"process CPU {_cpu() - c0:.1f} s in {time.monotonic() - w0:.1f} s wall; {_load()}", flush=True)


def replay_live(folder, people, seconds, picture=True):
    c0, w0 = _cpu(), time.monotonic()
    res = replay(folder, Path(folder) / "calibration.toml", LiveOptions(max_persons=max(1, people)), picture=picture,
                 out_png=Path(folder) / f"replay_{people}.png", seconds=seconds, keep_results=True)
    cpu, wall = _cpu() - c0, time.monotonic() - w0
    _line(f"capture3d live, {people} people, picture {'on' if picture else 'off'}", res.stats.summary(), cpu, wall,
          f"; frames played {sum(res.played.values())}, skipped {sum(res.skipped.values())}")
    return res


def _dists(live_points, candidates) -> np.ndarray:
    """``(P,)`` median joint distance (m) of one live person ``(J, 3)`` to each of ``candidates
    (P, J, 3)``; NaN where fewer than 5 joints are in both."""
    out = np.full(len(candidates), np.nan)
    for i, cand in enumerate(candidates):
        d = np.linalg.norm(live_points - cand, axis=-1)
        if np.isfinite(d).sum() >= 5:
            out[i] = float(np.nanmedian(d))
    return out


def _match(live_points, candidates):
    """Median joint distance (m) of one live person to the nearest of ``candidates (P, J, 3)``."""
    d = _dists(live_points, candidates)
    return float(np.nanmin(d)) if np.isfinite(d).any() else np.nan


def compare(folder, res, people, skip_process):
    """Live 3D against the synthetic truth and against ``process`` on the same session."""
    from capture3d.capture.recorder import read_frames_csv
    from capture3d.capture.synthetic import SyntheticScene
    from capture3d.skeleton import COCO17

    rig = _rig(people)
    o = rig.synthetic
    scene = SyntheticScene(4, kind="person", n_frames=int(o["frames"]), fps=30.0, size=(1280, 720),
                           seed=int(o.get("seed", 0)), people=people)
    ids = read_frames_csv(folder)["cam01"]["device_frame_id"]
    J = len(COCO17)
    truth_d, offline_d, both_d, offline_truth = [], [], [], []
    offline = None
    if not skip_process:
        from capture3d.io import load_points3d
        from capture3d.process import ProcessOptions, process_session
        c0, w0 = _cpu(), time.monotonic()
        process_session(folder, Path(folder) / "calibration.toml", Path(folder) / "out", ProcessOptions(exports=()),
                        echo=lambda *a: None)
        print(f"process: {_cpu() - c0:.1f} s CPU, {time.monotonic() - w0:.1f} s wall; {_load()}", flush=True)
        offline = load_points3d(Path(folder) / "out" / "points3d.npz")
    for frame, persons in res.results:
        if frame is None or frame >= len(ids):
            continue
        truth = scene.people_points[:, ids[frame] % scene.n_frames, :J]
        for points in persons.values():
            to_truth = _dists(points[:J], truth)
            truth_d.append(np.nanmin(to_truth) if np.isfinite(to_truth).any() else np.nan)
            if offline is not None:
                pts = offline["points"] if offline["points"].ndim == 4 else offline["points"][None]
                k = np.searchsorted(offline["frame_index"], frame)
                if k < pts.shape[1] and offline["frame_index"][k] == frame:
                    offline_d.append(_match(points[:J], pts[:, k, :J]))
                    # the same true person found by both (within 0.15 m): how far apart their 3D is
                    if truth_d[-1] < 0.15:
                        off_to_true = np.array([_dists(o, truth[np.nanargmin(to_truth)][None])[0]
                                                for o in pts[:, k, :J]])
                        if np.isfinite(off_to_true).any() and np.nanmin(off_to_true) < 0.15:
                            both_d.append(_dists(points[:J], pts[np.nanargmin(off_to_true), k, :J][None])[0])
    # the other way round: each true person, was a live (or process) person within 0.15 m of them
    found = [_match(truth_p, np.array([p[:J] for p in persons.values()]).reshape(-1, J, 3)) < 0.15
             for frame, persons in res.results if frame is not None and frame < len(ids)
             for truth_p in scene.people_points[:, ids[frame] % scene.n_frames, :J]]
    line = f"{people} people: true people found live {np.mean(found) * 100:.0f} % of {len(found)} person-updates"
    if offline is not None:
        pts = offline["points"] if offline["points"].ndim == 4 else offline["points"][None]
        offline_truth = [_match(truth_p, pts[:, k, :J]) for k, f in enumerate(offline["frame_index"])
                         if f < len(ids) for truth_p in scene.people_points[:, ids[f] % scene.n_frames, :J]]
        line += f", by process {np.mean(np.array(offline_truth) < 0.15) * 100:.0f} % of {len(offline_truth)}"
    print(line, flush=True)
    fmt = lambda d: (f"median {np.nanmedian(d) * 1e3:.1f} mm, p95 {np.nanpercentile(d, 95) * 1e3:.1f} mm over "  # noqa: E731
                     f"{np.isfinite(d).sum()} person-updates") if np.isfinite(d).any() else "no match"
    print(f"{people} people: live vs truth {fmt(np.array(truth_d))}"
          + (f"; live vs process {fmt(np.array(offline_d))}" if offline is not None else ""), flush=True)
    if offline is not None:
        # process's own misses make live-vs-process large where process has only the other person
        found_off = np.array(offline_truth)
        print(f"{people} people: process vs truth {fmt(found_off)} (each true person-frame's nearest process person); "
              f"live vs process where both found the same true person {fmt(np.array(both_d))}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--people", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--skip-process", action="store_true")
    ap.add_argument("--keep", help="keep the sessions in this folder")
    args = ap.parse_args()
    base = Path(args.keep or tempfile.mkdtemp(prefix="live_bench_"))
    print(f"{_load()}; sessions in {base}", flush=True)
    for people in args.people:
        folder = base / f"people{people}"
        record_only(base / f"alone{people}", people, args.seconds)
        res = record_live(folder, people, args.seconds)
        (base / f"record_{people}.json").write_text(json.dumps(res.report["live"]))
        rep = replay_live(folder, people, args.seconds)
        compare(folder, rep, people, args.skip_process)


if __name__ == "__main__":
    main()
