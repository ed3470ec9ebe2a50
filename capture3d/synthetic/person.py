"""A person drawn into a camera image: a flat-shaded mannequin (trousers, shirt, skin, a face)
over the COCO-17 joints of :mod:`capture3d.synthetic.motion`, so that a real 2D detector has
something to find in synthetic videos. Body parts are painted far to near.

On the demo rig (640 x 480, 3.5 m away) BlazePose finds this mannequin in about 80 % of the views
with a median error of about 8 px: enough for the pipeline to run for real, not a detector
benchmark.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..camera import Camera
from ..camera.camera import rotation_from_rodrigues
from ..skeleton import COCO17

SKIN, SHIRT, TROUSERS, EYES, MOUTH = (150, 180, 225), (60, 60, 200), (120, 70, 40), (40, 30, 30), (110, 120, 190)
_J = {n: i for i, n in enumerate(COCO17)}
#: (joint, joint, width in meters, colour) of the drawn limbs.
LIMBS = tuple((f"{s}_{a}", f"{s}_{b}", w, c) for s in ("left", "right") for a, b, w, c in (
    ("hip", "knee", 0.15, TROUSERS), ("knee", "ankle", 0.12, TROUSERS),
    ("shoulder", "elbow", 0.10, SHIRT), ("elbow", "wrist", 0.08, SKIN)))


def background(size, colour_sky=(170, 170, 165), colour_floor=(120, 130, 120)) -> np.ndarray:
    """A plain two-tone ``(H, W, 3)`` backdrop: wall above the image middle, floor below."""
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = colour_sky
    img[h // 2:] = colour_floor
    return img


def render_person(camera: Camera, points, image=None) -> np.ndarray:
    """Draw the person with COCO-17 joints ``points (17+, 3)`` (meters, world frame) into
    ``image`` (``(H, W, 3)`` BGR, modified and returned; default :func:`background`)."""
    points = np.asarray(points, float)[:len(COCO17)]
    img = background(camera.size) if image is None else image
    uv = camera.project(points)
    depth = (points @ rotation_from_rodrigues(camera.rvec).T + camera.tvec)[:, 2]
    if not np.all(depth > 0.1):
        return img                                     # behind or too close to the camera
    f = camera.matrix[0, 0]

    def px(meters, z):
        return max(1, int(round(f * meters / z)))

    def pt(p):
        return tuple(int(round(v)) for v in p)

    parts = []   # (depth, draw function)
    for a, b, width, colour in LIMBS:
        ia, ib = _J[a], _J[b]
        z = (depth[ia] + depth[ib]) / 2
        parts.append((z, lambda ia=ia, ib=ib, w=px(width, z), c=colour:
                      cv2.line(img, pt(uv[ia]), pt(uv[ib]), c, w, cv2.LINE_AA)))
    corners = [_J[n] for n in ("left_shoulder", "right_shoulder", "right_hip", "left_hip")]
    z_torso = depth[corners].mean()

    def torso():
        cv2.fillConvexPoly(img, np.int32(np.round(uv[corners])), SHIRT, cv2.LINE_AA)
        for c in corners:
            cv2.circle(img, pt(uv[c]), px(0.07, depth[c]), SHIRT, -1, cv2.LINE_AA)
    parts.append((z_torso, torso))
    ears = [_J["left_ear"], _J["right_ear"]]
    z_head = depth[ears].mean()

    def head():
        centre = camera.project(points[ears].mean(axis=0)[None])[0]
        r = px(0.11, z_head)
        cv2.circle(img, pt(centre), r, SKIN, -1, cv2.LINE_AA)
        if depth[_J["nose"]] < z_head:                 # the face turned towards the camera
            for e in ("left_eye", "right_eye"):
                cv2.circle(img, pt(uv[_J[e]]), max(1, r // 6), EYES, -1, cv2.LINE_AA)
            cv2.circle(img, pt(uv[_J["nose"]]), max(1, r // 8), MOUTH, -1, cv2.LINE_AA)
    parts.append((z_head - 0.01, head))
    for _, draw in sorted(parts, key=lambda p: -p[0]):
        draw()
    return img
