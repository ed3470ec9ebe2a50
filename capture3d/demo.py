"""``capture3d demo``: the whole path on a synthetic rig, every stage for real, each measured
against the ground truth the synthetic rig knows.

1. **record** (:func:`capture3d.capture.record`, as ``capture3d record`` does) from the
   synthetic cameras of ``rig.toml`` (``--cameras`` of them in a ring of 4.5 m radius, 1280 x 720
   at 30 fps, one hardware trigger): a 1.05 x 0.75 m ChArUco board lying on the floor, then
   moving through the volume (``board_session/``); then ``--people`` people walking across the
   volume, their paths crossing (``people_session/``: videos, frames.csv, sync_report.json);
2. **calibrate** intrinsics and extrinsics from the board session, world frame from the floor
   board (``calibration.toml``);
3. **process** (:func:`capture3d.process.process_session`, as ``capture3d process`` does) the
   people session: BlazePose in every view (``pose2d/``), people matched across views and
   tracked (BlazePose looks for people in square tiles of each view, see ``people_options``),
   triangulated, then the whole-sequence skeleton fit (``points3d.npz``), exports per
   person (``skeleton*.bvh/.csv/.trc/.c3d``); the same without filters in ``triangulated/``;
4. a picture of everyone (``render.png``), a reprojection overlay video of the first camera
   (``overlay_<camera>.mp4``) and plots (``plots/``). The ground truth is in ``ground_truth/``.

Meanwhile a second process compiles the numba kernels of step 3 into numba's cache
(:func:`warm_up_kernels`, on the true people's projections), so that on a fresh checkout their
compilation (about 40 s here) uses the core that recording, calibration and detection leave idle;
step 3's reconstruction waits for it (``process_session(after_detection=...)``).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from . import io
from .calibrate.boards import Board
from .skeleton import COCO17, FEET

# the stages are imported where they run: the synthetic cameras import DEMO_BOARD from here

log = logging.getLogger("capture3d.demo")

DEMO_BOARD = Board(type="charuco", squares_x=7, squares_y=5, square_length_m=0.12, marker_length_m=0.09,
                   dictionary="DICT_4X4_50")
#: The board the demo calibrates with (``board.toml`` beside ``rig.toml``): 1.05 x 0.75 m, for
#: cameras 4.5 m away (DEMO_BOARD's 0.84 x 0.60 m there: worst camera centre 56 mm off, focal 1.1 %;
#: this one: 15 mm, 0.4 %)
CALIBRATION_BOARD = Board(type="charuco", squares_x=7, squares_y=5, square_length_m=0.15, marker_length_m=0.11,
                          dictionary="DICT_4X4_50")
#: Distance of the ring of cameras from the volume's centre, meters: people at most 594 px
#: (median 420) tall in 720p images; at 3.5 m up to 710 px (median 515), where the 2D error
#: of BlazePose was 9.6 px against 6.3 px here
RADIUS_M = 4.5
SIZE, FPS = (1280, 720), 30.0


def write_demo_rig(path, *, n_cameras: int, n_people: int, seed: int, radius_m: float = RADIUS_M,
                   board: Board = CALIBRATION_BOARD) -> Path:
    """The demo's rig file: ``n_cameras`` synthetic cameras on one hardware trigger (the first
    is the primary) ``radius_m`` from the volume's centre, the scene's ``n_people`` and
    ``seed``, and the ``board`` they show (saved as ``board.toml`` beside it); ``capture3d
    record`` takes it too."""
    path = Path(path)
    board.save(path.parent / "board.toml")
    lines = ['name = "demo"', 'backend = "synthetic"', f"fps = {FPS}", f"size = [{SIZE[0]}, {SIZE[1]}]", "",
             "[synthetic]", 'scene = "board"', "frames = 90", f"cameras = {n_cameras}", f"people = {n_people}",
             f"seed = {seed}", f"radius_m = {radius_m}", 'board = "board.toml"']
    for c in range(n_cameras):
        lines += ["", "[[cameras]]", f'name = "cam{c + 1:02d}"', f"device = {c}",
                  f'trigger = "{"primary" if c == 0 else "secondary"}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def warm_up_kernels(n_cameras: int, n_people: int, seed: int, radius_m: float) -> None:
    """Compile (into numba's cache) the kernels that process runs, on 20 frames of the demo's
    true people projected into its true cameras: run in a second process while the main one
    records and calibrates, which leave the other core mostly idle. On a fresh checkout the
    first process otherwise compiles them in its own time (about 40 s on this machine)."""
    from . import synthetic
    from .process import ProcessOptions, triangulation_for_images, reconstruct_with_view_offsets
    from .reconstruct import FilterOptions

    logging.getLogger("capture3d").setLevel(logging.ERROR)
    rig = synthetic.make_rig(n_cameras, radius_m=radius_m, height_m=2.2, size=SIZE, seed=seed)
    people = synthetic.make_crowd(max(2, n_people), 20, fps=FPS, seed=seed, feet=True,
                                  area_m=synthetic.capture_area(rig, min_views=max(2, n_cameras // 2))).points
    uv = rig.project(people)                                          # (C, P, F, J, 2)
    cand = np.concatenate([uv, np.full(uv.shape[:-1] + (1,), 0.9)], -1).transpose(0, 2, 1, 3, 4)
    cand = np.ascontiguousarray(cand + np.random.default_rng(seed).normal(0, 2.0, cand.shape) * [1, 1, 0])
    options = ProcessOptions(filter=FilterOptions(smoother="skeleton"))
    reconstruct_with_view_offsets(cand, rig, fps=FPS, joint_names=COCO17 + FEET, options=options,
                                  triangulation=triangulation_for_images({c.name: c.size for c in rig}))


def _start_warm_up(*args):
    """:func:`warm_up_kernels` in a spawned process (None when one cannot be started)."""
    import multiprocessing as mp

    try:
        proc = mp.get_context("spawn").Process(target=warm_up_kernels, args=args, daemon=True)
        proc.start()
        return proc
    except (OSError, RuntimeError) as exc:     # e.g. no more processes: process compiles them itself
        log.info("kernel warm-up not started: %s", exc)
        return None


def _record(rig_path, scene: str, n_frames: int, session: Path, seed: int):
    """One recording of the synthetic rig showing ``scene`` for ``n_frames``: ``(result, scene)``."""
    from .capture import RecordOptions, RigConfig, record

    rig = RigConfig.load(rig_path)
    rig.synthetic.update(scene=scene, frames=n_frames, seed=seed)
    result = record(rig, session, RecordOptions(max_frames=n_frames))
    return result, rig.scene


def _recording_line(result) -> str:
    cams = result.report["cameras"]
    frames = [c["frames"] for c in cams.values()]
    drops = sum((c["drops"] or 0) + c["queue_drops"] for c in cams.values())
    return f"{min(frames)}-{max(frames)} frames per camera, {drops} dropped, {result.report['duration_s']:.1f} s"


def run_demo(out, *, n_cameras: int = 4, n_people: int = 2, n_frames: int = 150, board_frames: int = 90,
             seed: int = 0, radius_m: float = RADIUS_M, say=print) -> dict:
    """Run the demo into folder ``out`` (see the module docstring); prints each stage and a table,
    returns the measured figures (``seconds`` per stage and in all)."""
    from .calibrate.extrinsics import calibrate_extrinsics
    from .calibrate.sessions import intrinsics_from_session, session_board_observations
    from .demo_measure import calibration_errors
    from .detect.batch import DetectOptions
    from .process import ProcessOptions, process_session, reconstruct_session
    from .reconstruct import FilterOptions

    if n_cameras < 2 or n_people < 1 or n_frames < 10 or board_frames < 30:
        raise ValueError(f"the demo needs 2+ cameras, 1+ people, 10+ frames and 30+ board frames; got "
                         f"{n_cameras}, {n_people}, {n_frames} and {board_frames}")
    t_start, cpu_start = time.perf_counter(), time.process_time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    m, seconds = {}, {}
    rig_path = write_demo_rig(out / "rig.toml", n_cameras=n_cameras, n_people=n_people, seed=seed,
                              radius_m=radius_m)
    warm_up = _start_warm_up(n_cameras, n_people, seed, radius_m)
    say(f"[1/5] recording {n_cameras} synthetic cameras {SIZE[0]}x{SIZE[1]} at {FPS:g} fps ({rig_path})")
    t = time.perf_counter()
    board_rec, board_scene = _record(rig_path, "board", board_frames, out / "board_session", seed)
    say(f"  board session: {_recording_line(board_rec)}")
    people_rec, scene = _record(rig_path, "person", n_frames, out / "people_session", seed)
    say(f"  people session ({n_people} walking): {_recording_line(people_rec)}")
    seconds["recording"] = time.perf_counter() - t
    m["recorded_frames"] = min(c["frames"] for c in people_rec.report["cameras"].values())
    m["dropped_frames"] = sum((c["drops"] or 0) + c["queue_drops"] for r in (board_rec, people_rec)
                              for c in r.report["cameras"].values())
    truth_rig, truth_points = scene.rig, scene.people_points          # (P, T, J, 3)
    truth_rig.save(out / "ground_truth" / "calibration.toml")
    io.save_points3d(out / "ground_truth" / "points3d.npz", truth_points, person_id=np.arange(len(truth_points)),
                     joint_names=COCO17 + FEET, time_s=np.arange(truth_points.shape[1]) / FPS)

    say("[2/5] calibrating from the board session")
    t = time.perf_counter()
    obs = session_board_observations(out / "board_session", CALIBRATION_BOARD)
    intrinsics = intrinsics_from_session(obs, CALIBRATION_BOARD)
    ext = calibrate_extrinsics(obs, intrinsics, CALIBRATION_BOARD)
    if not ext.ok:
        raise RuntimeError(ext.message)
    ext.rig.save(out / "calibration.toml")
    seconds["calibration"] = time.perf_counter() - t
    m.update(calibration_errors(ext.rig, truth_rig), calibration_rms_px=ext.rms_px)
    say(f"  RMS {ext.rms_px:.3f} px over {ext.n_observations} corners; world: {ext.world}")

    say("[3/5] process: BlazePose in every view, people across views, 3D, skeleton fit, exports")
    # several people in a 16:9 view: BlazePose looks for the lost ones every 2nd frame (not 10th),
    # in square tiles of the image (the whole letterboxed image merges two people near each other
    # into one detection between them), and takes two crops for one person only when their
    # centres nearly meet (the 1.5-body-high crops of two people side by side overlap by more than
    # the IoU 0.5 that took the second for the first)
    people_options = {"redetect_every": 2, "tiles": True, "same_person_share": 0.12}
    options = ProcessOptions(detect=DetectOptions(max_persons=n_people, detector_options=people_options),
                             filter=FilterOptions(smoother="skeleton"))

    def wait_for_kernels():
        t = time.perf_counter()
        if warm_up is not None:
            warm_up.join()
        seconds["waiting_for_kernels"] = time.perf_counter() - t

    res = process_session(out / "people_session", out / "calibration.toml", out, options, echo=lambda s: say("  " + s),
                          after_detection=wait_for_kernels)
    for k, v in res.report["seconds"].items():
        seconds[k] = v
    t = time.perf_counter()
    bare = ProcessOptions(filter=FilterOptions(despike_m=None, max_gap=0, smoother="none"), exports=())
    raw = reconstruct_session(out / "people_session", out / "calibration.toml", out / "triangulated", bare,
                              pose2d={n: out / "pose2d" / f"{n}.npz" for n in truth_rig.names}, echo=lambda s: None)
    seconds["triangulated_only"] = time.perf_counter() - t

    say("[4/5] pictures")
    t = time.perf_counter()
    written = _pictures(out, res.points3d, say)
    seconds["pictures"] = time.perf_counter() - t

    say("[5/5] measuring against the ground truth")
    m.update(measure_people(out, truth_rig, truth_points))
    m["seconds"] = seconds
    m["seconds_total"] = time.perf_counter() - t_start
    m["cpu_seconds"] = time.process_time() - cpu_start
    written = [out / "rig.toml", out / "board_session", out / "people_session", out / "calibration.toml",
               out / "pose2d", res.points3d, out / "triangulated" / "points3d.npz",
               *sorted(out.glob("skeleton*")), out / "report.json", *written, out / "ground_truth"]
    _print_table(m, written, say)
    return m


def measure_people(out, truth_rig, truth_points) -> dict:
    """The figures of detection, association and 3D of a demo folder ``out`` against the true
    rig and people ``truth_points (P, T, J, 3)`` (COCO-17 + FEET, meters)."""
    from .demo_measure import detection_errors, matched_joint_errors
    from .reconstruct.evaluation import score_people
    from .sources import session_frame_map

    out = Path(out)
    T = truth_points.shape[1]
    truth_frames = {c: ids % T for c, ids in session_frame_map(out / "people_session").items()}
    det = detection_errors({n: out / "pose2d" / f"{n}.npz" for n in truth_rig.names}, truth_rig, truth_points,
                           truth_frames)
    m = {"detection_median_px": det["median_px"], "detection_groups_px": det["groups"],
         "views_found": det["views_found"]}
    fitted, found_ids = _people_points(out / "points3d.npz")
    data = io.load_points3d(out / "points3d.npz")
    names = data["joint_names"]
    truth_now = truth_points[:, data["frame_index"] % T]
    common = [n for n in COCO17 + FEET if n in names]
    score = score_people(fitted[..., [names.index(n) for n in common], :],
                         truth_now[..., [(COCO17 + FEET).index(n) for n in common], :], common)
    m.update(persons_found=len(found_ids), persons_true=len(truth_points), found=score.found,
             id_switches=score.id_switches, false_frames=score.false_frames, pcp=score.pcp)
    raw_points, _ = _people_points(out / "triangulated" / "points3d.npz")
    m["raw"] = matched_joint_errors(raw_points, truth_now, names)
    m["fitted"] = matched_joint_errors(fitted, truth_now, names)
    return m


def _people_points(path) -> tuple[np.ndarray, list]:
    """``(P, F, J, 3)`` points and person ids of a points3d file (one person: P = 1)."""
    data = io.load_points3d(path)
    pts = np.asarray(data["points"], float)
    if pts.ndim == 3:
        return pts[None], [0]
    return pts, [int(i) for i in data["person_id"]]


def _pictures(out: Path, points3d: Path, say) -> list[Path]:
    from .rig import Rig
    from .viz.overlay import overlay_video
    from .viz.plots import plot_reprojection_error, plot_trajectories

    data = io.load_points3d(points3d)
    rig = Rig.load(out / "calibration.toml")
    pts, ids = _people_points(points3d)
    names = data["joint_names"]
    first = rig[0]
    pose = io.load_pose2d(out / "pose2d" / f"{first.name}.npz")
    videos = sorted((out / "people_session" / "videos").glob(f"{first.name}.*"))
    written = [overlay_video(out / f"overlay_{first.name}.mp4", first, pts, names, pose["keypoints"],
                             person_ids=ids, video=videos[0] if videos else None, fps=FPS,
                             frame_index=np.arange(pts.shape[1]))]
    written.append(plot_trajectories(pts, names, data["time_s"], out / "plots" / "trajectories.png", person_ids=ids))
    written.append(plot_reprojection_error(data["reprojection_error_px"], names, data["time_s"],
                                           out / "plots" / "reprojection_error.png", person_ids=ids,
                                           n_views=data["n_views"]))
    try:
        from .viz.render import render

        written.append(render(pts, names, out / "render.png", person_ids=ids, rig=rig, trail_frames=int(FPS)))
    except (ImportError, RuntimeError) as exc:  # no Open3D / no EGL: everything else stands
        say(f"  no picture: Open3D could not render here ({exc})")
    return written


def _print_table(m, written, say):
    s = m["seconds"]
    g = m["detection_groups_px"]
    raw, fit = m["raw"], m["fitted"]

    def groups(r):
        return ", ".join(f"{k} {v:.0f}" for k, v in r["groups"].items())
    rows = [
        ("recording: frames per camera, dropped", f"{m['recorded_frames']}, {m['dropped_frames']}",
         s["recording"]),
        ("calibration RMS reprojection error", f"{m['calibration_rms_px']:.3f} px", s["calibration"]),
        ("  focal / centre / rotation error (worst camera)",
         f"{m['focal_error_pct_max']:.2f} % / {m['center_error_mm_max']:.1f} mm / {m['rotation_error_deg_max']:.2f} deg",
         None),
        ("2D detection error, median (BlazePose)", f"{m['detection_median_px']:.1f} px", s.get("detect")),
        ("  head / arms / legs / feet", " / ".join(f"{g[k]:.1f}" for k in g) + " px", None),
        ("  person views found", f"{m['views_found']:.1%}", None),
        ("association: people found (true)", f"{m['persons_found']} ({m['persons_true']})", s.get("people")),
        ("  person-frames found, identity switches", f"{m['found']:.1%}, {m['id_switches']}", None),
        ("3D joint error, triangulated (median)", f"{raw['median_mm']:.0f} mm", s.get("triangulate")),
        ("  " + groups(raw).replace(",", " /") + " mm", "", None),
        ("3D joint error, after the skeleton fit", f"{fit['median_mm']:.0f} mm", s.get("filter")),
        ("  " + groups(fit).replace(",", " /") + " mm", "", None),
        ("  joints reconstructed", f"{fit['reconstructed']:.1%}", None),
        ("exports (CSV, TRC, C3D, BVH per person)", "", s.get("export")),
    ]
    width = max(len(r[0]) for r in rows)
    say("")
    say(f"{'measured against the ground truth'.ljust(width)}   {'value'.ljust(30)} time")
    say("-" * (width + 42))
    for k, v, sec in rows:
        say(f"{k.ljust(width)}   {v.ljust(30)} {'' if sec is None else f'{sec:.1f} s'}".rstrip())
    say("")
    say("files written:")
    for p in written:
        say(f"  {p}")
    say(f"done in {m['seconds_total']:.0f} s ({m['cpu_seconds']:.0f} s CPU in this process; detection runs in "
        f"worker processes; {s['waiting_for_kernels']:.0f} s waiting for the numba kernels compiled beside "
        "recording and detection)")
