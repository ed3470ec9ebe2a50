"""What the views say about each other's 2D: held-out residuals and per-camera 2D offsets.

A view's reprojection error inside its own triangulation flatters it (the point was pulled
towards it, and a view rejected there does not count). The honest check of one view's 2D is
*held out*: triangulate the person from the other views only, project into this view, and
measure the distance to this view's keypoint. :func:`held_out_residuals` does that for every
view, person, frame and joint.

Held out, a camera's residuals on real video are not centred: on ``pose2sim_multiperson``
(Qualisys calibration, BlazePose) cam01's keypoints sat 13-20 px right of and 5-12 px below where
the other views put the people (offsets fitted on either half of the session). A constant
offset of a camera's 2D is what a principal point or a rotation of a fraction of a degree off in
the calibration looks like, and no detector pass can remove it. :func:`fit_view_offsets`
estimates one offset per camera from the people themselves: the median held-out residual of each
camera, taken away half a step at a time (all cameras move at once, and a move of one changes the
others' held-out points) for a few rounds. :func:`apply_view_offsets` moves the candidates.
The offsets are found only up to what a small move of the whole 3D absorbs (a shift of every
point moves every camera's projections a little), so they are one of a family that gives the same
agreement; on a rig that agrees they stay near zero (0.1 px at 2 px noise, the test).

Measured on ``pose2sim_multiperson`` (100 frames, both people), offsets fitted on one half of the
frames and checked on the other: held-out median 24.3 -> 21.1 px and 22.5 -> 15.2 px, the
reprojection error inside the triangulation 7.4 -> 5.8 / 14.5 -> 13.4 px (first half fitted) and
7.5 -> 6.2 / 12.5 -> 9.2 px (second half fitted).
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import InputShapeError, check_array
from .association import _quiet
from .triangulation import TriangulationOptions, triangulate

log = logging.getLogger("capture3d.reconstruct")


@dataclass(frozen=True)
class OffsetOptions:
    """Options of :func:`fit_view_offsets`."""

    iterations: int = 6             # rounds of "take away step x the median held-out residual"
    step: float = 0.5               # share of each round's median residual taken away, (0, 1]
    min_points: int = 100           # held-out residuals a camera needs for an offset (else 0), points
    max_offset_px: float = 80.0     # an offset beyond this is not a calibration error: refused, pixels
    #                                 (measured ones on pose2sim_multiperson: 24 px at most)

    def __post_init__(self):
        if self.iterations < 1 or not 0 < self.step <= 1 or self.min_points < 1 or not self.max_offset_px > 0:
            raise ValueError("iterations >= 1, step in (0, 1], min_points >= 1 and max_offset_px > 0 required, got "
                             f"{self.iterations}, {self.step}, {self.min_points}, {self.max_offset_px}")


@dataclass
class ViewOffsets:
    """:func:`fit_view_offsets`' result.

    Attributes
    ----------
    offsets : (C, 2) float64
        Pixels ``(dx, dy)`` to take away from each camera's keypoints (rig order); 0 where
        ``fitted`` is False.
    fitted : (C,) bool
        Cameras with enough held-out points and an offset under ``max_offset_px``.
    points : (C,) int
        Held-out residuals each camera had.
    held_out_before_px, held_out_after_px : (C,) float64
        Median held-out distance per camera before and after the offsets (NaN without points).
    message : str
        What was refused, if anything.
    """

    offsets: np.ndarray
    fitted: np.ndarray
    points: np.ndarray
    held_out_before_px: np.ndarray
    held_out_after_px: np.ndarray
    message: str = ""

    def to_dict(self, names) -> dict:
        """For ``report.json``: per camera name its offset and held-out medians."""
        return {n: {"offset_px": [round(float(v), 2) for v in self.offsets[c]], "fitted": bool(self.fitted[c]),
                    "points": int(self.points[c]), "held_out_before_px": _num(self.held_out_before_px[c]),
                    "held_out_after_px": _num(self.held_out_after_px[c])} for c, n in enumerate(names)}


def _num(v):
    return round(float(v), 2) if np.isfinite(v) else None


def held_out_residuals(keypoints, rig, *, triangulation: TriangulationOptions | None = None) -> np.ndarray:
    """Each view's keypoint minus the projection of the point triangulated from the other views.

    Parameters
    ----------
    keypoints : (P, C, F, J, 3) float
        Per person, camera (rig order), frame and joint: distorted pixels ``x, y`` and score;
        NaN where missing (e.g. :class:`~capture3d.reconstruct.PeopleResult`'s ``keypoints``).
    rig : Rig
    triangulation : TriangulationOptions, optional
        Of the held-out triangulations (its ``min_score`` also decides which keypoints are judged).

    Returns
    -------
    (P, C, F, J, 2) float64
        Pixels; NaN where the view has no usable keypoint or the other views give no point.
    """
    kp = check_array(keypoints, "keypoints", (None, len(rig), None, None, 3))
    tri = triangulation or TriangulationOptions()
    P, C, F, J, _ = kp.shape
    out = np.full((P, C, F, J, 2), np.nan)
    if P == 0 or F == 0:
        return out
    seen = np.isfinite(kp[..., 0]).any(axis=-1)                          # (P, C, F) views with a keypoint
    for c, name in enumerate(rig.names):
        judged = kp[:, c, ..., 2] >= tri.min_score                        # (P, F, J)
        # the person-frames this view has and two other views see: one call for all of them (rows of
        # different people never meet in a per-point triangulation; the temporal pass is off here)
        p, f = np.nonzero(judged.any(axis=-1) & (np.delete(seen, c, axis=1).sum(axis=1) >= 2))
        if not len(p):
            continue
        others = kp[p, :, f].transpose(1, 0, 2, 3).copy()                # (C, N, J, 3)
        others[c] = np.nan
        with _quiet(log):   # a person-frame the other views alone cannot place is expected here
            res = triangulate(others, rig, options=tri, temporal=False)
        uv = rig[name].project(res.points)                                # (N, J, 2)
        out[p, c, f] = np.where(judged[p, f][..., None], kp[p, c, f, :, :2] - uv, np.nan)
    return out


def _medians(residuals):
    """Per camera: median residual vector (C, 2), median distance (C,), finite count (C,)."""
    C = residuals.shape[1]
    vec, dist, count = np.zeros((C, 2)), np.full(C, np.nan), np.zeros(C, int)
    for c in range(C):
        r = residuals[:, c].reshape(-1, 2)
        r = r[np.isfinite(r[:, 0])]
        count[c] = len(r)
        if len(r):
            vec[c], dist[c] = np.median(r, axis=0), np.median(np.hypot(r[:, 0], r[:, 1]))
    return vec, dist, count


def fit_view_offsets(keypoints, rig, *, triangulation: TriangulationOptions | None = None,
                     options: OffsetOptions = OffsetOptions()) -> ViewOffsets:
    """One 2D offset per camera that brings its keypoints to where the other views put the people.

    Parameters
    ----------
    keypoints : (P, C, F, J, 3) float
        As :func:`held_out_residuals` (every person's keypoints count towards every camera's offset).
    rig : Rig
    triangulation : TriangulationOptions, optional
    options : OffsetOptions

    Returns
    -------
    ViewOffsets
        Offsets of 0 for cameras with fewer than ``min_points`` held-out points or an offset
        beyond ``max_offset_px`` (both said in ``message``).
    """
    kp = check_array(keypoints, "keypoints", (None, len(rig), None, None, 3)).copy()
    C = len(rig)
    if C < 3:
        raise InputShapeError(f"keypoints: view offsets need 3 cameras or more (two views always agree "
                              f"in their own triangulation's plane), got {C}")
    before_vec, before, points = _medians(held_out_residuals(kp, rig, triangulation=triangulation))
    usable = points >= options.min_points
    offsets = np.zeros((C, 2))
    vec = before_vec
    for _ in range(options.iterations):
        offsets[usable] += options.step * vec[usable]
        moved = kp.copy()
        moved[..., :2] -= offsets[None, :, None, None, :]
        vec, after, _ = _medians(held_out_residuals(moved, rig, triangulation=triangulation))
    too_far = usable & (np.hypot(offsets[:, 0], offsets[:, 1]) > options.max_offset_px)
    notes = []
    if (~usable).any():
        notes.append(f"cameras {[rig.names[c] for c in np.flatnonzero(~usable)]}: fewer than "
                     f"{options.min_points} held-out points, no offset")
    if too_far.any():
        notes.append(f"cameras {[rig.names[c] for c in np.flatnonzero(too_far)]}: offset beyond "
                     f"{options.max_offset_px} px refused")
        offsets[too_far] = 0.0
        moved = kp.copy()
        moved[..., :2] -= offsets[None, :, None, None, :]
        _, after, _ = _medians(held_out_residuals(moved, rig, triangulation=triangulation))
    fitted = usable & ~too_far
    for note in notes:
        log.warning("view offsets: %s", note)
    return ViewOffsets(offsets, fitted, points, before, after, "; ".join(notes))


def apply_view_offsets(candidates, offsets) -> np.ndarray:
    """``candidates (C, F, S, J, 3)`` (pixels + score, rig order) with each camera's ``offsets (C, 2)``
    pixels taken away from ``x, y``; a new array."""
    cand = check_array(candidates, "candidates", (None, None, None, None, 3))
    off = check_array(offsets, "offsets", (cand.shape[0], 2))
    out = cand.copy()
    out[..., :2] -= off[:, None, None, None, :]
    return out


def choose_views(candidates, alternative, keypoints, assignment, rig, *,
                 triangulation: TriangulationOptions | None = None, tolerance: float = 0.0,
                 max_share: float = 0.15) -> tuple[np.ndarray, list]:
    """Per person and view, the 2D of ``alternative`` where that view agrees better with the others.

    Two detections of the same crops (e.g. BlazePose with and without flip averaging) can each be
    better in some views: for every person-view, this view's held-out error (its keypoints against
    the point the *other* views triangulate, :func:`held_out_residuals`) is measured with its
    keypoints from ``candidates`` and from ``alternative``, the other views as they are; the
    alternative is chosen where it is lower by more than ``tolerance`` (a share). The judge is
    the other views, never the view itself, so a choice cannot flatter itself.

    Parameters
    ----------
    candidates, alternative : (C, F, S, J, 3) float
        The same slots (the same people, frames and crops) from two detections, distorted pixels
        and score; an alternative slot is only used where it is within ``max_share`` of the
        candidate's box diagonal (median over joints) of the candidate, i.e. the same person.
    keypoints : (P, C, F, J, 3) float
        The people's keypoints of the reconstruction from ``candidates``.
    assignment : (P, C, F) int
        The slot each person took per view and frame (-1: none).
    rig : Rig

    Returns
    -------
    use : (C, F, S) bool
        Slots to take from ``alternative``.
    judged : list of dict
        Per person-view: ``person`` (row), ``camera``, ``frames``, ``held_out_px`` (with the
        candidates), ``alternative_px``, ``chosen`` (True: the alternative).
    """
    cand = check_array(candidates, "candidates", (len(rig), None, None, None, 3))
    alt = check_array(alternative, "alternative", cand.shape)
    kp = check_array(keypoints, "keypoints", (None, len(rig), cand.shape[1], cand.shape[3], 3))
    assignment = np.asarray(assignment)
    if assignment.shape != kp.shape[:3]:
        raise InputShapeError(f"assignment must be {kp.shape[:3]}, got {assignment.shape}")
    # the same person in both: the alternative's joints near the candidate's
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN slots
        gap = np.nanmedian(np.hypot(*np.moveaxis(alt[..., :2] - cand[..., :2], -1, 0)), axis=-1)   # (C, F, S)
        diagonal = np.hypot(*np.moveaxis(np.nanmax(cand[..., :2], axis=-2) - np.nanmin(cand[..., :2], axis=-2),
                                         -1, 0))
    same = gap < max_share * diagonal
    use = np.zeros(cand.shape[:3], bool)
    judged = []

    def view_error(k, c):
        r = held_out_residuals(k[None], rig, triangulation=triangulation)[0, c]
        d = np.hypot(r[..., 0], r[..., 1])
        d = d[np.isfinite(d)]
        return float(np.median(d)) if d.size else np.nan

    for p, c in zip(*np.nonzero((assignment >= 0).any(axis=2))):
        frames = np.flatnonzero(assignment[p, c] >= 0)
        slots = assignment[p, c, frames]
        ok = same[c, frames, slots]
        if not ok.any():
            continue
        other = kp[p].copy()
        other[c, frames[ok]] = alt[c, frames[ok], slots[ok]]
        a, b = view_error(kp[p], c), view_error(other, c)
        chosen = bool(np.isfinite(a) and np.isfinite(b) and b < a * (1 - tolerance))
        if chosen:
            use[c, frames[ok], slots[ok]] = True
        judged.append({"person": int(p), "camera": rig.names[c], "frames": int(ok.sum()),
                       "held_out_px": _num(a), "alternative_px": _num(b), "chosen": chosen})
    return use, judged


__all__ = ["OffsetOptions", "ViewOffsets", "held_out_residuals", "fit_view_offsets", "apply_view_offsets",
           "choose_views"]
