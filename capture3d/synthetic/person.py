"""A person drawn into a camera image, for a real 2D detector to find in synthetic videos.

The body is built around the COCO-17 joints (and the feet joints when given, else feet placed
as :mod:`capture3d.synthetic.motion` places them): tapered capsules of real proportions for the
limbs (trousers, shirt sleeves, bare forearms, hands, shoes), a torso with a chest depth, so that
side views are not a stick, a neck, and a head with hair, ears, eyes, nose and mouth. Each part has
a dark outline and a lit stripe on its upper-left side, so that a limb crossing the body or the
other leg stays visible. Parts are painted far to near; people too (render the farthest first).
Seen from behind, hair covers the head down to the nape and the shaded neck stays behind the
collar: a bright neck under the hair read as a face, and BlazePose then took a back view for a
front view (left and right exchanged) in 10 % of the demo's person-views, 5 % since. The head is
a skull as deep behind the ears as the forehead is ahead of them, a jaw and a nose tip ahead of
the face (the demo's 2D error 10.0 -> 9.6 px against a small skull centred ahead of the ears).
``style`` picks one of a few outfits and skin tones, so that two people look different.

Measured on the demo rig (1280 x 720, cameras at 3.5 m): 10.8 ms CPU per image of two people
(load 2; the last session measured 6.8 ms). BlazePose finds one person alone with a median error
of 5.2 px with the demo's cameras at 4.5 m (``capture3d demo --people 1 --frames 60``; 6.7 px at
3.5 m before the face of :data:`FACE_AHEAD`; the old flat mannequin without feet: 36 px with two
people); the demo's figures are in the README.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..camera import Camera
from ..camera.camera import rotation_from_rodrigues
from ..skeleton import COCO17, FEET

#: (shirt, sleeve-less forearm?, trousers, shoes, hair, skin), BGR. Shirts and trousers contrast
#: with each other, with the skin and with the backdrop.
OUTFITS = (
    ((50, 50, 190), False, (110, 60, 30), (245, 245, 245), (30, 40, 60), (140, 175, 225)),
    ((60, 150, 40), True, (45, 45, 45), (30, 30, 120), (20, 20, 20), (95, 130, 175)),
    ((30, 170, 230), False, (130, 110, 90), (35, 35, 35), (40, 90, 150), (165, 195, 235)),
    ((160, 60, 120), True, (35, 60, 120), (230, 230, 230), (25, 25, 30), (70, 100, 140)),
)
EYE_WHITE, PUPIL, MOUTH = (235, 235, 235), (40, 30, 25), (80, 80, 170)
_J = {n: i for i, n in enumerate(COCO17 + FEET)}
_UP = np.array([0.0, 0.0, 1.0])
#: The face (a skin disc of FACE_R, FACE_AHEAD in front of the skull's centre, under hair of the
#: skull's size) is drawn while the nose is at most FACING_MARGIN farther from the camera than the
#: skull's centre (up to about 117 degrees from the front), as a real profile shows the face in
#: front of the hair and a view from behind-aside still shows the cheek. Against the whole skull
#: disc in skin, only from cameras nearer the nose than the skull's centre (demo, 60 frames):
#: BlazePose's nose 50 -> 23 mm and eyes 41 / 34 -> 13 / 16 mm less behind the true ones in 3D,
#: head 2D error 6.3 -> 5.1 px; a margin of 0.07 m put the ears 39 mm ahead (28 here).
FACE_AHEAD, FACE_R, FACING_MARGIN = 0.03, 0.075, 0.05


_BACKDROPS: dict[tuple, np.ndarray] = {}


def background(size, colour_sky=(170, 170, 165), colour_floor=(120, 130, 120)) -> np.ndarray:
    """A plain two-tone ``(H, W, 3)`` backdrop: wall above the image middle, floor below (a new
    array each call; filling a 1280 x 720 image took 20 ms, copying a kept one takes 1)."""
    key = (tuple(size), tuple(colour_sky), tuple(colour_floor))
    if key not in _BACKDROPS:
        w, h = size
        img = np.empty((h, w, 3), np.uint8)
        img[:h // 2] = np.array(colour_sky, np.uint8)
        img[h // 2:] = np.array(colour_floor, np.uint8)
        _BACKDROPS[key] = img
    return _BACKDROPS[key].copy()


def _unit(v):
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else v * 0


def _body_points(p: np.ndarray) -> dict[str, np.ndarray]:
    """Every 3D point the drawing needs, world meters: the joints, the feet (placed like
    make_motion's when ``p`` has no feet joints) and the points the body shape hangs on."""
    q = {n: p[i] for n, i in _J.items() if i < len(p)}
    mid_hip = (q["left_hip"] + q["right_hip"]) / 2
    neck = (q["left_shoulder"] + q["right_shoulder"]) / 2
    right = _unit(q["right_hip"] - q["left_hip"] + q["right_shoulder"] - q["left_shoulder"])
    up = _unit(neck - mid_hip)
    forward = _unit(np.cross(up, right))
    scale = np.linalg.norm(neck - mid_hip) / 0.52          # body size against make_motion's adult
    for side in ("left", "right"):
        if f"{side}_heel" not in q:
            q[f"{side}_heel"] = q[f"{side}_ankle"] - 0.05 * scale * forward - 0.07 * scale * _UP
            q[f"{side}_foot_index"] = q[f"{side}_heel"] + 0.20 * scale * forward
        arm = _unit(q[f"{side}_wrist"] - q[f"{side}_elbow"])
        q[f"{side}_hand"] = q[f"{side}_wrist"] + 0.15 * scale * arm
        along = _unit(q[f"{side}_foot_index"] - q[f"{side}_heel"])
        q[f"{side}_toe"] = q[f"{side}_foot_index"] + 0.005 * scale * along
        q[f"{side}_heel_back"] = q[f"{side}_heel"] - 0.01 * scale * along + 0.02 * scale * _UP
    ears = (q["left_ear"] + q["right_ear"]) / 2
    face = _unit(q["nose"] - ears)
    head_up = _unit(np.cross(_unit(q["right_ear"] - q["left_ear"]), face))   # right x forward = up
    # the skull's centre 3.5 cm above the ears, as deep behind them as the forehead is ahead
    # (a real head is about 19 cm deep); the jaw from the cheeks to the chin, 12 cm below the eyes;
    # the nose tip ahead of the face
    q["head"] = ears + 0.035 * scale * head_up
    q["face"] = q["head"] + FACE_AHEAD * scale * face
    q["hair"] = q["head"] + 0.012 * scale * head_up - 0.012 * scale * face
    q["cheek"] = ears - 0.01 * scale * head_up + 0.035 * scale * face
    q["chin"] = q["nose"] - 0.06 * scale * head_up - 0.035 * scale * face
    q["mouth"] = q["nose"] - 0.035 * scale * head_up - 0.01 * scale * face
    q["neck_top"] = ears - 0.06 * scale * head_up
    q["nape"] = ears - 0.02 * scale * head_up - 0.04 * scale * face
    q["neck"] = neck + 0.02 * scale * up
    q["chest_top"] = neck - 0.04 * scale * up
    q["waist"] = mid_hip + 0.12 * scale * up
    q["mid_hip"] = mid_hip
    for side, sign in (("left", -1.0), ("right", 1.0)):
        q[f"{side}_shoulder_top"] = q[f"{side}_shoulder"] + 0.04 * scale * up - 0.01 * sign * scale * right
        q[f"{side}_waist"] = q["waist"] + sign * 0.14 * scale * right
        q[f"{side}_hip_out"] = q[f"{side}_hip"] + sign * 0.06 * scale * right - 0.04 * scale * up
    q["crotch"] = mid_hip - 0.09 * scale * up
    q["_scale"] = np.array([scale, 0, 0])
    return q


def render_person(camera: Camera, points, image=None, *, style: int = 0) -> np.ndarray:
    """Draw a person with joints ``points (J, 3)`` (meters, world frame; COCO-17, then
    optionally the 4 :data:`capture3d.skeleton.FEET` joints) into ``image`` (``(H, W, 3)``
    uint8 BGR, modified and returned; default :func:`background`), in outfit ``style``.
    Nothing is drawn for a person partly behind the camera or with NaN joints."""
    points = np.asarray(points, float)
    points = points[:len(COCO17) + len(FEET) if len(points) >= len(COCO17) + len(FEET) else len(COCO17)]
    img = background(camera.size) if image is None else image
    if not np.isfinite(points).all():
        return img
    q = _body_points(points)
    scale = float(q.pop("_scale")[0])
    keys = list(q)
    xyz = np.stack([q[k] for k in keys])
    depth = (xyz @ rotation_from_rodrigues(camera.rvec).T + camera.tvec)[:, 2]
    if not np.all(depth > 0.2):
        return img
    uv = camera.project(xyz)
    P = {k: (uv[i], depth[i]) for i, k in enumerate(keys)}
    f = camera.matrix[0, 0]
    shirt, bare_arms, trousers, shoes, hair, skin = OUTFITS[style % len(OUTFITS)]
    forearm = skin if bare_arms else shirt
    parts = []    # (depth, kind, data)

    def capsule(a, b, ra, rb, colour, bias=0.0, lines=True):
        (pa, za), (pb, zb) = P[a], P[b]
        parts.append(((za + zb) / 2 + bias, "capsule",
                      (pa, pb, f * ra * scale / za, f * rb * scale / zb, colour, lines)))

    def polygon(names, colour, bias):
        z = float(np.mean([P[n][1] for n in names]))
        parts.append((z + bias, "polygon", (np.array([P[n][0] for n in names]), colour, f * 0.012 * scale / z)))

    for s in ("left", "right"):
        capsule(f"{s}_hip", f"{s}_knee", 0.085, 0.060, trousers)
        capsule(f"{s}_knee", f"{s}_ankle", 0.060, 0.045, trousers)
        capsule(f"{s}_heel_back", f"{s}_toe", 0.045, 0.035, shoes)
        capsule(f"{s}_ankle", f"{s}_heel_back", 0.048, 0.045, shoes)
        capsule(f"{s}_shoulder", f"{s}_elbow", 0.058, 0.045, shirt)
        capsule(f"{s}_elbow", f"{s}_wrist", 0.042, 0.032, forearm)
        capsule(f"{s}_wrist", f"{s}_hand", 0.034, 0.028, skin)
    # the torso: a chest of 0.26 m depth for side views, the outline through the shoulders and
    # hips for front views; both drawn a little behind what lies at the body's axis
    capsule("chest_top", "waist", 0.125, 0.115, shirt, bias=0.06, lines=False)
    polygon(["left_shoulder_top", "right_shoulder_top", "right_waist", "left_waist"], shirt, 0.06)
    capsule("waist", "crotch", 0.12, 0.10, trousers, bias=0.05, lines=False)
    polygon(["left_waist", "right_waist", "right_hip_out", "crotch", "left_hip_out"], trousers, 0.05)
    capsule("left_shoulder", "right_shoulder", 0.06, 0.06, shirt, bias=0.06, lines=False)
    # the neck in the chin's shadow; seen from behind, it stays behind the collar (the torso): a long
    # bright neck under the hair reads as a face
    facing = P["nose"][1] < P["head"][1] + FACING_MARGIN * scale
    capsule("neck", "neck_top", 0.060, 0.055, _shade(skin, 0.8), bias=0.03 if facing else 0.15)
    zh = P["head"][1]
    parts.append((zh - 0.02, "head", None))
    order = sorted(parts, key=lambda p: -p[0])
    for _, kind, data in order:
        if kind == "capsule":
            _draw_capsule(img, *data)
        elif kind == "polygon":
            _draw_polygon(img, *data)
        else:
            _draw_head(img, P, f, scale, skin, hair)
    return img


def _shade(colour, k):
    return tuple(int(min(255, max(0, c * k))) for c in colour)


def _capsule_outline(pa, pb, ra, rb) -> np.ndarray:
    """``(N, 2)`` int32 outline of a tapered capsule (two end circles and their tangents)."""
    d = pb - pa
    length = float(np.hypot(*d))
    if length < 1e-6:
        return cv2.ellipse2Poly(tuple(int(v) for v in pa), (int(ra), int(ra)), 0, 0, 360, 30)
    a = np.degrees(np.arctan2(d[1], d[0]))
    arc_a = cv2.ellipse2Poly((0, 0), (1000, 1000), 0, int(a) + 90, int(a) + 270, 20) / 1000.0
    arc_b = cv2.ellipse2Poly((0, 0), (1000, 1000), 0, int(a) - 90, int(a) + 90, 20) / 1000.0
    return np.int32(np.round(np.concatenate([pa + ra * arc_a, pb + rb * arc_b])))


def _draw_capsule(img, pa, pb, ra, rb, colour, lines=True):
    ra, rb = max(ra, 1.0), max(rb, 1.0)
    outline = _capsule_outline(pa, pb, ra, rb)
    cv2.fillConvexPoly(img, outline, colour, cv2.LINE_AA)
    if not lines:
        return
    cv2.polylines(img, [outline], True, _shade(colour, 0.45), max(1, int(round(0.12 * min(ra, rb)))), cv2.LINE_AA)
    # light from the upper left: a lit stripe on that side of the limb
    d = pb - pa
    normal = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-6)
    if normal @ np.array([-1.0, -1.0]) < 0:
        normal = -normal
    shift = normal * 0.35
    lit = _capsule_outline(pa + shift * ra, pb + shift * rb, 0.4 * ra, 0.4 * rb)
    cv2.fillConvexPoly(img, lit, _shade(colour, 1.3), cv2.LINE_AA)


