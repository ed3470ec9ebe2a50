"""Predicted triangulation accuracy of a camera layout, point by point over a grid.

A point X seen by cameras c with pixel noise sigma (isotropic, per axis) is triangulated by
least squares on the pixel error (what :func:`capture3d.triangulate`'s refinement does), so to
first order its covariance is ``sigma^2 (sum_c J_c^T J_c)^-1`` with ``J_c = d pixel_c / d X``
``(2, 3)``, the camera model's projection Jacobian (lens distortion included). The error figure
is the RMS 3D error ``sqrt(trace(cov))`` and the worst direction the covariance's main axis.

All maths is NumPy, vectorised over the grid points (no numba: a 16-camera room at a 10 cm grid
takes well under the 10 s budget; ``benchmarks/plan.py``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..camera import MODELS
from ..errors import check_array
from ..rig import Rig
from .layout import Box

log = logging.getLogger("capture3d.plan")

# Per-axis 2D keypoint noise of BlazePose on real video, pixels: `capture3d process` on
# pose2sim_multiperson (4 cameras 1088 x 1920) reports a median reprojection error of 7.53 px
# (README, "2D detection, measured"). That figure is the mean distance between the 4
# observations and the reprojected point; for Gaussian noise of sigma per axis it is
# sigma * sqrt(pi / 4) * sqrt(2 (1 - 3 / 8)) = 0.99 sigma, so sigma = 7.5 px.
BLAZEPOSE_PIXEL_NOISE_PX = 7.5

CHUNK_POINTS = 1 << 15      # grid points per pass: 16 cameras x 32768 x 9 float64 = 38 MB


@dataclass(frozen=True)
class PlanOptions:
    """Options of :func:`predict` and :func:`capture3d.plan.plan`."""

    pixel_noise_px: float = BLAZEPOSE_PIXEL_NOISE_PX  # 2D keypoint noise, 1 sigma per axis, px
    grid_step_m: float = 0.1        # grid spacing over the capture volume, meters
    body: bool = False              # a standing person's body hides points behind it
    body_radius_m: float = 0.15     # the body's cylinder radius, meters
    body_height_m: float = 1.75     # the cylinder's top above the floor, meters
    body_facings: int = 8           # directions the joint's surface may face; the worst is kept

    def __post_init__(self):
        if not (np.isfinite(self.pixel_noise_px) and self.pixel_noise_px > 0):
            raise ValueError(f"pixel_noise_px must be > 0 pixels, got {self.pixel_noise_px}")
        if not (np.isfinite(self.grid_step_m) and self.grid_step_m > 0):
            raise ValueError(f"grid_step_m must be > 0 meters, got {self.grid_step_m}")
        if not (self.body_radius_m > 0 and self.body_height_m > 0 and self.body_facings >= 1):
            raise ValueError("body_radius_m and body_height_m must be > 0 m and body_facings >= 1, got "
                             f"{self.body_radius_m}, {self.body_height_m}, {self.body_facings}")


@dataclass
class Prediction:
    """Per grid point figures; ``N`` points.

    Attributes
    ----------
    points : (N, 3) float64
        World meters.
    views : (N,) int64
        Cameras that see the point (with ``body``: at the worst facing).
    error_mm : (N,) float64
        Predicted RMS 3D error at 1 sigma, ``sqrt(trace(cov))``, millimeters; inf below 2 views.
    worst_axis : (N, 3) float64
        Unit direction of the largest error (the covariance's main axis); NaN below 2 views.
    ray_angle_deg : (N,) float64
        Largest angle between two viewing rays, degrees; 0 below 2 views.
    visible : (C, N) bool
        Which camera sees which point (with ``body``: at the worst facing).
    """

    points: np.ndarray
    views: np.ndarray
    error_mm: np.ndarray
    worst_axis: np.ndarray
    ray_angle_deg: np.ndarray
    visible: np.ndarray


def grid_points(volume: Box, step_m: float) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Grid over ``volume``, edges included: ``(N, 3)`` meters (x fastest... z slowest) and its
    shape ``(nz, ny, nx)``."""
    axes = [np.linspace(lo, hi, max(2, int(round((hi - lo) / step_m)) + 1))
            for lo, hi in zip(volume.lo, volume.hi)]
    z, y, x = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1), z.shape


