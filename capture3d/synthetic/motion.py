"""A moving human skeleton with realistic, constant bone lengths (the 3D ground truth).

The body is built by forward kinematics in a body frame (forward, left, up) that travels along a
path, so every limb keeps its length exactly and the motion is smooth: a walk around a circle,
jumps in place, arm swings, or all three in sequence (:func:`make_motion`), or a walk along any
floor path with any body size (:func:`body_along_path`, which the crowd scenes use).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import COCO17, FEET

# Bone lengths of an adult of about 1.75 m, meters.
THIGH, SHIN, UPPER_ARM, FOREARM = 0.45, 0.43, 0.30, 0.27
PELVIS_HEIGHT, HIP_HALF_WIDTH, SHOULDER_HALF_WIDTH, TORSO = 0.95, 0.10, 0.19, 0.52
HEEL_BACK, FOOT_LENGTH, ANKLE_HEIGHT = 0.05, 0.20, 0.07
#: The body dimensions above by name, meters; ``head`` scales the face and ears offsets.
ADULT = {"thigh": THIGH, "shin": SHIN, "upper_arm": UPPER_ARM, "forearm": FOREARM,
         "pelvis_height": PELVIS_HEIGHT, "hip_half_width": HIP_HALF_WIDTH,
         "shoulder_half_width": SHOULDER_HALF_WIDTH, "torso": TORSO, "heel_back": HEEL_BACK,
         "foot_length": FOOT_LENGTH, "ankle_height": ANKLE_HEIGHT, "head": 1.0}


@dataclass
class SkeletonMotion:
    """Ground-truth joints: ``points (F, J, 3)`` meters, Z up, and their names and timing."""

    points: np.ndarray
    joint_names: tuple[str, ...]
    fps: float

    @property
    def time_s(self) -> np.ndarray:
        return np.arange(len(self.points)) / self.fps


def _limb(start, direction_angle, length, forward, up, side_offset=None, side=None):
    """End of a limb of ``length`` from ``start`` at ``direction_angle`` (radians, 0 = straight down,
    positive = forward) in the sagittal plane, optionally pushed sideways."""
    d = -np.cos(direction_angle)[:, None] * up + np.sin(direction_angle)[:, None] * forward
    if side_offset is not None:
        d = d + side_offset[:, None] * side
        d /= np.linalg.norm(d, axis=1, keepdims=True)
    return start + length * d


def _body(root_xy, heading, t, gait, w_walk, w_jump, w_arms, hop, crouch, airborne, L, feet):
    """Joints ``(F, J, 3)`` and their names of a body with dimensions ``L`` (see :data:`ADULT`)
    whose pelvis travels over ``root_xy (F, 2)`` facing ``heading (F,)`` radians, by forward
    kinematics; the per-frame weights and phases are make_motion's."""
    forward = np.stack([np.cos(heading), np.sin(heading), np.zeros(len(t))], axis=1)
    up = np.tile([0.0, 0.0, 1.0], (len(t), 1))
    left = np.cross(up, forward)
    h = L["head"]
    pelvis = np.concatenate([root_xy, np.full((len(t), 1), L["pelvis_height"])], axis=1)

    joints = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        s_phase = gait + (0 if sign > 0 else np.pi)
        hip = pelvis + sign * L["hip_half_width"] * left
        hip_angle = w_walk * 0.45 * np.sin(s_phase) + crouch * 0.9
        knee_flex = w_walk * 0.6 * np.clip(np.sin(s_phase - 1.2), 0, None) + crouch * 1.8
        knee = _limb(hip, hip_angle, L["thigh"], forward, up)
        ankle = _limb(knee, hip_angle - knee_flex, L["shin"], forward, up)
        shoulder = pelvis + L["torso"] * up + sign * L["shoulder_half_width"] * left
        arm_angle = -w_walk * 0.35 * np.sin(s_phase) + w_arms * 1.4 * np.sin(2 * np.pi * 0.7 * t + sign) \
            + w_jump * 0.6 * np.sin(hop)
        abduct = 0.15 + w_arms * 0.5 * (1 + np.sin(2 * np.pi * 0.5 * t))
        elbow = _limb(shoulder, arm_angle, L["upper_arm"], forward, up, sign * abduct, left)
        elbow_flex = 0.3 + 0.3 * w_walk * (1 + np.sin(s_phase)) + 0.6 * w_jump
        wrist = _limb(elbow, arm_angle + elbow_flex, L["forearm"], forward, up, sign * abduct, left)
        heel = ankle - L["heel_back"] * forward - L["ankle_height"] * up
        toe = heel + L["foot_length"] * forward
        joints.update({f"{side}_hip": hip, f"{side}_knee": knee, f"{side}_ankle": ankle,
                       f"{side}_shoulder": shoulder, f"{side}_elbow": elbow, f"{side}_wrist": wrist,
                       f"{side}_heel": heel, f"{side}_foot_index": toe})
    neck = pelvis + L["torso"] * up
    # the face of an adult (anthropometric means): ears (tragion) above the shoulders at nearly
    # eye height, eyes 8 cm and the nose tip 11 cm in front of them, the nose tip 3.5 cm below
    # the eyes. (Ears 5.5 cm below the eyes and 11 cm behind them, as before, put BlazePose's
    # face 7 cm behind it.)
    nose = neck + 0.155 * h * up + 0.11 * h * forward
    joints["nose"] = nose
    for side, sign in (("left", 1.0), ("right", -1.0)):
        joints[f"{side}_eye"] = nose + 0.035 * h * up + sign * 0.032 * h * left - 0.03 * h * forward
        joints[f"{side}_ear"] = neck + 0.175 * h * up + sign * 0.075 * h * left
    # Stand on the floor: lift the body so that the lower heel touches z = 0 (the walking bob
    # and the crouch follow from the legs), then add the jumps' flight.
    lift = -np.minimum(joints["left_heel"][:, 2], joints["right_heel"][:, 2]) + airborne
    for k in joints:
        joints[k] = joints[k] + lift[:, None] * np.array([0.0, 0.0, 1.0])
    names = COCO17 + (FEET if feet else ())
    return np.stack([joints[n] for n in names], axis=1), names


