"""``capture3d process``: a session's videos to 3D skeletons and files in one go.

detect (every camera, one process per core) -> people (matched across views, tracked with stable
ids: :func:`capture3d.reconstruct.people.track_people`, offline pass) -> triangulate and filter
each person -> ``points3d.npz`` (``(P, F, J, 3)`` with ``person_id``; with ``single`` today's
``(F, J, 3)``) and the exports, per person. Every stage's
output is written as soon as it exists (``pose2d/`` per camera, then ``points3d.npz``, then the
exports), so a failure later on loses nothing before it, and a re-run skips cameras already
detected. ``report.json`` holds the figures the command prints and each stage's wall time.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from . import io
from .detect.batch import DetectOptions, detect_session
from .detect.guided import drop_unhelpful_views, guided_pass
from .errors import FileFormatError
from .console import warnings_once
from .reconstruct import FilterOptions, PeopleOptions, TriangulationOptions
from .reconstruct.association import AssociationOptions
from .reconstruct.people import keep_person_ids, reconstruct_people
from .reconstruct.self_calibration import SelfCalibrationOptions, refine_extrinsics
from .reconstruct.view_agreement import apply_view_offsets, choose_views, fit_view_offsets, held_out_residuals
from .camera.image_size import match_rig_sizes
from .sync import find_sync, pose2d_frame_counts, resample_pose2d_files, unequal_lengths_hint
from .rig import Rig, require_poses
from .skeleton import COCO17, bone_length_cv
from .sources import session_frame_map, session_videos

log = logging.getLogger("capture3d.process")

#: Triangulation thresholds as a share of the image diagonal: detector errors grow with the
#: image, and the pixel defaults of TriangulationOptions suit 1 px noise, not a 2D detector.
MAX_ERROR_SHARE = 0.02
MAX_ERROR_TWO_VIEWS_SHARE = 0.008


@dataclass(frozen=True)
class ProcessOptions:
    """Options of :func:`process_session`: one per stage, plus what to write."""

    detect: DetectOptions = field(default_factory=lambda: DetectOptions(max_persons=4))
    people: PeopleOptions = field(default_factory=PeopleOptions)   # everyone, offline tracking
    single: bool = False            # follow one person only (associate_person), as before several people
    view_offsets: bool = True       # one 2D offset per camera from the views' agreement, then reconstruct again
    #                                 (capture3d.reconstruct.view_agreement; pose2sim_multiperson: reprojection
    #                                 error 7.45 / 13.27 -> 5.97 / 10.49 px, held out 17.5 / 27.3 -> 12.9 / 20.9 px)
    self_calibration: SelfCalibrationOptions | None = None   # None: the calibration as given; else each
    #                                 camera's rotation (refine_focal: and focal length) refined on the people (capture3d.reconstruct.
    #                                 self_calibration) before the view offsets, written to OUT/calibration_refined.toml;
    #                                 pose2sim_multiperson, held out on frames it was not fitted on: 4.4-6.6 % below
    #                                 the view offsets alone (4 splits; README, issue 22)
    guided_crops: bool = False      # a second BlazePose pass where the 3D says a view missed a person, each
    #                                 person-view's crops kept only if the other views agree better with them
    #                                 (capture3d.detect.guided); it reads the videos again
    flip: bool = False              # BlazePose a second time with flip averaging (OUT/pose2d_flip), its 2D
    #                                 used per person-view only where that view's held-out error is lower
    #                                 with it (view_agreement.choose_views); a second detection, 1.5x the first
    association: AssociationOptions = field(default_factory=AssociationOptions)   # of single
    triangulation: TriangulationOptions | None = None   # None: thresholds from the image size
    filter: FilterOptions = field(default_factory=FilterOptions)
    exports: tuple[str, ...] = ("csv", "trc", "c3d", "bvh")
    fps: float | None = None        # None: the videos' frame rate
    sync: str | None = None         # camera clocks (sync.toml); None: SESSION/sync.toml when there, else one clock


@dataclass
class ProcessResult:
    """Paths written and the figures of the run (``report`` is also ``OUT/report.json``)."""

    points3d: Path
    exports: dict[str, Path]
    report: dict


def _video_fps(path) -> float:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0


def triangulation_for_images(sizes, **changes) -> TriangulationOptions:
    """The triangulation ``process`` and ``triangulate`` use: thresholds scaled to the largest image
    diagonal of ``sizes {camera: (w, h)}`` pixels (:data:`MAX_ERROR_SHARE`,
    :data:`MAX_ERROR_TWO_VIEWS_SHARE`), and the temporal pass on the points the per-point test
    refused only: on pose2sim_multiperson it gains frames with all 17 joints (78 -> 79 %, 79 -> 83 %)
    and changes no point the per-point test accepted, where the full pass cost p0 (the woman)
    complete frames. Sizes of 0 (unknown, e.g. imported OpenPose JSON) are skipped; with none known
    the pixel thresholds are :class:`TriangulationOptions`'. ``changes`` are fields of
    :class:`TriangulationOptions` to set instead."""
    diagonals = [float(np.hypot(*s)) for s in sizes.values() if min(s) > 0]
    scaled = {"max_error_px": MAX_ERROR_SHARE * max(diagonals),
              "max_error_two_views_px": MAX_ERROR_TWO_VIEWS_SHARE * max(diagonals)} if diagonals else {}
    return TriangulationOptions(**{**scaled, "temporal": True, "temporal_refused_only": True, **changes})


def session_rig(session, calibration) -> tuple[Rig, dict[str, Path]]:
    """The rig of ``calibration`` reduced to the cameras that have a video in ``session``, and
    ``{camera: video}`` in rig order. A :class:`FileFormatError` when the calibration does not
    know a camera of the session, or fewer than two cameras are left."""
    videos = session_videos(session)
    rig = require_poses(Rig.load(calibration), calibration)
    unknown = sorted(set(videos) - set(rig.names))
    if unknown:
        raise FileFormatError(calibration, f"does not know the session's cameras {unknown} (it has {rig.names}); "
                              "rename the videos after the calibration's cameras or calibrate them")
    names = [n for n in rig.names if n in videos]
    if len(names) < 2:
        raise FileFormatError(session, f"needs videos of at least two calibrated cameras, found {names}")
    if len(names) < len(rig):
        log.warning("calibration cameras %s have no video in %s; using the other %d",
                    [n for n in rig.names if n not in videos], session, len(names))
    return rig.subset(names), {n: videos[n] for n in names}


def process_session(session, calibration, out, options: ProcessOptions = ProcessOptions(), *,
                    make_bar=None, echo=print, after_detection=None) -> ProcessResult:
    """Run the whole path on ``session`` (folder of videos, see CONVENTIONS.md) with the rig of
    ``calibration``; write everything under ``out``: :func:`capture3d.detect.batch.detect_session`
    into ``out/pose2d``, then :func:`reconstruct_session`. ``make_bar(label, total)`` makes
    progress bars, ``echo`` prints one line per stage; ``after_detection()``, when given, is
    called between the two (the demo waits there for the kernels it compiles beside detection)."""
    out = Path(out)
    rig, videos = session_rig(session, calibration)
    session_frame_map(session)   # read before detecting: a broken frames.csv fails fast
    out.mkdir(parents=True, exist_ok=True)   # only now: bad input leaves no empty output folder behind
    t = time.perf_counter()
    pose2d = detect_session(videos, out / "pose2d", options.detect, make_bar=make_bar, echo=echo)
    seconds = time.perf_counter() - t
    echo(f"2D keypoints of {len(pose2d)} cameras in {out / 'pose2d'} ({seconds:.1f} s)")
    timing = {"detect": seconds}
    pose2d_flip = None
    if options.flip and options.detect.detector != "blazepose":
        echo(f"flip averaging skipped: it is BlazePose's, not {options.detect.detector}'s")
    elif options.flip:
        t = time.perf_counter()
        flipped = replace(options.detect, detector_options={**options.detect.detector_options, "flip": True})
        pose2d_flip = detect_session(videos, out / "pose2d_flip", flipped, make_bar=make_bar, echo=echo)
        timing["detect_flip"] = time.perf_counter() - t
        echo(f"2D keypoints with flip averaging in {out / 'pose2d_flip'} ({timing['detect_flip']:.1f} s)")
    if after_detection is not None:
        after_detection()
    return reconstruct_session(session, calibration, out, options, pose2d=pose2d, pose2d_flip=pose2d_flip,
                               echo=echo, timing=timing)


@warnings_once()   # each pass repeats the warnings of the last: shown once
def reconstruct_session(session, calibration, out, options: ProcessOptions = ProcessOptions(), *,
                        pose2d: dict | None = None, pose2d_flip: dict | None = None, echo=print,
                        timing: dict | None = None) -> ProcessResult:
    """Everything after detection: the session's ``pose2d`` files (``{camera: npz}``; default
    ``out/pose2d/<camera>.npz``) -> people -> triangulation -> filters -> ``out/points3d.npz``,
    the exports and ``out/report.json``. ``session`` gives the videos' frame rate and frame
    numbering (``frames.csv``); ``timing`` holds seconds of earlier stages for the report. With
    ``options.flip``, ``pose2d_flip`` (default ``out/pose2d_flip/<camera>.npz``) holds the same
    detection with flip averaging."""
    out = Path(out)
    timing = dict(timing or {})
    rig, videos = session_rig(session, calibration)
    out.mkdir(parents=True, exist_ok=True)
    names = rig.names
    if pose2d is None:
        pose2d = {n: out / "pose2d" / f"{n}.npz" for n in names}
    fps = options.fps or _video_fps(videos[names[0]])
    frame_map = session_frame_map(session)

    t = time.perf_counter()
    sync = find_sync(session, options.sync, cameras=names)
    files = {n: pose2d[n] for n in names}

    def read(files):
        if sync is None:
            cand, frames, joints, sizes = io.stack_pose2d_files(files, frame_map=frame_map)
            return cand, frames, frames / fps, joints, sizes
        return resample_pose2d_files(files, sync, videos=videos)

    cand, frames, time_s, joints, sizes = read(files)
    if sync is not None:   # cameras without a shared clock: 2D moved to the reference camera's instants
        fps = sync.cameras[sync.reference].fps
        echo(f"clocks from {options.sync or Path(session) / 'sync.toml'} ({sync.method}): 2D keypoints "
             f"interpolated to {sync.reference}'s {len(frames)} frames")
    # with a frames.csv the counts may differ
    _check_frame_counts(cand, names, files, echo, one_clock=sync is None and frame_map is None)
    cand_flip = None
    if options.flip:
        flip_files = pose2d_flip or {n: out / "pose2d_flip" / f"{n}.npz" for n in names}
        missing = [str(f) for f in flip_files.values() if not Path(f).is_file()]
        if missing:
            echo(f"flip averaging skipped: no {missing[0]} (process --flip detects it)")
        else:
            cand_flip = read({n: flip_files[n] for n in names})[0]
            if cand_flip.shape != cand.shape:
                echo(f"flip averaging skipped: {Path(flip_files[names[0]]).parent} holds {cand_flip.shape[:3]} "
                     f"cameras, frames and slots, {Path(files[names[0]]).parent} {cand.shape[:3]}")
                cand_flip = None
    rig, notes = match_rig_sizes(rig, sizes, source="pose2d image", paths=pose2d)
    for note in notes:
        echo(note)
    tri = options.triangulation or triangulation_for_images({c.name: c.size for c in rig})
    given = cand
    rec, cand, offsets, seconds, calib = reconstruct_with_view_offsets(cand, rig, fps=fps, joint_names=joints,
                                                                       options=options, triangulation=tri)
    flip_judged = None
    if cand_flip is not None and len(rec.raw.person_id) and len(rig) >= 3:
        started = time.perf_counter()
        ids = rec.raw.person_id
        moved = cand_flip if offsets is None else apply_view_offsets(cand_flip, offsets.offsets)
        use, flip_judged = choose_views(cand, moved, rec.raw.keypoints, rec.raw.tracks.assignment,
                                        calib.rig if calib is not None and calib.ok else rig, triangulation=tri)
        for j in flip_judged:
            j["person_id"] = int(ids[j["person"]])
        seconds["flip_judged"] = time.perf_counter() - started
        if use.any():   # everything after the detection again, on the chosen 2D
            first = rec
            rec, cand, offsets, again, calib = reconstruct_with_view_offsets(
                np.where(use[..., None, None], cand_flip, given), rig, fps=fps, joint_names=joints,
                options=options, triangulation=tri)
            rec = keep_person_ids(rec, first)
            seconds = {k: seconds.get(k, 0.0) + again.get(k, 0.0) for k in {**seconds, **again}}
        echo("flip averaging, judged per person-view (the view held out, px without -> with): "
             + ", ".join(f"p{j['person_id']} {j['camera']} {_fmt(j['held_out_px'])} -> {_fmt(j['alternative_px'])}"
                         f"{' taken' if j['chosen'] else ''}" for j in flip_judged))
    raw = rec.raw
    refined_path = _save_refined_calibration(calib, names, out / "calibration_refined.toml", calibration, echo)
    if refined_path is not None:
        rig = calib.rig
    timing["read"] = time.perf_counter() - t - sum(seconds.values())
    timing.update(seconds)
    if offsets is not None:
        echo(_offsets_line(names, offsets))
    guided = judged = None
    if options.guided_crops and len(raw.person_id):
        if options.detect.detector != "blazepose":
            echo(f"3D-guided crops skipped: they are BlazePose's, not {options.detect.detector}'s")
        else:
            t = time.perf_counter()
            slots = cand.shape[2]
            positions = video_positions(names, frames, time_s, frame_map=frame_map, sync=sync, videos=videos)
            cand, guided = guided_pass(videos, rig, rec.points, raw.tracks.assignment, cand, positions,
                                       joint_names=joints, offsets=None if offsets is None else offsets.offsets)
            again = dict(fps=fps, joint_names=joints, options=options.people, single=options.single,
                         association=options.association, triangulation=tri, filter=options.filter)
            rec = keep_person_ids(reconstruct_people(cand, rig, **again), rec)
            cand, judged = drop_unhelpful_views(cand, rec.raw.keypoints, rec.raw.tracks.assignment, slots, rig,
                                                triangulation=tri)
            if not all(j["kept"] for j in judged):
                rec = keep_person_ids(reconstruct_people(cand, rig, **again), rec)
            raw = rec.raw
            timing["guided_crops"] = time.perf_counter() - t
            dropped = ", ".join(f"{j['camera']} dropped ({j['with_px']} px held out with, {j['without_px']} "
                                "without)" for j in judged if not j["kept"])
            found = any(a for _, a in guided.values())
            echo("3D-guided crops: " + ", ".join(f"{c} {a} of {n}" for c, (n, a) in guided.items())
                 + " person-frames found again" + (f", {dropped or 'all kept'}" if found else "")
                 + f" ({timing['guided_crops']:.1f} s)")
    echo(f"{'person' if options.single else 'people'}: {raw.tracks.summary()}")

    t = time.perf_counter()
    exports, failed = {}, {}
    points_path = save_people(out / "points3d.npz", rec, joint_names=joints, frame_index=frames, time_s=time_s,
                              single=options.single)
    if points_path is not None:
        from .export import export_points
        data = io.load_points3d(points_path)
        for fmt in options.exports:
            result = export_points(fmt, out / f"skeleton.{fmt}", data)
            exports[fmt] = list(result.written)
            for pid, reason in result.skipped:   # e.g. BVH without shoulders: the other files still get written
                who = "" if pid is None else f"p{pid} "
                failed.setdefault(fmt, []).append(f"{who}{reason}")
                log.warning("%s export of %sskipped: %s", fmt, who, reason)
    timing["export"] = time.perf_counter() - t

    report = _report(session, calibration, names, frames, fps, options, joints, rec, rig, tri, timing, failed, guided,
                     offsets, judged, calib, refined_path, flip_judged)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    if not report["persons"]:
        echo(f"no person found in {len(frames)} frames: nothing to triangulate")
    for person in report["people"]:
        echo(person_line(person, len(frames)))
    if report["persons"]:
        echo("median reprojection error per camera: "
             + ", ".join(f"{c} {_fmt(e)} px" for c, e in report["camera_reprojection_error_px"].items()))
    total = sum(timing.values())
    echo("time: " + ", ".join(f"{k} {v:.1f} s ({v / total:.0%})" for k, v in timing.items()))
    return ProcessResult(points_path, exports, report)


def video_positions(names, frames, time_s, *, frame_map=None, sync=None, videos=None):
    """Where each row of a session's stacked 2D lies in each camera's video, in frames:
    ``{camera: (F,) float}``, NaN where a camera has no frame; or ``frames`` itself when every
    video's frame k is row k (no ``frames.csv``, no ``sync.toml``).

    ``frames (F,)``: the rows' frame numbers (session frames with ``frame_map``, the reference
    camera's frames with ``sync``); ``time_s (F,)``: their common-clock seconds. With ``sync`` a
    row lies between two frames of a camera that shares no clock with the reference
    (:meth:`capture3d.sync.CameraClock.frame_at`; container-timed cameras by their ``videos``'
    timestamps); with ``frame_map`` (:func:`capture3d.sources.session_frame_map`) it is the video
    frame recorded with that session frame."""
    frames = np.asarray(frames)
    if sync is not None:
        from .sync.signals import video_frame_times

        out = {}
        for n in names:
            clock = sync.cameras[n]
            if clock.timestamps == "container":
                at = clock.frame_times(container_times_s=video_frame_times(videos[n]))
                out[n] = np.interp(time_s, at, np.arange(len(at), dtype=float), left=np.nan, right=np.nan)
            else:
                out[n] = clock.frame_at(time_s)
        return out
    if frame_map is not None:
        out = {}
        for n in names:
            if n not in frame_map:
                out[n] = frames.astype(float)
                continue
            video_frame = {int(s): v for v, s in enumerate(np.asarray(frame_map[n])) if s >= 0}
            out[n] = np.array([video_frame.get(int(f), np.nan) for f in frames], float)
        return out
    return frames


def save_people(path, rec, *, joint_names, frame_index, time_s, single: bool) -> Path | None:
    """Write :func:`reconstruct_people`'s result as ``points3d.npz``: ``(P, F, J, 3)`` with
    ``person_id``, or with ``single`` today's one-person ``(F, J, 3)``; ``time_s (F,)`` seconds.
    Nothing (``None``) when nobody was found."""
    raw = rec.raw
    if not len(raw.person_id):
        return None
    pick = (lambda a: a[0]) if single else (lambda a: a)
    return io.save_points3d(path, pick(rec.points), person_id=None if single else raw.person_id,
                            joint_names=joint_names, frame_index=frame_index,
                            time_s=np.asarray(time_s, float),
                            reprojection_error_px=pick(raw.reprojection_error_px), n_views=pick(raw.n_views),
                            score=pick(raw.score))


def _recorded_frame_rate(files: dict, echo) -> float:
    """The frame rate the pose2d files ``{camera: path}`` recorded (frames per second): the first
    camera's that has one, 30 when none has; ``echo(line)`` says what was assumed when that is not
    every camera's one rate."""
    rates = io.pose2d_frame_rates(files)
    if not rates:
        echo("frame rate: 30 fps assumed (the pose2d files do not record their videos'; --fps sets it)")
        return 30.0
    first = next(iter(rates))
    fps = rates[first]
    lacking = [n for n in files if n not in rates]
    if lacking or max(rates.values()) - min(rates.values()) > 1e-3 * fps:
        echo(f"frame rate: {fps:g} fps ({first}'s); the pose2d files record "
             + ", ".join(f"{n} {rates[n]:g}" if n in rates else f"{n} none" for n in files)
             + (" (cameras with no shared clock: see capture3d sync)" if len(set(rates.values())) > 1 else ""))
    return fps


