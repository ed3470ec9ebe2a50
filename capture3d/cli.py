"""The ``capture3d`` command line (CONVENTIONS.md's contract): every command has ``--help`` with
examples, shows progress on long work, exits 0 on success and 1 with a one-line reason on stderr
for bad input."""
from __future__ import annotations

import argparse
import errno
import logging
import sys
from pathlib import Path

import numpy as np

from .errors import Capture3DError


def _progress(total, desc):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", leave=False, disable=None)


# -- commands ----------------------------------------------------------------------------------
def cmd_demo(args):
    from .demo import run_demo

    run_demo(args.out, n_cameras=args.cameras, n_people=args.people, n_frames=args.frames, seed=args.seed)


def cmd_board(args):
    import cv2

    from .calibrate.boards import Board, write_printable

    board = Board(type=args.type, squares_x=args.squares_x, squares_y=args.squares_y,
                  square_length_m=args.square_mm / 1000,
                  marker_length_m=(args.marker_mm or args.square_mm * 0.75) / 1000,
                  dictionary=args.dictionary, legacy_pattern=args.legacy, inverted=args.inverted,
                  see_through=args.see_through)
    paths = write_printable(board, args.output or f"calibration/boards/{args.name}.toml", dpi=args.dpi)
    h, w = cv2.imread(str(paths["png"]), cv2.IMREAD_GRAYSCALE).shape
    print(f"wrote {paths['toml']}, {paths['pdf']} (true scale) and {paths['png']} ({w}x{h} px at {args.dpi} dpi = "
          f"{w / args.dpi * 25.4:.0f} x {h / args.dpi * 25.4:.0f} mm)")


def cmd_calibrate_intrinsics(args):
    from .calibrate.boards import Board
    from .calibrate.intrinsics import IntrinsicsOptions
    from .calibrate.sessions import calibrate_intrinsics_many, calibration_sources, write_intrinsics

    board = Board.load(args.board)
    opts = IntrinsicsOptions(model="fisheye" if args.fisheye else "pinhole", rational=args.rational)
    batch = calibrate_intrinsics_many(calibration_sources(args.inputs), board, opts, every=args.every,
                                      cache_dir=args.cache, make_bar=_board_bar)
    for line in batch.notes:
        print(line)
    if not batch.ok:
        raise Capture3DError("intrinsics failed, nothing written: " + " | ".join(batch.failures))
    paths = write_intrinsics(batch, args.output)
    print(f"wrote {paths['calibration']} and {paths['coverage']} (where the corners fell on each sensor)")


def _board_bar(name):
    return _progress(None, f"detecting {name}")


def _session_board_observations(session, board, every: int, allow_unequal: bool) -> dict:
    from .calibrate.sessions import session_board_observations

    notes = []
    observations = session_board_observations(session, board, every=every, allow_unequal=allow_unequal,
                                              make_bar=_board_bar, notes=notes)
    for line in notes:
        print(line)
    return observations


def _print_quality(q):
    per = ", ".join(f"{k} {v:.2f}" for k, v in q.per_camera_rms_px.items())
    print(f"on {len(q.residuals_px)} corners of {len(q.board_poses)} frames: RMS {q.rms_px:.3f} px ({per})")
    print(f"metric check: neighbouring corners {q.metric_mean_mm:+.2f} +- {q.metric_std_mm:.2f} mm off the "
          f"{q.square_mm:.1f} mm square ({q.n_metric_pairs} pairs)")


def cmd_calibrate_extrinsics(args):
    from .calibrate.boards import Board
    from .calibrate.extrinsics import ExtrinsicsOptions, calibrate_extrinsics
    from .calibrate.report import evaluate, write_report
    from .calibrate.sessions import intrinsics_from_session, report_folder
    from .rig import Rig
    from .sync import find_sync, synced_board_observations

    board = Board.load(args.board)
    sync = find_sync(args.session, args.sync)   # cameras without a shared clock: SESSION/sync.toml
    if sync is not None:
        print(f"clocks from {args.sync or Path(args.session) / 'sync.toml'} ({sync.method}): board corners "
              f"interpolated to {sync.reference}'s frames")
        observations = synced_board_observations(args.session, board, sync, every=args.every, make_bar=_board_bar)
    else:
        observations = _session_board_observations(args.session, board, args.every, args.allow_unequal)
    intr = Rig.load(args.intrinsics) if args.intrinsics else intrinsics_from_session(observations, board)
    res = calibrate_extrinsics(observations, intr, board,
                               options=ExtrinsicsOptions(floor_frame=args.floor_frame, use_floor=not args.no_floor,
                                                         refine_intrinsics=args.refine_intrinsics))
    if not res.ok:
        raise Capture3DError(f"extrinsics failed, nothing written: {res.message}")
    res.rig.save(args.output)
    per = ", ".join(f"{k} {v:.2f}" for k, v in res.per_camera_rms_px.items())
    print(f"RMS {res.rms_px:.3f} px ({per}); {res.n_observations} corners; world: {res.world}")
    unc = ", ".join(f"{k} {v['center_mm']:.1f} mm / {v['rotation_deg']:.3f} deg"
                    for k, v in res.uncertainty.items() if k != res.reference_camera)
    print(f"pose uncertainty (1 sigma, relative to {res.reference_camera}): {unc}")
    print(f"wrote {args.output}")
    q = evaluate(res.rig, observations, board)
    _print_quality(q)
    paths = write_report(q, res.rig, report_folder(args.output), board=board, title=Path(args.output).name)
    print(f"report: {paths['png']}")


def cmd_calibrate_report(args):
    from .calibrate.boards import Board
    from .calibrate.report import evaluate, write_report
    from .calibrate.sessions import report_folder
    from .camera.image_size import match_rig_sizes
    from .rig import Rig

    rig = Rig.load(args.calibration)
    board = Board.load(args.board)
    observations = _session_board_observations(args.session, board, args.every, args.allow_unequal)
    unknown = [n for n in observations if n not in rig.names]
    if len(unknown) == len(observations):
        raise Capture3DError(f"{args.calibration}: none of the session's cameras {sorted(observations)} is in "
                             f"the calibration ({rig.names})")
    rig, notes = match_rig_sizes(rig, {n: o.image_size for n, o in observations.items()})
    for note in notes:
        print(note)
    q = evaluate(rig, observations, board)
    _print_quality(q)
    paths = write_report(q, rig, args.output or report_folder(args.calibration), board=board,
                         title=Path(args.calibration).name)
    print(f"wrote {paths['png']} and {paths['json']}")


