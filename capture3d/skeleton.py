"""Keypoint layouts and the skeleton hierarchy of the canonical layout (COCO-17).

The canonical body layout is COCO-17 in COCO's order; detectors with more joints (MediaPipe's 33:
heels, foot tips) keep the extra ones after these, under their own names. ``pelvis`` (mid-hip) and
``neck`` (mid-shoulder) are derived, never detected.
"""
from __future__ import annotations

import numpy as np

COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear",
          "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
          "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")

#: Extra joints some detectors give (MediaPipe: heels and foot index), in this order after COCO-17.
FEET = ("left_heel", "right_heel", "left_foot_index", "right_foot_index")

#: Keypoint layouts of the detectors, by the name ``models/manifest.toml`` uses.
LAYOUTS = {
    "coco17": COCO17,
    "mediapipe33": ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner",
                    "right_eye", "right_eye_outer", "left_ear", "right_ear", "mouth_left",
                    "mouth_right", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                    "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index",
                    "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
                    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
                    "right_heel", "left_foot_index", "right_foot_index"),
    # OpenPose's BODY_25 and COCO-18 models (the order of their heatmap channels)
    "body25": ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
               "left_elbow", "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle",
               "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear",
               "left_ear", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
               "right_small_toe", "right_heel"),
    "coco18": ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
               "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
               "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear"),
    "halpe26": COCO17 + ("head", "neck", "hip", "left_big_toe", "right_big_toe", "left_small_toe",
                         "right_small_toe", "left_heel", "right_heel"),
}

#: Where a layout's own joint stands in for a canonical one it lacks by that name (the big toe
#: is the nearest thing to MediaPipe's foot index).
SYNONYMS = {"left_foot_index": "left_big_toe", "right_foot_index": "right_big_toe"}


def canonical_index(layout_names) -> tuple[tuple[str, ...], np.ndarray]:
    """Joint names and source indices that bring a detector's layout into the canonical one.

    Returns ``(names, index)``: COCO-17 first, then the :data:`FEET` joints the layout has (own
    name or :data:`SYNONYMS`). ``index[k]`` is the position in ``layout_names`` of ``names[k]``.

    >>> names, index = canonical_index(LAYOUTS["body25"])
    >>> names[:3], index[:3].tolist(), len(names)
    (('nose', 'left_eye', 'right_eye'), [0, 16, 15], 21)
    """
    position = {n: i for i, n in enumerate(layout_names)}
    names, index = [], []
    for j, name in enumerate(COCO17 + FEET):
        src = position.get(name, position.get(SYNONYMS.get(name, "")))
        if src is None:
            if j < len(COCO17):
                raise ValueError(f"the keypoint layout has no {name!r}; it cannot be mapped to COCO-17")
            continue
        names.append(name)
        index.append(src)
    return tuple(names), np.asarray(index, dtype=np.intp)


#: Drawn segments (parent, child) by name; used by overlays, the viewer and bone-length checks.
BONES = (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder"),
         ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
         ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
         ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
         ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
         ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
         ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"), ("right_eye", "right_ear"),
         ("left_ankle", "left_heel"), ("right_ankle", "right_heel"),
         ("left_heel", "left_foot_index"), ("right_heel", "right_foot_index"))

#: Bones whose length is constant on a real body (limbs), for consistency checks.
RIGID_BONES = (("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
               ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
               ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
               ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
               ("left_hip", "right_hip"), ("left_shoulder", "right_shoulder"))


def bones_for(joint_names, bones=BONES) -> list[tuple[int, int]]:
    """Index pairs of the ``bones`` whose both ends are in ``joint_names``."""
    index = {n: i for i, n in enumerate(joint_names)}
    return [(index[a], index[b]) for a, b in bones if a in index and b in index]


#: Derived points, each the mid-point of two detected joints (CONVENTIONS.md names pelvis and
#: neck; the BVH skeleton also needs the mid-point of the ears).
MIDPOINTS = {"pelvis": ("left_hip", "right_hip"), "neck": ("left_shoulder", "right_shoulder"),
             "mid_ear": ("left_ear", "right_ear")}


def derived_joints(points, joint_names) -> dict[str, np.ndarray]:
    """The :data:`MIDPOINTS` whose two joints are in ``joint_names``, from ``points (..., J, 3)``."""
    i = {n: k for k, n in enumerate(joint_names)}
    return {name: 0.5 * (points[..., i[a], :] + points[..., i[b], :])
            for name, (a, b) in MIDPOINTS.items() if a in i and b in i}


def bone_lengths(points, joint_names, bones=RIGID_BONES) -> dict[str, np.ndarray]:
    """Per-frame length ``(F,)`` meters of each bone present, keyed ``"a-b"``."""
    out = {}
    for (a, b), (ia, ib) in zip([bn for bn in bones if bn[0] in joint_names and bn[1] in joint_names],
                                bones_for(joint_names, bones)):
        out[f"{a}-{b}"] = np.linalg.norm(points[..., ia, :] - points[..., ib, :], axis=-1)
    return out


def bone_length_cv(points, joint_names, bones=RIGID_BONES) -> dict[str, float]:
    """Coefficient of variation (std / mean over frames, NaN-aware) of each bone's length."""
    out = {}
    for name, length in bone_lengths(points, joint_names, bones).items():
        ok = np.isfinite(length)
        out[name] = float(np.std(length[ok]) / np.mean(length[ok])) if ok.sum() > 1 else float("nan")
    return out
