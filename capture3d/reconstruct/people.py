"""Every person in view, in 3D: cross-view association, tracking with stable ids, then a
triangulation per person. The documented entry point beside :func:`capture3d.triangulate`.

>>> import numpy as np, capture3d
>>> rig = capture3d.synthetic.make_rig(4)
>>> a = capture3d.synthetic.make_motion(30, seed=0).points
>>> b = a + [1.6, 0.0, 0.0]                                    # a second person beside the first
>>> kp = np.stack([capture3d.synthetic.project_keypoints(p, rig) for p in (b, a)], axis=2)
>>> res = capture3d.triangulate_people(kp, rig, fps=30)          # kp: (C, F, S, J, 3)
>>> res.points.shape, res.person_id.tolist()
((2, 30, 17, 3), [0, 1])
>>> bool(np.nanmax(np.abs(res.points[0] - b)) < 1e-6 or np.nanmax(np.abs(res.points[0] - a)) < 1e-6)
True
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputShapeError, check_array
from .matching import detection_rays
from .swaps import fix_swaps
from .tracking import PeopleTracker, TrackingOptions, stitch_tracks
from .triangulation import TriangulationOptions, triangulate

log = logging.getLogger("capture3d.reconstruct")


@dataclass(frozen=True)
class PeopleOptions:
    """Options of :func:`track_people` and :func:`triangulate_people`."""

    tracking: TrackingOptions = field(default_factory=TrackingOptions)
    offline: bool = True            # stitch tracks over the whole sequence and drop fragments (process);
    #                                 False: the online tracks as live 3D sees them
    max_persons: int | None = None  # keep the people seen in most frames; None: everyone
    fix_swaps: bool = True          # undo left/right limb swaps of single views before triangulating
    #                                 (capture3d.reconstruct.swaps; pose2sim_multiperson: bone-length CV
    #                                 0.056 -> 0.049 for the person it found 39 swaps of)

    def __post_init__(self):
        if self.max_persons is not None and self.max_persons < 1:
            raise ValueError(f"max_persons must be >= 1 or None, got {self.max_persons}")


@dataclass
class PeopleTracks:
    """Who is who: ``assignment (P, C, F)`` int, the candidate slot of person ``p`` in camera ``c``
    and frame ``f`` (-1: not seen there); ``person_id (P,)`` stable ids, in order of first
    appearance; ``seconds`` the time taken."""

    assignment: np.ndarray
    person_id: np.ndarray
    seconds: float = 0.0

    def keypoints(self, candidates) -> np.ndarray:
        """Each person's 2D keypoints ``(P, C, F, J, 3)`` from ``candidates (C, F, S, J, 3)``."""
        P, C, F = self.assignment.shape
        out = np.full((P, C, F) + candidates.shape[3:], np.nan)
        p, c, f = np.nonzero(self.assignment >= 0)
        out[p, c, f] = candidates[c, f, self.assignment[p, c, f]]
        return out

    def summary(self) -> str:
        if not len(self.person_id):
            return "nobody"
        seen = (self.assignment >= 0).sum(axis=1) >= 2          # (P, F)
        frames = ", ".join(f"p{i}: {int(n)}" for i, n in zip(self.person_id, seen.sum(axis=1)))
        return f"{len(self.person_id)} {'person' if len(self.person_id) == 1 else 'people'} ({frames} frames)"


