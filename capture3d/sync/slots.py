"""Person slots that follow one person through time, in one camera's 2D keypoints.

Everything that interpolates a camera's keypoints between its own frames (the sub-frame
offsets of ``capture3d sync``, the keypoints moved to the common instants for ``process`` and
``triangulate``) blends slot ``p`` of frame ``k`` with slot ``p`` of frame ``k + 1``: the
same person only if the detector keeps its slots in order. BlazePose's tracking does; its
static mode, OpenPose's JSON and most bottom-up detectors list the people of each frame in any
order, and a blend of two people is nobody (pose2sim_multiperson re-cut 0 / 7 / 13 / 22 frames
late, BlazePose static: cam03 came out 8.5 frames off at confidence 0.75).
:func:`link_person_slots` re-orders each frame's people to continue the previous frames'.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..errors import check_array

#: A slot kept in the detector's own place costs this share of its distance: the detector's
#: order is kept unless another assignment is at least this much closer.
KEEP_ORDER = 0.5


def link_person_slots(keypoints, *, min_score: float = 0.3, max_jump: float = 0.5,
                      max_gap_frames: int = 15) -> np.ndarray:
    """Re-order the person slots of every frame so that each slot follows one person.

    Parameters
    ----------
    keypoints : (F, P, J, 3) float
        One camera's pixels + score per frame, slot and joint, NaN where absent.
    min_score : float
        Joints at this score or more are compared; a person needs 3 of them to be linked.
    max_jump : float
        Largest median joint displacement from the slot's last sighting, as a share of the
        person's size in the image (the diagonal of its confident joints' box), for the person to
        continue that slot.
    max_gap_frames : int
        A slot unseen for longer is free for anybody.

    Returns
    -------
    (F, P, J, 3) float64
        The same detections, each frame's people permuted among the slots (nothing added or
        dropped). A detector that already keeps its order gets it back unchanged: a person
        stays in its own slot unless another slot's last sighting is more than twice as close.
    """
    kp = np.array(check_array(keypoints, "keypoints", (None, None, None, 3)), dtype=float)
    F, P = kp.shape[:2]
    out = np.full_like(kp, np.nan)
    if P <= 1:
        return kp
    last = np.full((P,) + kp.shape[2:3] + (2,), np.nan)    # each slot's last sighting, (P, J, 2)
    seen_at = np.full(P, -np.inf)
    for f in range(F):
        xy = np.where(kp[f, :, :, 2:] >= min_score, kp[f, :, :, :2], np.nan)         # (P, J, 2)
        good = np.isfinite(xy[..., 0]).sum(axis=1) >= 3
        present = [p for p in range(P) if np.isfinite(kp[f, p]).any()]
        if not present:
            continue
        slot_of = {}
        people = [p for p in present if good[p]]
        if people:
            diff = np.linalg.norm(xy[people][:, None] - last[None], axis=-1)           # (D, P, J)
            both = np.isfinite(diff)
            with warnings.catch_warnings():   # slots never seen: all-NaN rows
                warnings.simplefilter("ignore", RuntimeWarning)
                dist = np.where(both.sum(-1) >= 3, np.nanmedian(np.where(both, diff, np.nan), axis=-1), np.inf)
            box = np.nanmax(xy[people], axis=1) - np.nanmin(xy[people], axis=1)
            size = np.linalg.norm(box, axis=-1)                                       # (D,)
            allowed = (dist <= max_jump * size[:, None]) & (f - seen_at[None] <= max_gap_frames)
            cost = dist * np.where(np.arange(P)[None] == np.array(people)[:, None], KEEP_ORDER, 1.0)
            rows, cols = linear_sum_assignment(np.where(allowed, cost, 1e12))
            slot_of = {people[r]: int(c) for r, c in zip(rows, cols) if allowed[r, c]}
        linked = set(slot_of)
        # the rest (new people, and detections too weak to compare) take free slots: their own
        # when free, else the one unseen the longest
        taken = set(slot_of.values())
        for p in present:
            if p in slot_of:
                continue
            free = [s for s in range(P) if s not in taken]
            s = p if p in free else min(free, key=lambda s: seen_at[s])
            slot_of[p] = s
            taken.add(s)
        for p, s in slot_of.items():
            out[f, s] = kp[f, p]
            if good[p]:   # a person continuing a slot keeps its joints unseen now; a new one does not
                last[s] = np.where(np.isfinite(xy[p]), xy[p], last[s]) if p in linked else xy[p]
                seen_at[s] = f
    return out
