"""Whole-sequence skeleton optimisation: reprojection + smoothness + steady bone lengths.

One sparse nonlinear least-squares problem over every joint of every frame and one length per
bone (scipy ``least_squares``, trust region with the LSMR solver and an analytic sparse
Jacobian), so the session is never cut into chunks. Residuals, each divided by its expected
size so that the three kinds weigh in comparable units:

* reprojection: ``sqrt(score) * (project(X) - observed) / sigma_px`` for every 2D keypoint kept
  (lens distortion included; views farther than ``gate_px`` from the starting point are left
  out, so triangulation's rejected outliers stay out);
* smoothness: the acceleration ``(X[f-1] - 2 X[f] + X[f+1]) * fps**2 / sigma_accel`` (m/s^2);
* bone length: ``(|A - B| - L_bone) / sigma_bone`` with ``L_bone`` a free variable per bone,
  so that the lengths are steady, not forced to a preset value.

A Huber loss (``f_scale`` in sigmas) keeps a leftover outlier from dragging a joint. Memory is
linear in the number of frames (the Jacobian has a fixed number of non-zeros per observation).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import least_squares

from ..camera.camera import _MODELS
from ..errors import InputShapeError, check_array
from ..skeleton import FEET, MIDPOINTS, RIGID_BONES
from .filters import _runs

#: Bones held steady, by joint name or :data:`~capture3d.skeleton.MIDPOINTS` name (pelvis, neck,
#: mid_ear: the BVH skeleton's derived joints). Limbs, hip and shoulder widths, the spine, a
#: rigid head (ten distances between five face points) and rigid feet.
STEADY_BONES = RIGID_BONES + (
    ("pelvis", "neck"), ("neck", "mid_ear"), ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"),
    ("right_eye", "right_ear"), ("left_ear", "right_ear"), ("nose", "left_ear"), ("nose", "right_ear"),
    ("left_eye", "right_eye"), ("left_eye", "right_ear"), ("right_eye", "left_ear"),
    ("left_ankle", "left_heel"), ("right_ankle", "right_heel"), ("left_heel", FEET[2]),
    ("right_heel", FEET[3]), ("left_ankle", FEET[2]), ("right_ankle", FEET[3]))


@dataclass(frozen=True)
class SkeletonFitOptions:
    """Options of :func:`fit_skeleton`."""

    sigma_px: float = 2.0          # expected 2D keypoint error, pixels
    sigma_accel: float = 30.0      # typical joint acceleration, m/s^2 (larger = less smoothing)
    sigma_bone_m: float = 0.002    # allowed bone-length variation, meters
    gate_px: float = 20.0          # observations this far from the starting point are left out
    huber_sigmas: float = 3.0      # Huber loss threshold, in sigmas
    max_iterations: int = 60       # function evaluations of the trust-region solver
    max_gap: int = 15              # frames a joint may be invented for from its neighbours

    def __post_init__(self):
        if min(self.sigma_px, self.sigma_accel, self.sigma_bone_m, self.gate_px, self.huber_sigmas) <= 0:
            raise ValueError("sigmas, gate_px and huber_sigmas must be > 0")


@dataclass
class SkeletonFitResult:
    """Optimised ``points (F, J, 3)`` meters (NaN where unsupported for longer than
    ``max_gap``), ``bone_lengths`` meters by ``"a-b"`` name, and how the solve went."""

    points: np.ndarray
    bone_lengths: dict[str, float]
    reprojection_rms_px: tuple[float, float]    # before, after (observations kept)
    iterations: int
    ok: bool
    message: str


def _endpoint_weights(name, index):
    """Joint weights of a bone end: a joint, or one of the skeleton's mid-points (pelvis...)."""
    if name in MIDPOINTS:
        return [(index[j], 0.5) for j in MIDPOINTS[name]]
    return [(index[name], 1.0)]


def _bones(joint_names):
    index = {n: k for k, n in enumerate(joint_names)}
    have = set(index) | {m for m, ends in MIDPOINTS.items() if set(ends) <= set(index)}
    return [(f"{a}-{b}", _endpoint_weights(a, index), _endpoint_weights(b, index))
            for a, b in STEADY_BONES if a in have and b in have]


