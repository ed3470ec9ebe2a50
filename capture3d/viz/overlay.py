"""Reprojection overlays: a camera's images with its 2D detections and the reprojected 3D skeleton.

White, thin: what the detector saw in this view, every person it found. In each person's colour
(:func:`~capture3d.viz.colors.person_color`; vermillion for a single-person file): the 3D
skeleton projected back into it, labelled ``p<id>`` above the head when there are several. Each
person is paired with the detection nearest to its reprojection (Hungarian assignment on the
median joint distance, within a tenth of the image diagonal); a red line joins the two where
they disagree by more than ``max_error_px``, so a glance shows which joints, frames and cameras
the reconstruction does not trust. With no video (synthetic data), the frames are drawn on a
grey background with the floor grid seen from that camera.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..camera import Camera
from ..io import as_persons
from ..skeleton import bones_for
from ..video import VideoWriter
from .colors import draw_person_labels, person_color, person_label, topmost

DETECTION_BGR = (235, 235, 235)            # near white: no person's colour
REPROJECTION_BGR = person_color(None).bgr   # a single person's reprojection
DISAGREE_BGR = (40, 40, 220)
MATCH_DIAGONAL_FRACTION = 0.1               # farther than this (median joint distance), no pairing


def _point(p):
    return int(round(p[0])), int(round(p[1]))


def draw_skeleton(image, xy, joint_names, color, *, thickness: int = 2, radius: int = 4):
    """Draw bones and joints of ``xy (J, 2)`` pixels (NaN = absent) onto ``image`` in place."""
    ok = np.isfinite(xy).all(1)
    for a, b in bones_for(joint_names):
        if ok[a] and ok[b]:
            cv2.line(image, _point(xy[a]), _point(xy[b]), color, thickness, cv2.LINE_AA)
    for p in xy[ok]:
        cv2.circle(image, _point(p), radius, color, -1, cv2.LINE_AA)
    return image


def floor_background(camera: Camera, *, half_m: float = 3.0, step_m: float = 0.5) -> np.ndarray:
    """A grey ``(H, W, 3)`` image with the floor grid (z = 0) as ``camera`` sees it."""
    w, h = camera.size
    img = np.full((h, w, 3), 70, np.uint8)
    ticks = np.arange(-half_m, half_m + 1e-9, step_m)
    s = np.linspace(-half_m, half_m, 60)
    for t in ticks:
        for line in (np.stack([np.full_like(s, t), s, 0 * s], 1), np.stack([s, np.full_like(s, t), 0 * s], 1)):
            px = camera.project(line)
            px = px[np.isfinite(px).all(1)]
            if len(px) > 1:
                cv2.polylines(img, [np.round(px).astype(np.int32)], False, (110, 110, 110), 1, cv2.LINE_AA)
    return img


def match_detections(projected, detected, *, max_median_px: float) -> dict[int, int]:
    """Pair people with detections: ``{person: detection}`` minimising the summed median joint
    distance (Hungarian), pairs farther than ``max_median_px`` left out.

    Parameters
    ----------
    projected : (P, J, 2) float
        Pixels, the reprojected people; NaN where absent.
    detected : (S, J, 2) float
        Pixels, the view's detections; NaN where absent.
    """
    from scipy.optimize import linear_sum_assignment

    gap = np.linalg.norm(projected[:, None] - detected[None], axis=-1)          # (P, S, J)
    seen = np.isfinite(gap)
    cost = np.full(gap.shape[:2], np.inf)
    has = seen.any(-1)
    if not has.any():
        return {}
    cost[has] = [np.median(g[s]) for g, s in zip(gap[has], seen[has])]
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e12))
    return {int(p): int(s) for p, s in zip(rows, cols) if cost[p, s] <= max_median_px}


def overlay_frame(background, camera: Camera, points3d, joint_names, keypoints2d=None, *, person_ids=None,
                  max_error_px: float = 15.0, label: str = "") -> np.ndarray:
    """One overlay image.

    Parameters
    ----------
    background : (H, W, 3) uint8
        The camera's image (BGR), or :func:`floor_background`.
    points3d : (J, 3) or (P, J, 3) float
        Meters, world frame: one person, or several with ``person_ids (P,)`` (default 0..P-1).
    keypoints2d : (J, 3) or (S, J, 3) float, optional
        The view's detections (x, y, score) in ``S`` person slots, NaN where absent.
    """
    img = background.copy()
    pts = np.asarray(points3d, float)
    pts, ids = as_persons(pts[None] if pts.ndim == 2 else pts[:, None], person_ids)
    proj = np.stack([camera.project(p[0]) for p in pts])                       # (P, J, 2)
    colors = [person_color(pid).bgr for pid in ids]
    for xy, color in zip(proj, colors):
        draw_skeleton(img, xy, joint_names, color, thickness=2, radius=5)
    errors = {}
    if keypoints2d is not None:  # on top, smaller: where both agree, a white dot in a coloured one
        det = np.asarray(keypoints2d, float)
        det = (det[None] if det.ndim == 2 else det)[..., :2]                    # (S, J, 2)
        w, h = camera.size
        pairs = match_detections(proj, det, max_median_px=MATCH_DIAGONAL_FRACTION * float(np.hypot(w, h)))
        for p, s in pairs.items():
            err = np.linalg.norm(det[s] - proj[p], axis=1)
            with np.errstate(invalid="ignore"):
                for j in np.flatnonzero(err > max_error_px):
                    cv2.line(img, _point(det[s, j]), _point(proj[p, j]), DISAGREE_BGR, 2, cv2.LINE_AA)
            if np.isfinite(err).any():
                errors[p] = float(np.nanmedian(err))
        for xy in det:
            draw_skeleton(img, xy, joint_names, DETECTION_BGR, thickness=1, radius=2)
    draw_person_labels(img, [topmost(xy) for xy in proj], ids)
    if ids == [None] and errors:
        label += f"  median error {errors[0]:.1f} px"
    elif errors:
        label += "  median error " + "  ".join(f"{person_label(ids[p])} {e:.1f} px" for p, e in sorted(errors.items()))
    cv2.putText(img, label, (12, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return img


def overlay_video(out, camera: Camera, points3d, joint_names, keypoints2d=None, *, person_ids=None, video=None,
                  fps: float = 30.0, frame_index=None, max_error_px: float = 15.0, progress=None) -> Path:
    """Write ``out`` (MP4): every frame of ``points3d (F, J, 3)`` (or of several people
    ``(P, F, J, 3)`` with ``person_ids (P,)``) reprojected into ``camera``, over ``video`` (its
    frames ``frame_index``, default 0..F-1; -1 where the camera was not recording: a black frame)
    or the floor grid, with the detections ``keypoints2d (F, J, 3)`` or ``(F, S, J, 3)`` (every
    person slot) drawn beside."""
    pts = np.asarray(points3d, float)
    n_frames = pts.shape[-3]
    frames = np.arange(n_frames) if frame_index is None else np.asarray(frame_index)
    cap = None
    if video is not None:
        cap = cv2.VideoCapture(str(video))
        if not cap.isOpened():
            raise OSError(f"{video}: cannot open the video")
    grid = floor_background(camera) if cap is None else None
    position = 0
    try:
        with VideoWriter(out, fps, camera.size) as writer:
            for k, f in enumerate(frames):
                background = grid
                if f < 0:   # an instant before or after this camera's recording (cameras without a shared clock)
                    background = np.zeros((camera.size[1], camera.size[0], 3), np.uint8)
                elif cap is not None:
                    if f != position:
                        cap.set(cv2.CAP_PROP_POS_FRAMES, int(f))
                    ok, background = cap.read()
                    position = int(f) + 1
                    if not ok:
                        raise OSError(f"{video}: frame {f} cannot be read (the video is shorter than the data)")
                kp = None if keypoints2d is None else keypoints2d[k]
                at = pts[k] if pts.ndim == 3 else pts[:, k]
                label = f"{camera.name}  frame {f}" if f >= 0 else f"{camera.name}  not recording"
                writer.write(overlay_frame(background, camera, at, joint_names, kp, person_ids=person_ids,
                                           max_error_px=max_error_px, label=label))
                if progress is not None:
                    progress.update(1)
    finally:
        if cap is not None:
            cap.release()
    return Path(out)


def _video_info(path) -> tuple[tuple[int, int], int]:
    """``((width, height), frame count)`` of a video, from its container."""
    cap = cv2.VideoCapture(str(path))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    return size, frames


def overlay_session(points3d, calibration, out, *, pose2d=None, videos=None, cameras=None, make_bar=None,
                    echo=None, sync=None) -> list[Path]:
    """``capture3d overlay``: one video per camera of the people of ``points3d`` (a points3d.npz)
    reprojected with ``calibration``, over the session's ``videos`` (a folder or session holding
    ``<camera>.<ext>``; default a floor grid) and, with ``pose2d`` (a folder of ``<camera>.npz``),
    every 2D detection. A video whose image size differs from its camera's is matched by
    :func:`capture3d.camera.image_size.match_image_size`, its line passed to ``echo``.

    Cameras without a shared clock: with ``sync`` (a sync.toml path or
    :class:`capture3d.sync.SyncResult`; default ``sync.toml`` of the ``videos`` session when there),
    instant ``k`` of ``points3d`` (its ``time_s``, common clock) is drawn over each camera's own
    video frame nearest to it (:func:`capture3d.sync.nearest_frames`), with that frame's
    detections. Returns the files written, ``out/<camera>.mp4``."""
    from .. import io
    from ..camera.image_size import match_image_size
    from ..errors import FileFormatError
    from ..rig import Rig

    data = io.load_points3d(points3d)
    rig = Rig.load(calibration)
    fps = io.frame_rate(data["time_s"])
    cameras = list(cameras or rig.names)
    unknown = [c for c in cameras if c not in rig.names]
    if unknown:
        raise FileFormatError(calibration, f"has no cameras {unknown} ({rig.names})")
    n_frames, n_joints = len(data["frame_index"]), len(data["joint_names"])
    clocks = _session_clocks(sync, videos, cameras)
    written = []
    for name in cameras:
        camera, video, video_frames = rig[name], None, None
        if videos:
            found = sorted(Path(videos).glob(f"{name}.*")) or sorted(Path(videos).glob(f"videos/{name}.*"))
            if not found:
                raise FileFormatError(videos, f"no video named {name}.*")
            video = found[0]
            size, video_frames = _video_info(video)
            camera, note = match_image_size(camera, size, path=video)
            if note and echo is not None:
                echo(note)
        own_frames = np.asarray(data["frame_index"])        # one clock: instant k is frame k of every camera
        if clocks is not None:
            own_frames = _own_frames(clocks, name, data["time_s"], video, video_frames)
        kp = None
        if pose2d:  # every person slot the detector filled: (F, S, J, 3)
            path = Path(pose2d) / f"{name}.npz"
            d = io.load_pose2d(path)
            if d["keypoints"].shape[2] != n_joints:
                raise FileFormatError(path, f"{d['keypoints'].shape[2]} joints, {points3d} has {n_joints}")
            rows = {f: k for k, f in enumerate(d["frame_index"])}
            kp = np.full((n_frames, d["keypoints"].shape[1], n_joints, 3), np.nan)
            for k, f in enumerate(own_frames):
                if f in rows:
                    kp[k] = d["keypoints"][rows[f]]
        bar = make_bar(f"overlay {name}", n_frames) if make_bar else None
        written.append(overlay_video(Path(out) / f"{name}.mp4", camera, data["points"], data["joint_names"], kp,
                                     person_ids=data["person_id"], video=video, fps=fps,
                                     frame_index=own_frames, progress=bar))
        if bar is not None:
            bar.close()
    return written


def _session_clocks(sync, videos, cameras):
    """The clocks to draw by: ``sync`` itself, the file it names, or the ``videos`` session's
    ``sync.toml`` (also one level up from a ``videos/`` folder); None: one shared clock."""
    from ..sync import SyncResult, find_sync

    if isinstance(sync, SyncResult):
        return sync
    if sync is not None:
        return find_sync(None, sync, cameras=cameras)
    if videos is None:
        return None
    folder = Path(videos)
    for session in (folder, folder.parent) if folder.name == "videos" else (folder,):
        if (session / "sync.toml").is_file():
            return find_sync(session, session / "sync.toml", cameras=None)
    return None


def _own_frames(clocks, name, time_s, video, video_frames) -> np.ndarray:
    """The camera's own video frame under each common-clock instant, -1 where it was not
    recording (:func:`capture3d.sync.nearest_frames`); ``video_frames`` the container's frame
    count of ``video`` (None without a video)."""
    from ..errors import FileFormatError
    from ..sync import nearest_frames
    from ..sync.signals import video_frame_times

    if name not in clocks.cameras:
        raise FileFormatError("sync.toml", f"has no clock for camera {name!r} (it has {sorted(clocks.cameras)})",
                              camera=name)
    clock = clocks.cameras[name]
    container = video_frame_times(video) if video is not None and clock.timestamps == "container" else None
    if video is not None:
        n_video = len(container) if container is not None else video_frames
    else:
        n_video = clock.frames or len(time_s)
    return nearest_frames(clocks, name, np.asarray(time_s, float), n_video, container_times_s=container)
