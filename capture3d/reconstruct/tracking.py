"""Everyone over time: 3D tracks with stable ids, built frame by frame from the views' 2D people.

Each frame (:class:`PeopleTracker.step`):

1. every live track predicts its joints (constant velocity from its last frames);
2. per camera, the Hungarian method assigns that camera's detections to the tracks, on the
   median distance between a detection's rays and the track's predicted joints (meters, gated);
3. each track is triangulated from the views it got, and a view whose rays miss the new 3D
   joints is given back; a track with two views or more is updated;
4. the detections no track took are grouped across views by geometry alone
   (:func:`capture3d.reconstruct.matching.group_detections`); each new 3D person either resumes
   a paused track (Hungarian on position, gated by how far a person walks in the pause, and on
   bone lengths) or starts a tentative one.

A tentative track becomes a person after ``confirm_frames`` hits and dies as soon as it misses
``tentative_misses`` frames, so a ghost that two views happened to agree on dies fast. A
confirmed track that misses frames pauses and can resume for ``max_pause_s``.

This online pass is what live 3D uses: it only looks back. :func:`stitch_tracks` is the offline
pass over the whole sequence that ``process`` adds: it joins tracks that one person left in
pieces (a pause longer than the online limit, a re-entry far from the exit) when position and
bone lengths agree, and drops tracks too short to be a person.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..skeleton import RIGID_BONES, bones_for
from .matching import MatchingOptions, group_detections, nan_median
from .tracking_kernels import assign_detections, update_motion, verify_tracks


@dataclass(frozen=True)
class TrackingOptions:
    """Options of :class:`PeopleTracker` and :func:`stitch_tracks` (meters, seconds)."""

    matching: MatchingOptions = field(default_factory=MatchingOptions)
    gate_m: float = 0.25            # a detection's rays must pass this close (median) to a track's predicted joints
    gate_speed_m_s: float = 1.5     # ... plus this much per second the track has not been seen
    confirm_frames: int = 3         # hits that make a tentative track a person
    tentative_misses: int = 2       # misses that end a tentative track
    max_pause_s: float = 5.0        # a confirmed track can resume this long after it was last seen
    walk_speed_m_s: float = 2.0     # how far a paused person may have walked per second (resume gate)
    resume_slack_m: float = 0.5     # ... plus this
    max_bone_difference: float = 0.15   # relative median bone-length difference that vetoes a resume
    min_separation_m: float = 0.3   # a new person this close (median joint position) to one seen in the frame is
    #                                 that person's leftover views (and ghosts), not somebody else
    min_track_frames: int = 10      # offline: shorter tracks are dropped (ghosts, fragments)

    def __post_init__(self):
        if min(self.gate_m, self.walk_speed_m_s, self.max_pause_s) <= 0 or self.gate_speed_m_s < 0:
            raise ValueError("gate_m, walk_speed_m_s and max_pause_s must be > 0, gate_speed_m_s >= 0")
        if self.confirm_frames < 1 or self.tentative_misses < 1 or self.min_track_frames < 1:
            raise ValueError("confirm_frames, tentative_misses and min_track_frames must be >= 1")


@dataclass
class Track:
    """One person followed over time (internal state of :class:`PeopleTracker`)."""

    track_id: int
    first_frame: int
    joints: np.ndarray              # (J, 3) last known position of each joint, meters (NaN: never seen)
    velocity: np.ndarray            # (J, 3) m/s
    last_frame: int
    hits: int = 1
    confirmed: bool = False
    slots: dict = field(default_factory=dict)     # frame -> (C,) int slot per camera (-1 none)
    bone_pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))   # (B, 2) joint indices
    recent: deque = field(default_factory=lambda: deque(maxlen=60))   # (J, 3) joints of the last frames seen
    first_joints: np.ndarray | None = None        # (J, 3) where the track began

    def __post_init__(self):
        if self.first_joints is None:
            self.first_joints = self.joints.copy()

    def predict(self, frame: int, fps: float) -> np.ndarray:
        dt = (frame - self.last_frame) / fps
        return self.joints + self.velocity * min(dt, 0.5)   # do not extrapolate a pause far

    def bone_lengths(self) -> np.ndarray:
        """``(B,)`` median bone lengths of the last 60 frames seen (NaN for a bone never seen);
        computed when asked (a resume, the offline pass), not every frame."""
        if not self.recent or not len(self.bone_pairs):
            return np.zeros(0)
        pts = np.stack(self.recent)                                    # (n, J, 3)
        d = pts[:, self.bone_pairs[:, 0]] - pts[:, self.bone_pairs[:, 1]]
        med = nan_median(np.sqrt((d * d).sum(-1)).T)
        return np.where(np.isfinite(med), med, np.nan)


def _bone_vector(points, bones) -> np.ndarray:
    """``(B,)`` lengths of ``bones`` (``(B, 2)`` index pairs) in ``points (J, 3)``."""
    d = points[bones[:, 0]] - points[bones[:, 1]]
    return np.sqrt((d * d).sum(-1))


def bone_difference(a, b) -> float:
    """Median relative difference of two bone-length vectors over the bones both have (NaN if none)."""
    if len(a) == 0 or len(b) == 0:
        return np.nan
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    return float(np.median(np.abs(a[ok] - b[ok]) / ((a[ok] + b[ok]) / 2))) if ok.sum() >= 3 else np.nan


class PeopleTracker:
    """Online multi-person tracking; feed it frames in order with :meth:`step`.

    Parameters
    ----------
    origin : (C, 3) float
        Camera centres (``rig.centers``), meters.
    joint_names : sequence of str
    fps : float
    options : TrackingOptions
    """

    def __init__(self, origin, joint_names, fps: float, options: TrackingOptions = TrackingOptions()):
        self.origin = np.asarray(origin, float)
        self.fps = float(fps)
        self.opt = options
        self.bones = np.array(bones_for(joint_names, RIGID_BONES), np.int64).reshape(-1, 2)
        self.tracks: list[Track] = []       # live and paused
        self.finished: list[Track] = []
        self._next_id = 0

    def step(self, frame: int, directions, usable) -> dict[int, np.ndarray]:
        """Take one frame.

        Parameters
        ----------
        frame : int
            Frame number (increasing).
        directions : (C, S, J, 3) float
            Rays of every slot's joints (:func:`capture3d.reconstruct.matching.detection_rays`).
        usable : (C, S) bool
            Slots with enough confident joints.

        Returns
        -------
        dict
            ``{track_id: (C,) int}`` slot per camera of every confirmed track seen in this frame.
        """
        C, S = usable.shape
        free = usable.copy()
        assigned = self._assign_to_tracks(frame, directions, free)
        for track, slots, X in assigned:
            self._update(track, frame, slots, X)
        self._new_people(frame, directions, free)
        self._age(frame)
        return {t.track_id: t.slots[frame] for t in self.tracks if t.confirmed and frame in t.slots}

    # -- steps -----------------------------------------------------------------------------
    def _assign_to_tracks(self, frame, directions, free):
        live = [t for t in self.tracks if frame - t.last_frame <= max(1, self.opt.tentative_misses)
                or t.confirmed and (frame - t.last_frame) / self.fps <= 0.5]
        if not live:
            return []
        predicted = np.stack([t.predict(frame, self.fps) for t in live])          # (T, J, 3)
        gates = np.array([self.opt.gate_m + self.opt.gate_speed_m_s * (frame - t.last_frame - 1) / self.fps
                          for t in live])
        slots = assign_detections(self.origin, directions, free, predicted, gates, self.opt.matching.min_common_joints)
        X, ok = verify_tracks(self.origin, directions, slots, self.opt.matching.max_view_error_m,
                              self.opt.matching.min_joints)
        out = []
        for r in np.flatnonzero(ok):
            for c, slot in enumerate(slots[r].tolist()):   # (a Python loop over a few cameras beats fancy indexing)
                if slot >= 0:
                    free[c, slot] = False
            out.append((live[r], slots[r], X[r]))
        return out

    def _update(self, track: Track, frame, slots, X):
        update_motion(track.joints, track.velocity, X, (frame - track.last_frame) / self.fps)
        track.last_frame = frame
        track.hits += 1
        track.confirmed |= track.hits >= self.opt.confirm_frames
        track.slots[frame] = slots.copy()
        track.recent.append(X)

    def _new_people(self, frame, directions, free):
        cams, slots = np.nonzero(free)
        if len(cams) < 2:
            return
        people = group_detections(self.origin, directions[cams, slots], cams, self.opt.matching)
        taken = [_centre(t.joints) for t in self.tracks if t.last_frame == frame]
        people = [(m, X) for m, X in people
                  if not any(np.linalg.norm(_centre(X) - c) < self.opt.min_separation_m for c in taken)]
        if not people:
            return
        paused = [t for t in self.tracks if t.confirmed and t.last_frame < frame]
        cost = np.full((len(people), len(paused)), np.inf)
        for i, (_, X) in enumerate(people):
            centre = _centre(X)
            bones = _bone_vector(X, self.bones)
            for k, t in enumerate(paused):
                gap = (frame - t.last_frame) / self.fps
                dist = float(np.linalg.norm(centre - _centre(t.joints)))
                diff = bone_difference(bones, t.bone_lengths())
                if dist <= self.opt.resume_slack_m + self.opt.walk_speed_m_s * gap and \
                        not diff > self.opt.max_bone_difference:
                    cost[i, k] = dist + (0.0 if np.isnan(diff) else 5.0 * diff)
        rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6)) if paused else ([], [])
        resumed = {r: paused[k] for r, k in zip(rows, cols) if np.isfinite(cost[r, k])}
        C = free.shape[0]
        for i, (members, X) in enumerate(people):
            slot_of = np.full(C, -1)
            slot_of[cams[members]] = slots[members]
            if i in resumed:
                track = resumed[i]
                track.velocity[:] = 0.0
                self._update(track, frame, slot_of, X)
            else:
                track = Track(self._next_id, frame, X.copy(), np.zeros_like(X), frame,
                              confirmed=self.opt.confirm_frames <= 1, bone_pairs=self.bones)
                track.slots[frame] = slot_of
                track.recent.append(X)
                self._next_id += 1
                self.tracks.append(track)

    def _age(self, frame):
        keep = []
        for t in self.tracks:
            missed = frame - t.last_frame
            if not t.confirmed and missed >= self.opt.tentative_misses:
                continue                                  # a ghost, or a person not yet sure: gone
            if t.confirmed and missed / self.fps > self.opt.max_pause_s:
                self.finished.append(t)
                continue
            keep.append(t)
        self.tracks = keep

    def all_tracks(self) -> list[Track]:
        """Every confirmed track, finished or not, in order of birth."""
        return sorted([t for t in self.finished + self.tracks if t.confirmed], key=lambda t: t.track_id)


def _centre(points) -> np.ndarray:
    """The median of the known joints ``points (J, 3)``: a person's position, robust to a stray joint."""
    return nan_median(points.T)


