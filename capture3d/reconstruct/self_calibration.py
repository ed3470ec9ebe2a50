"""Refine a rig's extrinsics from the people it films: a small bundle adjustment over confident joints.

A calibration slightly off shows, held out (:mod:`capture3d.reconstruct.view_agreement`), as a
camera whose keypoints sit to one side of where the other views put the people. A rotation of a
camera about its own centre moves its image by nearly, not exactly, a constant shift (the roll
about the optical axis turns it; distortion and perspective bend it); :func:`refine_extrinsics`
estimates that rotation, and optionally the camera centres, from the session itself:

- every person-frame is triangulated with the given rig; points seen by ``min_views`` or more
  views within ``max_residual_px`` are kept (at most ``max_points``, a fixed-seed sample), and
  with them each view's keypoint of score ``min_score`` or more;
- unknowns: a small rotation per camera, ``cam_from_world' = exp(omega) @ cam_from_world``
  (``omega`` in the camera frame: x and y tilt the image, z rolls it), the camera centre held,
  and the 3D points; with ``refine_centers`` each centre moves too, but only by what is not a
  similarity of the whole rig (the rig's position, orientation and scale are held, so the
  calibration's metric scale stays the user's); with ``refine_focal`` each camera's focal length
  is scaled too (``fx`` and ``fy`` together, the principal point held; a prior of spread
  ``focal_prior``), for intrinsics from a board that are a percent or two off;
- a robust (``soft_l1``, scale ``loss_scale_px``) least squares on the pixel residuals, with a
  prior of spread ``rotation_prior_deg`` on each rotation (scipy's ``least_squares``, exact
  sparse Jacobian), cameras with fewer than ``min_observations`` observations keep their rotation
  and focal length (with ``refine_centers`` their centres may still move: the centre moves are
  of the whole rig);
- a rotation beyond ``max_rotation_deg`` (a focal change beyond ``max_focal_change``) is not a
  calibration error: the whole result is refused (the rig given back unchanged, said in ``message``).

The principal point and the distortion are not touched: a principal point off by a few pixels is,
to first order, the same as a tilt of a fraction of a degree, and the tilt is what this estimates.
On ``pose2sim_multiperson`` the focal lengths moved +1.5 % in every camera and the views agreed
no better held out (README, issue 22), so ``refine_focal`` is off unless asked for.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix

from ..camera import MODELS
from ..camera.camera import rodrigues_from_rotation, rotation_from_rodrigues
from ..errors import InputShapeError, check_array
from ..rig import Rig
from .triangulation import TriangulationOptions, triangulate

log = logging.getLogger("capture3d.reconstruct")


@dataclass(frozen=True)
class SelfCalibrationOptions:
    """Options of :func:`refine_extrinsics`."""

    refine_centers: bool = False    # also move camera centres (the rig's similarity held), else rotations only
    refine_focal: bool = False      # also scale each free camera's focal length (fx and fy together)
    focal_prior: float = 0.01       # prior spread of each focal scale, as a share of the focal length
    min_score: float = 0.5          # keypoints below this detector score are not used, [0, 1]
    min_views: int = 3              # points need this many agreeing views (two always agree in their plane)
    max_residual_px: float = 20.0   # a view farther than this from its point is not used, pixels
    max_points: int = 4000          # points used at most (a fixed-seed sample), for speed
    loss: str = "soft_l1"           # scipy least_squares loss: soft_l1, huber, cauchy, arctan or linear
    loss_scale_px: float = 5.0      # the loss's scale: residuals beyond it count less than squared, pixels
    min_observations: int = 100     # a camera with fewer is held fixed, keypoints
    rotation_prior_deg: float = 0.25  # prior spread of each rotation change, degrees (the views barely
    #                                   tell a shift of all the people from a tilt of every camera)
    center_prior_m: float = 0.01    # prior spread of each centre move, meters
    hold_people: bool = False       # keep the people's mean position and orientation where the rig put them
    max_rotation_deg: float = 3.0   # a larger change of any camera refuses the result, degrees
    max_center_shift_m: float = 0.10  # a larger move of any centre refuses the result, meters
    max_focal_change: float = 0.05  # a larger focal scale change (share) of any camera refuses the result
    max_iterations: int = 50        # least-squares iterations (function evaluations x 10)
    seed: int = 0                   # of the point sample

    def __post_init__(self):
        if not 0.0 <= self.min_score <= 1.0 or self.min_views < 2:
            raise ValueError(f"min_score in [0, 1] and min_views >= 2 required, got {self.min_score}, "
                             f"{self.min_views}")
        if not (self.max_residual_px > 0 and self.loss_scale_px > 0 and self.max_rotation_deg > 0
                and self.max_center_shift_m > 0 and self.rotation_prior_deg > 0 and self.center_prior_m > 0
                and self.focal_prior > 0 and self.max_focal_change > 0):
            raise ValueError("max_residual_px, loss_scale_px, rotation_prior_deg, center_prior_m, focal_prior, "
                             "max_rotation_deg, max_center_shift_m and max_focal_change must be > 0")
        if self.loss not in ("soft_l1", "huber", "cauchy", "arctan", "linear"):
            raise ValueError(f"loss must be soft_l1, huber, cauchy, arctan or linear, got {self.loss!r}")
        if self.max_points < 10 or self.min_observations < 1 or self.max_iterations < 1:
            raise ValueError("max_points >= 10, min_observations >= 1 and max_iterations >= 1 required")


@dataclass
class SelfCalibration:
    """:func:`refine_extrinsics`' result.

    Attributes
    ----------
    rig : Rig
        The refined rig (the given one, unchanged, when ``ok`` is False); intrinsics as given.
    ok : bool
        False when refused (too few points, a change beyond the limits); ``message`` says why.
    rotation_change_deg : (C,) float64
        Angle of each camera's rotation change, degrees.
    rotation_change_rvec : (C, 3) float64
        The change ``omega`` as a rotation vector in the camera frame (x, y tilt, z roll), radians.
    center_shift_m : (C,) float64
        How far each camera centre moved, meters (0 without ``refine_centers``).
    focal_change : (C,) float64
        Each camera's focal length change as a share (``fx' = fx (1 + change)``, ``fy`` and the
        skew alike; 0 without ``refine_focal``).
    observations : (C,) int
        Keypoints of each camera in the adjustment.
    fitted : (C,) bool
        Cameras that were free (enough observations).
    residual_before_px, residual_after_px : (C,) float64
        Median pixel residual of each camera's observations at the start and at the solution.
    points : int
        3D points in the adjustment.
    message : str
    """

    rig: Rig
    ok: bool
    rotation_change_deg: np.ndarray
    rotation_change_rvec: np.ndarray
    center_shift_m: np.ndarray
    observations: np.ndarray
    fitted: np.ndarray
    residual_before_px: np.ndarray
    residual_after_px: np.ndarray
    points: int = 0
    message: str = ""
    extra: dict = field(default_factory=dict)
    focal_change: np.ndarray | None = None   # None: zeros (see __post_init__)

    def __post_init__(self):
        if self.focal_change is None:
            self.focal_change = np.zeros(len(self.rotation_change_deg))

    def to_dict(self, names=None) -> dict:
        """For ``report.json``: per camera its rotation change (degrees, and the rotation vector in
        the camera frame), centre shift (mm), focal length change (%) and residual medians."""
        names = names or self.rig.names
        cams = {n: {"rotation_change_deg": round(float(self.rotation_change_deg[c]), 4),
                    "rotation_change_rvec_deg": [round(float(np.degrees(v)), 4)
                                                 for v in self.rotation_change_rvec[c]],
                    "center_shift_mm": round(1000.0 * float(self.center_shift_m[c]), 2),
                    "focal_change_pct": round(100.0 * float(self.focal_change[c]), 3),
                    "fitted": bool(self.fitted[c]), "observations": int(self.observations[c]),
                    "residual_before_px": _num(self.residual_before_px[c]),
                    "residual_after_px": _num(self.residual_after_px[c])} for c, n in enumerate(names)}
        return {"ok": bool(self.ok), "points": int(self.points), "message": self.message, "cameras": cams,
                **self.extra}


def _num(v):
    return round(float(v), 2) if np.isfinite(v) else None


def _similarity_basis(centers) -> np.ndarray:
    """Orthonormal ``(3C, 7)`` basis of the centre moves that are a similarity of the whole rig
    (3 translations, 3 small rotations, 1 scale about the centroid)."""
    c = centers - centers.mean(axis=0)
    C = len(centers)
    cols = []
    for k in range(3):
        e = np.zeros((C, 3))
        e[:, k] = 1.0
        cols.append(e.ravel())
        cols.append(np.cross(np.eye(3)[k], c).ravel())
    cols.append(c.ravel())
    q, r = np.linalg.qr(np.stack(cols, axis=1))
    return q[:, np.abs(np.diag(r)) > 1e-9 * max(1.0, np.abs(r).max())]


def _observations(kp, rig, tri, options):
    """Points and observations for the adjustment from ``kp (C, N, J, 3)``.

    Returns ``X (M, 3)`` meters, ``cam (K,)``, ``point (K,)`` indices and ``uv (K, 2)`` pixels."""
    C = kp.shape[0]
    res = triangulate(kp, rig, options=tri, temporal=False)
    X = res.points.reshape(-1, 3)
    flat = kp.reshape(C, -1, 3)
    good = res.ok.ravel() & (res.n_views.ravel() >= options.min_views)
    proj = np.stack([rig[c].project(X) for c in range(C)])               # (C, N*J, 2)
    d = np.hypot(*(proj - flat[..., :2]).transpose(2, 0, 1))               # (C, N*J)
    with np.errstate(invalid="ignore"):
        use = (flat[..., 2] >= options.min_score) & (d <= options.max_residual_px) & good[None]
    keep = use.sum(axis=0) >= options.min_views
    idx = np.flatnonzero(keep)
    if len(idx) > options.max_points:
        idx = np.sort(np.random.default_rng(options.seed).choice(idx, options.max_points, replace=False))
    use = use[:, idx]
    cam, point = np.nonzero(use)
    return X[idx], cam, point, flat[cam, idx[point], :2]


class _Problem:
    """Residuals of the adjustment, ``x = [omega (3 per free camera), log focal scale (1 per free
    camera, with ``focal``), centre move (G), X (3M)]``.

    The residuals are the observations' pixels ``(2K,)``, then the priors on omega, the focal
    scales and the centre move (``loss_scale_px`` x value / its prior spread), then with ``hold`` the mean move and the
    mean turn of the 3D points (``loss_scale_px`` x meters / 1 mm): the views alone barely fix
    where the people are, since a shift or turn of all of them is nearly undone by tilting every
    camera. The robust loss applies to the observations only (:meth:`loss`)."""

    def __init__(self, rig, X0, cam, point, uv, free, basis, prior, hold, focal=False):
        self.rig, self.cam, self.point, self.uv = rig, cam, point, uv
        self.prior = prior                                                # (n_cal,) pixels per unit
        self.C, self.M = len(rig), len(X0)
        self.free = np.flatnonzero(free)
        self.basis = basis                                                # (3C, G) or (3C, 0)
        self.R0 = np.stack([c.rotation for c in rig])
        self.centers0 = rig.centers
        self.pp = np.stack([c.matrix[:2, 2] for c in rig])                # (C, 2) principal points, pixels
        self.n_rot, self.n_foc, self.n_ctr = 3 * len(self.free), len(self.free) if focal else 0, basis.shape[1]
        self.n_cal = self.n_rot + self.n_foc + self.n_ctr                 # the camera unknowns, all with a prior
        self.x0 = np.concatenate([np.zeros(self.n_cal), X0.ravel()])
        self.rows = [np.flatnonzero(cam == c) for c in range(self.C)]
        self.X0, self.arm = X0, X0 - X0.mean(axis=0)                      # (M, 3) meters
        self.hold = hold                                                  # pixels per meter, 0: not held
        self.n_obs = 2 * len(cam)

    def unpack(self, x):
        """``omega (C, 3)`` radians, ``log_focal (C,)``, centre ``shift (C, 3)`` meters, ``X (M, 3)``."""
        omega = np.zeros((self.C, 3))
        omega[self.free] = x[:self.n_rot].reshape(-1, 3)
        log_focal = np.zeros(self.C)
        if self.n_foc:
            log_focal[self.free] = x[self.n_rot:self.n_rot + self.n_foc]
        g = self.n_rot + self.n_foc
        shift = (self.basis @ x[g:self.n_cal]).reshape(self.C, 3) if self.n_ctr else np.zeros((self.C, 3))
        return omega, log_focal, shift, x[self.n_cal:].reshape(-1, 3)

    def cameras(self, x):
        """``(R (C, 3, 3), t (C, 3))`` cam_from_world at ``x``."""
        omega, _, shift, _ = self.unpack(x)
        R = np.stack([rotation_from_rodrigues(omega[c]) @ self.R0[c] for c in range(self.C)])
        t = -np.einsum("cij,cj->ci", R, self.centers0 + shift)
        return R, t

    def residuals(self, x):
        R, t = self.cameras(x)
        _, log_focal, _, X = self.unpack(x)
        scale = np.exp(log_focal)
        out = np.empty((len(self.cam), 2))
        for c, rows in enumerate(self.rows):
            if not len(rows):
                continue
            pc = X[self.point[rows]] @ R[c].T + t[c]
            z = np.maximum(pc[:, 2:], 1e-6)
            # a focal scale s moves a pixel along its ray from the principal point: pp + s (uv - pp)
            uv = self.rig[c].normalized_to_pixels(pc[:, :2] / z)
            out[rows] = self.pp[c] + scale[c] * (uv - self.pp[c]) - self.uv[rows]
        parts = [out.ravel(), self.prior * x[:self.n_cal]]
        if self.hold:
            d = X - self.X0
            parts += [self.hold * d.mean(axis=0), self.hold * np.cross(self.arm, d).mean(axis=0)]
        return np.concatenate(parts)

    def jacobian(self, x):
        """The residuals' exact Jacobian at ``x``, sparse ``(rows, len(x))``: the point's motion
        in the camera frame through the perspective division, the lens distortion and ``K``;
        a camera's rotation through SO(3)'s left Jacobian."""
        omega, log_focal, _, X = self.unpack(x)
        scale = np.exp(log_focal)
        R, t = self.cameras(x)
        K = len(self.cam)
        n = self.n_cal
        base = n
        rows, cols, vals = [], [], []

        def put(r, c, v):
            rows.append(np.broadcast_to(r, v.shape).ravel())
            cols.append(np.broadcast_to(c, v.shape).ravel())
            vals.append(v.ravel())

        slot = {c: i for i, c in enumerate(self.free)}
        for c, idx in enumerate(self.rows):
            if not len(idx):
                continue
            cam = self.rig[c]
            pc = X[self.point[idx]] @ R[c].T + t[c]                       # (k, 3) camera frame
            z = np.maximum(pc[:, 2], 1e-6)
            xy = pc[:, :2] / z[:, None]
            D = MODELS[cam.model].distort_jacobian(xy, cam.dist)           # (k, 2, 2)
            Kc = cam.matrix[:2, :2]
            dxy = np.zeros((len(idx), 2, 3))
            dxy[:, 0, 0] = dxy[:, 1, 1] = 1.0 / z
            dxy[:, :, 2] = -xy / z[:, None]
            A = scale[c] * np.einsum("ij,kjl,klm->kim", Kc, D, dxy)        # (k, 2, 3) pixels per meter
            r2 = np.stack([2 * idx, 2 * idx + 1], axis=1)[:, :, None]       # (k, 2, 1)
            put(r2, base + 3 * self.point[idx][:, None, None] + np.arange(3), A @ R[c])
            if c in slot:
                Jw = -np.einsum("kij,kjl->kil", _skew(pc), np.broadcast_to(_left_jacobian(omega[c]), (len(idx), 3, 3)))
                put(r2, 3 * slot[c] + np.arange(3), A @ Jw)
                if self.n_foc:   # d/d log s of pp + s (uv - pp)
                    uv = cam.normalized_to_pixels(xy)
                    put(r2[:, :, 0], np.full((len(idx), 2), self.n_rot + slot[c]), scale[c] * (uv - self.pp[c]))
            if self.n_ctr:
                dC = -(A @ R[c]) @ self.basis[3 * c:3 * c + 3]             # (k, 2, G)
                put(r2, self.n_rot + self.n_foc + np.arange(self.n_ctr), dC)
        put(2 * K + np.arange(n), np.arange(n), self.prior.copy())
        if self.hold:
            M = self.M
            r = 2 * K + n
            for k in range(3):
                put(np.full(M, r + k), base + 3 * np.arange(M) + k, np.full(M, self.hold / M))
            # d mean(arm x d) / d d_i = [arm_i]_x / M
            S = _skew(self.arm) * (self.hold / M)                            # (M, 3, 3)
            put(r + 3 + np.arange(3)[None, :, None], base + 3 * np.arange(M)[:, None, None] + np.arange(3), S)
        shape = (len(self.residuals_shape(K, n)), len(x))
        return coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape).tocsr()

    def residuals_shape(self, K, n):
        return range(2 * K + n + (6 if self.hold else 0))

    def loss(self, name):
        """scipy's robust loss ``name`` on the observations, squares on the priors: ``rho(z)`` of
        ``z (m,)``, the squared scaled residuals, as ``(3, m)`` (value, first, second derivative)."""
        n = self.n_obs

        def rho(z):
            out = np.empty((3, len(z)))
            out[0, n:], out[1, n:], out[2, n:] = z[n:], 1.0, 0.0
            zo = z[:n]
            if name == "soft_l1":
                t = 1.0 + zo
                out[0, :n], out[1, :n], out[2, :n] = 2.0 * (np.sqrt(t) - 1.0), t ** -0.5, -0.5 * t ** -1.5
            elif name == "huber":
                small = zo <= 1.0
                sq = np.sqrt(np.maximum(zo, 1e-300))
                out[0, :n] = np.where(small, zo, 2.0 * sq - 1.0)
                out[1, :n] = np.where(small, 1.0, 1.0 / sq)
                out[2, :n] = np.where(small, 0.0, -0.5 / (sq * np.maximum(zo, 1e-300)))
            elif name == "cauchy":
                t = 1.0 + zo
                out[0, :n], out[1, :n], out[2, :n] = np.log1p(zo), 1.0 / t, -1.0 / t ** 2
            elif name == "arctan":
                t = 1.0 + zo ** 2
                out[0, :n], out[1, :n], out[2, :n] = np.arctan(zo), 1.0 / t, -2.0 * zo / t ** 2
            else:
                out[0, :n], out[1, :n], out[2, :n] = zo, 1.0, 0.0
            return out
        return rho


def _skew(v):
    """``(..., 3)`` -> ``(..., 3, 3)`` cross-product matrices."""
    out = np.zeros(v.shape[:-1] + (3, 3))
    out[..., 0, 1], out[..., 0, 2], out[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    out[..., 1, 0], out[..., 2, 0], out[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    return out


def _left_jacobian(w):
    """SO(3)'s left Jacobian at the rotation vector ``w (3,)``: ``exp(w + dw) = exp(J dw) exp(w)``."""
    theta = float(np.linalg.norm(w))
    W = _skew(w)
    if theta < 1e-8:
        return np.eye(3) + 0.5 * W
    return (np.eye(3) + (1 - np.cos(theta)) / theta ** 2 * W
            + (theta - np.sin(theta)) / theta ** 3 * W @ W)


