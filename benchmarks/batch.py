"""Many sessions: ``capture3d batch`` on the in-process LocalCluster against one session after
another in one process, on the same sessions in the same run; and what the measured task times
predict for more workers.

    python benchmarks/batch.py [--sessions 8] [--cameras 3] [--frames 30] [--workers 2] [--work DIR]

The sessions are synthetic (:mod:`capture3d.synthetic.sessions`): a person rendered into
``--cameras`` 320 x 240 videos of ``--frames`` frames each, every session its own motion seed,
the rig's calibration in the session folder. Both runs call :func:`capture3d.batch.run_batch`
with the same options: ``serial=True`` (no Dask: each camera's detection, then the session's
reconstruction, in this process) and a LocalCluster of ``--workers`` single-threaded worker
processes. Peak memory: resident set size sampled every 0.1 s (psutil), of this process during
the serial run and of each worker process during the cluster run.

Prediction: the serial run's per-task times (detection per camera, reconstruction per session,
each measured alone) are list-scheduled on N workers, detections first, each reconstruction once
its session's cameras are done, plus the cluster's measured start-up; the Amdahl line takes the
start-up as the serial part and everything else as perfectly parallel. The machine may be shared
with other work: its load average is printed with the figures.
"""
from __future__ import annotations

import argparse
import heapq
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import psutil

from capture3d.batch import BatchOptions, run_batch
from capture3d.synthetic.sessions import small_rig, write_person_session


class PeakMemory:
    """Peak resident set size (MB) per process, of this process or of its children, sampled."""

    def __init__(self, children: bool):
        self.children, self.peak, self._stop = children, {}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = psutil.Process()
        while not self._stop.is_set():
            procs = me.children(recursive=True) if self.children else [me]
            for p in procs:
                try:
                    rss = p.memory_info().rss / 2 ** 20
                except psutil.Error:
                    continue
                self.peak[p.pid] = max(self.peak.get(p.pid, 0.0), rss)
            time.sleep(0.1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def task_times(out: Path, rows: list[dict]) -> list[tuple[list[float], float]]:
    """Per session: (detection seconds per camera, reconstruction seconds), from its batch.json."""
    sessions = []
    for row in rows:
        state = json.loads((out / row["session"] / "batch.json").read_text())
        detect = [d["seconds"] for d in state["detections"].values()]
        sessions.append((detect, row["seconds"] - sum(detect)))
    return sessions


def makespan(sessions, workers: int) -> float:
    """List scheduling of the tasks on ``workers``: every detection in submission order, each
    reconstruction as soon as its session's detections are done (earliest free worker)."""
    free = [0.0] * workers
    heapq.heapify(free)
    end = 0.0
    ready = []
    for detect, recon in sessions:
        finish = 0.0
        for seconds in detect:
            start = heapq.heappop(free)
            heapq.heappush(free, start + seconds)
            finish = max(finish, start + seconds)
        ready.append((finish, recon))
    for finish, recon in sorted(ready):
        start = max(heapq.heappop(free), finish)
        heapq.heappush(free, start + recon)
        end = max(end, start + recon)
    return end


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--cameras", type=int, default=3)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", help="folder for the sessions and outputs (default: a temporary one)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="capture3d_batch_bench_"))
    root = work / "sessions"
    rig = small_rig(args.cameras)
    t = time.perf_counter()
    for k in range(args.sessions):
        write_person_session(root / f"trial_{k:02d}", rig, n_frames=args.frames, seed=k)
    print(f"{args.sessions} sessions of {args.cameras} cameras x {args.frames} frames (320x240) written in "
          f"{time.perf_counter() - t:.1f} s to {root}")

    with PeakMemory(children=False) as mem_serial:
        serial = run_batch(root, work / "serial", BatchOptions(serial=True, force=True), progress=False)
    with PeakMemory(children=True) as mem_cluster:
        cluster = run_batch(root, work / "cluster", BatchOptions(workers=args.workers, force=True), progress=False)
    for res in (serial, cluster):
        bad = [r for r in res.rows if r["status"] != "ok"]
        if bad:
            raise SystemExit(f"sessions failed: {bad}")
    load = os.getloadavg()
    workers_mb = sorted((v for v in mem_cluster.peak.values() if v > 100), reverse=True)[:args.workers]

    print(f"\nload average during the run: {load[0]:.1f} (1 min), {load[1]:.1f} (5 min) on {os.cpu_count()} cores\n")
    print("| run | wall s | speed-up | peak memory per process, MB |")
    print("|---|---|---|---|")
    print(f"| one after another, one process | {serial.seconds:.1f} | 1.00 | {max(mem_serial.peak.values()):.0f} |")
    print(f"| LocalCluster, {args.workers} workers (start-up {cluster.cluster_seconds:.1f} s) | {cluster.seconds:.1f} | "
          f"{serial.seconds / cluster.seconds:.2f} | {', '.join(f'{v:.0f}' for v in workers_mb)} |")

    sessions = task_times(work / "serial", serial.rows)
    detect = [s for d, _ in sessions for s in d]
    recon = [r for _, r in sessions]
    work_s = sum(detect) + sum(recon)
    print(f"\nmeasured tasks (serial run): {len(detect)} detections, median {sorted(detect)[len(detect) // 2]:.2f} s "
          f"(max {max(detect):.2f}); {len(recon)} reconstructions, median {sorted(recon)[len(recon) // 2]:.2f} s; "
          f"work {work_s:.1f} s of the {serial.seconds:.1f} s serial wall time")
    startup = cluster.cluster_seconds
    print("\n| workers | predicted wall s (list scheduling + start-up) | speed-up | Amdahl speed-up |")
    print("|---|---|---|---|")
    for n in (1, 2, 4, 8, 16, 32):
        t_n = startup + makespan(sessions, n)
        amdahl = serial.seconds / (startup + work_s / n)
        print(f"| {n} | {t_n:.1f} | {serial.seconds / t_n:.2f} | {amdahl:.2f} |")


if __name__ == "__main__":
    main()