def points3d_path(output) -> Path:
    """Where ``triangulate -o OUTPUT`` writes: ``OUTPUT`` itself, or ``OUTPUT/points3d.npz`` when it
    is a folder (one that exists, or any path written with a trailing slash)."""
    path = io.file_in_folder(output, "points3d.npz")
    if path.exists() and not path.is_file():
        raise FileFormatError(path, "cannot write the 3D points here: neither a file nor a folder")
    return path


@warnings_once()   # each pass repeats the warnings of the last: shown once
def triangulate_folder(pose2d, calibration, output, *, fps: float | None = None,
                       options: ProcessOptions = ProcessOptions(), triangulation_changes: dict | None = None,
                       echo=None) -> tuple[Path | None, object]:
    """``capture3d triangulate``: the pose2d files of a folder (``<camera>.npz`` for every camera
    of ``calibration``) -> everyone in 3D (:func:`reconstruct_people` with ``options.people``,
    ``single``, ``triangulation`` (default: :func:`triangulation_for_images`, as ``process``; with
    ``triangulation_changes``, fields of it set), ``filter`` and
    ``view_offsets`` and ``self_calibration`` (:func:`reconstruct_with_view_offsets`; the command turns
    them off unless asked) -> ``output`` (points3d.npz; a refined calibration goes beside it as
    ``calibration_refined.toml``; ``output`` a folder: ``points3d.npz`` in it, :func:`points3d_path`).
    ``fps`` frames per second, for ``time_s`` and the filters; None: the rate the pose2d files
    recorded (the first camera's that has one), else 30; with a ``sync.toml``, its reference
    camera's. ``echo(line)`` gets what was assumed about image sizes and the frame rate (default:
    the log). Returns ``(path or None when nobody was found, reconstruction)``."""
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be > 0 frames per second, got {fps}")
    asked_fps = fps
    output = points3d_path(output)      # before the work: a wrong -o must not cost the reconstruction
    rig = require_poses(Rig.load(calibration), calibration)
    folder = Path(pose2d)
    if not folder.is_dir():
        raise FileFormatError(folder, "no such folder of pose2d files (<camera>.npz, from capture3d detect)"
                              if not folder.exists() else "not a folder: triangulate reads a folder of "
                              "<camera>.npz files (from capture3d detect)")
    files = {p.stem: p for p in folder.glob("*.npz")}
    missing = [n for n in rig.names if n not in files]
    if missing:
        raise FileFormatError(folder, f"no 2D keypoints for cameras {missing} of the calibration (found {sorted(files)})")
    files = {n: files[n] for n in rig.names}
    sync = find_sync(folder.parent, options.sync, cameras=rig.names)
    if sync is None:
        cand, frames, joints, sizes = io.stack_pose2d_files(files)
        if fps is None:
            fps = _recorded_frame_rate(files, echo or log.warning)
        time_s = frames / fps
    else:   # SESSION/sync.toml beside SESSION/pose2d, or options.sync
        cand, frames, time_s, joints, sizes = resample_pose2d_files(files, sync)
        fps = sync.cameras[sync.reference].fps
        if asked_fps is not None and abs(asked_fps - fps) > 1e-6 * fps:
            (echo or log.warning)(f"frame rate: {fps:g} fps, the sync reference {sync.reference}'s, not the "
                                  f"{asked_fps:g} asked for (the clocks say when each frame was)")
        (echo or log.info)(f"clocks from {options.sync or folder.parent / 'sync.toml'} ({sync.method}): "
                           f"2D keypoints interpolated to {sync.reference}'s {len(frames)} frames")
    _check_frame_counts(cand, rig.names, files, echo or log.warning, one_clock=sync is None)
    rig, notes = match_rig_sizes(rig, sizes, source="pose2d image", paths=files)
    for note in notes:
        (echo or log.warning)(note)
    changes = triangulation_changes or {}
    tri = replace(options.triangulation, **changes) if options.triangulation else \
        triangulation_for_images({c.name: c.size for c in rig}, **changes)   # the calibration's, where 2D has none
    rec, _, offsets, _, calib = reconstruct_with_view_offsets(cand, rig, fps=fps, joint_names=joints, options=options,
                                                              triangulation=tri)
    _save_refined_calibration(calib, rig.names, Path(output).with_name("calibration_refined.toml"), calibration,
                              echo or log.info)
    if offsets is not None:
        (echo or log.info)(_offsets_line(rig.names, offsets))
    (echo or log.info)(f"{'person' if options.single else 'people'}: {rec.raw.tracks.summary()}")
    if set(COCO17) <= set(joints):   # the lines process prints, for the same figures
        for person in person_figures(rec, rig, joints, tri, held_out=False):   # person_line does not show it
            (echo or log.info)(person_line(person, len(frames)))
    return save_people(output, rec, joint_names=joints, frame_index=frames, time_s=time_s,
                       single=options.single), rec


