"""The public triangulation entry point: options, result, and the chunked driver around the kernel."""
from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from ..errors import InputShapeError, check_array
from . import kernels
from .temporal import views_off_neighbours

log = logging.getLogger("capture3d.reconstruct")

UNUSED_MARGIN = 1.5   # x max_error_px: see _temporal_pass

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
    # Second pass (capture3d/reconstruct/temporal.py): views far from the point predicted from the
    # neighbouring frames are dropped and their points solved again. Rows of F must be frames in
    # time order (``frame_index`` says so when frames are missing); other rows predict nothing.
    temporal: bool = False          # that pass. Synthetic benchmark (4 cameras, 5 % outlier views): mean
    #                                 error 1.23x -> 1.006x the oracle's; pose2sim_multiperson: p0's
    #                                 (the woman's) frames with all 17 joints 79 -> 75 %, so off unless asked for
    temporal_refused_only: bool = False  # judge only the points the per-point test refused (views disagree):
    #                                 it can then gain points, never change or lose one (process's choice)
    temporal_window_frames: int = 6     # trusted neighbours used at most this far from the point, frames
    temporal_max_step_m: float = 0.1    # neighbours moving more per frame are not one motion, meters
    temporal_error_factor: float = 2.5  # a view is dropped beyond this x max_error_px from the prediction
    # Third pass (_suspect_view_pass): a point refused as "views disagree" among three or more views
    # is solved again without the view that is clearly the worst on the person's other joints of the
    # same row (a view wrong for one joint is suspect for its neighbours). Rows must be one person.
    suspect_views: bool = True          # pose2sim_multiperson: p1's (the man's) frames with all 17
    #                                     joints 64 -> 79 %, bone CV 0.0517 -> 0.0511; synthetic: no change
    suspect_ratio: float = 1.5          # its median pixel distance on the other joints, x every other view's
    suspect_floor: float = 0.5          # and above this x max_error_two_views_px (noise alone is not suspect)
    suspect_min_joints: int = 4         # other reconstructed joints of the row that median needs

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
        if not (self.temporal_window_frames >= 1 and self.temporal_max_step_m > 0
                and self.temporal_error_factor > 0):
            raise ValueError("temporal_window_frames must be >= 1 frame, temporal_max_step_m > 0 m and "
                             f"temporal_error_factor > 0, got {self.temporal_window_frames}, "
                             f"{self.temporal_max_step_m} and {self.temporal_error_factor}")
        if not (self.suspect_ratio > 1 and self.suspect_floor >= 0 and self.suspect_min_joints >= 1):
            raise ValueError("suspect_ratio must be > 1, suspect_floor >= 0 and suspect_min_joints >= 1, got "
                             f"{self.suspect_ratio}, {self.suspect_floor} and {self.suspect_min_joints}")

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
    temporal : dict
        What the second pass did: ``used``, ``refused_only`` (only the points refused as "views
        disagree" judged; else every point but those with four or more agreeing views), points
        judged against a prediction from their neighbours (``predicted``), ``views_off``
        (observed views far from the prediction), ``points_redone``, and of those the ones no
        longer reconstructed (``points_lost``; never with ``refused_only``) or newly
        reconstructed (``points_gained``).
    suspect_views : dict
        What the suspect-view pass did: ``used``, ``points_judged`` (refused as "views disagree"
        with a view to spare), ``points_redone`` (a view clearly the worst on the row's other
        joints dropped) and of those ``points_gained``. It reads each row as one person.
    """

    points: np.ndarray
    reprojection_error_px: np.ndarray
    n_views: np.ndarray
    score: np.ndarray
    status: np.ndarray
    options: TriangulationOptions = field(default_factory=TriangulationOptions)
    temporal: dict = field(default_factory=lambda: {"used": False})
    suspect_views: dict = field(default_factory=lambda: {"used": False})

    @property
    def ok(self) -> np.ndarray:
        return self.status == kernels.STATUS_OK

    def summary(self) -> dict:
        """Counts per status and the median error, for logs and reports."""
        counts = {STATUS_NAMES[k]: int((self.status == k).sum()) for k in STATUS_NAMES}
        err = self.reprojection_error_px[self.ok]
        return {"points": int(self.status.size), **counts,
                "median_error_px": float(np.median(err)) if err.size else float("nan"),
                "temporal": dict(self.temporal), "suspect_views": dict(self.suspect_views)}


def triangulate(keypoints, rig, *, options: TriangulationOptions | None = None,
                progress: Callable[[int, int], None] | None = None, frame_index=None,
                **overrides) -> TriangulationResult:
    """Triangulate 2D keypoints seen by the cameras of ``rig``.

    Parameters
    ----------
    keypoints : (C, F, J, 3) float
        Per camera (rig order), frame and joint: pixel ``x, y`` (distorted, as detected) and a
        score in [0, 1]. ``(C, F, J, 2)`` is taken with every score 1. NaN where missing. Each
        row is one person (the suspect-view pass, on by default, compares a row's joints: rows
        of several people mixed need ``suspect_views=False``).
    rig : Rig
        The calibrated cameras; ``C == len(rig)``.
    options : TriangulationOptions, optional
        Keyword ``overrides`` replace single fields (``max_error_px=10``).
    progress : callable(done, total), optional
        Called after every chunk with the number of points done.
    frame_index : (F,) int, optional
        Frame number of each row, for the temporal pass (default: rows are consecutive frames;
        a number not larger than the previous row's starts a new sequence).

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
    if frame_index is not None:
        frame_index = check_array(frame_index, "frame_index", (F,), dtype=np.int64)
    N = F * J
    # One float64 C-ordered view of the input (a copy only when it is not already one); the
    # kernel reads it in place, chunk by chunk.
    flat = np.ascontiguousarray(kp, dtype=np.float64).reshape(C, N, 3)
    points, error, n_views, score, status = _solve(flat, rig, opts, progress)
    res = TriangulationResult(points.reshape(F, J, 3), error.reshape(F, J), n_views.reshape(F, J),
                              score.reshape(F, J), status.reshape(F, J), opts)
    if opts.temporal and F >= 3 and J:
        res.temporal = _temporal_pass(flat.reshape(C, F, J, 3), rig, opts, res, frame_index)
    if opts.suspect_views and J > 1:
        res.suspect_views = _suspect_view_pass(flat.reshape(C, F, J, 3), rig, opts, res)
    empty = int((~res.ok).all(axis=1).sum()) if J else 0
    if empty:
        counts = res.summary()
        why = ", ".join(f"{counts[name]} {name}" for k, name in STATUS_NAMES.items()
                        if k != kernels.STATUS_OK and counts[name])
        log.warning("%d of %d frames have no joint reconstructed (of %d points: %s)", empty, F, counts["points"], why)
    return res


def _solve(flat, rig, opts, progress=None):
    """The kernel over ``flat (C, N, 3)`` chunk by chunk: ``points (N, 3)``, error, n_views,
    score and status ``(N,)``."""
    C, N, _ = flat.shape
    K, dist, model, pose = rig.kernel_arrays()
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
    return points, error, n_views, score, status


def _store(res, f, j, solved, *, only_ok: bool) -> int:
    """Write ``solved`` (``_solve``'s points, errors, views, scores and statuses of the points
    ``(f, j)``) into ``res`` in place; with ``only_ok`` only the points it reconstructs. Returns
    how many it reconstructs."""
    points, error, n_views, score, status = solved
    keep = (status == kernels.STATUS_OK) if only_ok else np.ones(len(f), bool)
    fk, jk = f[keep], j[keep]
    res.points[fk, jk], res.reprojection_error_px[fk, jk] = points[keep], error[keep]
    res.n_views[fk, jk], res.score[fk, jk], res.status[fk, jk] = n_views[keep], score[keep], status[keep]
    return int((status == kernels.STATUS_OK).sum())


def _temporal_pass(kp, rig, opts, res, frame_index) -> dict:
    """Drop the views far from the neighbouring frames' prediction and solve their points again,
    in place in ``res``; returns what it did (see :class:`TriangulationResult`)."""
    trusted = res.ok & (res.n_views >= 3)
    # Four or more views that agree hide no outlier (the per-point test sees it): not judged.
    # A view farther than this from the first pass's point was not used there (the kernel keeps
    # views within max_error_px; the margin covers the last re-solve and refinement moving it).
    unused_px = UNUSED_MARGIN * opts.max_error_px
    check = (res.status == kernels.STATUS_INCONSISTENT) if opts.temporal_refused_only \
        else ~(res.ok & (res.n_views >= 4))
    off, predicted, redo = views_off_neighbours(kp, rig, res.points, trusted, window=opts.temporal_window_frames,
                                                max_step_m=opts.temporal_max_step_m, frame_index=frame_index,
                                                max_distance_px=opts.temporal_error_factor * opts.max_error_px,
                                                solved=res.ok, unused_px=unused_px, check=check)
    f, j = np.nonzero(redo)
    was_ok = res.ok[f, j]
    if f.size:
        sub = kp[:, f, j].copy()                                        # (C, M, 3)
        sub[off[:, f, j]] = np.nan
        # On the refused points only, a solve that stays refused leaves the point as it was (its
        # status still "views disagree", for the suspect-view pass to judge); the full pass keeps
        # every verdict, a point lost included.
        _store(res, f, j, _solve(sub, rig, opts), only_ok=opts.temporal_refused_only)
    now_ok = res.ok[f, j]
    done = {"used": True, "refused_only": bool(opts.temporal_refused_only),
            "predicted": int(np.isfinite(predicted[..., 0]).sum()), "views_off": int(off.sum()),
            "points_redone": int(f.size), "points_lost": int((was_ok & ~now_ok).sum()),
            "points_gained": int((~was_ok & now_ok).sum())}
    log.debug("temporal pass: %s", done)
    return done


def _suspect_view_pass(kp, rig, opts, res) -> dict:
    """Solve again, without their most suspect view, the points refused as "views disagree".

    A three-view point whose two pairs of views agree equally is refused by the per-point test:
    two views cannot tell which holds the outlier. The same row's other joints can: a view that
    has the person's arm wrong, or sees someone else's, lands far from the points the row's other
    joints were triangulated at. Per refused point with three or more usable views, each view's
    *suspicion* is its median pixel distance from the projections of the row's reconstructed
    joints (at least ``suspect_min_joints`` of them); the worst view is dropped when its suspicion
    is at least ``suspect_ratio`` x every other view's and above ``suspect_floor`` x the two-view
    threshold, and the point is solved again by the same kernel (the per-point test, two-view
    threshold included, still applies). In place in ``res``; returns what it did.

    Why the floor: with noise alone the views' suspicions are a few pixels each and their ratio is
    chance. Measured on ``benchmarks/triangulation.py``'s data (3 and 4 cameras, 2 px noise, 5 %
    single-joint outliers, temporal pass off), at ratio 1.5 without the floor 12 of the 22 points
    gained with 3 cameras were wrong (> 50 mm), 4 of 12 with 4; with it none is gained there. Only points the per-point
    test refused are touched, so a point triangulated without this pass is never changed by it.
    """
    C, F, J, _ = kp.shape
    s = kp[..., 2]
    usable = np.isfinite(kp[..., 0]) & np.isfinite(kp[..., 1]) & (s > 0) & (s >= opts.min_score)
    # one view dropped must leave more than one and at least min_views
    f, j = np.nonzero((res.status == kernels.STATUS_INCONSISTENT) & (usable.sum(axis=0) >= max(3, opts.min_views + 1)))
    done = {"used": True, "points_judged": int(f.size), "points_redone": 0, "points_gained": 0}
    if not f.size:
        return done
    rows, row_of = np.unique(f, return_inverse=True)
    projected = rig.project(res.points[rows])                                 # (C, R, J, 2)
    distance = np.hypot(*np.moveaxis(projected - kp[:, rows, :, :2], -1, 0))  # (C, R, J)
    distance[~(usable[:, rows] & res.ok[rows][None])] = np.nan
    enough = np.isfinite(distance).sum(axis=2) >= opts.suspect_min_joints
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)                       # all-NaN rows
        suspicion = np.where(enough, np.nanmedian(distance, axis=2), np.nan)  # (C, R)
    sus = suspicion[:, row_of]                                                # (C, M)
    sus[~usable[:, f, j]] = -np.inf                                           # not a candidate
    worst = np.argmax(np.where(np.isnan(sus), -np.inf, sus), axis=0)          # (M,)
    m = np.arange(f.size)
    worst_sus = sus[worst, m]
    others = sus.copy()
    others[worst, m] = -np.inf
    # Every other usable view must have a suspicion of its own: a view without one is unknown.
    known = ~np.isnan(others).any(axis=0) & np.isfinite(worst_sus)
    clear = known & (worst_sus >= opts.suspect_ratio * np.max(np.nan_to_num(others, nan=np.inf), axis=0)) \
        & (worst_sus > opts.suspect_floor * opts.max_error_two_views_px)
    pick = np.nonzero(clear)[0]
    if pick.size:
        sub = kp[:, f[pick], j[pick]].copy()                                   # (C, M', 3)
        sub[worst[pick], np.arange(pick.size)] = np.nan
        # a solve that stays refused leaves the point as it was
        done["points_gained"] = _store(res, f[pick], j[pick], _solve(sub, rig, opts), only_ok=True)
        done["points_redone"] = int(pick.size)
    log.debug("suspect-view pass: %s", done)
    return done