def _interpolate_in_time(points):
    """NaN frames of each joint filled linearly (constant beyond the ends); all-NaN joints stay."""
    out = points.copy()
    t = np.arange(len(points))
    for j in range(points.shape[1]):
        ok = np.isfinite(points[:, j]).all(1)
        if ok.any() and not ok.all():
            for c in range(3):
                out[:, j, c] = np.interp(t, t[ok], points[ok, j, c])
    return out


class _Problem:
    """Residuals and their sparse Jacobian; ``x = [points (F*J*3), bone lengths (B)]``."""

    def __init__(self, keypoints, rig, start, joint_names, fps, opt: SkeletonFitOptions):
        C, F, J, _ = keypoints.shape
        self.F, self.J, self.opt, self.fps = F, J, opt, fps
        self.cams = list(rig)
        self.n_points = F * J * 3
        self.active = np.isfinite(start).all(-1)                    # (F, J) joints being solved
        # Observations kept: finite, scored, near the starting point's projection.
        obs = []
        for c, cam in enumerate(self.cams):
            xy, score = keypoints[c, ..., :2], keypoints[c, ..., 2]
            with np.errstate(invalid="ignore"):
                err = np.linalg.norm(cam.project(start) - xy, axis=-1)
                keep = self.active & np.isfinite(err) & (err < opt.gate_px) & (score > 0)
            f, j = np.nonzero(keep)
            obs.append((c, f * J + j, xy[f, j], np.sqrt(score[f, j]) / opt.sigma_px))
        self.obs = obs
        # Smoothness: consecutive active triples of each joint.
        f, j = np.nonzero(self.active[:-2] & self.active[1:-1] & self.active[2:])
        self.acc_mid = (f + 1) * J + j
        self.bones = _bones(joint_names)
        self.n_res = sum(2 * len(o[1]) for o in obs) + 3 * len(self.acc_mid) + F * len(self.bones)

    def unpack(self, x):
        return x[:self.n_points].reshape(self.F * self.J, 3), x[self.n_points:]

    def _bone_ends(self, P):
        ends = []
        for _, wa, wb in self.bones:
            A = sum(w * P[np.arange(self.F) * self.J + j] for j, w in wa)
            B = sum(w * P[np.arange(self.F) * self.J + j] for j, w in wb)
            ends.append((A, B))
        return ends

    def residuals(self, x):
        P, L = self.unpack(x)
        out = []
        for (c, idx, xy, w) in self.obs:
            out.append(((self.cams[c].project(P[idx]) - xy) * w[:, None]).ravel())
        J, k = self.J, self.acc_mid
        out.append(((P[k - J] - 2 * P[k] + P[k + J]) * (self.fps ** 2 / self.opt.sigma_accel)).ravel())
        for b, (A, B) in enumerate(self._bone_ends(P)):
            # A bone with an end missing in a frame contributes zero there.
            out.append(np.nan_to_num((np.linalg.norm(A - B, axis=1) - L[b]) / self.opt.sigma_bone_m))
        return np.nan_to_num(np.concatenate(out), nan=0.0)

    def jacobian(self, x):
        P, L = self.unpack(x)
        rows, cols, vals = [], [], []
        r0 = 0
        for (c, idx, xy, w) in self.obs:
            cam = self.cams[c]
            R = cam.rotation
            pc = P[idx] @ R.T + cam.tvec
            z = pc[:, 2]
            n = pc[:, :2] / z[:, None]
            dn = np.zeros((len(idx), 2, 3))
            dn[:, 0, 0] = dn[:, 1, 1] = 1 / z
            dn[:, :, 2] = -n / z[:, None]
            Dd = _MODELS[cam.model].distort_jacobian(n, cam.dist)
            K2 = cam.matrix[:2, :2]
            Jp = (K2 @ Dd @ dn @ R) * w[:, None, None]                # (N, 2, 3)
            r = r0 + 2 * np.arange(len(idx))
            rows.append(np.repeat(np.stack([r, r + 1], 1)[:, :, None], 3, 2).ravel())
            cols.append(np.broadcast_to((3 * idx)[:, None, None] + np.arange(3), (len(idx), 2, 3)).ravel())
            vals.append(Jp.ravel())
            r0 += 2 * len(idx)
        J, k = self.J, self.acc_mid
        s = self.fps ** 2 / self.opt.sigma_accel
        for offset, v in ((-J, s), (0, -2 * s), (J, s)):
            rows.append(r0 + np.arange(3 * len(k)))
            cols.append((3 * (k + offset))[:, None].__add__(np.arange(3)).ravel())
            vals.append(np.full(3 * len(k), v))
        r0 += 3 * len(k)
        frames = np.arange(self.F)
        for b, ((_, wa, wb), (A, B)) in enumerate(zip(self.bones, self._bone_ends(P))):
            d = A - B
            u = np.nan_to_num(d / np.linalg.norm(d, axis=1, keepdims=True)) / self.opt.sigma_bone_m
            rr = r0 + frames
            for sign, ends in ((1.0, wa), (-1.0, wb)):
                for j, wt in ends:
                    rows.append(np.repeat(rr, 3))
                    cols.append((3 * (frames * J + j))[:, None].__add__(np.arange(3)).ravel())
                    vals.append((sign * wt * u).ravel())
            rows.append(rr)
            cols.append(np.full(self.F, self.n_points + b))
            vals.append(np.where(np.isfinite(d).all(1), -1.0 / self.opt.sigma_bone_m, 0.0))
            r0 += self.F
        jac = sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                shape=(self.n_res, self.n_points + len(self.bones)))
        return jac.tocsr()

    def reprojection_rms(self, x) -> float:
        P, _ = self.unpack(x)
        err = [np.linalg.norm(self.cams[c].project(P[idx]) - xy, axis=1) for c, idx, xy, _ in self.obs]
        err = np.concatenate(err) if err else np.zeros(0)
        return float(np.sqrt(np.mean(err ** 2))) if len(err) else float("nan")


