"""How much this machine records without a drop: cameras x fps x resolution, with CPU and memory.

    python benchmarks/recording.py [--seconds 10]
    python benchmarks/recording.py --writer-cost [--frames 300]

``--writer-cost``: CPU per recorded 1280x720 frame of the synthetic person scene (2 people), of
the recorder's writer (``VideoPipe``: OpenCV JPEG-encodes, ffmpeg only writes the AVI) and of
the path it replaced (raw BGR piped to ffmpeg's MJPEG encoder at ``-q:v 3``), each split into
this process's CPU and ffmpeg's, with the file size per frame and the PSNR of the frames read
back against the originals.

Synthetic cameras on one simulated hardware trigger deliver pre-rendered frames in real time (a
camera's buffer of 64 frames overflows when the host falls behind, so lag shows up as drops, as on
real hardware). For each configuration: frames recorded, drops (device frame id gaps plus frames
lost to a full queue), the largest host-time skew between cameras, CPU use of the recorder and its
ffmpeg children (percent of one core, averaged), and the memory (RSS, recorder plus encoders) in
the first and the last quarter of the run: flat memory means nothing piles up.

Baseline, measured in the same run: one writer alone (fed frames as fast as it takes them) in
frames per second at each resolution; "load" = cameras x fps / that rate.
"""
from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from capture3d.capture import RecordOptions, RigConfig, record
from capture3d.capture.writer import VideoPipe

RESOLUTIONS = {"VGA": (640, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
CONFIGS = [(4, 30, "VGA"), (4, 60, "VGA"), (8, 60, "VGA"), (8, 120, "VGA"),
           (4, 30, "720p"), (4, 60, "720p"), (8, 60, "720p"),
           (4, 30, "1080p"), (4, 60, "1080p")]


def encoder_fps(size, n=120) -> float:
    """Frames per second one writer (:class:`VideoPipe`) takes at ``size``."""
    rng = np.random.default_rng(0)
    frame = (rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), np.uint8).repeat(8, 0).repeat(8, 1))
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        with VideoPipe(Path(tmp) / "v.avi", 30, size) as w:
            for _ in range(n):
                w.write(frame)
        return n / (time.perf_counter() - t)


def _legacy_pipe(path, fps, size):
    """The writer before it JPEG-encoded in-process: raw BGR to ffmpeg's MJPEG encoder."""
    import subprocess
    from capture3d.capture.writer import ffmpeg_exe
    cmd = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", f"{size[0]}x{size[1]}", "-r", f"{fps:.6g}", "-i", "pipe:0",
           "-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p", str(path)]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)