def cmd_calibrate_convert(args):
    from .formats import read_calibration, write_calibration

    rig = read_calibration(args.input, format=args.input_format, units=args.units)
    out = write_calibration(rig, args.output, format=args.format)
    print(f"{len(rig)} cameras ({', '.join(rig.names)}) -> {out}")


def _check_people_args(args):
    if args.single and args.persons:
        raise ValueError(f"--single follows one person and --persons {args.persons} keeps {args.persons}: give one")


def cmd_triangulate(args):
    from .process import MAX_ERROR_SHARE, MAX_ERROR_TWO_VIEWS_SHARE, ProcessOptions, triangulate_folder
    from .reconstruct import PeopleOptions

    _check_people_args(args)

    # views judged as process judges them (thresholds scaled to the images, the temporal pass on the
    # refused points) unless --max-error; the two-view threshold follows it
    changes = {"min_score": args.min_score, "robust": not args.no_robust}
    if args.max_error is not None:
        changes.update(max_error_px=args.max_error,
                       max_error_two_views_px=args.max_error * MAX_ERROR_TWO_VIEWS_SHARE / MAX_ERROR_SHARE)
    opts = ProcessOptions(people=PeopleOptions(max_persons=args.persons), single=args.single,
                          filter=_filter_options(args), sync=args.sync, view_offsets=args.view_offsets,
                          self_calibration=_self_calibration(args))
    path, rec = triangulate_folder(args.pose2d, args.calibration, args.output, fps=args.fps, options=opts,
                                   triangulation_changes=changes, echo=print)
    raw = rec.raw
    if raw.ok.any():
        print(f"{int(raw.ok.sum())} joints reconstructed, median reprojection error "
              f"{float(np.median(raw.reprojection_error_px[raw.ok])):.2f} px")
    if args.smoother != "none" or args.despike is not None:
        for pid, post in zip(rec.person_id, rec.post):
            print(f"p{pid}: {args.smoother} smoothing: {post.summary()}")
    print(f"wrote {path}" if path else "no person found: nothing written")


def _self_calibration(args):
    from .reconstruct.self_calibration import SelfCalibrationOptions

    if not (args.self_calibrate or args.self_calibrate_focal):
        return None
    return SelfCalibrationOptions(refine_focal=args.self_calibrate_focal)


def _add_self_calibration_arg(p):
    p.add_argument("--self-calibrate", action="store_true",
                   help="refine each camera's rotation on the people before triangulating again; the refined "
                        "calibration is written beside the results (calibration_refined.toml), the given one is untouched")
    p.add_argument("--self-calibrate-focal", action="store_true",
                   help="as --self-calibrate, and each camera's focal length too (intrinsics a percent or two off)")


def _add_people_args(p):
    g = p.add_argument_group("people")
    g.add_argument("--persons", type=_positive_int, metavar="N",
                   help="keep the N people seen in most frames (default: everyone)")
    g.add_argument("--single", action="store_true", help="follow one person only (points3d.npz of one person)")
    p.add_argument("--sync", help="camera clocks (capture3d sync's sync.toml; default SESSION/sync.toml when there)")


def _filter_options(args):
    from .reconstruct import FilterOptions

    return FilterOptions(despike_m=args.despike or None, max_gap=args.max_gap, smoother=args.smoother,
                         cutoff_hz=args.cutoff_hz, kalman_jerk_m_s3=args.kalman_jerk)


def _add_filter_args(p, *, smoother: str, despike: float | None):
    from .reconstruct.postprocess import SMOOTHERS

    g = p.add_argument_group("filtering")
    g.add_argument("--smoother", choices=SMOOTHERS, default=smoother,
                   help=f"temporal smoother (default {smoother}); skeleton = whole-sequence fit with steady bones")
    g.add_argument("--despike", type=_non_negative_float, default=despike, metavar="M",
                   help="remove points farther than M meters from their 7-frame median; 0: off"
                        + (f" (default {despike})" if despike else " (default off)"))
    g.add_argument("--max-gap", type=_non_negative_int, default=15,
                   help="fill gaps up to this many frames; 0: none (default 15)")
    g.add_argument("--cutoff-hz", type=_positive_float, default=6.0, help="Butterworth cut-off, Hz (default 6)")
    g.add_argument("--kalman-jerk", type=_positive_float, default=200.0, help="Kalman/RTS jerk noise, m/s^3 (default 200)")


def cmd_export(args):
    from . import io
    from .export import export_points

    res = export_points(args.format, args.output, io.load_points3d(args.points3d))
    if not res:  # the data cannot go into this format: say which input, and why
        reasons = "; ".join(reason if pid is None else f"p{pid}: {reason}" for pid, reason in res.skipped)
        raise ValueError(f"{args.points3d}: {reasons or 'nothing to write'}")
    for path in res.written:
        print(f"wrote {path}")
    for pid, reason in res.skipped:
        print(f"skipped person p{pid}: {reason}")


def cmd_view(args):
    from . import io
    from .rig import Rig

    data = io.load_points3d(args.points3d)
    rig = Rig.load(args.calibration) if args.calibration else None
    fps = io.frame_rate(data["time_s"])
    trail = int(args.trails * fps) if args.trails else 0
    if args.render is None:
        from .viz.viewer import view

        view(data["points"], data["joint_names"], person_ids=data["person_id"], rig=rig, fps=fps,
             trail_frames=trail or None)
        return
    from .viz.render import render

    n_frames = len(data["frame_index"])
    bar = _progress(n_frames, "rendering") if Path(args.render).suffix.lower() != ".png" else None
    out = render(data["points"], data["joint_names"], args.render, person_ids=data["person_id"], rig=rig, fps=fps,
                 frame=args.frame, trail_frames=trail, progress=bar)
    if bar is not None:
        bar.close()
    print(f"wrote {out}")


def cmd_overlay(args):
    from .viz.overlay import overlay_session

    for out in overlay_session(args.points3d, args.calibration, args.output, pose2d=args.pose2d, videos=args.videos,
                               cameras=args.camera, make_bar=_bar_factory(), echo=print, sync=args.sync):
        print(f"wrote {out}")


def cmd_plot(args):
    from . import io
    from .viz.plots import plot_reprojection_error, plot_trajectories

    data = io.load_points3d(args.points3d)
    out = Path(args.output)
    ids = data["person_id"]
    for path in (plot_trajectories(data["points"], data["joint_names"], data["time_s"], out / "trajectories.png",
                                   person_ids=ids),
                 plot_reprojection_error(data["reprojection_error_px"], data["joint_names"], data["time_s"],
                                         out / "reprojection_error.png", person_ids=ids, n_views=data["n_views"])):
        print(f"wrote {path}")