def track_people(candidates, rig, *, fps: float = 30.0, joint_names=None,
                 options: PeopleOptions | None = None, progress=None) -> PeopleTracks:
    """Associate the 2D people of all views into 3D people, frame by frame, and follow them.

    Parameters
    ----------
    candidates : (C, F, S, J, 3) float
        Per camera (rig order), frame and person slot: distorted pixels x, y and a score in
        [0, 1]; NaN rows for empty slots. Slots need not agree between cameras or frames.
    rig : Rig
    fps : float
        Frame rate, Hz (speeds and pauses are in seconds).
    joint_names : sequence of str, optional
        For the bone lengths that tell people apart on a resume (default COCO-17).
    options : PeopleOptions, optional
    progress : callable(done, total), optional

    Returns
    -------
    PeopleTracks
    """
    import time

    from ..skeleton import COCO17

    opt = options or PeopleOptions()
    cand = check_array(candidates, "candidates", (None, None, None, None, 3))
    C, F, S, J, _ = cand.shape
    if C != len(rig):
        raise InputShapeError(f"candidates: {C} cameras but the rig has {len(rig)} ({rig.names})")
    t0 = time.perf_counter()
    names = list(joint_names) if joint_names is not None else list(COCO17)[:J]
    rays = detection_rays(cand, rig, opt.tracking.matching)
    tracker = PeopleTracker(rays.origin, names, fps, opt.tracking)
    for f in range(F):
        tracker.step(f, rays.direction[:, f], rays.usable[:, f])
        if progress is not None and (f % 50 == 49 or f == F - 1):
            progress(f + 1, F)
    tracks = tracker.all_tracks()
    if opt.offline:
        tracks = stitch_tracks(tracks, fps, opt.tracking)
    if opt.max_persons is not None:
        tracks = sorted(tracks, key=lambda t: -len(t.slots))[:opt.max_persons]
    tracks = sorted(tracks, key=lambda t: min(t.slots))
    assignment = np.full((len(tracks), C, F), -1, np.int64)
    for p, t in enumerate(tracks):
        frames = np.fromiter(t.slots, int)
        assignment[p][:, frames] = np.stack([t.slots[f] for f in frames], axis=1)
    res = PeopleTracks(assignment, np.arange(len(tracks)), time.perf_counter() - t0)
    log.info("people: %s in %.2f s", res.summary(), res.seconds)
    return res


@dataclass
class PeopleResult:
    """Several people in 3D: the :class:`~capture3d.reconstruct.TriangulationResult` fields with a
    leading person axis.

    Attributes
    ----------
    points : (P, F, J, 3) float64
        World meters; NaN where a person is absent or a joint not reconstructed.
    reprojection_error_px, score : (P, F, J) float64
    n_views : (P, F, J) int16
    status : (P, F, J) int8
        As :class:`~capture3d.reconstruct.TriangulationResult` (``1`` too few views where absent).
    person_id : (P,) int64
    keypoints : (P, C, F, J, 3) float64
        The 2D keypoints each person was triangulated from.
    tracks : PeopleTracks
    """

    points: np.ndarray
    reprojection_error_px: np.ndarray
    n_views: np.ndarray
    score: np.ndarray
    status: np.ndarray
    person_id: np.ndarray
    keypoints: np.ndarray
    tracks: PeopleTracks
    swaps: list = field(default_factory=list)     # per person {group: views exchanged}, when fixed
    temporal: dict = field(default_factory=dict)  # what the triangulation's temporal pass did
    suspect_views: dict = field(default_factory=dict)  # what its suspect-view pass did

    @property
    def ok(self) -> np.ndarray:
        return self.status == 0

    def frames_with_person(self) -> np.ndarray:
        """``(P, F)`` bool: the person has at least one joint reconstructed in the frame."""
        return self.ok.any(axis=-1)


def triangulate_people(candidates, rig, *, fps: float = 30.0, joint_names=None,
                       options: PeopleOptions | None = None,
                       triangulation: TriangulationOptions | None = None, progress=None) -> PeopleResult:
    """Everyone in 3D: :func:`track_people`, then :func:`capture3d.triangulate` per person (robust,
    with lens distortion, confidence-weighted).

    Parameters and ``candidates (C, F, S, J, 3)`` as :func:`track_people`; ``triangulation``
    the per-person triangulation's options.

    Returns
    -------
    PeopleResult
    """
    opt = options or PeopleOptions()
    tracks = track_people(candidates, rig, fps=fps, joint_names=joint_names, options=opt, progress=progress)
    return _triangulate_tracks(np.asarray(candidates, float), rig, tracks, triangulation,
                               joint_names if opt.fix_swaps else None)


