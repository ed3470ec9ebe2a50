"""Reprojection overlays: a camera's images with its 2D detections and the reprojected 3D skeleton.

Green: what the detector saw in this view. Orange: the 3D skeleton projected back into it. A red
line joins the two where they disagree by more than ``max_error_px``, so a glance shows which
joints, frames and cameras the reconstruction does not trust. With no video (synthetic data),
the frames are drawn on a grey background with the floor grid seen from that camera.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..camera import Camera
from ..skeleton import bones_for
from ..video import VideoWriter

DETECTION_BGR = (60, 200, 60)
REPROJECTION_BGR = (25, 90, 240)
DISAGREE_BGR = (40, 40, 220)


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


def overlay_frame(background, camera: Camera, points3d, joint_names, keypoints2d=None, *,
                  max_error_px: float = 15.0, label: str = "") -> np.ndarray:
    """One overlay image.

    Parameters
    ----------
    background : (H, W, 3) uint8
        The camera's image (BGR), or :func:`floor_background`.
    points3d : (J, 3) float
        Meters, world frame.
    keypoints2d : (J, 3) float, optional
        The view's detections (x, y, score), NaN where absent.
    """
    img = background.copy()
    proj = camera.project(np.asarray(points3d, float))
    draw_skeleton(img, proj, joint_names, REPROJECTION_BGR, thickness=2, radius=5)
    if keypoints2d is not None:  # on top, smaller: where both agree, a green dot in an orange one
        det = np.asarray(keypoints2d, float)[:, :2]
        err = np.linalg.norm(det - proj, axis=1)
        with np.errstate(invalid="ignore"):
            for j in np.flatnonzero(err > max_error_px):
                cv2.line(img, _point(det[j]), _point(proj[j]), DISAGREE_BGR, 2, cv2.LINE_AA)
        draw_skeleton(img, det, joint_names, DETECTION_BGR, thickness=1, radius=2)
        if np.isfinite(err).any():
            label += f"  median error {np.nanmedian(err):.1f} px"
    cv2.putText(img, label, (12, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return img


def overlay_video(out, camera: Camera, points3d, joint_names, keypoints2d=None, *, video=None,
                  fps: float = 30.0, frame_index=None, max_error_px: float = 15.0, progress=None) -> Path:
    """Write ``out`` (MP4): every frame of ``points3d (F, J, 3)`` reprojected into ``camera``,
    over ``video`` (its frames ``frame_index``, default 0..F-1) or the floor grid, with
    ``keypoints2d (F, J, 3)`` drawn beside."""
    pts = np.asarray(points3d, float)
    frames = np.arange(len(pts)) if frame_index is None else np.asarray(frame_index)
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
                if cap is not None:
                    if f != position:
                        cap.set(cv2.CAP_PROP_POS_FRAMES, int(f))
                    ok, background = cap.read()
                    position = int(f) + 1
                    if not ok:
                        raise OSError(f"{video}: frame {f} cannot be read (the video is shorter than the data)")
                kp = None if keypoints2d is None else keypoints2d[k]
                writer.write(overlay_frame(background, camera, pts[k], joint_names, kp, max_error_px=max_error_px,
                                           label=f"{camera.name}  frame {f}"))
                if progress is not None:
                    progress.update(1)
    finally:
        if cap is not None:
            cap.release()
    return Path(out)