def _detect_options(args, max_persons, *, flip=True):
    from .detect.batch import DetectOptions

    return DetectOptions(detector=args.detector, every=args.every, max_frames=args.max_frames,
                         workers=args.workers, max_persons=max_persons,
                         detector_options={**({"flip": True} if flip and args.flip else {}),
                                           **({"smooth_roi": False} if args.no_roi_smoothing else {}),
                                           **({"roi_grid": args.roi_grid} if args.roi_grid is not None else {}),
                                           **({"tiles": True} if args.tiles else {})})


def _bar_factory():
    """``make_bar(label, total)`` for the stages that report per camera."""
    return lambda label, total: _progress(total or None, label)


def cmd_detect(args):
    from .detect.batch import detect_session
    from .sources import session_videos

    videos = session_videos(args.session)
    if args.camera:
        unknown = [c for c in args.camera if c not in videos]
        if unknown:
            raise ValueError(f"{args.session}: no video for cameras {unknown} (found {sorted(videos)})")
        videos = {c: videos[c] for c in args.camera}
    done = detect_session(videos, args.output, _detect_options(args, _slots(args.persons)),
                          make_bar=_bar_factory(), echo=print)
    for cam, path in done.items():
        print(f"{cam}: {path}")


def _slots(persons: int | None) -> int:
    """Person slots per view for ``--persons N`` (keep the N people seen most): N + 1, at least
    :data:`DETECT_SLOTS`, room beside the people kept for the others."""
    return max(DETECT_SLOTS, persons + 1) if persons else DETECT_SLOTS


def cmd_process(args):
    from .process import ProcessOptions, process_session
    from .reconstruct import PeopleOptions

    _check_people_args(args)

    slots = _slots(args.persons)
    # --flip: a second detection with it, judged per person-view (ProcessOptions.flip), not in place of the first
    opts = ProcessOptions(detect=_detect_options(args, 1 if args.single else slots, flip=False),
                          filter=_filter_options(args), flip=args.flip,
                          exports=tuple(args.export or ("csv", "trc", "c3d", "bvh")), fps=args.fps,
                          people=PeopleOptions(max_persons=args.persons), single=args.single, sync=args.sync,
                          guided_crops=args.guided_crops, view_offsets=not args.no_view_offsets,
                          self_calibration=_self_calibration(args))
    process_session(args.session, args.calibration, args.output, opts, make_bar=_bar_factory())


def cmd_sync(args):
    from .sync import SyncOptions, estimate_sync, plot_sync, write_sync

    opts = SyncOptions(max_shift_s=args.max_shift, reference=args.reference, whole_frames=args.whole_frames)
    print(f"synchronising {args.session} ({args.method})", flush=True)
    res = estimate_sync(args.session, calibration=args.calibration, method=args.method, options=opts,
                        pose2d=args.pose2d, board=args.board, make_bar=_bar_factory())
    if not res.ok:
        raise Capture3DError(f"{args.session}: not synchronised, nothing written: {res.message or 'no camera'}")
    estimated = res.details.get("estimated_frames", {})
    for name, c in res.cameras.items():
        rounded = f", rounded from {estimated[name]:+.2f}" if name in estimated else ""
        print(f"{name}: start {c.start_s * 1000:+.2f} ms ({c.start_s * c.fps:+.2f} frames{rounded}), {c.fps:.4f} fps, "
              f"confidence {c.confidence:.2f}")
    out = Path(args.output or Path(args.session) / "sync.toml")
    write_sync(res, out)
    picture = plot_sync(res, out.with_suffix(".png"))
    print(f"wrote {out} and {picture} ({res.method}, reference {res.reference})")


def cmd_record(args):
    from .capture import RecordOptions, RigConfig, record

    if args.live_video and not args.live_3d:
        raise ValueError("--live-video records what --live-3d shows: give --live-3d too")
    rig = RigConfig.load(args.rig)
    if (args.scene or args.people) and not any(c.backend == "synthetic" for c in rig.cameras):
        raise ValueError(f"{args.rig}: --scene and --people are for synthetic rigs; this one has "
                         f"{sorted({c.backend for c in rig.cameras})} cameras")
    if args.scene:
        rig.synthetic["scene"] = args.scene
    if args.people and "person" not in rig.synthetic.get("scene", "board"):
        raise ValueError(f"--people {args.people}: the scene is {rig.synthetic.get('scene', 'board')!r}, with "
                         "nobody in it (--scene person or board+person)")
    if args.people:
        rig.synthetic["people"] = args.people
    opts = RecordOptions(duration_s=args.duration, max_frames=args.max_frames)
    print(f"recording {len(rig.cameras)} cameras of {rig.name} into {args.output}"
          + (f" for {args.duration:g} s" if args.duration else "; Ctrl-C stops"), flush=True)

    def progress(seconds, written):
        print(f"\r{seconds:6.1f} s  " + "  ".join(f"{n}: {k}" for n, k in written.items()), end="", flush=True)
    res = record(rig, args.output, opts, progress=progress, live_view=args.preview, live_calibration=args.live_3d,
                 live_video=args.live_video)
    print()
    if "live" in res.report and "mosaic_only" not in res.report["live"]:
        print(_live_line(res.report["live"]) + f"; picture {Path(res.session) / 'live.png'}")
    for name, cam in res.report["cameras"].items():
        drops = "drops not countable (no device ids)" if cam["drops"] is None else f"{cam['drops']} dropped"
        extra = " STALLED" if cam["stalled"] else ""
        print(f"{name}: {cam['frames']} frames, {drops}, {cam['queue_drops']} lost to a full queue{extra}")
    skew = res.report.get("max_skew_ms")
    print(f"ended: {res.stopped_by}; frames in all cameras: {res.report.get('frames_in_all_cameras')}"
          + (f"; largest skew between cameras {skew:.2f} ms" if skew is not None else ""))
    print(f"session: {res.session} (sync_report.json, frames.csv, videos/)")
    failed = [n for n, c in res.report["cameras"].items() if c["stalled"] or c["error"]]
    if failed:
        raise Capture3DError(f"recording ended early because of {', '.join(failed)}: {res.stopped_by}; "
                             "what was recorded is kept")


def _live_line(live: dict) -> str:
    if not live.get("updates"):
        return "live 3D: no update" + (f" ({live['failed']})" if live.get("failed") else "")
    return (f"live 3D: {live['updates']} updates, {live['updates_per_s']:.1f} per second, latency median "
            f"{live['latency_ms_median']:.0f} ms, 95th percentile {live['latency_ms_p95']:.0f} ms")