def reconstruct_with_view_offsets(cand, rig, *, fps: float, joint_names, options: ProcessOptions, triangulation):
    """:func:`reconstruct_people` on ``cand (C, F, S, J, 3)``, with ``options.self_calibration``
    and ``options.view_offsets`` (three cameras or more) in two passes: the first, without
    smoother, finds the people; on their keypoints each camera's rotation (and what else the
    options free) is refined (:func:`~capture3d.reconstruct.self_calibration.refine_extrinsics`), then each camera's 2D
    offset is fitted against that rig (:func:`fit_view_offsets`) and taken away from ``cand``;
    the second reconstructs again, with the refined rig, and ``options.filter``.

    Returns ``(reconstruction, cand (offsets applied), ViewOffsets or None, seconds, SelfCalibration
    or None)``; seconds per stage (``view_offsets``: fitting them and the second pass's association
    and triangulation; ``self_calibration``: the refinement). The rig to use with the result is
    the refinement's when its ``ok`` is True."""
    refine = options.self_calibration is not None and len(rig) >= 3
    if options.self_calibration is not None and not refine:
        log.warning("self-calibration skipped: it needs 3 cameras or more (two views always agree), got %d", len(rig))
    offsets_on = options.view_offsets and len(rig) >= 3
    fit = refine or offsets_on
    again = dict(fps=fps, joint_names=joint_names, options=options.people, single=options.single,
                 association=options.association, triangulation=triangulation)
    # with a second pass the first only feeds it: no smoother (the skeleton fit costs seconds)
    rec = reconstruct_people(cand, rig, **again,
                             filter=replace(options.filter, smoother="none") if fit else options.filter)
    seconds = dict(rec.seconds)
    if not fit:
        return rec, cand, None, seconds, None
    offsets = calib = None
    if len(rec.raw.person_id) and refine:
        t = time.perf_counter()
        calib = refine_extrinsics(rec.raw.keypoints, rig, triangulation=triangulation,
                                  options=options.self_calibration)
        if calib.ok:
            rig = calib.rig
        seconds["self_calibration"] = time.perf_counter() - t
    t = time.perf_counter()
    if len(rec.raw.person_id) and offsets_on:
        offsets = fit_view_offsets(rec.raw.keypoints, rig, triangulation=triangulation)
        if offsets.fitted.any():
            cand = apply_view_offsets(cand, offsets.offsets)
    rec = keep_person_ids(reconstruct_people(cand, rig, **again, filter=options.filter), rec)
    seconds["view_offsets" if offsets_on else "second_pass"] = time.perf_counter() - t - rec.seconds["filter"]
    seconds["filter"] = rec.seconds["filter"]
    return rec, cand, offsets, seconds, calib