def _scaled_focal(camera, change):
    """``camera`` with ``fx``, ``fy`` (and the skew) times ``1 + change``, the principal point held."""
    if change == 0.0:
        return camera
    matrix = np.array(camera.matrix, float, copy=True)
    matrix[:2, :2] *= 1.0 + change
    return replace(camera, matrix=matrix)


def _camera_medians(res, cam, C):
    d = np.hypot(res[0:2 * len(cam):2], res[1:2 * len(cam):2])
    return np.array([np.median(d[cam == c]) if (cam == c).any() else np.nan for c in range(C)])


def refine_extrinsics(keypoints, rig, *, triangulation: TriangulationOptions | None = None,
                      options: SelfCalibrationOptions = SelfCalibrationOptions()) -> SelfCalibration:
    """Each camera's rotation (with ``refine_centers`` its centre, with ``refine_focal`` its focal
    length) refined so that the views agree on the people's confident joints.

    Parameters
    ----------
    keypoints : (P, C, F, J, 3) float
        Per person, camera (rig order), frame and joint: distorted pixels ``x, y`` and score;
        NaN where missing (e.g. :class:`~capture3d.reconstruct.PeopleResult`'s ``keypoints``).
    rig : Rig
        The calibration to refine; it is not modified.
    triangulation : TriangulationOptions, optional
        Of the starting triangulation (robust; the temporal pass is not used).
    options : SelfCalibrationOptions

    Returns
    -------
    SelfCalibration
        ``ok`` False (and the rig unchanged) when there are too few points or the change is beyond
        ``max_rotation_deg`` / ``max_center_shift_m`` / ``max_focal_change``.
    """
    kp = check_array(keypoints, "keypoints", (None, len(rig), None, None, 3))
    C = len(rig)
    if C < 3:
        raise InputShapeError(f"keypoints: refining extrinsics needs 3 cameras or more (two views always "
                              f"agree in their own triangulation's plane), got {C}")
    tri = triangulation or TriangulationOptions()
    P, _, F, J, _ = kp.shape
    zeros, nan = np.zeros(C), np.full(C, np.nan)
    X0, cam, point, uv = _observations(kp.transpose(1, 0, 2, 3, 4).reshape(C, P * F, J, 3), rig, tri, options)
    counts = np.bincount(cam, minlength=C)
    free = counts >= options.min_observations

    def refused(message, before=nan, after=nan, npts=0):
        log.warning("extrinsics refinement refused: %s", message)
        return SelfCalibration(rig, False, zeros.copy(), np.zeros((C, 3)), zeros.copy(), counts, free, before, after,
                               npts, message)

    if free.sum() < 1 or len(X0) < 10:
        return refused(f"{len(X0)} points seen by {options.min_views} views, cameras with enough keypoints "
                       f"{[rig.names[c] for c in np.flatnonzero(free)]}")
    basis = _similarity_basis(rig.centers)
    complement = np.linalg.svd(np.eye(3 * C) - basis @ basis.T)[0][:, :3 * C - basis.shape[1]] \
        if options.refine_centers else np.zeros((3 * C, 0))
    n_free = int(free.sum())
    prior = np.concatenate([np.full(3 * n_free, options.loss_scale_px / np.radians(options.rotation_prior_deg)),
                            np.full(n_free if options.refine_focal else 0, options.loss_scale_px / options.focal_prior),
                            np.full(complement.shape[1], options.loss_scale_px / options.center_prior_m)])
    prob = _Problem(rig, X0, cam, point, uv, free, complement, prior,
                    options.loss_scale_px / 1e-3 if options.hold_people else 0.0, focal=options.refine_focal)
    r0 = prob.residuals(prob.x0)
    sol = least_squares(prob.residuals, prob.x0, jac=prob.jacobian, loss=prob.loss(options.loss),
                        f_scale=options.loss_scale_px, x_scale="jac", method="trf", tr_solver="lsmr",
                        max_nfev=options.max_iterations * 10, xtol=1e-10, ftol=1e-8)
    before, after = _camera_medians(r0, cam, C), _camera_medians(sol.fun, cam, C)
    omega, log_focal, shift, _ = prob.unpack(sol.x)
    angle = np.degrees(np.linalg.norm(omega, axis=1))
    moved = np.linalg.norm(shift, axis=1)
    focal = np.expm1(log_focal)                                           # (C,) share, 0: unchanged
    notes = []
    if (~free).any():
        notes.append(f"cameras {[rig.names[c] for c in np.flatnonzero(~free)]}: fewer than "
                     f"{options.min_observations} keypoints, held fixed")
    if (angle.max() > options.max_rotation_deg or moved.max() > options.max_center_shift_m
            or np.abs(focal).max() > options.max_focal_change):
        focal_part = f", focal lengths {np.round(100 * focal, 2).tolist()} %" if options.refine_focal else ""
        return refused(f"a change beyond the limits (rotations {np.round(angle, 2).tolist()} deg, centres "
                       f"{np.round(1000 * moved, 1).tolist()} mm{focal_part})", before, after, len(X0))
    R, t = prob.cameras(sol.x)
    cams = [_scaled_focal(c.with_pose(rodrigues_from_rotation(R[i]), t[i]), focal[i])
            if free[i] or options.refine_centers else c for i, c in enumerate(rig)]
    for note in notes:
        log.warning("extrinsics refinement: %s", note)
    return SelfCalibration(Rig(cams, dict(rig.metadata)), True, angle, omega, moved, counts, free, before, after,
                           len(X0), "; ".join(notes), {"evaluations": int(sol.nfev), "solver": sol.message}, focal)


__all__ = ["SelfCalibrationOptions", "SelfCalibration", "refine_extrinsics"]