def cmd_live(args):
    from .live import LiveOptions, replay

    opts = LiveOptions(max_persons=args.persons, target_rate_hz=args.rate)
    print(f"live 3D from {args.session} at its own frame rate"
          + (f" for {args.seconds:g} s" if args.seconds else ""), flush=True)

    def progress(seconds, stats):
        print(f"\r{seconds:6.1f} s  {len(stats.latency_ms)} updates", end="", flush=True)
    res = replay(args.session, args.calibration, opts, out_png=args.picture, out_video=args.video,
                 window=None if args.window else False, seconds=args.seconds, progress=progress, speed=args.speed)
    print()
    print(_live_line(res.stats.summary()))
    print(f"frames played {sum(res.played.values())}, skipped by the players {sum(res.skipped.values())}; "
          f"picture {res.picture}" + (f", video {res.video}" if res.video else ""))


def cmd_rig_calibration(args):
    from .capture import RigConfig
    from .live import rig_calibration

    cal = rig_calibration(RigConfig.load(args.rig))
    print(f"wrote {cal.save(args.output)} ({len(cal)} cameras: {', '.join(cal.names)})")


def cmd_rig(args):
    from .capture import RigConfig, backend_class, check_rig

    rig = RigConfig.load(args.rig)
    for backend in sorted({c.backend for c in rig.cameras}):
        try:
            found = backend_class(backend).enumerate()
            print(f"{backend} cameras present: " + (", ".join(f"{d['id']} ({d['model']})" for d in found) or "none"))
        except Exception as exc:  # noqa: BLE001  (the per-camera checks below say it again, per camera)
            print(f"{backend} cameras present: cannot tell ({str(exc).splitlines()[0][:100]})")
    checks = check_rig(rig, grab=not args.no_grab)
    for c in checks:
        print(f"{'ok  ' if c.ok else 'FAIL'} {c.name:12s} {c.backend:9s} {c.message}")
    bad = [c.name for c in checks if not c.ok]
    if bad:
        raise Capture3DError(f"{args.rig}: {len(bad)} of {len(checks)} cameras not ready: {', '.join(bad)}")


def cmd_models(args):
    from .detect import manifest

    if args.models_command == "list":
        for name, e in manifest.load_manifest().items():
            state = "ok" if e.path.is_file() else "missing"
            print(f"{name:24s} {e.format:8s} {e.layout:12s} {state:8s} {e.path}")
        return
    entries = manifest.load_manifest()
    wanted = []
    for name in args.names:   # "blazepose" means both of its files
        wanted += [n for n in entries if n.startswith(name + "_")] if name not in entries else [name]
    if not wanted:
        raise ValueError(f"no model named {args.names}; known: {', '.join(sorted(entries))}")
    if args.wheel and not Path(args.wheel).is_file():
        raise FileNotFoundError(f"{args.wheel}: no such wheel file")
    already = [n for n in wanted if manifest.is_verified(entries[n])]
    manifest.fetch(wanted, wheel=args.wheel)        # prints a line per file it fetches
    for name in already:
        print(f"{name}: {entries[name].path} (already there, sha256 ok)")


def cmd_openpose(args):
    from . import io
    from .formats.openpose_json import read_openpose_json, write_openpose_json

    if args.openpose_command == "import":
        for folder in args.folders:
            kp, frames, names = read_openpose_json(folder)
            name = args.camera if args.camera and len(args.folders) == 1 else Path(folder).name
            out = io.save_pose2d(Path(args.output) / f"{name}.npz", kp, joint_names=names,
                                 image_size=tuple(args.image_size), detector="openpose-json", frame_index=frames)
            print(f"{folder}: {len(frames)} frames -> {out}")
        return
    d = io.load_pose2d(args.pose2d)
    out = write_openpose_json(args.output, d["keypoints"], d["joint_names"], stem=Path(args.pose2d).stem,
                              frame_index=d["frame_index"])
    print(f"{len(d['frame_index'])} frames -> {out}")


def cmd_plan(args):
    from tqdm import tqdm

    from .plan import format_summary, load_layout, parse_box, plan, write_plan

    layout = load_layout(args.layout, volume=parse_box(args.volume, "--volume") if args.volume else None,
                         room=parse_box(args.room, "--room") if args.room else None)
    # the planning TOML's [options], the flags given winning
    opts = layout.plan_options(pixel_noise_px=args.pixel_noise, grid_step_m=args.grid, body=args.body or None)
    with tqdm(total=args.add, desc="adding cameras", unit="camera", leave=False,
              disable=None if args.add else True) as bar:
        result = plan(layout, options=opts, add=args.add, progress=lambda done, total: bar.update(1))
    paths = write_plan(result, args.output)
    print(format_summary(result))
    print("wrote " + ", ".join(str(p) for p in paths.values()))


def cmd_batch(args):
    from .batch import BatchOptions, format_table, run_batch
    from .detect.batch import DetectOptions
    from .process import ProcessOptions
    from .reconstruct import PeopleOptions

    slots = _slots(args.persons)   # --persons as process reads it
    detect = DetectOptions(detector=args.detector, every=args.every, max_frames=args.max_frames, max_persons=slots)
    process = ProcessOptions(detect=detect, filter=_filter_options(args),
                             people=PeopleOptions(max_persons=args.persons),
                             exports=tuple(args.export or ("csv", "trc", "c3d", "bvh")), fps=args.fps,
                             self_calibration=_self_calibration(args))
    res = run_batch(args.root, args.output, BatchOptions(process=process, scheduler=args.scheduler,
                                                         workers=args.workers, serial=args.serial, force=args.force),
                    calibration=args.calibration)
    print(format_table(res.rows))
    print(f"wrote {res.summary_csv} ({len(res.rows)} sessions, {res.seconds:.1f} s)")
    if res.failed:
        raise Capture3DError(f"{len(res.failed)} of {len(res.rows)} sessions failed: "
                             + ", ".join(r["session"] for r in res.failed) + f" (reasons in {res.summary_csv})")