def _triangulate_tracks(cand, rig, tracks: PeopleTracks, triangulation, swap_joint_names=None) -> PeopleResult:
    """Each person's keypoints (left/right swaps undone when ``swap_joint_names`` is given), then
    one triangulation over every person-frame seen by two views or more."""
    kp = tracks.keypoints(cand)                                        # (P, C, F, J, 3)
    P, C, F, J, _ = kp.shape
    swaps = []
    if swap_joint_names is not None:
        for p in range(P):
            fixed = fix_swaps(kp[p], rig, list(swap_joint_names))
            kp[p] = fixed.keypoints
            swaps.append(fixed.counts())
    points = np.full((P, F, J, 3), np.nan)
    error, score = np.full((P, F, J), np.nan), np.full((P, F, J), np.nan)
    n_views, status = np.zeros((P, F, J), np.int16), np.ones((P, F, J), np.int8)
    present = (tracks.assignment >= 0).sum(axis=1) >= 2                 # (P, F): triangulate only these
    temporal, suspect = {"used": False}, {"used": False}
    if present.any():
        p, f = np.nonzero(present)
        opts = triangulation or TriangulationOptions()
        # rows are person after person: numbers far apart at each person's start, so that the
        # temporal pass never predicts one person from another
        rows = f + p * (F + 2 * opts.temporal_window_frames + 1)
        res = triangulate(kp[p, :, f].transpose(1, 0, 2, 3), rig, options=opts, frame_index=rows)
        temporal, suspect = res.temporal, res.suspect_views
        points[p, f], error[p, f], score[p, f] = res.points, res.reprojection_error_px, res.score
        n_views[p, f], status[p, f] = res.n_views, res.status
    return PeopleResult(points, error, n_views, score, status, tracks.person_id, kp, tracks, swaps, temporal,
                        suspect)


@dataclass
class PeopleReconstruction:
    """:func:`reconstruct_people`'s result: ``points (P, F, J, 3)`` meters after the temporal stage,
    ``raw`` the triangulation it started from, ``post`` one
    :class:`~capture3d.reconstruct.PostprocessResult` per person (own bone lengths)."""

    points: np.ndarray
    raw: PeopleResult
    post: list
    seconds: dict = field(default_factory=dict)     # associate, triangulate, filter

    @property
    def person_id(self) -> np.ndarray:
        return self.raw.person_id


def reconstruct_people(candidates, rig, *, fps: float, joint_names, options: PeopleOptions | None = None,
                       single: bool = False, association=None, triangulation: TriangulationOptions | None = None,
                       filter=None, progress=None) -> PeopleReconstruction:
    """The whole reconstruction of a session's 2D people: who is who, a triangulation and the
    temporal stage (:func:`capture3d.reconstruct.postprocess`: despike, gap filling, smoother or
    skeleton fit) per person, each with its own bone lengths.

    Parameters
    ----------
    candidates : (C, F, S, J, 3) float
        As :func:`track_people`.
    rig : Rig
    fps : float
    joint_names : sequence of str
    options : PeopleOptions, optional
    single : bool
        Follow one person only, as capture3d did before several people
        (:func:`capture3d.reconstruct.association.associate_person` with ``association`` options);
        the result then has one person (or none).
    triangulation : TriangulationOptions, optional
    filter : FilterOptions, optional

    Returns
    -------
    PeopleReconstruction
    """
    from .association import associate_person
    from .postprocess import postprocess

    import time

    cand = check_array(candidates, "candidates", (None, None, None, None, 3))
    tri = triangulation or TriangulationOptions()
    t0 = time.perf_counter()
    if single:
        chosen = associate_person(cand, rig, options=association, triangulation=tri)
        found = (chosen.person >= 0).sum(axis=0) >= 2
        assignment = chosen.person[None] if found.any() else np.zeros((0,) + chosen.person.shape, np.int64)
        tracks = PeopleTracks(assignment, np.arange(len(assignment)), time.perf_counter() - t0)
    else:
        tracks = track_people(cand, rig, fps=fps, joint_names=joint_names, options=options, progress=progress)
    t1 = time.perf_counter()
    raw = _triangulate_tracks(cand, rig, tracks, tri,
                              joint_names if (options or PeopleOptions()).fix_swaps else None)
    t2 = time.perf_counter()
    post = [postprocess(raw.points[p], fps=fps, options=filter, keypoints=raw.keypoints[p], rig=rig,
                        joint_names=list(joint_names)) for p in range(len(raw.person_id))]
    points = np.stack([r.points for r in post]) if post else raw.points.copy()
    seconds = {"associate": t1 - t0, "triangulate": t2 - t1, "filter": time.perf_counter() - t2}
    return PeopleReconstruction(points, raw, post, seconds)


