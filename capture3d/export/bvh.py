"""BVH: the skeleton as joint rotations, a reader, and forward kinematics to check both.

Conventions (CONVENTIONS.md): Y up, centimeters; the root ``Hips`` sits at the pelvis (mid-hip)
with channels ``Xposition Yposition Zposition Zrotation Xrotation Yrotation``; every other joint
has ``Zrotation Xrotation Yrotation``, so its local rotation is ``Rz @ Rx @ Ry`` (angles in
degrees, applied to the joint's children's offsets).

Hierarchy (one BVH joint per canonical keypoint, plus zero-length branch joints where a keypoint
has several children, so that every bone gets its own direction)::

    Hips (pelvis)
      LeftHipJoint -> LeftUpLeg (left_hip) -> LeftLeg (knee) -> LeftFoot (ankle)
                                               [-> LeftHeel (heel) -> LeftToe (foot_index)]
      RightHipJoint -> ...
      Spine -> Neck (mid-shoulder)
                 LeftShoulder -> LeftArm (left_shoulder) -> LeftForeArm (elbow) -> LeftHand (wrist)
                 RightShoulder -> ...
                 Head -> Face (mid-ear) -> Nose, LeftEye, RightEye, LeftEar, RightEar

**Rest pose**: a T-pose facing +Z with the character's left at +X: legs straight down (-Y),
spine, neck and head up (+Y), arms straight out along +/-X, heels below the ankles, toes
forward (+Z). Offsets are the session's median bone lengths. ``Head`` turns the neck-to-ears
segment; ``Face`` (at the mid-point of the ears) carries the face points as a rigid head: their
offsets are the median of their positions in the face's frame (ears axis, nose forward).

**Rotations** come from the joint positions: the pelvis turns with the hip axis and the spine,
the chest (``Spine``) with the shoulder axis and the spine, the face with the ears and nose; each limb
segment takes the shortest turn from where its parent points it to where the data says it
points (no twist of its own, which positions alone cannot tell). Euler angles are unwrapped
over time so that no channel jumps by 360 degrees between frames.

What the file encodes is a skeleton with constant bone lengths (and a rigid head): on a
skeleton that has them, forward kinematics of the file gives the input joints back (to
micrometers); on raw triangulations the difference is the bone-length noise, which
:func:`encode` reports.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..io import frame_rate
from ..skeleton import MIDPOINTS, derived_joints
from .mocap import Y_UP_FROM_Z_UP

X, Y, Z = np.eye(3)
CM_PER_M = 100.0

# (joint, parent, keypoint it sits at, rule, aim keypoint, rest direction of the aim)
# rule: "root" / "frame" (full frame from two directions), "aim" (shortest turn from the parent),
# "same" (parent's rotation), "leaf" (no children that need a direction).
_LIMBS = []
for _s, _S, _x in (("left", "Left", X), ("right", "Right", -X)):
    _LIMBS += [
        (f"{_S}HipJoint", "Hips", "pelvis", "aim", f"{_s}_hip", _x),
        (f"{_S}UpLeg", f"{_S}HipJoint", f"{_s}_hip", "aim", f"{_s}_knee", -Y),
        (f"{_S}Leg", f"{_S}UpLeg", f"{_s}_knee", "aim", f"{_s}_ankle", -Y),
        (f"{_S}Foot", f"{_S}Leg", f"{_s}_ankle", "aim", f"{_s}_heel", -Y),
        (f"{_S}Heel", f"{_S}Foot", f"{_s}_heel", "aim", f"{_s}_foot_index", Z),
        (f"{_S}Toe", f"{_S}Heel", f"{_s}_foot_index", "leaf", None, None),
    ]
_ARMS = []
for _s, _S, _x in (("left", "Left", X), ("right", "Right", -X)):
    _ARMS += [
        (f"{_S}Shoulder", "Neck", "neck", "aim", f"{_s}_shoulder", _x),
        (f"{_S}Arm", f"{_S}Shoulder", f"{_s}_shoulder", "aim", f"{_s}_elbow", _x),
        (f"{_S}ForeArm", f"{_S}Arm", f"{_s}_elbow", "aim", f"{_s}_wrist", _x),
        (f"{_S}Hand", f"{_S}ForeArm", f"{_s}_wrist", "leaf", None, None),
    ]
SPEC = ([("Hips", None, "pelvis", "root", None, None)] + _LIMBS
        + [("Spine", "Hips", "pelvis", "frame", "neck", Y), ("Neck", "Spine", "neck", "same", None, None)]
        + _ARMS + [("Head", "Neck", "neck", "aim", "mid_ear", Y), ("Face", "Head", "mid_ear", "frame", None, None)]
        + [(n, "Face", k, "leaf", None, None) for n, k in (("Nose", "nose"), ("LeftEye", "left_eye"),
                                                           ("RightEye", "right_eye"), ("LeftEar", "left_ear"),
                                                           ("RightEar", "right_ear"))])

ROOT_CHANNELS = ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
JOINT_CHANNELS = ("Zrotation", "Xrotation", "Yrotation")


@dataclass
class BvhJoint:
    name: str
    parent: int                      # index into Bvh.joints; -1 for the root
    offset: np.ndarray               # (3,) in the parent's frame, file units
    channels: tuple[str, ...]
    end_site: np.ndarray | None = None   # (3,) offset of the End Site, for leaves


@dataclass
class Bvh:
    """A BVH file in memory: joints in file order (parents first) and ``motion (F, channels)``."""

    joints: list[BvhJoint]
    frame_time: float
    motion: np.ndarray
    keypoints: dict[str, str] = field(default_factory=dict)   # BVH joint -> canonical keypoint

    @property
    def names(self) -> list[str]:
        return [j.name for j in self.joints]

    def channel_values(self, joint: int | str) -> np.ndarray:
        """``(F, n_channels)`` motion columns of one joint, in its channel order."""
        k = self.names.index(joint) if isinstance(joint, str) else joint
        start = sum(len(j.channels) for j in self.joints[:k])
        return self.motion[:, start:start + len(self.joints[k].channels)]

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """World positions ``(F, J, 3)`` (file units) and rotations ``(F, J, 3, 3)`` of every joint."""
        F = len(self.motion)
        pos = np.zeros((F, len(self.joints), 3))
        rot = np.zeros((F, len(self.joints), 3, 3))
        for k, joint in enumerate(self.joints):
            values = self.channel_values(k)
            local_r = np.broadcast_to(np.eye(3), (F, 3, 3)).copy()
            local_t = np.broadcast_to(joint.offset, (F, 3)).copy()
            for c, ch in enumerate(joint.channels):
                axis = "XYZ".index(ch[0].upper())
                if ch.lower().endswith("position"):
                    local_t[:, axis] += values[:, c]
                else:
                    local_r = local_r @ axis_rotation(axis, values[:, c])
            if joint.parent < 0:
                pos[:, k], rot[:, k] = local_t, local_r
            else:
                p = joint.parent
                pos[:, k] = pos[:, p] + np.einsum("fij,fj->fi", rot[:, p], local_t)
                rot[:, k] = rot[:, p] @ local_r
        return pos, rot

    def encoded_points(self) -> tuple[np.ndarray, list[str]]:
        """The canonical joints this file encodes: ``(F, K, 3)`` meters, Z up, and their names."""
        pos, _ = self.forward_kinematics()
        idx = [k for k, j in enumerate(self.joints)   # branch joints sit on mid-points: not encoded joints
               if j.name in self.keypoints and self.keypoints[j.name] not in MIDPOINTS]
        names = [self.keypoints[self.joints[k].name] for k in idx]
        return (pos[:, idx] / CM_PER_M) @ Y_UP_FROM_Z_UP, names

    # -- files -----------------------------------------------------------------------------------
    def save(self, path) -> Path:
        path = Path(path)
        lines = ["HIERARCHY"]
        children = {k: [c for c, j in enumerate(self.joints) if j.parent == k] for k in range(len(self.joints))}

        def emit(k, depth):
            j, pad = self.joints[k], "  " * depth
            lines.append(f"{pad}{'ROOT' if j.parent < 0 else 'JOINT'} {j.name}")
            lines.append(pad + "{")
            lines.append(f"{pad}  OFFSET {_fmt(j.offset)}")
            lines.append(f"{pad}  CHANNELS {len(j.channels)} {' '.join(j.channels)}")
            for c in children[k]:
                emit(c, depth + 1)
            if not children[k]:
                end = j.end_site if j.end_site is not None else np.zeros(3)
                lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET {_fmt(end)}", pad + "  }"])
            lines.append(pad + "}")

        emit(0, 0)
        lines += ["MOTION", f"Frames: {len(self.motion)}", f"Frame Time: {self.frame_time:.8f}"]
        lines += [" ".join(f"{v:.5f}" for v in row) for row in self.motion]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path) -> "Bvh":
        """Read any BVH file (any channel order, position channels on any joint)."""
        path = Path(path)
        try:
            tokens = path.read_text().split()
        except (OSError, UnicodeDecodeError) as exc:
            raise FileFormatError(path, f"cannot read ({exc})") from None
        try:
            return _parse(tokens)
        except (ValueError, IndexError) as exc:
            raise FileFormatError(path, f"not a valid BVH file ({exc})") from None
        except StopIteration:
            raise FileFormatError(path, "not a valid BVH file (it ends too early)") from None


def _fmt(v) -> str:
    return " ".join(f"{x:.6f}" for x in v)


def _parse(tokens) -> Bvh:
    it = iter(tokens)
    if next(it) != "HIERARCHY":
        raise ValueError("does not start with HIERARCHY")
    joints, stack, keyword = [], [], next(it)
    while keyword != "MOTION":
        if keyword in ("ROOT", "JOINT"):
            name = next(it)
            if next(it) != "{":
                raise ValueError(f"joint {name}: expected '{{'")
            if next(it) != "OFFSET":
                raise ValueError(f"joint {name}: expected OFFSET")
            offset = np.array([float(next(it)) for _ in range(3)])
            if next(it) != "CHANNELS":
                raise ValueError(f"joint {name}: expected CHANNELS")
            channels = tuple(next(it) for _ in range(int(next(it))))
            joints.append(BvhJoint(name, stack[-1] if stack else -1, offset, channels))
            stack.append(len(joints) - 1)
        elif keyword == "End":
            next(it)  # "Site"
            if next(it) != "{" or next(it) != "OFFSET":
                raise ValueError("End Site: expected '{ OFFSET'")
            joints[stack[-1]].end_site = np.array([float(next(it)) for _ in range(3)])
            if next(it) != "}":
                raise ValueError("End Site: expected '}'")
        elif keyword == "}":
            stack.pop()
        else:
            raise ValueError(f"unexpected {keyword!r} in HIERARCHY")
        keyword = next(it)
    if next(it) != "Frames:":
        raise ValueError("expected 'Frames:'")
    n_frames = int(next(it))
    if (next(it), next(it)) != ("Frame", "Time:"):
        raise ValueError("expected 'Frame Time:'")
    frame_time = float(next(it))
    values = np.array([float(v) for v in it])
    n_channels = sum(len(j.channels) for j in joints)
    if values.size != n_frames * n_channels:
        raise ValueError(f"{values.size} motion values for {n_frames} frames x {n_channels} channels")
    keypoints = {s[0]: s[2] for s in SPEC if s[0] in {j.name for j in joints}}
    return Bvh(joints, frame_time, values.reshape(n_frames, n_channels), keypoints)


def axis_rotation(axis: int, degrees) -> np.ndarray:
    """``(F, 3, 3)`` rotations by ``degrees (F,)`` about axis 0, 1 or 2 (X, Y, Z)."""
    a = np.radians(np.asarray(degrees, float))
    c, s = np.cos(a), np.sin(a)
    R = np.zeros(a.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    R[..., axis, axis] = 1.0
    R[..., i, i], R[..., j, j], R[..., i, j], R[..., j, i] = c, c, -s, s
    return R


def euler_zxy(R) -> np.ndarray:
    """Angles ``(..., 3)`` degrees (z, x, y) with ``R = Rz(z) @ Rx(x) @ Ry(y)``; x in [-90, 90]."""
    x = np.arcsin(np.clip(R[..., 2, 1], -1.0, 1.0))
    z = np.arctan2(-R[..., 0, 1], R[..., 1, 1])
    y = np.arctan2(-R[..., 2, 0], R[..., 2, 2])
    return np.degrees(np.stack([z, x, y], axis=-1))


def _unit(v):
    with np.errstate(invalid="ignore", divide="ignore"):
        return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _frame(y_dir, x_hint):
    """Rotations ``(F, 3, 3)`` taking rest +Y to ``y_dir`` and rest +X toward ``x_hint``."""
    yv = _unit(y_dir)
    xv = _unit(x_hint - np.sum(x_hint * yv, -1, keepdims=True) * yv)
    return np.stack([xv, yv, np.cross(xv, yv)], axis=-1)


def _shortest_turn(a, b):
    """Rotations ``(F, 3, 3)`` turning unit ``a`` onto unit ``b`` about their common normal."""
    v = np.cross(a, b)
    c = np.sum(a * b, -1)
    K = np.zeros(v.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    K = K - np.swapaxes(K, -1, -2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.eye(3) + K + K @ K / (1.0 + c)[..., None, None]


def _fill_in_time(values):
    """Forward- then backward-fill NaN rows of ``(F, ...)`` along time; all-NaN stays NaN."""
    flat = values.reshape(len(values), -1)
    ok = np.isfinite(flat).all(1)
    if not ok.any() or ok.all():
        return values, ~ok
    idx = np.where(ok, np.arange(len(ok)), 0)
    np.maximum.accumulate(idx, out=idx)
    first = np.argmax(ok)
    idx[:first] = first
    return values[idx], ~ok


@dataclass
class BvhEncoding:
    """What :func:`encode` made: the file, and how far its skeleton is from the input joints."""

    bvh: Bvh
    held_frames: int          # frames where some joint was missing and its last rotation was held
    fit_error_mm: float       # mean distance of the encoded joints from the input (bone-length noise)


def encode(points, joint_names, *, fps: float = 30.0) -> BvhEncoding:
    """Joint rotations for ``points (F, J, 3)`` meters, Z up, canonical layout (COCO-17, with the
    feet of :data:`~capture3d.skeleton.FEET` when present)."""
    names = list(joint_names)
    pts = np.asarray(points, float)
    if pts.ndim != 3 or pts.shape[1:] != (len(names), 3):
        raise ValueError(f"points must be (frames, {len(names)}, 3), got {pts.shape}")
    need = {"left_hip", "right_hip", "left_shoulder", "right_shoulder", "left_ear", "right_ear", "nose"}
    if not need <= set(names):
        raise ValueError(f"BVH needs the canonical joints {sorted(need - set(names))}")
    with_all = np.isfinite(pts[:, [names.index(n) for n in sorted(need)]]).all(axis=(1, 2))
    if not with_all.any():  # the rest pose and the root would be NaN: no file rather than a broken one
        raise ValueError(f"BVH needs a frame where all of {sorted(need)} are reconstructed; none has them")
    P = (pts @ Y_UP_FROM_Z_UP.T) * CM_PER_M
    kp = {n: P[:, k] for k, n in enumerate(names)} | derived_joints(P, names)
    spec = [s for s in SPEC if s[2] in kp]
    spec = [(n, par, at, ("leaf" if rule == "aim" and aim not in kp else rule), aim if aim in kp else None, d0)
            for n, par, at, rule, aim, d0 in spec]
    index = {s[0]: k for k, s in enumerate(spec)}

    def median_length(a, b):
        """Median bone length; 0 for a bone never seen whole (its joint then sits on its parent)."""
        length = np.linalg.norm(kp[b] - kp[a], axis=-1)
        length = length[np.isfinite(length)]
        return float(np.median(length)) if length.size else 0.0

    F = len(P)
    R = np.zeros((F, len(spec), 3, 3))
    offsets = np.zeros((len(spec), 3))
    ears = kp["left_ear"] - kp["right_ear"]
    face_frame = _frame(np.cross(kp["nose"] - kp["mid_ear"], ears), ears)  # up = forward x left
    for k, (name, parent, at, rule, aim, d0) in enumerate(spec):
        p = index.get(parent, -1)
        if rule == "root":
            R[:, k] = _frame(kp["neck"] - kp["pelvis"], kp["left_hip"] - kp["right_hip"])
        elif name == "Spine":
            R[:, k] = _frame(kp["neck"] - kp["pelvis"], kp["left_shoulder"] - kp["right_shoulder"])
        elif name == "Face":
            R[:, k] = face_frame
        elif rule == "aim":
            R[:, k] = _shortest_turn(R[:, p] @ d0, _unit(kp[aim] - kp[at])) @ R[:, p]
        else:  # "same", "leaf"
            R[:, k] = R[:, p]
        if parent == "Face":  # a rigid head: the median position in the face's frame
            local = np.einsum("fji,fj->fi", face_frame, kp[at] - kp["mid_ear"])
            local = local[np.isfinite(local).all(-1)]
            offsets[k] = np.median(local, axis=0) if len(local) else 0.0
        elif p >= 0 and spec[p][2] != at:
            offsets[k] = spec[p][5] * median_length(spec[p][2], at)

    local = np.einsum("fpji,fpjk->fpik", R[:, [index.get(s[1], 0) for s in spec]], R)
    local[:, 0] = R[:, 0]
    angles = euler_zxy(local)
    held = np.zeros(F, bool)
    for k in range(len(spec)):   # each joint holds its own last rotation, the others move on
        angles[:, k], missing = _fill_in_time(angles[:, k])
        held |= missing
    angles = np.nan_to_num(angles)
    angles = np.degrees(np.unwrap(np.radians(angles), axis=0))
    root, _ = _fill_in_time(kp["pelvis"])
    motion = np.concatenate([np.nan_to_num(root), angles.reshape(F, -1)], axis=1)

    joints = [BvhJoint(n, index.get(par, -1), offsets[k], ROOT_CHANNELS if par is None else JOINT_CHANNELS,
                       end_site=(np.array([0.0, 5.0, 0.0]) if rule == "leaf" else None))
              for k, (n, par, at, rule, aim, d0) in enumerate(spec)]
    bvh = Bvh(joints, 1.0 / fps, motion, {s[0]: s[2] for s in spec})
    enc, enc_names = bvh.encoded_points()
    with np.errstate(invalid="ignore"):
        gap = np.linalg.norm(enc - pts[:, [names.index(n) for n in enc_names]], axis=-1)
    fit = float(np.nanmean(gap) * 1000) if np.isfinite(gap).any() else float("nan")
    return BvhEncoding(bvh, int(held.sum()), fit)


def write_bvh(path, data: dict) -> Path:
    """BVH of ``data`` (as :func:`capture3d.io.load_points3d` returns it); frame time from ``time_s``."""
    return encode(data["points"], data["joint_names"], fps=frame_rate(data["time_s"])).bvh.save(path)


def read_bvh(path) -> Bvh:
    """Read a BVH file (see :meth:`Bvh.load`)."""
    return Bvh.load(path)