def stitch_tracks(tracks: list[Track], fps: float, options: TrackingOptions = TrackingOptions()) -> list[Track]:
    """The offline pass: join tracks of one person, drop fragments.

    A track that starts after another ended is joined to it (Hungarian over ends and starts)
    when the start lies within the distance a person walks in the gap and the median bone lengths
    agree within ``max_bone_difference``; then tracks with fewer than ``min_track_frames``
    frames are dropped. Returns the merged tracks, in order of first frame.
    """
    tracks = sorted(tracks, key=lambda t: min(t.slots))
    merged = True
    while merged and len(tracks) > 1:
        merged = False
        cost = np.full((len(tracks), len(tracks)), np.inf)
        for i, a in enumerate(tracks):
            end = max(a.slots)
            for k, b in enumerate(tracks):
                start = min(b.slots)
                if start <= end:
                    continue
                gap = (start - end) / fps
                dist = float(np.linalg.norm(_centre(a.joints) - _centre(b.first_joints)))
                diff = bone_difference(a.bone_lengths(), b.bone_lengths())
                if dist <= options.resume_slack_m + options.walk_speed_m_s * gap and \
                        not diff > options.max_bone_difference and not np.isnan(diff):
                    cost[i, k] = dist + 5.0 * diff
        if not np.isfinite(cost).any():
            break
        rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
        pairs = [(r, k) for r, k in zip(rows, cols) if np.isfinite(cost[r, k])]
        used = set()
        for r, k in sorted(pairs, key=lambda rk: cost[rk]):
            if r in used or k in used:
                continue
            a, b = tracks[r], tracks[k]
            a.slots.update(b.slots)
            a.recent.extend(b.recent)
            a.joints, a.last_frame = b.joints, b.last_frame
            used |= {r, k}
            b.slots = {}
            merged = True
        tracks = sorted([t for t in tracks if t.slots], key=lambda t: min(t.slots))
    return [t for t in tracks if len(t.slots) >= options.min_track_frames]


__all__ = ["TrackingOptions", "Track", "PeopleTracker", "stitch_tracks", "bone_difference"]
