"""OpenPose's per-frame JSON (``<stem>_<frame:012d>_keypoints.json``), in and out.

Many tools write it (OpenPose, Pose2Sim's RTMPose, AlphaPose's OpenPose mode): a ``people`` list,
each with ``pose_keypoints_2d`` = x, y, confidence per joint, 0 0 0 where absent. The layout is
known from the joint count: 25 BODY_25, 18 COCO-18, 17 COCO-17, 26 HALPE-26, 33 MediaPipe.
Reading brings it into the canonical layout (COCO-17 plus feet); writing uses BODY_25, the
layout OpenPose's own tools expect, with neck and mid-hip as the mid-points and toes left empty
where there are none.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..skeleton import LAYOUTS, MIDPOINTS, SYNONYMS, canonical_index

LAYOUT_BY_COUNT = {25: "body25", 18: "coco18", 17: "coco17", 26: "halpe26", 33: "mediapipe33"}
_FRAME = re.compile(r"(\d+)_keypoints\.json$")


def read_openpose_json(folder, *, max_persons: int | None = None):
    """Read a folder of one camera's per-frame JSON files.

    Returns ``(keypoints (F, P, J, 3) float32, frame_index (F,), joint_names)`` in the canonical
    layout; NaN where a joint is absent (OpenPose's 0, 0, 0). Frames are numbered by the number
    in each file name.
    """
    folder = Path(folder)
    files = sorted(folder.glob("*_keypoints.json")) if folder.is_dir() else []
    if not files:
        raise FileFormatError(folder, "no *_keypoints.json files (OpenPose per-frame JSON) here")
    frames, people, count = [], [], None
    for path in files:
        m = _FRAME.search(path.name)
        if m is None:
            raise FileFormatError(path, "the name has no frame number before _keypoints.json")
        try:
            persons = json.loads(path.read_text())["people"]
            rows = [np.asarray(p["pose_keypoints_2d"], float).reshape(-1, 3) for p in persons]
        except (ValueError, KeyError, TypeError) as exc:
            raise FileFormatError(path, f"not OpenPose JSON with people/pose_keypoints_2d ({exc})") from None
        for r in rows:
            if count is None:
                count = len(r)
            elif len(r) != count:
                raise FileFormatError(path, f"{len(r)} joints where earlier files have {count}")
        frames.append(int(m.group(1)))
        people.append(rows)
    if count not in LAYOUT_BY_COUNT:
        raise FileFormatError(folder, f"{count} joints per person: not a layout capture3d knows "
                              f"({', '.join(f'{n} {l}' for n, l in LAYOUT_BY_COUNT.items())})")
    layout = LAYOUTS[LAYOUT_BY_COUNT[count]]
    names, index = canonical_index(layout)
    P = max(len(p) for p in people) if max_persons is None else max_persons
    out = np.full((len(files), max(P, 1), len(names), 3), np.nan, np.float32)
    for f, rows in enumerate(people):
        for p, r in enumerate(rows[:P]):
            kp = r[index]
            kp[kp[:, 2] <= 0] = np.nan
            out[f, p] = kp
    order = np.argsort(frames, kind="stable")
    return out[order], np.asarray(frames)[order], names


def write_openpose_json(folder, keypoints, joint_names, *, stem: str = "frame", frame_index=None) -> Path:
    """Write ``keypoints (F, P, J, 3)`` (canonical layout) as BODY_25 OpenPose JSON, one file per
    frame, ``<stem>_<frame:012d>_keypoints.json``. Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    kp = np.asarray(keypoints, float)
    position = {n: i for i, n in enumerate(joint_names)}
    mid = {"neck": MIDPOINTS["neck"], "mid_hip": MIDPOINTS["pelvis"]}
    synonyms = {theirs: ours for ours, theirs in SYNONYMS.items()}     # BODY_25 name -> ours
    frames = np.arange(len(kp)) if frame_index is None else np.asarray(frame_index)
    for f, persons in zip(frames, kp):
        people = []
        for person in persons:
            if not np.isfinite(person[:, 0]).any():
                continue
            body = np.zeros((25, 3))
            for j, name in enumerate(LAYOUTS["body25"]):
                if name in mid:
                    a, b = (person[position[n]] for n in mid[name])
                    v = np.concatenate([(a[:2] + b[:2]) / 2, [min(a[2], b[2])]])
                elif synonyms.get(name, name) in position:
                    v = person[position[synonyms.get(name, name)]]
                else:
                    continue
                if np.isfinite(v).all():
                    body[j] = v
            people.append({"person_id": [-1], "pose_keypoints_2d": [round(float(x), 3) for x in body.ravel()],
                           "face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": []})
        (folder / f"{stem}_{int(f):012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    return folder