def _draw_polygon(img, corners, colour, outline_px):
    pts = np.int32(np.round(corners))
    cv2.fillPoly(img, [pts], colour, cv2.LINE_AA)


def _draw_head(img, P, f, scale, skin, hair):
    """Hair, ears, face and its features; the face only where it turns towards the camera."""
    def pt(name):
        return tuple(int(round(v)) for v in P[name][0])

    def r(meters, name):
        return max(1, int(round(f * meters * scale / P[name][1])))

    facing = P["nose"][1] < P["head"][1] + FACING_MARGIN * scale
    outline = _shade(skin, 0.45)
    for ear in ("left_ear", "right_ear"):               # ears behind the head's outline
        if P[ear][1] > P["head"][1] - 0.02:
            cv2.circle(img, pt(ear), r(0.022, ear), _shade(skin, 0.85), -1, cv2.LINE_AA)
    cv2.circle(img, pt("hair"), r(0.092, "hair"), hair, -1, cv2.LINE_AA)
    if facing:
        cv2.circle(img, pt("face"), r(FACE_R, "face"), skin, -1, cv2.LINE_AA)
        jaw = np.array([P["cheek"][0], P["chin"][0]])
        _draw_capsule(img, jaw[0], jaw[1], r(0.055, "cheek"), r(0.038, "chin"), skin, lines=False)
        # hair over the forehead: the hair circle again, clipped to above the eyes
        eyes_y = min(P["left_eye"][0][1], P["right_eye"][0][1]) - r(0.03, "head")
        top = img[:max(0, int(eyes_y))]
        cv2.circle(top, pt("hair"), r(0.092, "hair"), hair, -1, cv2.LINE_AA)
        for eye in ("left_eye", "right_eye"):
            if P[eye][1] < P["head"][1] - 0.03:         # an eye turned away is hidden
                cv2.circle(img, pt(eye), r(0.014, eye), EYE_WHITE, -1, cv2.LINE_AA)
                cv2.circle(img, pt(eye), r(0.008, eye), PUPIL, -1, cv2.LINE_AA)
        cv2.circle(img, pt("nose"), r(0.016, "nose"), _shade(skin, 0.8), -1, cv2.LINE_AA)
        cv2.ellipse(img, pt("mouth"), (r(0.022, "mouth"), r(0.007, "mouth")), 0, 0, 360, MOUTH, -1, cv2.LINE_AA)
    else:   # the back of the head: hair down to the nape, no skin below it that reads as a face;
        # turned three quarters away, the tip of the nose still shows beside it
        cv2.circle(img, pt("nose"), r(0.016, "nose"), skin, -1, cv2.LINE_AA)
        cv2.circle(img, pt("head"), r(0.09, "head"), hair, -1, cv2.LINE_AA)
        cv2.circle(img, pt("nape"), r(0.06, "nape"), hair, -1, cv2.LINE_AA)
    for ear in ("left_ear", "right_ear"):               # ears in front of the head's outline
        if P[ear][1] <= P["head"][1] - 0.02:
            cv2.circle(img, pt(ear), r(0.02, ear), _shade(skin, 0.9), -1, cv2.LINE_AA)
            cv2.circle(img, pt(ear), r(0.02, ear), outline, 1, cv2.LINE_AA)