# -- parser ------------------------------------------------------------------------------------
def _number(kind, least: float, strict: bool):
    """An argparse type: a finite ``kind`` (int or float) above ``least`` (``strict``) or at
    least ``least``: a count, a frame rate, a duration, a distance that means something (a frame
    rate of 0 divided by zero deep in the tracking, ``--despike -1`` made every point NaN)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {'whole ' if kind is int else ''}number: {text!r}") from None
        if not np.isfinite(value) or value < least or (strict and value == least):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {least:g}, got {text}")
        return value
    return parse


_positive_int = _number(int, 1, strict=False)          # counts: frames, people, workers, squares
_non_negative_int = _number(int, 0, strict=False)
_positive_float = _number(float, 0, strict=True)       # rates, durations, cut-offs
_non_negative_float = _number(float, 0, strict=False)


#: Person slots per view that ``detect`` and ``process`` follow by default, ProcessOptions.detect's
#: (kept here so that ``--help`` imports no detector; tests/cli/test_first_steps.py checks they are
#: equal), so that ``detect`` then ``triangulate`` finds the people ``process`` finds (with 1 slot it
#: found 1 of the 2 people of pose2sim_multiperson).
DETECT_SLOTS = 4


def _sub(subparsers, name, help_, examples, func=None):
    """A command (``func`` runs it; None: a group of commands, e.g. ``calibrate``) whose help
    lists ``examples``."""
    p = subparsers.add_parser(name, help=help_, description=help_,
                              epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    if func is not None:
        p.set_defaults(func=func)
    # -v after the command as well as before it (SUPPRESS: not given here keeps the top level's value)
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="log what each stage does, with the libraries' own lines")
    return p


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .export import EXPORTERS

    parser = argparse.ArgumentParser(
        prog="capture3d", description="Multi-camera markerless 3D motion capture.",
        epilog="examples:\n" + "\n".join(f"  {e}" for e in (
            "capture3d demo                                          # the whole path on a synthetic rig",
            "capture3d process SESSION -c calibration.toml -o out/   # videos -> people in 3D, exported",
            "capture3d calibrate extrinsics --board b.toml SESSION -o calibration.toml",
            "capture3d COMMAND --help                                # a command's options and examples")),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"capture3d {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each stage does")
    sub = parser.add_subparsers(dest="command", required=True)

    p = _sub(sub, "demo", "the whole path on a synthetic rig, no hardware needed",
             ["capture3d demo", "capture3d demo /tmp/demo --cameras 8 --people 3"], cmd_demo)
    p.add_argument("out", nargs="?", default="capture3d_demo", help="output folder (default: ./capture3d_demo)")
    p.add_argument("--cameras", type=int, default=4, help="synthetic cameras in a ring (default 4)")
    p.add_argument("--people", type=int, default=2, help="people walking in the scene (default 2)")
    p.add_argument("--frames", type=int, default=150, help="frames of the people session (default 150, 5 s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the rig, the scene and the noise (default 0)")

    p = _sub(sub, "board", "write a board definition and a printable image at true scale",
             ["capture3d board charuco --squares-x 7 --squares-y 5 --square-mm 40 --name a4_charuco",
              "capture3d board checkerboard --squares-x 10 --squares-y 7 --square-mm 25"], cmd_board)
    p.add_argument("type", choices=["charuco", "checkerboard"])
    p.add_argument("--squares-x", type=int, default=7, help="squares along x, not inner corners (default 7)")
    p.add_argument("--squares-y", type=int, default=5, help="squares along y (default 5)")
    p.add_argument("--square-mm", type=float, default=40.0, help="side of a square as printed, mm (default 40)")
    p.add_argument("--marker-mm", type=float, help="charuco marker size (default 0.75 x square)")
    p.add_argument("--dictionary", default="DICT_4X4_50", help="charuco ArUco dictionary (default DICT_4X4_50)")
    p.add_argument("--legacy", action="store_true", help="OpenCV < 4.6 charuco pattern")
    p.add_argument("--inverted", action="store_true", help="white markers on black")
    p.add_argument("--see-through", action="store_true",
                   help="printed on film or backlit: also find it mirrored, as cameras behind it see it")
    p.add_argument("--dpi", type=int, default=300, help="resolution of the printable PNG (default 300)")
    p.add_argument("--name", default="board", help="board name, also the file name (default board)")
    p.add_argument("-o", "--output", help="board TOML (default calibration/boards/NAME.toml)")

    cal = _sub(sub, "calibrate", "intrinsics, extrinsics, a quality report, conversion between formats",
                 ["capture3d calibrate intrinsics --board b.toml cam1.mp4 cam2.mp4 -o intrinsics.toml",
                  "capture3d calibrate extrinsics --board b.toml SESSION -o calibration.toml",
                  "capture3d calibrate report calibration.toml --board b.toml SESSION",
                  "capture3d calibrate convert Calib.qca.txt -o calibration.toml"])
    csub = cal.add_subparsers(dest="calibrate_command", required=True)
    p = _sub(csub, "intrinsics", "per-camera intrinsics from board videos or image folders",
             ["capture3d calibrate intrinsics --board calibration/boards/board.toml cam1.mp4 cam2.mp4 -o intrinsics.toml",
              "capture3d calibrate intrinsics --board b.toml --fisheye 'gopro/*.jpg' -o intrinsics.toml"],
             cmd_calibrate_intrinsics)
    p.add_argument("inputs", nargs="+", help="one per camera: video, image folder or quoted glob")
    p.add_argument("--board", required=True, help="board TOML (capture3d board writes one)")
    p.add_argument("--fisheye", action="store_true", help="fisheye lens model (4 coefficients)")
    p.add_argument("--rational", action="store_true", help="8-coefficient pinhole model")
    p.add_argument("--every", type=_positive_int, default=1, help="use every N-th frame")
    p.add_argument("--cache", help="folder for cached detections")
    p.add_argument("-o", "--output", required=True, help="intrinsics TOML to write")
    p = _sub(csub, "extrinsics", "camera poses from a session of synchronized board videos",
             ["capture3d calibrate extrinsics --board b.toml --intrinsics intrinsics.toml SESSION -o calibration.toml",
              "capture3d calibrate extrinsics --board b.toml videos/ --floor-frame 0 -o calibration.toml"],
             cmd_calibrate_extrinsics)
    p.add_argument("session", help="session folder, or a plain folder of equal-length videos")
    p.add_argument("--board", required=True, help="board TOML (capture3d board writes one)")
    p.add_argument("--intrinsics", help="intrinsics TOML; without it they are found from the session")
    p.add_argument("--every", type=_positive_int, default=1, help="use every N-th frame (default 1)")
    p.add_argument("--floor-frame", type=int, help="frame where the board lies on the floor (default: found)")
    p.add_argument("--no-floor", action="store_true", help="world frame = the first camera's")
    p.add_argument("--refine-intrinsics", action="store_true",
                   help="let the bundle adjustment refine the intrinsics too (default: held)")
    p.add_argument("--allow-unequal", action="store_true", help="accept videos of different lengths")
    p.add_argument("--sync", help="camera clocks (default SESSION/sync.toml when present; see capture3d sync)")
    p.add_argument("-o", "--output", required=True, help="calibration TOML to write")
    p = _sub(csub, "report", "judge a calibration on a session of board videos: errors, metric check, pictures",
             ["capture3d calibrate report calibration.toml --board b.toml SESSION",
              "capture3d calibrate report camera_array.toml --board charuco.toml caliscope/extrinsic -o report/"],
             cmd_calibrate_report)
    p.add_argument("calibration", help="any calibration file capture3d reads")
    p.add_argument("session", help="session folder, or a plain folder of videos (timestamps.csv is read)")
    p.add_argument("--board", required=True, help="board TOML of the board in the videos")
    p.add_argument("--every", type=_positive_int, default=1, help="use every N-th frame (default 1)")
    p.add_argument("--allow-unequal", action="store_true", help="accept videos of different lengths")
    p.add_argument("-o", "--output", help="report folder (default: next to the calibration, NAME_report/)")
    p = _sub(csub, "convert", "convert a calibration between formats",
             ["capture3d calibrate convert Calib.qca.txt -o calibration.toml",
              "capture3d calibrate convert calibration.toml -o cameraParameters/ --format openpose",
              "capture3d calibrate convert anipose.toml --units mm -o calibration.toml"], cmd_calibrate_convert)
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--format", choices=["toml", "openpose", "easymocap"], help="output format (default from name)")
    p.add_argument("--input-format", choices=["toml", "qualisys", "openpose", "easymocap"])
    p.add_argument("--units", help="translation units of the input when it does not say (m, mm, cm)")

    p = _sub(sub, "triangulate", "3D points from per-camera 2D keypoints",
             ["capture3d triangulate pose2d/ -c calibration.toml -o points3d.npz --fps 60"], cmd_triangulate)
    p.add_argument("pose2d", help="folder of <camera>.npz (capture3d detect's)")
    p.add_argument("-c", "--calibration", required=True, help="calibration of the cameras (any format capture3d reads)")
    p.add_argument("-o", "--output", default="points3d.npz",
                   help="points3d file, or a folder to write points3d.npz in (default ./points3d.npz)")
    p.add_argument("--fps", type=_positive_float, metavar="HZ",
                   help="frame rate, frames per second, for time_s and the filters (default: the rate the "
                        "pose2d files recorded, else 30)")
    p.add_argument("--min-score", type=float, default=0.2, help="views with a lower 2D score are unused (default 0.2)")
    p.add_argument("--max-error", type=float,
                   help="view rejection threshold, pixels (default: 2 %% of the image diagonal, as process, "
                        "which also runs the temporal pass on refused points; the two-view threshold is 0.4x it)")
    p.add_argument("--no-robust", action="store_true", help="keep every view, however far off (no view rejection)")
    p.add_argument("--view-offsets", action="store_true",
                   help="shift each camera's 2D by the offset the other views measure, as process does "
                        "(default here: the 2D as given)")
    _add_self_calibration_arg(p)
    _add_people_args(p)
    _add_filter_args(p, smoother="none", despike=None)


    def detect_args(p, persons_default, persons=True, flip_help=None):
        p.add_argument("--detector", default="blazepose", help="blazepose (default) or a models/manifest.toml entry")
        p.add_argument("--every", type=_positive_int, default=1, help="use every N-th frame")
        p.add_argument("--max-frames", type=_positive_int, help="stop after this many frames per camera")
        p.add_argument("--workers", type=_positive_int, help="processes (default: one per core)")
        p.add_argument("--flip", action="store_true", help=flip_help or
                       "BlazePose: average each crop's landmarks with the mirrored crop's (twice the landmark cost)")
        p.add_argument("--no-roi-smoothing", action="store_true",
                       help="BlazePose: each frame's crop from the last frame's landmarks, unfiltered "
                            "(the 2D then does not depend on the frame a video starts at)")
        p.add_argument("--roi-grid", type=float, metavar="SHARE",
                       help="BlazePose: snap each tracked crop to a grid, centre in steps of SHARE of its side "
                            "(e.g. 0.03; with --no-roi-smoothing a later-starting cut of a video is detected "
                            "like the original after a few frames)")
        p.add_argument("--tiles", action="store_true",
                       help="BlazePose: look for people on three squares of the image's short side, not on the "
                            "whole image shrunk to 224 px (far people in wide or tall views; 3x the person detector)")
        if persons:
            p.add_argument("--persons", type=_positive_int, metavar="N",
                           help=f"people to follow, as process --persons: N + 1 person slots per view, at least "
                                f"{persons_default} (default {persons_default} slots)")

    p = _sub(sub, "detect", "2D keypoints of every camera of a session (pose2d/<camera>.npz)",
             ["capture3d detect SESSION -o pose2d/", "capture3d detect SESSION -o pose2d/ --every 2 --max-frames 300"],
             cmd_detect)
    p.add_argument("session", help="session folder or a plain folder of videos")
    p.add_argument("-o", "--output", default="pose2d", help="output folder (default ./pose2d)")
    p.add_argument("--camera", action="append", help="only this camera (repeatable)")
    detect_args(p, DETECT_SLOTS)

    p = _sub(sub, "process", "detect -> people across views and time -> triangulate -> filter -> export, in one go",
             ["capture3d process SESSION -c calibration.toml -o out/",
              "capture3d process SESSION -c calibration.toml -o out/ --persons 2",
              "capture3d process SESSION -c Calib.qca.txt -o out/ --smoother kalman --export csv --export bvh"],
             cmd_process)
    p.add_argument("session", help="session folder or a plain folder of videos named after the cameras")
    p.add_argument("-c", "--calibration", required=True)
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--fps", type=_positive_float, metavar="HZ", help="frame rate (default: the videos')")
    p.add_argument("--export", action="append", choices=sorted(EXPORTERS),
                   help="export format (repeatable; default all four)")
    detect_args(p, DETECT_SLOTS, persons=False,
                flip_help="BlazePose: detect again with flip averaging (OUT/pose2d_flip) and use it in each "
                          "person-view where the other views agree better with it (a second detection, 1.5x the first)")
    p.add_argument("--guided-crops", action="store_true",
                   help="look again, with BlazePose, where the 3D says a view missed a person (a second pass)")
    p.add_argument("--no-view-offsets", action="store_true",
                   help="keep each camera's 2D as detected (default: shifted by the offset the other views measure)")
    _add_self_calibration_arg(p)
    _add_people_args(p)
    _add_filter_args(p, smoother="butterworth", despike=0.1)

    p = _sub(sub, "sync", "each camera's start and frame rate on a common clock, for cameras with no shared clock",
             ["capture3d sync SESSION                      # motion if SESSION/pose2d/ exists, else audio or flash",
              "capture3d sync SESSION -c calibration.toml --pose2d pose2d/   # sub-frame, rates measured",
              "capture3d sync calib_videos/ --method board --board b.toml",
              "capture3d sync SESSION --method audio --max-shift 5"], cmd_sync)
    p.add_argument("session", help="session folder or a plain folder of videos named after the cameras")
    p.add_argument("-c", "--calibration", help="refine offsets and rates by reprojection error (motion, board)")
    p.add_argument("--method", default="auto", choices=["auto", "motion", "board", "audio", "flash"])
    p.add_argument("--pose2d", help="folder of <camera>.npz from capture3d detect (default SESSION/pose2d)")
    p.add_argument("--board", help="board TOML (method board)")
    p.add_argument("--max-shift", type=_positive_float, help="largest offset searched, seconds (default: half the shortest video)")
    p.add_argument("--reference", help="camera whose clock is the common one (default: the first that can be)")
    p.add_argument("--whole-frames", action="store_true",
                   help="the cameras share one frame clock (one trigger, or cut from synced videos) and only "
                        "started at different frames: starts rounded to whole frames")
    p.add_argument("-o", "--output", help="sync file (default SESSION/sync.toml; the picture goes next to it)")

    p = _sub(sub, "record", "synchronized recording from the cameras of a rig file into a session folder",
             ["capture3d record rigs/synthetic_4cam.toml -o sessions/take1 --duration 10",
              "capture3d record rigs/flir_hw_trigger.toml -o sessions/take2     # Ctrl-C stops"], cmd_record)
    p.add_argument("rig", help="rig file (rigs/*.toml)")
    p.add_argument("-o", "--output", required=True, help="new session folder")
    p.add_argument("--duration", type=_positive_float, help="seconds to record (default: until Ctrl-C)")
    p.add_argument("--max-frames", type=_positive_int, help="stop after this many frames per camera")
    p.add_argument("--scene", choices=["board", "person", "board+person"], help="synthetic rigs: what they see")
    p.add_argument("--preview", action="store_true",
                   help="show the newest frames (a window, or SESSION/preview.jpg without a display)")
    p.add_argument("--live-3d", metavar="CALIBRATION", nargs="?", const="rig",
                   help="live 3D of every person (SESSION/live.png, or a window); a synthetic rig needs no "
                        "CALIBRATION (its own is used and saved as SESSION/calibration.toml)")
    p.add_argument("--live-video", action="store_true", help="with --live-3d: also SESSION/live.mp4 of what was shown")
    p.add_argument("--people", type=_positive_int, help="synthetic person scenes: how many walk (default 1)")

    p = _sub(sub, "live", "play a recorded session through live 3D at its own frame rate (test, demo, tune)",
             ["capture3d live sessions/take1 -c sessions/take1/calibration.toml",
              "capture3d live ../shared/data/pose2sim_multiperson -c Calib.qca.txt --persons 4 --picture live.png "
              "--video live.mp4"],
             cmd_live)
    p.add_argument("session", help="session folder (videos/<camera>.*) or a folder of videos named after the cameras")
    p.add_argument("-c", "--calibration", required=True, help="calibration of the session's cameras")
    p.add_argument("--persons", type=_positive_int, default=2, help="person slots per camera (default 2)")
    p.add_argument("--rate", type=_positive_float, default=15.0, help="updates per second aimed at (default 15)")
    p.add_argument("--seconds", type=_positive_float, help="play at most this long")
    p.add_argument("--speed", type=_positive_float, default=1.0, help="times the recorded speed (0.25: slowed down to look at)")
    p.add_argument("--picture", help="refreshed picture (default SESSION/live.png)")
    p.add_argument("--video", help="MP4 of every picture shown")
    p.add_argument("--window", action="store_true", help="show a window when there is a display")

    rig_p = _sub(sub, "rig", "rig files: check that the cameras are there, write a synthetic rig's calibration",
                   ["capture3d rig check rigs/usb_webcams.toml",
                    "capture3d rig calibration rigs/synthetic_4cam.toml -o calibration.toml"])
    rsub = rig_p.add_subparsers(dest="rig_command", required=True)
    p = _sub(rsub, "check", "open and configure every camera of a rig file, grab a frame, say what failed",
             ["capture3d rig check rigs/usb_webcams.toml"], cmd_rig)
    p.add_argument("rig", help="rig file (rigs/*.toml)")
    p.add_argument("--no-grab", action="store_true", help="only open and configure")
    p = _sub(rsub, "calibration", "write a synthetic rig's own calibration, for the other commands",
             ["capture3d rig calibration rigs/synthetic_4cam.toml -o calibration.toml"], cmd_rig_calibration)
    p.add_argument("rig", help="synthetic rig file (rigs/*.toml)")
    p.add_argument("-o", "--output", required=True, help="calibration file to write (.toml)")

    models = _sub(sub, "models", "2D model files: list them, fetch them",
                    ["capture3d models list", "capture3d models fetch blazepose"])
    msub = models.add_subparsers(dest="models_command", required=True)
    p = _sub(msub, "list", "the models of models/manifest.toml and whether their files are there",
             ["capture3d models list"], cmd_models)
    p = _sub(msub, "fetch", "download model files from the package index and check their sha256",
             ["capture3d models fetch blazepose",
              "capture3d models fetch blazepose --wheel mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"],
             cmd_models)
    p.add_argument("names", nargs="+", help="model names (blazepose = both of its files)")
    p.add_argument("--wheel", help="read the files from this wheel instead of downloading it")

    op = _sub(sub, "openpose", "OpenPose per-frame JSON to and from pose2d files",
                ["capture3d openpose import json/cam01 json/cam02 -o pose2d/ --image-size 1920 1080",
                 "capture3d openpose export pose2d/cam01.npz -o json/cam01"])
    osub = op.add_subparsers(dest="openpose_command", required=True)
    p = _sub(osub, "import", "OpenPose JSON folders (one per camera, named after it) -> pose2d/<camera>.npz",
             ["capture3d openpose import json/cam01 json/cam02 -o pose2d/ --image-size 1920 1080"], cmd_openpose)
    p.add_argument("folders", nargs="+", help="one folder of *_keypoints.json per camera")
    p.add_argument("-o", "--output", default="pose2d")
    p.add_argument("--camera", help="camera name when importing one folder not named after it")
    p.add_argument("--image-size", type=int, nargs=2, default=(0, 0), metavar=("W", "H"))
    p = _sub(osub, "export", "pose2d/<camera>.npz -> OpenPose BODY_25 JSON, one file per frame",
             ["capture3d openpose export pose2d/cam01.npz -o json/cam01"], cmd_openpose)
    p.add_argument("pose2d")
    p.add_argument("-o", "--output", required=True)

    p = _sub(sub, "export", "export 3D points to other tools' formats; several people: BVH, CSV, TRC "
             "one file each (out_p<id>.bvh), C3D one file with labels p<id>_<joint>",
             [f"capture3d export {f} points3d.npz -o out.{f}" for f in EXPORTERS], cmd_export)
    p.add_argument("format", choices=sorted(EXPORTERS))
    p.add_argument("points3d")
    p.add_argument("-o", "--output", required=True)
    p = _sub(sub, "view", "play the skeleton with the floor and cameras (Open3D), or render it offscreen",
             ["capture3d view points3d.npz -c calibration.toml",
              "capture3d view points3d.npz -c calibration.toml --render out.png",
              "capture3d view points3d.npz -c calibration.toml --render out.mp4 --trails 1"], cmd_view)
    p.add_argument("points3d")
    p.add_argument("-c", "--calibration", help="draw these cameras' frustums")
    p.add_argument("--render", help="draw offscreen to .png (one frame) or .mp4 (every frame) instead of a window")
    p.add_argument("--frame", type=int, help="frame for a PNG (default: the middle one)")
    p.add_argument("--trails", type=float, default=0.0, metavar="S", help="draw wrist and ankle paths of the last S seconds")
    p = _sub(sub, "overlay", "per-camera videos: 2D detections and the reprojected 3D skeleton",
             ["capture3d overlay points3d.npz -c calibration.toml --pose2d pose2d/ --videos SESSION -o overlays/",
              "capture3d overlay points3d.npz -c calibration.toml --camera cam01 -o overlays/"], cmd_overlay)
    p.add_argument("points3d")
    p.add_argument("-c", "--calibration", required=True)
    p.add_argument("--pose2d", help="folder of <camera>.npz: draw the detections too")
    p.add_argument("--videos", help="folder (or session) with <camera>.<ext> videos; default: a floor grid")
    p.add_argument("--camera", action="append", help="only this camera (repeatable)")
    p.add_argument("--sync", help="camera clocks (capture3d sync's sync.toml; default the --videos session's "
                                  "sync.toml when there): each camera's own frame under each instant")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p = _sub(sub, "plot", "joint trajectories and reprojection error over time (PNG)",
             ["capture3d plot points3d.npz -o plots/"], cmd_plot)
    p.add_argument("points3d")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p = _sub(sub, "plan", "predicted 3D accuracy of a camera layout before mounting it (plan.png, plan.json)",
             ["capture3d plan rigs/plan_lab_4cam.toml -o plan/",
              "capture3d plan rigs/plan_lab_4cam.toml -o plan/ --add 2 --body",
              "capture3d plan calibration.toml -o plan/ --volume=-1.5,-1.5,0,1.5,1.5,2 --pixel-noise 3"], cmd_plan)
    p.add_argument("layout", help="planning TOML (README, 'Planning a rig') or any calibration file")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--volume", metavar="X0,Y0,Z0,X1,Y1,Z1",
                   help="capture volume, m; write --volume=-1,... when it starts with a minus (default: "
                        "the planning TOML's; for a calibration, the box above the floor that >= 2 cameras see)")
    p.add_argument("--room", metavar="X0,Y0,Z0,X1,Y1,Z1", help="room walls and ceiling for --add, m (--room=...)")
    p.add_argument("--pixel-noise", type=float, metavar="PX",
                   help="2D keypoint noise, 1 sigma per axis, px (default 7.5: BlazePose on real video)")
    p.add_argument("--grid", type=float, metavar="M", help="grid spacing, m (default: the planning TOML's "
                                                           "[options], else 0.1)")
    p.add_argument("--body", action="store_true",
                   help="a standing person's body (cylinder) hides joints from cameras behind it")
    p.add_argument("--add", type=int, default=0, metavar="K", help="place K more cameras where they help most")
    p = _sub(sub, "batch", "every session below ROOT, end to end, on Dask (this machine's cores, or a cluster); "
             "resumable; OUT/summary.csv",
             ["capture3d batch trials/ -o out/", "capture3d batch trials/ -o out/ -c calibration/Calib.toml",
              "capture3d batch /data/trials -o /data/out --scheduler tcp://head-node:8786"], cmd_batch)
    p.add_argument("root", help="folder of sessions (folders of videos, or with videos/); itself may be one")
    p.add_argument("-o", "--output", required=True, help="output folder: OUT/<session>/ and OUT/summary.csv")
    p.add_argument("-c", "--calibration", help="one calibration for every session (default: each session's own, "
                   "or the nearest calibration/ folder above it)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=_positive_int, help="local cluster worker processes (default: one per core)")
    p.add_argument("--serial", action="store_true", help="no Dask: one session after another in this process")
    p.add_argument("--force", action="store_true", help="redo everything, even sessions that are up to date")
    p.add_argument("--fps", type=_positive_float, metavar="HZ", help="frame rate (default: the videos')")
    p.add_argument("--export", action="append", choices=sorted(EXPORTERS),
                   help="export format (repeatable; default all four)")
    p.add_argument("--detector", default="blazepose", help="blazepose (default) or a models/manifest.toml entry")
    p.add_argument("--every", type=_positive_int, default=1, help="use every N-th frame")
    p.add_argument("--max-frames", type=_positive_int, help="stop after this many frames per camera")
    p.add_argument("--persons", type=_positive_int, metavar="N",
                   help="keep the N people seen in most frames, as process --persons (default: everyone)")
    _add_self_calibration_arg(p)
    _add_filter_args(p, smoother="butterworth", despike=0.1)
    return parser


def _reason(exc: Exception) -> str:
    """The error line's text: an OS error as "PATH: what is wrong" (Python's own reads
    "[Errno 20] Not a directory: 'notvideo.mp4/out'"), everything else as it says itself."""
    from .errors import file_in_the_way

    if not (isinstance(exc, OSError) and exc.strerror and str(exc).startswith("[Errno")):
        return str(exc)
    if exc.filename is None:
        return exc.strerror                      # OSError(errno, "cannot write PATH: ...") of our own
    path = Path(exc.filename)
    blocker = file_in_the_way(path) if exc.errno in (errno.ENOTDIR, errno.EEXIST) else None
    if blocker is not None:                      # mkdir(parents=True) below a file
        return f"{path}: {blocker} is a file, where a folder is needed"
    where = f"{path} -> {exc.filename2}" if exc.filename2 is not None else str(path)
    return f"{where}: {exc.strerror}"


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    # third-party start-up lines (Open3D, TFLite) only with -v; worker processes inherit it
    import os

    from .console import VERBOSE_ENV, quiet_native_logs
    os.environ[VERBOSE_ENV] = "1" if args.verbose else "0"
    quiet_native_logs()
    try:
        args.func(args)
    except (Capture3DError, ValueError, OSError, RuntimeError) as exc:  # FileNotFoundError is an OSError
        print(f"capture3d: error: {_reason(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("capture3d: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