def _save_refined_calibration(calib, names, path, calibration, echo) -> Path | None:
    """Say what the self-calibration did (``calib``, None when it did not run) and write the rig it
    refined to ``path``, beside the results (the user's ``calibration`` is untouched); the path
    written, or None."""
    if calib is None:
        return None
    echo(_calibration_line(names, calib))
    if not calib.ok:
        return None
    written = calib.rig.save(path)
    echo(f"refined calibration written to {written} ({calibration} is unchanged)")
    return written


def _calibration_line(names, calib) -> str:
    if not calib.ok:
        return f"calibration not refined: {calib.message}"
    return ("calibration refined on the people: rotations " + ", ".join(
        f"{n} {calib.rotation_change_deg[c]:.2f} deg" for c, n in enumerate(names))
            + (", centres " + ", ".join(f"{n} {1000 * calib.center_shift_m[c]:.0f} mm" for c, n in enumerate(names))
               if calib.center_shift_m.any() else "")
            + (", focal lengths " + ", ".join(f"{n} {100 * calib.focal_change[c]:+.2f} %" for c, n in enumerate(names))
               if calib.focal_change.any() else "")
            + "; median residual per camera " + ", ".join(f"{_fmt(a)} -> {_fmt(b)}" for a, b in
                                                          zip(calib.residual_before_px, calib.residual_after_px))
            + f" px ({calib.points} points)" + (f"; {calib.message}" if calib.message else ""))