def fit_skeleton(keypoints, rig, start_points, joint_names, *, fps: float,
                 options: SkeletonFitOptions | None = None) -> SkeletonFitResult:
    """Optimise a whole sequence at once.

    Parameters
    ----------
    keypoints : (C, F, J, 3) float
        2D keypoints (pixels x, y and score) in rig camera order, NaN where missing.
    rig : Rig
        The calibration (distortion included).
    start_points : (F, J, 3) float
        Starting 3D points, meters (e.g. triangulated and gap-filled); NaN where unknown.
    fps : float
        Frame rate, Hz (the smoothness term is an acceleration in m/s^2).
    """
    opt = options or SkeletonFitOptions()
    kp = check_array(keypoints, "keypoints", (None, None, None, 3))
    start = check_array(start_points, "start_points", (None, None, 3))
    if kp.shape[0] != len(rig) or kp.shape[1:3] != start.shape[:2] or len(joint_names) != start.shape[1]:
        raise InputShapeError(f"keypoints {kp.shape} need (cameras={len(rig)}, frames, joints, 3) matching "
                              f"start_points {start.shape} and {len(joint_names)} joint names")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    supported = np.isfinite(start).all(-1)
    x_start = _interpolate_in_time(start)
    problem = _Problem(kp, rig, x_start, list(joint_names), fps, opt)
    P0 = np.nan_to_num(x_start).reshape(-1, 3)
    with np.errstate(invalid="ignore"):
        L0 = [np.nanmedian(np.linalg.norm(A - B, axis=1)) for A, B in problem._bone_ends(P0)]
    x0 = np.concatenate([P0.ravel(), np.nan_to_num(np.asarray(L0, float))])
    rms_before = problem.reprojection_rms(x0)
    sol = least_squares(problem.residuals, x0, jac=problem.jacobian, method="trf", tr_solver="lsmr",
                        loss="huber", f_scale=opt.huber_sigmas, max_nfev=opt.max_iterations, x_scale="jac")
    P, L = problem.unpack(sol.x)
    points = P.reshape(start.shape).copy()
    points[~problem.active] = np.nan
    # Invented stretches longer than max_gap are not evidence: they go back to NaN.
    for j in range(points.shape[1]):
        for a, b in _runs(~supported[:, j]):
            if b - a > opt.max_gap:
                points[a:b, j] = np.nan
    return SkeletonFitResult(points, {name: float(v) for (name, _, _), v in zip(problem.bones, L)},
                             (rms_before, problem.reprojection_rms(sol.x)), int(sol.nfev), bool(sol.status > 0),
                             sol.message)
