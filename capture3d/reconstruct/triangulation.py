"""The public triangulation entry point: options, result, and the chunked driver around the kernel."""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from ..errors import InputShapeError, check_array
from . import kernels

log = logging.getLogger("capture3d.reconstruct")

STATUS_NAMES = {kernels.STATUS_OK: "ok", kernels.STATUS_TOO_FEW_VIEWS: "too few views",
                kernels.STATUS_INCONSISTENT: "views disagree", kernels.STATUS_DEGENERATE: "degenerate"}


@dataclass(frozen=True)
class TriangulationOptions:
    """Options of :func:`triangulate` (all distances in pixels)."""

    min_score: float = 0.2          # views with a lower detector score are not used, [0, 1]
    robust: bool = True             # reject views whose reprojection error is too large
    max_error_px: float = 20.0      # the rejection threshold, pixels (worst view first)
    max_error_two_views_px: float = 8.0  # stricter, for points left with only two views, pixels
    min_ray_angle_deg: float = 5.0  # points seen by <= 3 views need two rays this far from parallel
    min_views: int = 2              # fewer usable views -> NaN, status "too few views"
    refine_iterations: int = 10     # Levenberg-Marquardt steps on the pixel error; 0 = DLT only
    chunk_points: int = 1 << 18     # points per kernel call: bounds the working memory

    def __post_init__(self):
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")
        if not (self.max_error_px > 0 and self.max_error_two_views_px > 0):
            raise ValueError("max_error_px and max_error_two_views_px must be > 0 pixels, got "
                             f"{self.max_error_px} and {self.max_error_two_views_px}")
        if self.min_views < 2:
            raise ValueError(f"min_views must be >= 2, got {self.min_views}")
        if self.refine_iterations < 0 or self.chunk_points < 1:
            raise ValueError("refine_iterations must be >= 0 and chunk_points >= 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TriangulationOptions":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown triangulation options: {sorted(unknown)}")
        return cls(**d)


@dataclass
class TriangulationResult:
    """3D points and per-point diagnostics; leading axes ``(F, J)`` as the input's.

    Attributes
    ----------
    points : (F, J, 3) float64
        World meters; NaN where not reconstructed.
    reprojection_error_px : (F, J) float64
        Mean pixel distance between the observations used and the reprojected point.
    n_views : (F, J) int16
        Views used after rejection.
    score : (F, J) float64
        Mean detector score of the views used.
    status : (F, J) int8
        0 ok, 1 too few views, 2 views disagree, 3 degenerate geometry.
    """

    points: np.ndarray
    reprojection_error_px: np.ndarray
    n_views: np.ndarray
    score: np.ndarray
    status: np.ndarray
    options: TriangulationOptions = field(default_factory=TriangulationOptions)

    @property
    def ok(self) -> np.ndarray:
        return self.status == kernels.STATUS_OK

    def summary(self) -> dict:
        """Counts per status and the median error, for logs and reports."""
        counts = {STATUS_NAMES[k]: int((self.status == k).sum()) for k in STATUS_NAMES}
        err = self.reprojection_error_px[self.ok]
        return {"points": int(self.status.size), **counts,
                "median_error_px": float(np.median(err)) if err.size else float("nan")}


def triangulate(keypoints, rig, *, options: TriangulationOptions | None = None,
                progress: Callable[[int, int], None] | None = None, **overrides) -> TriangulationResult:
    """Triangulate 2D keypoints seen by the cameras of ``rig``.

    Parameters
    ----------
    keypoints : (C, F, J, 3) float
        Per camera (rig order), frame and joint: pixel ``x, y`` (distorted, as detected) and a
        score in [0, 1]. ``(C, F, J, 2)`` is taken with every score 1. NaN where missing.
    rig : Rig
        The calibrated cameras; ``C == len(rig)``.
    options : TriangulationOptions, optional
        Keyword ``overrides`` replace single fields (``max_error_px=10``).
    progress : callable(done, total), optional
        Called after every chunk with the number of points done.

    Returns
    -------
    TriangulationResult

    Examples
    --------
    >>> import numpy as np, capture3d
    >>> rig = capture3d.synthetic.make_rig(3)
    >>> X = np.array([[[0.1, 0.2, 1.0]]])                  # (F=1, J=1, 3) meters
    >>> kp = rig.project(X)                                # (C, 1, 1, 2) pixels
    >>> res = capture3d.triangulate(kp, rig)
    >>> bool(np.allclose(res.points, X, atol=1e-9)), int(res.n_views[0, 0])
    (True, 3)
    """
    opts = options or TriangulationOptions()
    if overrides:
        opts = TriangulationOptions(**{**opts.to_dict(), **overrides})
    kp = check_array(keypoints, "keypoints", (None, None, None, None))
    if kp.shape[-1] == 2:
        kp = np.concatenate([kp, np.ones(kp.shape[:-1] + (1,))], axis=-1)
    if kp.shape[-1] != 3:
        raise InputShapeError(f"keypoints: expected shape (C, F, J, 3) or (C, F, J, 2), got {kp.shape}")
    C, F, J, _ = kp.shape
    if C != len(rig):
        raise InputShapeError(f"keypoints: has {C} cameras but the rig has {len(rig)} ({rig.names}); "
                              "keypoints must be stacked in rig camera order")
    K, dist, model, pose = rig.kernel_arrays()
    N = F * J
    # One float64 C-ordered view of the input (a copy only when it is not already one); the
    # kernel reads it in place, chunk by chunk.
    flat = np.ascontiguousarray(kp, dtype=np.float64).reshape(C, N, 3)
    points = np.full((N, 3), np.nan)
    error = np.full(N, np.nan)
    n_views = np.zeros(N, np.int16)
    score = np.full(N, np.nan)
    status = np.zeros(N, np.int8)
    for start in range(0, N, opts.chunk_points):
        stop = min(N, start + opts.chunk_points)
        nv = np.zeros(stop - start, np.int64)
        st = np.zeros(stop - start, np.int64)
        kernels.triangulate_kernel(flat, start, K, dist, model, pose, float(opts.min_score),
                                   float(opts.max_error_px), float(opts.max_error_two_views_px),
                                   int(opts.min_views),
                                   int(opts.refine_iterations), bool(opts.robust),
                                   float(np.sin(np.radians(opts.min_ray_angle_deg))), True,
                                   points[start:stop], error[start:stop], nv, score[start:stop], st)
        n_views[start:stop] = nv
        status[start:stop] = st
        if progress is not None:
            progress(stop, N)
    res = TriangulationResult(points.reshape(F, J, 3), error.reshape(F, J), n_views.reshape(F, J),
                              score.reshape(F, J), status.reshape(F, J), opts)
    empty = int((~res.ok).all(axis=1).sum()) if J else 0
    if empty:
        log.warning("%d of %d frames have no joint reconstructed (%s)", empty, F, res.summary())
    return res
