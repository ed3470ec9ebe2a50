"""2D detection speed on 1080p frames, where the time of a whole ``process`` run goes, and what
each optional step of ``process`` costs.

    python benchmarks/detection.py [--frames 60] [--process-frames 100] [--steps-frames 100]
                                   [--parts detectors process steps]

Part 1: frames per second of every available detector on real frames of
``../shared/data/pose2sim_multiperson`` letterboxed into 1920 x 1080 (one core: batch work runs
one process per core). The baseline, measured in the same run, is the bare TFLite inference of
BlazePose's two models on already-prepared inputs, so the ratio shows what our pipeline (crops,
decoding, tracking) adds. ONNX and OpenPose entries of ``models/manifest.toml`` are timed when
their files are there.

Part 2: ``capture3d process`` on the same session (4 cameras, ``--process-frames`` each), its
wall time split by stage: detection should dominate and the rest stay a small share.

Part 3 (issue 22): the cost of each step added to let the views correct each other's 2D, on the
same ``--steps-frames`` frames of every camera, in ms per camera frame (a 3D step's cost per
session frame divided by the cameras) wall and CPU, frames/s, and the ratio to the bare TFLite
inference measured in the same run: left/right swap fixing (``PeopleOptions.fix_swaps``, on),
the temporal outlier-view pass (``TriangulationOptions.temporal``, on the refused points only as
``process`` runs it, and on every point), the suspect-view pass (``TriangulationOptions.suspect_views``,
on; each the triangulation with it less the one without either), flip averaging
(``BlazePoseOptions.flip``: the same frames detected again with it), the person detector on three
tiles (``BlazePoseOptions.tiles``, ``--tiles``: the same, with it) and 3D-guided crops
(``process --guided-crops``: the crops with their video decoding, and the second reconstruction).

Without ``../shared/data/pose2sim_multiperson`` every part runs on a synthetic session rendered
first (4 cameras 1280 x 720, two people walking, the synthetic rig's calibration).
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from capture3d.detect import BlazePose, BlazePoseOptions, available_detectors, make_detector
from capture3d.detect.blazepose import DETECTOR_SIZE, LANDMARK_SIZE
from capture3d.sources import session_videos

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pose2sim_multiperson"
#: BlazePose options for the synthetic session's 16:9 views, as capture3d demo sets them
SYNTHETIC_DETECTOR_OPTIONS = {"redetect_every": 2, "tiles": True, "same_person_share": 0.12}


def synthetic_session(folder: Path, n_frames: int) -> tuple[Path, Path]:
    """A session to measure on when the real one is absent: two people walking, rendered into 4
    synthetic cameras (1280 x 720, 30 fps, MJPEG), and the rig's own calibration."""
    from capture3d import synthetic

    rig = synthetic.make_rig(4, radius_m=3.5, height_m=2.2, size=(1280, 720), seed=0)
    people = synthetic.make_crowd(2, n_frames, fps=30.0, seed=0, feet=True,
                                  area_m=synthetic.capture_area(rig, min_views=2)).points   # (P, F, J, 3) m
    (folder / "videos").mkdir(parents=True, exist_ok=True)
    for cam in rig.cameras:
        out = cv2.VideoWriter(str(folder / "videos" / f"{cam.name}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0,
                              tuple(cam.size))
        for k in range(n_frames):
            image = None
            for p in np.argsort(-np.linalg.norm(np.nanmean(people[:, k], axis=1) - cam.center, axis=1)):
                image = synthetic.render_person(cam, people[p, k], image, style=int(p))    # far first
            out.write(synthetic.person.background(cam.size) if image is None else image)
        out.release()
    rig.save(folder / "calibration.toml")
    return folder / "videos", folder / "calibration.toml"


def frames_1080p(n, video):
    cap = cv2.VideoCapture(str(video))
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


def bare_inference_cost(det: BlazePose, n) -> tuple[float, float]:
    """Seconds per image, wall and CPU, of the two TFLite models on fixed inputs (detector, then
    landmarks): the bare inference of one frame."""
    x_det = np.zeros((1, DETECTOR_SIZE, DETECTOR_SIZE, 3), np.float32)
    x_lmk = np.zeros((1, LANDMARK_SIZE, LANDMARK_SIZE, 3), np.float32)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        det._det.set_tensor(det._det_in, x_det)
        det._det.invoke()
        det._lmk.set_tensor(det._lmk_in, x_lmk)
        det._lmk.invoke()
    return (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n


def timed(fn, repeats=1):
    """``(fn's result, wall s, CPU s)`` of the fastest of ``repeats`` calls."""
    best = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        cost = (time.perf_counter() - wall, time.process_time() - cpu)
        if best is None or cost[0] < best[0]:
            best = cost
    return (out,) + best


def detect_variants(videos: dict, n_frames: int, slots: int, folder: Path, detector_options: dict):
    """Every camera's first ``n_frames`` detected as ``process`` does (BlazePose, ``slots`` person
    slots, tracking, ``detector_options``), and again with ``flip`` and with ``tiles``, image by
    image. Returns the plain detections as pose2d files ``{camera: npz}`` and
    ``{"plain"|"flip"|"tiles": [wall s, CPU s]}`` of the detector calls."""
    from capture3d import io
    from capture3d.detect.base import to_canonical

    cost = {"plain": [0.0, 0.0], "flip": [0.0, 0.0], "tiles": [0.0, 0.0]}
    files = {}
    for name, video in videos.items():
        dets = {"plain": BlazePose(BlazePoseOptions(max_persons=slots, **detector_options)),
                "flip": BlazePose(BlazePoseOptions(max_persons=slots, flip=True, **detector_options)),
                "tiles": BlazePose(BlazePoseOptions(max_persons=slots, **{**detector_options, "tiles": True}))}
        cap = cv2.VideoCapture(str(video))
        rows, size = [], None
        while len(rows) < n_frames:
            ok, image = cap.read()
            if not ok:
                break
            size = (image.shape[1], image.shape[0])
            for kind, det in dets.items():
                out, wall, cpu = timed(lambda: det(image))
                cost[kind][0] += wall
                cost[kind][1] += cpu
                if kind == "plain":
                    rows.append(out)
        cap.release()
        keypoints, names = to_canonical(np.stack(rows), dets["plain"].joint_names)
        files[name] = io.save_pose2d(folder / f"{name}.npz", keypoints, joint_names=names, image_size=size,
                                     detector="blazepose (benchmark)", frame_index=np.arange(len(rows)))
    return files, cost


def step_costs(videos_folder: Path, calibration: Path, n_frames: int, folder: Path, detector_options: dict):
    """Part 3: rows ``(label, wall s, CPU s, images)`` of each step's cost over ``images`` camera
    frames, the bare TFLite inference first (see the module docstring)."""
    from capture3d import io
    from capture3d.camera.image_size import match_rig_sizes
    from capture3d.detect.guided import guided_pass
    from capture3d.process import ProcessOptions, triangulation_for_images, _video_fps, session_rig
    from capture3d.reconstruct.people import _triangulate_tracks, reconstruct_people
    from capture3d.reconstruct.swaps import fix_swaps

    rig, videos = session_rig(videos_folder, calibration)
    options = ProcessOptions()
    files, detect = detect_variants(videos, n_frames, options.detect.max_persons, folder, detector_options)
    cand, frames, joints, sizes = io.stack_pose2d_files(files)
    rig, _ = match_rig_sizes(rig, sizes, source="pose2d image", paths=files)
    images = cand.shape[0] * cand.shape[1]
    fps = _video_fps(videos[rig.names[0]])
    tri = triangulation_for_images(sizes)
    # process's triangulation has the temporal pass on its refused points and the suspect views:
    # each step's cost is the triangulation with it less the one without
    tri_plain = type(tri)(**{**tri.to_dict(), "temporal": False, "suspect_views": False})
    tri_refused = type(tri)(**{**tri_plain.to_dict(), "temporal": True, "temporal_refused_only": True})
    tri_temporal = type(tri)(**{**tri_plain.to_dict(), "temporal": True, "temporal_refused_only": False})
    tri_suspect = type(tri)(**{**tri_plain.to_dict(), "suspect_views": True})

    def reconstruct(candidates):
        return reconstruct_people(candidates, rig, fps=fps, joint_names=joints, options=options.people,
                                  triangulation=tri, filter=options.filter)
    rec = reconstruct(cand)                  # also compiles (or loads) the numba kernels
    tracks = rec.raw.tracks
    kp = tracks.keypoints(cand)              # (P, C, F, J, 3)
    _triangulate_tracks(cand, rig, tracks, tri_temporal)                      # compiles the temporal pass
    bare = bare_inference_cost(BlazePose(BlazePoseOptions(track=False)), max(60, n_frames))
    rows = [("bare TFLite, detector + landmarks (baseline)", bare[0] * images, bare[1] * images, images),
            (f"blazepose as process runs it ({options.detect.max_persons} slots, tracking"
             + "".join(f", {k} {v}" for k, v in detector_options.items()) + ")", *detect["plain"], images)]
    _, wall, cpu = timed(lambda: [fix_swaps(kp[p], rig, list(joints)) for p in range(len(kp))], repeats=3)
    rows.append(("left/right swap fixing (`fix_swaps`, on)", wall, cpu, images))
    _, w0, c0 = timed(lambda: _triangulate_tracks(cand, rig, tracks, tri_plain), repeats=3)
    for label, step in (("temporal outlier-view pass on the refused points (`temporal_refused_only`, "
                         "process: on)", tri_refused),
                        ("temporal outlier-view pass on every point (`TriangulationOptions.temporal`)",
                         tri_temporal),
                        ("suspect-view pass (`TriangulationOptions.suspect_views`, on)", tri_suspect)):
        _, w1, c1 = timed(lambda: _triangulate_tracks(cand, rig, tracks, step), repeats=3)
        rows.append((label, w1 - w0, c1 - c0, images))
    rows.append(("flip averaging (`BlazePoseOptions.flip`, off)", detect["flip"][0] - detect["plain"][0],
                 detect["flip"][1] - detect["plain"][1], images))
    rows.append(("the person detector on three tiles (`--tiles`, off)", detect["tiles"][0] - detect["plain"][0],
                 detect["tiles"][1] - detect["plain"][1], images))
    crops_detector = BlazePose(BlazePoseOptions(**detector_options))   # loaded here: loading is not the step
    (with_crops, counts), w0, c0 = timed(lambda: guided_pass(videos, rig, rec.points, tracks.assignment, cand,
                                                             frames, joint_names=joints, detector=crops_detector))
    _, w1, c1 = timed(lambda: reconstruct(with_crops))
    tried = sum(n for n, _ in counts.values())
    found = sum(a for _, a in counts.values())
    rows.append((f"3D-guided crops (`--guided-crops`, off): {tried} crops ({found} kept) with their video "
                 "decoding", w0, c0, images))
    rows.append(("3D-guided crops: the second reconstruction", w1, c1, images))
    rows.append(("3D-guided crops, both", w0 + w1, c0 + c1, images))
    return rows, (len(rig), cand.shape[1], len(kp))


def print_step_costs(rows, shape, label):
    cameras, frames, persons = shape
    print(f"\n## Step costs on {label}: {cameras} cameras x {frames} frames ({persons} people tracked), "
          "TFLite on one thread\n")
    print("ms per camera frame (a 3D step's cost per session frame / the cameras); frames/s of camera frames;")
    print("the ratio is the step's frames/s over bare TFLite's (how many frames the step handles while the")
    print("two models run on one)\n")
    print("| step | ms/frame wall | ms/frame CPU | frames/s | vs bare TFLite |")
    print("|---|---:|---:|---:|---:|")
    base_fps = rows[0][3] / rows[0][1]
    for label_, wall, cpu, images in rows:
        ms = 1000 * wall / images
        rate = images / wall if wall > 0 else float("inf")
        print(f"| {label_} | {ms:.2f} | {1000 * cpu / images:.2f} | {rate:.1f} | {rate / base_fps:.2f}x |")


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
    ap.add_argument("--steps-frames", type=int, default=100)
    ap.add_argument("--parts", nargs="+", choices=("detectors", "process", "steps"),
                    default=["detectors", "process", "steps"])
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        if DATA.is_dir():
            videos, calibration, label = DATA / "videos", DATA / "Calib.qca.txt", "pose2sim_multiperson"
            detector_options = {}
        else:
            n = max(n for part, n in (("detectors", args.frames), ("process", args.process_frames),
                                      ("steps", args.steps_frames)) if part in args.parts)
            print(f"({DATA} is absent: a synthetic session of {n} frames instead)")
            videos, calibration = synthetic_session(Path(tmp) / "synthetic", n)
            label = "a synthetic session (2 people, 4 cameras 1280 x 720)"
            detector_options = SYNTHETIC_DETECTOR_OPTIONS
        if "detectors" in args.parts:
            detector_speeds(args.frames, next(iter(session_videos(videos).values())))
        if "process" in args.parts:
            process_stages(videos, calibration, args.process_frames, detector_options)
        if "steps" in args.parts:
            print(f"\n(load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} before the step costs)")
            rows, shape = step_costs(videos, calibration, args.steps_frames, Path(tmp), detector_options)
            print_step_costs(rows, shape, label)
            print(f"\n(load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} after)")


def detector_speeds(n_frames, video):
    frames = frames_1080p(n_frames, video)
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


def process_stages(videos, calibration, n_frames, detector_options):
    from capture3d.process import ProcessOptions, process_session
    from capture3d.detect.batch import DetectOptions

    print(f"\n## capture3d process: 4 cameras x {n_frames} frames, one process per core\n")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        res = process_session(videos, calibration, tmp,
                              ProcessOptions(detect=DetectOptions(max_persons=3, max_frames=n_frames,
                                                                  detector_options=detector_options)),
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
    error = r["median_reprojection_error_px"]
    print(f"\nresult: {r['frames_with_person']:.0%} of frames with a person, {r['frames_with_all_17_joints']:.0%} "
          f"with all 17 joints, median reprojection error {'-' if error is None else f'{error:.2f}'} px")


if __name__ == "__main__":
    main()
