"""2D detection speed on 1080p frames, and where the time of a whole ``process`` run goes.

    python benchmarks/detection.py [--frames 60] [--process-frames 100]

Part 1: frames per second of every available detector on real frames of
``../shared/data/pose2sim_multiperson`` letterboxed into 1920 x 1080 (one core: batch work runs
one process per core). The baseline, measured in the same run, is the bare TFLite inference of
BlazePose's two models on already-prepared inputs, so the ratio shows what our pipeline (crops,
decoding, tracking) adds. ONNX and OpenPose entries of ``models/manifest.toml`` are timed when
their files are there.

Part 2: ``capture3d process`` on the same session (4 cameras, ``--process-frames`` each), its
wall time split by stage: detection should dominate and the rest stay a small share.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from capture3d.detect import BlazePose, BlazePoseOptions, available_detectors, make_detector
from capture3d.detect.blazepose import DETECTOR_SIZE, LANDMARK_SIZE

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pose2sim_multiperson"


def frames_1080p(n):
    cap = cv2.VideoCapture(str(DATA / "videos" / "cam01.mp4"))
    out = []
    while len(out) < n:
        ok, image = cap.read()
        if not ok:
            break
        h, w = image.shape[:2]
        s = 1080 / h
        small = cv2.resize(image, (round(w * s), 1080))
        canvas = np.zeros((1080, 1920, 3), np.uint8)
        x0 = (1920 - small.shape[1]) // 2
        canvas[:, x0:x0 + small.shape[1]] = small
        out.append(canvas)
    return out


def fps(detector, frames, repeats=2):
    best = np.inf
    for _ in range(repeats):
        detector.reset()
        t = time.perf_counter()
        for im in frames:
            detector(im)
        best = min(best, time.perf_counter() - t)
    return len(frames) / best


def bare_inference_fps(det: BlazePose, n):
    """The two TFLite models only, on fixed inputs: the floor of any BlazePose pipeline."""
    x_det = np.zeros((1, DETECTOR_SIZE, DETECTOR_SIZE, 3), np.float32)
    x_lmk = np.zeros((1, LANDMARK_SIZE, LANDMARK_SIZE, 3), np.float32)
    t = time.perf_counter()
    for _ in range(n):
        det._det.set_tensor(det._det_in, x_det)
        det._det.invoke()
        det._lmk.set_tensor(det._lmk_in, x_lmk)
        det._lmk.invoke()
    both = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(n):
        det._lmk.set_tensor(det._lmk_in, x_lmk)
        det._lmk.invoke()
    return both, n / (time.perf_counter() - t)


def openpose_decoding_fps(n):
    """Our share of an OpenPose frame: peaks and PAF grouping of a rendered 1080p-shaped output
    (the network's own time depends on weights we do not ship)."""
    from capture3d.detect.openpose_dnn import PAF_LAYOUTS, decode_output, render_maps

    layout, size = PAF_LAYOUTS["coco18"], (656, 368)
    base = np.array([(0, -30), (0, 0), (-30, 0), (-40, 45), (-45, 90), (30, 0), (40, 45), (45, 90),
                     (-18, 95), (-20, 160), (-22, 225), (18, 95), (20, 160), (22, 225),
                     (-8, -38), (8, -38), (-16, -32), (16, -32)], float)
    maps = render_maps(np.stack([base + (x, 80) for x in (150, 330, 510)]), layout, size)
    t = time.perf_counter()
    for _ in range(n):
        decode_output(maps, layout, size)
    return n / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--process-frames", type=int, default=100)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not DATA.is_dir():
        raise SystemExit(f"needs the real recordings in {DATA}")
    frames = frames_1080p(args.frames)
    print(f"## 2D detectors on {len(frames)} frames of 1920 x 1080, one thread\n")
    print("| detector | frames/s | ms/frame | vs bare inference |")
    print("|---|---:|---:|---:|")
    base_det = BlazePose(BlazePoseOptions(track=False))
    both, lmk_only = bare_inference_fps(base_det, len(frames))
    print(f"| baseline: bare TFLite, detector + landmarks | {both:.1f} | {1000 / both:.1f} | 1.00x |")
    print(f"| baseline: bare TFLite, landmarks only | {lmk_only:.1f} | {1000 / lmk_only:.1f} | 1.00x |")
    rows = [("blazepose, every frame detected (static)", BlazePose(BlazePoseOptions(track=False)), both),
            ("blazepose, tracking, 1 person", BlazePose(BlazePoseOptions()), lmk_only),
            ("blazepose, tracking, up to 3 people", BlazePose(BlazePoseOptions(max_persons=3)), None)]
    for name in available_detectors():
        if name == "blazepose":
            continue
        try:
            rows.append((name, make_detector(name), None))
        except Exception as exc:  # a listed model whose file is not there: say so, go on
            print(f"| {name} | not run: {str(exc).splitlines()[0][:80]} | | |")
    for label, det, base in rows:
        f = fps(det, frames)
        ratio = f"{f / base:.2f}x" if base else ""
        print(f"| {label} | {f:.1f} | {1000 / f:.1f} | {ratio} |")
    f = openpose_decoding_fps(len(frames))
    print(f"| OpenPose heatmap + PAF decoding only (COCO-18, 3 people, 656 x 368 input; no network) "
          f"| {f:.1f} | {1000 / f:.1f} | |")

    from capture3d.process import ProcessOptions, process_session
    from capture3d.detect.batch import DetectOptions

    print(f"\n## capture3d process: 4 cameras x {args.process_frames} frames (1088 x 1920), "
          "one process per core\n")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        res = process_session(DATA / "videos", DATA / "Calib.qca.txt", tmp,
                              ProcessOptions(detect=DetectOptions(max_persons=3, max_frames=args.process_frames)),
                              echo=lambda s: None)
        wall = time.perf_counter() - t
    seconds = res.report["seconds"]
    total = sum(seconds.values())
    print("| stage | seconds | share |")
    print("|---|---:|---:|")
    for stage, s in seconds.items():
        print(f"| {stage} | {s:.2f} | {s / total:.1%} |")
    print(f"| total (wall, including loading) | {wall:.2f} | |")
    r = res.report
    print(f"\nresult: {r['frames_with_person']:.0%} of frames with a person, {r['frames_with_all_17_joints']:.0%} "
          f"with all 17 joints, median reprojection error {r['median_reprojection_error_px']:.2f} px")


if __name__ == "__main__":
    main()