def writer_cost(n: int = 300):
    """CPU ms per frame (this process / ffmpeg), kB per frame and PSNR dB of both writers."""
    import os
    import cv2
    from capture3d.capture.synthetic import SyntheticScene
    size = (1280, 720)
    scene = SyntheticScene(4, kind="person", n_frames=30, fps=30.0, size=size, people=2)
    frames = [scene.image(0, i) for i in range(30)]

    def cpu():
        t = os.times()
        return t.user + t.system, t.children_user + t.children_system

    def psnr(path):
        cap, k, out = cv2.VideoCapture(str(path)), 0, []
        while True:
            ok, im = cap.read()
            if not ok:
                return float(np.mean(out)), k
            out.append(cv2.PSNR(im, frames[k % 30]))
            k += 1

    print(f"## Writer cost, {n} frames of 1280x720 (synthetic person scene, 2 people), one writer\n")
    print("| writer | CPU ms per frame: recorder + ffmpeg = total | kB per frame | PSNR dB | frames read back |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("raw BGR -> ffmpeg MJPEG -q:v 3 (before)", "VideoPipe: cv2.imencode q90 -> ffmpeg -c:v copy"):
            path = Path(tmp) / f"{len(name)}.avi"
            a = cpu()
            if name.startswith("raw"):
                proc = _legacy_pipe(path, 30, size)
                for i in range(n):
                    proc.stdin.write(frames[i % 30].data)
                proc.stdin.close()
                proc.wait()
            else:
                with VideoPipe(path, 30, size) as w:
                    for i in range(n):
                        w.write(frames[i % 30])
            b = cpu()
            me, ff = (b[0] - a[0]) / n * 1e3, (b[1] - a[1]) / n * 1e3
            p, k = psnr(path)
            print(f"| {name} | {me:.2f} + {ff:.2f} = {me + ff:.2f} | {path.stat().st_size / n / 1e3:.0f} | {p:.1f} | {k} |",
                  flush=True)


def rig_file(folder: Path, cameras: int, fps: float, size) -> Path:
    text = (f'name = "bench"\nbackend = "synthetic"\nfps = {fps}\nsize = [{size[0]}, {size[1]}]\n'
            f'[synthetic]\nscene = "person"\nframes = 30\ncameras = {cameras}\n')
    for i in range(cameras):
        text += f'[[cameras]]\nname = "cam{i:02d}"\ndevice = {i}\ntrigger = "{"primary" if i == 0 else "secondary"}"\n'
    path = folder / "rig.toml"
    path.write_text(text)
    return path


class Sampler:
    """CPU (percent of one core) and RSS (MB) of this process and its children, every 0.5 s."""

    def __init__(self):
        self.me = psutil.Process()
        self.samples = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _procs(self):
        return [self.me] + self.me.children(recursive=True)

    def _run(self):
        last = {}
        while not self.stop.wait(0.5):
            cpu = rss = 0.0
            for p in self._procs():
                try:
                    t = p.cpu_times()
                    total = t.user + t.system
                    cpu += total - last.get(p.pid, total)
                    last[p.pid] = total
                    rss += p.memory_info().rss
                except psutil.Error:
                    continue
            self.samples.append((time.monotonic(), cpu / 0.5 * 100, rss / 1e6))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--writer-cost", action="store_true", help="only the writer's CPU per frame, before and now")
    ap.add_argument("--frames", type=int, default=300, help="frames for --writer-cost")
    args = ap.parse_args()
    if args.writer_cost:
        writer_cost(args.frames)
        return
    print(f"## Recording synthetic cameras for {args.seconds:g} s each ({psutil.cpu_count()} cores)\n")
    base = {name: encoder_fps(size) for name, size in RESOLUTIONS.items()}
    print("| baseline: one writer (VideoPipe) | " + " | ".join(f"{k} {v:.0f} frames/s" for k, v in base.items()) + " |\n")
    print("| cameras | fps | resolution | load vs one encoder | frames | drops | max skew ms | CPU % of a core "
          "| memory MB first quarter -> last quarter |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---|")
    for cameras, fps, res in CONFIGS:
        size = RESOLUTIONS[res]
        with tempfile.TemporaryDirectory() as tmp:
            rig = RigConfig.load(rig_file(Path(tmp), cameras, fps, size))
            cams = rig.make_cameras()
            for cam in cams:            # render before measuring
                cam.open()
                cam.configure()
            with Sampler() as sampler:
                res_ = record(rig, Path(tmp) / "s", RecordOptions(duration_s=args.seconds, stall_timeout_s=5.0),
                              cameras=cams)
        r = res_.report
        frames = sum(c["frames"] for c in r["cameras"].values())
        drops = sum((c["drops"] or 0) + c["queue_drops"] for c in r["cameras"].values())
        s = np.array(sampler.samples)
        q = max(1, len(s) // 4)
        cpu = s[1:, 1].mean() if len(s) > 1 else float("nan")
        mem = f"{s[:q, 2].mean():.0f} -> {s[-q:, 2].mean():.0f}" if len(s) else ""
        load = cameras * fps / base[res]
        print(f"| {cameras} | {fps} | {res} {size[0]}x{size[1]} | {load:.2f} | {frames} | {drops} | "
              f"{r.get('max_skew_ms', float('nan')):.1f} | {cpu:.0f} | {mem} |", flush=True)


if __name__ == "__main__":
    main()