def keep_person_ids(rec: PeopleReconstruction, earlier: PeopleReconstruction, *,
                    max_distance_m: float = 0.5) -> PeopleReconstruction:
    """``rec`` with the people numbered as in ``earlier``, a pass over the same frames before it.

    Every pass after the first (view offsets, self-calibration, guided crops, flip) tracks the
    people again from scratch, and the tracker numbers them in order of first appearance, which a
    changed 2D can reorder. Each of ``rec``'s people takes the id of the ``earlier`` person whose
    points lie nearest (median joint distance, meters, over the frames both have; one to one,
    Hungarian), when nearer than ``max_distance_m``; the others get new ids after ``earlier``'s
    largest. People come out in the order of their ids.

    >>> import numpy as np
    >>> pts = np.zeros((2, 3, 17, 3)); pts[1] += 2.0            # two people 3.5 m apart
    >>> tracks = PeopleTracks(np.zeros((2, 4, 3), np.int64), np.array([0, 1]))
    >>> a = PeopleReconstruction(pts, PeopleResult(pts, pts[..., 0], pts[..., 0].astype(np.int16),
    ...     pts[..., 0], pts[..., 0].astype(np.int8), np.array([0, 1]), np.zeros((2, 4, 3, 17, 3)), tracks), [0, 1])
    >>> b = PeopleReconstruction(pts[::-1], PeopleResult(pts[::-1], pts[::-1, ..., 0], pts[::-1, ..., 0].astype(np.int16),
    ...     pts[::-1, ..., 0], pts[::-1, ..., 0].astype(np.int8), np.array([0, 1]), np.zeros((2, 4, 3, 17, 3)), tracks), [1, 0])
    >>> kept = keep_person_ids(b, a)
    >>> kept.person_id.tolist(), kept.post, float(kept.points[1].max())
    ([0, 1], [0, 1], 2.0)
    """
    from dataclasses import replace

    from scipy.optimize import linear_sum_assignment

    new, old = rec.raw.points, earlier.raw.points
    P, Q = len(new), len(old)
    if P == 0:
        return rec
    cost = np.full((P, Q), np.inf)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # people never seen together: all-NaN medians
        F = min(new.shape[1], old.shape[1])
        for p in range(P):
            d = np.linalg.norm(new[p, None, :F] - old[:, :F], axis=-1)         # (Q, F, J)
            cost[p] = np.nanmedian(d.reshape(Q, -1), axis=1)
    ids = np.full(P, -1, np.int64)
    if Q:
        rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e9))
        near = cost[rows, cols] < max_distance_m
        ids[rows[near]] = np.asarray(earlier.person_id)[cols[near]]
    start = int(np.max(earlier.person_id)) + 1 if Q else 0
    ids[ids < 0] = start + np.arange((ids < 0).sum())
    order = np.argsort(ids, kind="stable")
    raw = rec.raw
    tracks = replace(raw.tracks, assignment=raw.tracks.assignment[order], person_id=ids[order])
    raw = replace(raw, points=raw.points[order], reprojection_error_px=raw.reprojection_error_px[order],
                  n_views=raw.n_views[order], score=raw.score[order], status=raw.status[order],
                  person_id=ids[order], keypoints=raw.keypoints[order], tracks=tracks,
                  swaps=[raw.swaps[i] for i in order] if len(raw.swaps) == P else raw.swaps)
    return replace(rec, points=rec.points[order], raw=raw, post=[rec.post[i] for i in order])


__all__ = ["PeopleOptions", "PeopleTracks", "PeopleResult", "PeopleReconstruction", "track_people",
           "triangulate_people", "reconstruct_people", "keep_person_ids"]