def fold_radius(cam) -> float:
    """Normalised radius ``|(x, y)|`` (``tan`` of the angle off axis) where ``cam``'s distortion
    stops growing with the radius (inf if it never does before 89.9 degrees)."""
    return _fold_radius(cam.model, tuple(cam.dist))


@lru_cache(maxsize=256)
def _fold_radius(model: str, dist: tuple) -> float:
    r = np.tan(np.radians(np.linspace(0.0, 89.9, 9000)))
    rd = np.linalg.norm(MODELS[model].distort(np.column_stack([r, np.zeros_like(r)]), np.array(dist)), axis=1)
    turn = np.nonzero(np.diff(rd) <= 0)[0]
    return float(r[turn[0]]) if turn.size else np.inf


def camera_jacobians(cam, points, *, with_jacobian: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Which points ``cam`` sees and the projection Jacobian there.

    Parameters
    ----------
    cam : Camera
    points : (N, 3) float
        World meters.

    Returns
    -------
    visible : (N,) bool
        In front of the camera, inside the image (pixel centres at integers, so the image spans
        -0.5 .. size - 0.5) and nearer the axis than :func:`fold_radius`: far off axis the
        distortion polynomial turns back and maps points outside the lens's field into the image.
    jacobian : (N, 2, 3) float64 or None
        ``d pixel / d X_world``, pixels per meter (garbage where not visible); None unless
        ``with_jacobian``.
    """
    pts = check_array(points, "points", (None, 3))
    model = MODELS[cam.model]
    R = cam.rotation
    pc = pts @ R.T + cam.tvec
    z = pc[:, 2]
    zs = np.where(z > 1e-9, z, 1.0)
    xy = pc[:, :2] / zs[:, None]
    xd = model.distort(xy, cam.dist)
    K = cam.matrix
    u = K[0, 0] * xd[:, 0] + K[0, 1] * xd[:, 1] + K[0, 2]
    v = K[1, 1] * xd[:, 1] + K[1, 2]
    w, h = cam.size
    visible = ((z > 1e-9) & (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
               & (np.hypot(xy[:, 0], xy[:, 1]) < fold_radius(cam)))
    if not with_jacobian:
        return visible, None
    jd = model.distort_jacobian(xy, cam.dist)                          # (N, 2, 2)
    dxy = np.zeros((len(pts), 2, 3))                                   # d xy / d X_cam
    dxy[:, 0, 0] = dxy[:, 1, 1] = 1 / zs
    dxy[:, :, 2] = -xy / zs[:, None]
    jac = np.array([[K[0, 0], K[0, 1]], [0.0, K[1, 1]]]) @ jd @ dxy @ R
    return visible, jac


def body_visible(points, centers, facing) -> np.ndarray:
    """Whether a standing body (vertical cylinder) leaves the cameras' view of its joints free.

    The joint at ``points`` is on the cylinder's surface facing ``facing``; the cylinder
    (radius ``facing``'s norm, from z = 0 to ``top``) hides it from a camera when the segment
    from the joint to the camera centre passes through it.

    Parameters
    ----------
    points : (N, 3) float, meters
    centers : (C, 3) float, camera centres, meters
    facing : (3,) float
        ``(dx, dy, top)``: the outward normal times the radius (meters) and the cylinder's top (m).

    Returns
    -------
    (C, N) bool
        True where the body does not hide the point from the camera.
    """
    r = float(np.hypot(facing[0], facing[1]))
    normal = np.asarray(facing[:2], float) / r
    axis = points[:, :2] - r * normal                                  # (N, 2)
    start = points[None, :, :] + np.append(normal, 0.0) * 1e-3         # 1 mm off the skin
    d = centers[:, None, :] - start                                    # (C, N, 3)
    q = start[..., :2] - axis
    a = np.einsum("cni,cni->cn", d[..., :2], d[..., :2])
    b = np.einsum("cni,cni->cn", q, d[..., :2])
    c = np.einsum("cni,cni->cn", q, q) - r * r
    disc = b * b - a * c
    hit = (disc > 0) & (a > 1e-12)
    root = np.sqrt(np.where(hit, disc, 0.0))
    a_safe = np.where(hit, a, 1.0)
    s0 = np.clip((-b - root) / a_safe, 0.0, 1.0)
    s1 = np.clip((-b + root) / a_safe, 0.0, 1.0)
    z0 = start[..., 2] + s0 * d[..., 2]
    z1 = start[..., 2] + s1 * d[..., 2]
    hidden = hit & (s1 > s0) & (np.maximum(z0, z1) >= 0.0) & (np.minimum(z0, z1) <= facing[2])
    return ~hidden


def _error_from_information(info, sigma_px):
    """``info (N, 3, 3)`` = sum J^T J -> error_mm (N,), worst_axis (N, 3)."""
    lam, vec = np.linalg.eigh(info)
    with np.errstate(divide="ignore"):
        inv = np.where(lam > 1e-12 * np.maximum(lam[:, 2:], 1e-300), 1.0 / lam, np.inf)
    error_mm = sigma_px * np.sqrt(inv.sum(axis=1)) * 1000.0
    return error_mm, vec[:, :, 0]


def _ray_angles(points, centers, visible) -> np.ndarray:
    """Largest angle between two visible cameras' rays, degrees, ``(N,)``."""
    rays = centers[:, None, :] - points[None]
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    best = np.ones(len(points))
    for i in range(len(centers)):
        for j in range(i + 1, len(centers)):
            both = visible[i] & visible[j]
            cos = np.einsum("ni,ni->n", rays[i], rays[j])
            best = np.where(both, np.minimum(best, cos), best)
    return np.degrees(np.arccos(np.clip(best, -1.0, 1.0)))


def predict(rig: Rig, points, *, options: PlanOptions | None = None) -> Prediction:
    """Predicted 3D accuracy of ``rig`` at ``points``.

    Parameters
    ----------
    rig : Rig
    points : (N, 3) float
        World meters.
    options : PlanOptions, optional

    Returns
    -------
    Prediction
    """
    opts = options or PlanOptions()
    pts = check_array(points, "points", (None, 3))
    centers = rig.centers
    parts = []
    for start in range(0, max(len(pts), 1), CHUNK_POINTS):   # bounds the (C, n, 3, 3) working set
        chunk = pts[start:start + CHUNK_POINTS]
        visible, info = camera_terms(rig, chunk)
        err, axis, views, vis = worst_facing(chunk, centers, visible, info, opts)
        parts.append((views.astype(np.int64), err, np.where((views >= 2)[:, None], axis, np.nan),
                      _ray_angles(chunk, centers, vis), vis))
    views, err, axis, angle, vis = (np.concatenate(a, axis=-1 if i == 4 else 0) for i, a in enumerate(zip(*parts)))
    return Prediction(pts, views, err, axis, angle, vis)


def facings_of(opts: PlanOptions) -> list:
    """The ``facing`` arguments of :func:`body_visible` for ``opts`` (``[None]`` without body)."""
    if not opts.body:
        return [None]
    ang = np.arange(opts.body_facings) * 2 * np.pi / opts.body_facings
    return [(opts.body_radius_m * np.cos(a), opts.body_radius_m * np.sin(a), opts.body_height_m)
            for a in ang]


def worst_facing(points, centers, visible, info, opts: PlanOptions):
    """Error, worst axis, views and visibility at the body facing that is worst per point
    (the only one without ``body``): ``(N,), (N, 3), (N,), (C, N)``."""
    best = None
    for facing in facings_of(opts):
        vis = visible if facing is None else visible & body_visible(points, centers, facing)
        total = np.einsum("cn,cnij->nij", vis.astype(float), info)
        err, axis = _error_from_information(total, opts.pixel_noise_px)
        views = vis.sum(axis=0)
        err = np.where(views >= 2, err, np.inf)
        if best is None:
            best = [err, axis, views, vis]
        else:   # keep, point by point, the facing with the larger error (fewer views on ties)
            worse = (err > best[0]) | ((err == best[0]) & (views < best[2]))
            best = [np.where(worse, err, best[0]), np.where(worse[:, None], axis, best[1]),
                    np.where(worse, views, best[2]), np.where(worse[None], vis, best[3])]
    return best


def camera_terms(rig: Rig, points) -> tuple[np.ndarray, np.ndarray]:
    """Per camera: visibility ``(C, N)`` bool and ``J^T J`` ``(C, N, 3, 3)`` (pixels^2 / m^2)."""
    vis, info = [], []
    for cam in rig:
        v, jac = camera_jacobians(cam, points)
        vis.append(v)
        info.append(np.einsum("nki,nkj->nij", jac, jac))
    return np.array(vis).reshape(len(rig), len(points)), np.array(info).reshape(len(rig), len(points), 3, 3)


def summarize(pred: Prediction, pixel_noise_px: float) -> dict:
    """Shares of the grid (the volume) seen by >= 2 / >= 3 cameras and under 5 / 10 / 20 mm."""
    n = max(len(pred.views), 1)
    finite = pred.error_mm[np.isfinite(pred.error_mm)]
    return {"points": int(len(pred.views)), "pixel_noise_px": float(pixel_noise_px),
            "share_2_views": float((pred.views >= 2).sum() / n),
            "share_3_views": float((pred.views >= 3).sum() / n),
            **{f"share_under_{t}_mm": float((pred.error_mm < t).sum() / n) for t in (5, 10, 20)},
            "median_error_mm": float(np.median(finite)) if finite.size else float("nan"),
            "p95_error_mm": float(np.percentile(finite, 95)) if finite.size else float("nan"),
            # capture3d.triangulate refuses points seen by <= 3 views whose rays are all within 5 degrees
            "share_ray_angle_under_5_deg": float(((pred.views >= 2) & (pred.ray_angle_deg < 5)).sum() / n)}


def default_volume(rig: Rig, *, top_m: float = 2.0, step_m: float = 0.1) -> Box:
    """The box above the floor (z = 0 .. ``top_m``) that at least two cameras see.

    A column of a horizontal grid (``step_m``) around the cameras qualifies when every height
    from the floor to ``top_m`` (every 0.25 m) is seen by two cameras. The box grows from the
    qualifying column nearest to where the optical axes pass closest to each other (the point
    the rig looks at), one row or column of cells at a time on each side while the new cells
    all qualify: a box every point of which two cameras see. (The bounding box of all
    qualifying columns would take in the far strips that two cameras see side by side.)
    ValueError when no column qualifies.
    """
    c = rig.centers
    span = np.ptp(c[:, :2], axis=0).max() if len(c) else 0.0
    lo, hi = c[:, :2].min(axis=0) - span / 2 - 2.0, c[:, :2].max(axis=0) + span / 2 + 2.0
    step = max(step_m, float((hi - lo).max()) / 150)
    heights = np.linspace(0.0, top_m, int(round(top_m / 0.25)) + 1)
    xs, ys = (np.arange(lo[i], hi[i] + step / 2, step) for i in range(2))
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    pts = np.vstack([np.column_stack([xy, np.full(len(xy), z)]) for z in heights])
    vis = np.array([camera_jacobians(cam, pts, with_jacobian=False)[0] for cam in rig]).reshape(len(rig), len(pts))
    ok = (vis.sum(axis=0) >= 2).reshape(len(heights), -1).all(axis=0)
    if not ok.any():
        raise ValueError(f"no column of space above the floor (0 .. {top_m} m) is seen by two of the "
                         f"cameras {rig.names}; give the capture volume (--volume X0,Y0,Z0,X1,Y1,Z1)")
    seed = np.argmin(np.where(ok, np.linalg.norm(xy - _axes_meeting_point(rig)[:2], axis=1), np.inf))
    ok = ok.reshape(len(ys), len(xs))
    r0 = r1 = seed // len(xs)
    c0 = c1 = seed % len(xs)
    grown = True
    while grown:
        grown = False
        if r0 > 0 and ok[r0 - 1, c0:c1 + 1].all():
            r0, grown = r0 - 1, True
        if r1 < len(ys) - 1 and ok[r1 + 1, c0:c1 + 1].all():
            r1, grown = r1 + 1, True
        if c0 > 0 and ok[r0:r1 + 1, c0 - 1].all():
            c0, grown = c0 - 1, True
        if c1 < len(xs) - 1 and ok[r0:r1 + 1, c1 + 1].all():
            c1, grown = c1 + 1, True
    return Box((round(float(xs[c0]), 3), round(float(ys[r0]), 3), 0.0),
               (round(float(xs[c1]), 3), round(float(ys[r1]), 3), top_m))


def _axes_meeting_point(rig: Rig) -> np.ndarray:
    """The point nearest, in least squares, to every camera's optical axis, ``(3,)`` meters."""
    return rig.axes_meeting_point()
