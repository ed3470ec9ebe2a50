"""Which detected person is the same one in every view: choose, per frame and camera, the 2D
person to triangulate when several people are in view.

The first frame (and every frame after the track is lost) looks at every pair of cameras and
every pair of their detected people, triangulates each pairing, and lets the other cameras join
with the person lying nearest that pairing's reprojection; the person seen by most views, then
with the lowest reprojection error, is taken. Later frames follow the same person: the previous
frame's 3D joints are projected into each view and the nearest detected person is taken. A
person who vanishes is not replaced by someone else for ``relock_frames`` frames: only people
near the last position count until then. Costs stay small at many cameras:
``C (C - 1) / 2 * P**2`` pairings per search, ``C * P`` distances per tracked frame.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..errors import InputShapeError, check_array
from .triangulation import TriangulationOptions, triangulate

log = logging.getLogger("capture3d.reconstruct")


@dataclass(frozen=True)
class AssociationOptions:
    """Options of :func:`associate_person` (distances in pixels unless named otherwise)."""

    max_distance_px: float = 60.0   # a view's person must lie this close (median over joints) to the reprojection
    min_score: float = 0.3          # joints below this detector score are not compared
    min_joints: int = 6             # joints a pairing must reconstruct to count
    max_jump_m: float = 0.5         # after a loss, only people within this distance of the last position
    relock_frames: int = 30         # ... for this many frames; later anyone may be taken

    def __post_init__(self):
        if self.max_distance_px <= 0 or self.min_joints < 1 or self.max_jump_m <= 0:
            raise ValueError("max_distance_px and max_jump_m must be > 0 and min_joints >= 1")


@dataclass
class AssociationResult:
    """``keypoints (C, F, J, 3)`` of the chosen person per camera and frame (NaN: none chosen),
    ``person (C, F)`` int the slot taken (-1 none), ``searched (F,)`` bool where a full search
    ran (first frame, track lost)."""

    keypoints: np.ndarray
    person: np.ndarray
    searched: np.ndarray

    def summary(self) -> str:
        views = (self.person >= 0).sum(axis=0)
        return (f"a person in {int((views >= 2).sum())} of {views.size} frames, "
                f"{int(self.searched.sum())} full searches")


def _median_distance(projected, candidates, min_score):
    """``projected (J, 2)`` vs ``candidates (P, J, 3)`` -> ``(P,)`` median pixel distance over
    joints both have (inf where none)."""
    use = np.isfinite(projected[:, 0])[None] & np.isfinite(candidates[..., 0]) & (candidates[..., 2] >= min_score)
    d = np.linalg.norm(candidates[..., :2] - projected[None], axis=-1)
    d = np.where(use, d, np.nan)
    out = np.full(len(candidates), np.inf)
    some = use.sum(axis=1) >= 3
    if some.any():
        out[some] = np.nanmedian(d[some], axis=1)
    return out


def associate_person(candidates, rig, *, options: AssociationOptions | None = None,
                     triangulation: TriangulationOptions | None = None) -> AssociationResult:
    """Choose one person per camera and frame, consistently across views and over time.

    Parameters
    ----------
    candidates : (C, F, P, J, 3) float
        Per camera (rig order), frame and person slot: pixels x, y and score; NaN rows for empty
        slots.
    rig : Rig
    options, triangulation : optional
        Association thresholds; the triangulation used to price pairings.

    Returns
    -------
    AssociationResult
    """
    opt = options or AssociationOptions()
    tri = triangulation or TriangulationOptions()
    cand = check_array(candidates, "candidates", (None, None, None, None, 3))
    C, F, P, J, _ = cand.shape
    if C != len(rig):
        raise InputShapeError(f"candidates: {C} cameras but the rig has {len(rig)} ({rig.names})")
    person = np.full((C, F), -1, np.int64)
    searched = np.zeros(F, bool)
    last, last_frame = None, -10 ** 9
    for t in range(F):
        chosen = None
        if last is not None and t - last_frame == 1:
            chosen = _follow(last, cand[:, t], rig, opt)
        if chosen is None or (chosen >= 0).sum() < 2:
            searched[t] = True
            near = last if last is not None and t - last_frame <= opt.relock_frames else None
            chosen = _search(cand[:, t], rig, opt, tri, near)
        if chosen is None or (chosen >= 0).sum() < 2:
            continue
        person[:, t] = chosen
        X = _triangulate_choice(cand[:, t], chosen, rig, tri)
        if np.isfinite(X[:, 0]).sum() >= opt.min_joints:
            last, last_frame = X, t
    keypoints = np.full((C, F, J, 3), np.nan)
    c_idx, f_idx = np.nonzero(person >= 0)
    keypoints[c_idx, f_idx] = cand[c_idx, f_idx, person[c_idx, f_idx]]
    res = AssociationResult(keypoints, person, searched)
    log.info("association: %s", res.summary())
    return res


@contextmanager
def _quiet(logger):
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _triangulate_choice(cand_t, chosen, rig, tri):
    C, P, J, _ = cand_t.shape
    kp = np.full((C, 1, J, 3), np.nan)
    for c in range(C):
        if chosen[c] >= 0:
            kp[c, 0] = cand_t[c, chosen[c]]
    with _quiet(log):
        return triangulate(kp, rig, options=tri).points[0]


def _follow(last, cand_t, rig, opt):
    """Per camera, the person nearest the reprojection of ``last (J, 3)``; -1 beyond the limit."""
    projected = rig.project(last)                       # (C, J, 2)
    chosen = np.full(len(cand_t), -1, np.int64)
    for c in range(len(cand_t)):
        d = _median_distance(projected[c], cand_t[c], opt.min_score)
        if d.size and d.min() <= opt.max_distance_px:
            chosen[c] = int(np.argmin(d))
    return chosen


def _search(cand_t, rig, opt, tri, near):
    """Pairings of two cameras' people, each extended to the other cameras by :func:`_follow`;
    the one with most views, then the lowest median reprojection error, wins. With ``near``
    (the followed person's last joints) only pairings within ``max_jump_m`` of it count."""
    C, P, J, _ = cand_t.shape
    present = np.isfinite(cand_t[..., 0]).sum(axis=-1) >= opt.min_joints     # (C, P)
    pairs = [(a, b, p, q) for a in range(C) for b in range(a + 1, C)
             for p in range(P) if present[a, p] for q in range(P) if present[b, q]]
    if not pairs:
        return None
    kp = np.full((C, len(pairs), J, 3), np.nan)
    for k, (a, b, p, q) in enumerate(pairs):
        kp[a, k], kp[b, k] = cand_t[a, p], cand_t[b, q]
    with _quiet(log):   # most pairings are wrong on purpose: no "frames without a joint" warning
        res = triangulate(kp, rig, options=tri, temporal=False)   # rows are pairings, not frames
    ok = res.ok.sum(axis=1) >= opt.min_joints
    if not ok.any():
        return None
    err = np.where(res.ok, res.reprojection_error_px, np.nan)
    cost = np.full(len(pairs), np.inf)
    cost[ok] = np.nanmedian(err[ok], axis=1)
    if near is not None:
        centre = np.nanmedian(near, axis=0)
        dist = np.full(len(pairs), np.inf)
        dist[ok] = np.linalg.norm(np.nanmedian(res.points[ok], axis=1) - centre, axis=1)
        close = dist <= opt.max_jump_m
        if not close.any():
            return None     # the followed person is gone for now: do not switch to someone else
        cost = np.where(close, cost, np.inf)
    # extend every plausible pairing to the other views; the person seen by most views wins,
    # then the lowest pairing error (a person half-hidden in some views loses to one seen by all)
    best, best_key = None, None
    for k in np.flatnonzero(np.isfinite(cost)):
        chosen = _follow(res.points[k], cand_t, rig, opt)
        a, b, p, q = pairs[k]
        chosen[a], chosen[b] = p, q
        key = (-(chosen >= 0).sum(), cost[k])
        if best_key is None or key < best_key:
            best, best_key = chosen, key
    return best