def body_along_path(root_xy, heading, gait_phase, walk, *, lengths=None, feet: bool = False) -> np.ndarray:
    """A walking (or standing) body along any floor path, with make_motion's walking gait.

    Parameters
    ----------
    root_xy : (F, 2) float
        Pelvis position on the floor per frame, world meters.
    heading : (F,) float
        Direction the body faces, radians from +X towards +Y.
    gait_phase : (F,) float
        Stride phase, radians (one stride, two steps, per 2 pi).
    walk : (F,) float
        Weight of the walking swing of legs and arms: 1 walking, 0 standing straight.
    lengths : dict, optional
        Body dimensions by :data:`ADULT`'s keys, meters (default: ADULT's 1.75 m adult).
    feet : bool
        Append heels and foot tips after COCO-17.

    Returns
    -------
    (F, J, 3) float64
        World meters, Z up, the lower heel on the floor.
    """
    root_xy = np.asarray(root_xy, float)
    t = np.zeros(len(root_xy))
    zero = np.zeros(len(root_xy))
    walk = np.broadcast_to(np.asarray(walk, float), t.shape)
    points, _ = _body(root_xy, np.asarray(heading, float), t, np.asarray(gait_phase, float), walk, zero, zero,
                      zero, zero, zero, ADULT if lengths is None else lengths, feet)
    return points


def make_motion(n_frames: int = 240, *, fps: float = 60.0, kind: str = "walk", feet: bool = False,
                seed: int = 0) -> SkeletonMotion:
    """A skeleton moving for ``n_frames`` at ``fps``.

    Parameters
    ----------
    kind : {"walk", "jump", "arms", "mixed"}
        Walk: a 1.2 m radius circle at about 1 m/s; jump: knee bends and 0.25 m jumps in place;
        arms: big arm swings while turning; mixed: the three in sequence, blended smoothly.
    feet : bool
        Append heels and foot tips (MediaPipe's extra joints) after COCO-17.
    """
    if kind not in ("walk", "jump", "arms", "mixed"):
        raise ValueError(f"kind must be walk, jump, arms or mixed, got {kind!r}")
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fps
    phase0 = rng.uniform(0, 2 * np.pi)
    if kind == "mixed":
        third = t[-1] / 3 if n_frames > 1 else 1.0
        blend = lambda a, b: np.clip((t - a) / 0.5, 0, 1) * np.clip((b - t) / 0.5, 0, 1)  # noqa: E731
        w_walk, w_jump, w_arms = blend(-1, third), blend(third, 2 * third), blend(2 * third, t[-1] + 1)
    else:
        w_walk, w_jump, w_arms = [np.full(n_frames, float(kind == k)) for k in ("walk", "jump", "arms")]

    # Path: walking around a circle, heading tangent to it; otherwise turning slowly in place.
    speed = 1.0 * w_walk
    radius = 1.2
    travelled = np.cumsum(speed) / fps
    angle = travelled / radius + 0.5 * t * w_arms + phase0
    root_xy = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1) * 0.6
    heading = angle + np.pi / 2

    gait = 2 * np.pi * 0.9 * t  # strides per second
    hop = 2 * np.pi * 1.2 * t
    crouch = w_jump * 0.5 * (1 - np.cos(hop)) * 0.5           # knee bend before each jump
    airborne = w_jump * 0.25 * np.clip(np.sin(hop - 0.6), 0, None) ** 2
    points, names = _body(root_xy, heading, t, gait, w_walk, w_jump, w_arms, hop, crouch, airborne,
                          ADULT, feet)
    return SkeletonMotion(points, names, float(fps))