def _offsets_line(names, offsets) -> str:
    return ("view offsets: " + ", ".join(f"{n} ({dx:+.1f}, {dy:+.1f}) px" for n, (dx, dy) in zip(names, offsets.offsets))
            + "; held-out error per camera " + ", ".join(f"{_fmt(a)} -> {_fmt(b)}" for a, b in
                                                         zip(offsets.held_out_before_px, offsets.held_out_after_px))
            + " px")


def _finite_median(values) -> float | None:
    """Median of the finite ``values``; None when there are none (a bone never seen whole)."""
    v = np.array([x for x in values if x is not None], float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else None


def _fmt(value, spec=".2f") -> str:
    return "-" if value is None or not np.isfinite(value) else format(value, spec)


def _check_frame_counts(cand, names, pose2d, echo, *, one_clock: bool):
    """The checks of the pose2d files ``pose2d {camera: path}`` read as ``cand (C, F, S, J, 3)``.
    With ``one_clock`` (no sync.toml, no frames.csv) a line to ``echo`` when the cameras recorded
    different numbers of frames (:func:`unequal_lengths_hint`). Then a warning for one camera's
    file from another session, which shows as a span of frames unlike the others'; a camera whose
    span is just its own frame count is left to that line, the count explains it."""
    counts = pose2d_frame_counts(pose2d) if one_clock else None
    hint = unequal_lengths_hint(pose2d, counts=counts) if one_clock else None
    if hint:
        echo(hint)
    said = counts if hint else None                                    # the counts that line gave
    seen = np.isfinite(cand[..., 0]).any(axis=(2, 3))                  # (C, F) frames with anybody
    spans = {n: int(np.flatnonzero(row).max(initial=-1) + 1) for n, row in zip(names, seen)}
    typical = float(np.median([v for v in spans.values() if v > 0] or [0]))
    for n, span in spans.items():
        if span > 0 and abs(span - typical) > 0.2 * typical:
            if said is not None and abs(span - said[n]) <= max(1, 0.01 * span):
                continue
            log.warning("%s: people in the first %d frames, the other cameras' in about %d; is it from this "
                        "session?", pose2d[n], span, typical)


def _camera_errors(rec, rig) -> dict:
    """Median pixel distance per camera between the 2D keypoints used and the reprojected raw 3D."""
    raw = rec.raw
    out = {}
    for c, name in enumerate(rig.names):
        kp = raw.keypoints[:, c]                                          # (P, F, J, 3)
        uv = rig[name].project(raw.points)                               # (P, F, J, 2)
        d = np.linalg.norm(uv - kp[..., :2], axis=-1)
        d = d[np.isfinite(d) & raw.ok]
        out[name] = float(np.median(d)) if d.size else None
    return out


def person_figures(rec, rig, joint_names, triangulation, *, held_out: bool = True) -> list[dict]:
    """``report.json``'s ``people``: per person of the reconstruction ``rec`` (a
    :class:`~capture3d.reconstruct.PeopleReconstruction`), the share of frames it is in and has all
    17 COCO joints (of the triangulation, before gap filling), the median reprojection error and
    the median held-out error (each view against the other views' point, as ``triangulation``
    solves it; None with fewer than 3 cameras or without ``held_out``, which costs a triangulation
    per camera), pixels, the bone-length CV per bone (after the filters) and its median, and the
    swaps fixed."""
    coco = [list(joint_names).index(j) for j in COCO17]
    raw = rec.raw
    people = []
    # each view against the 3D of the other views: the honest figure of the 2D (the in-sample error
    # flatters a view its own triangulation was pulled towards, and falls when views are rejected)
    held = np.hypot(*np.moveaxis(held_out_residuals(raw.keypoints, rig, triangulation=triangulation), -1, 0)) \
        if held_out and len(raw.person_id) and len(rig) >= 3 else np.full(raw.keypoints.shape[:-1], np.nan)
    for p, pid in enumerate(raw.person_id):
        ok = raw.ok[p]
        cv = bone_length_cv(rec.points[p], joint_names)
        people.append({
            "person_id": int(pid),
            "frames_with_person": float(np.mean(ok.any(axis=1))),
            "frames_with_all_17_joints": float(np.mean(ok[:, coco].all(axis=1))),
            "median_reprojection_error_px": float(np.median(raw.reprojection_error_px[p][ok])) if ok.any() else None,
            "median_held_out_error_px": _finite_median(held[p][..., coco].ravel()),
            "bone_length_cv": cv,
            "bone_length_cv_median": _finite_median(cv.values()),
            "swaps_fixed": raw.swaps[p] if raw.swaps else None,
        })
    return people


def person_line(person: dict, n_frames: int) -> str:
    """The line ``process`` and ``triangulate`` print for one of :func:`person_figures`' people."""
    return (f"p{person['person_id']}: {person['frames_with_person']:.0%} of {n_frames} frames, "
            f"{person['frames_with_all_17_joints']:.0%} with all 17 joints; median reprojection error "
            f"{_fmt(person['median_reprojection_error_px'])} px; bone-length CV median "
            f"{_fmt(person['bone_length_cv_median'], '.3f')}")


def _report(session, calibration, names, frames, fps, options, joints, rec, rig, tri, timing, failed, guided,
            offsets=None, judged=None, calib=None, refined_path=None, flip_judged=None) -> dict:
    coco = [joints.index(j) for j in COCO17]
    raw = rec.raw
    people = person_figures(rec, rig, joints, tri)
    ok = raw.ok
    bones = sorted({b for person in people for b in person["bone_length_cv"]})
    return {
        "session": str(session), "calibration": str(calibration), "cameras": names, "frames": int(len(frames)),
        "fps": fps, "detector": options.detect.detector, "mode": "single" if options.single else "people",
        "persons": len(people), "person_id": [int(i) for i in raw.person_id],
        "frames_with_person": float(np.mean(ok.any(axis=(0, 2)))) if len(people) else 0.0,
        "frames_with_all_17_joints": float(np.mean(ok[..., coco].all(axis=-1).any(axis=0))) if len(people) else 0.0,
        "median_reprojection_error_px": float(np.median(raw.reprojection_error_px[ok])) if ok.any() else None,
        "bone_length_cv": {b: _finite_median(q["bone_length_cv"].get(b, np.nan) for q in people) for b in bones},
        "people": people,
        "camera_reprojection_error_px": _camera_errors(rec, rig) if len(people) else {},
        "association": raw.tracks.summary(), "seconds": timing, "exports_failed": failed,
        "steps": {"fix_swaps": bool(raw.swaps), "temporal_views": raw.temporal,
                  "suspect_views": raw.suspect_views,
                  "view_offsets": offsets.to_dict(names) if offsets is not None else None,
                  "self_calibration": None if calib is None else {**calib.to_dict(names),
                                                                  "written": None if refined_path is None
                                                                  else str(refined_path)},
                  "guided_crops": {c: {"tried": n, "found": a} for c, (n, a) in (guided or {}).items()},
                  "guided_views_judged": judged,
                  "flip_views_judged": flip_judged},
        "triangulation_options": asdict(tri),
    }


__all__ = ["ProcessOptions", "ProcessResult", "process_session", "reconstruct_session", "session_rig",
           "require_poses", "triangulate_folder", "save_people", "video_positions",
           "triangulation_for_images", "person_figures", "person_line"]
