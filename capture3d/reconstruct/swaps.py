"""Left/right swaps: a single-view detector often labels a person's left limbs as right ones
(mostly in back views). The other views know better.

For each limb group (arms, legs) and frame, every pair of views votes: are their labels
the same, or crossed? Their left joints' rays should meet the other view's left joints' rays
(same) or its right joints' rays (crossed); the vote is how much closer one meets than the
other (meters, summed over the group's left/right pairs). Each view then takes the label that
agrees best with the weighted votes of all the others (a local search on the signed
agreement, a handful of flips), and the majority's labels are kept as the truth, so a view is
exchanged only when most of the others say it is crossed. Needs three views of the person in
that frame; cost ``O(C^2)`` distances per frame and group.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputShapeError, check_array
from .matching import nan_median, ray_distances

#: Limb groups whose left and right members are exchanged together, by joint-name suffix. The
#: face is left out: eyes and ears lie too close for the rays to tell a swap from noise (tried:
#: no swap found at 2 px, and false ones from a single outlier ear).
SWAP_GROUPS = {"arms": ("shoulder", "elbow", "wrist"),
               "legs": ("hip", "knee", "ankle", "heel", "foot_index")}


@dataclass(frozen=True)
class SwapOptions:
    """Options of :func:`fix_swaps`."""

    min_score: float = 0.3          # joints below this detector score do not vote, [0, 1]
    min_pairs: int = 2              # left/right pairs of a group two views both see, for their vote to count
    vote_m: float = 0.05            # a pair of views votes only when same and crossed differ by more, meters
    margin_m: float = 0.1           # a view is exchanged when the others' votes against it exceed this, meters
    far_m: float = 1.0              # ray distances are capped here (rays meeting behind a camera count as far)

    def __post_init__(self):
        if not 0.0 <= self.min_score <= 1.0 or self.min_pairs < 1 or self.margin_m < 0 or self.far_m <= 0:
            raise ValueError("min_score in [0, 1], min_pairs >= 1, margin_m >= 0 and far_m > 0 required")


@dataclass
class SwapResult:
    """``keypoints (C, F, J, 3)`` with the swaps undone; ``swapped (C, F, G)`` bool where group
    ``groups[g]`` was exchanged; ``judged (C, F, G)`` where the other views could tell (linked by
    votes to two views or more)."""

    keypoints: np.ndarray
    swapped: np.ndarray
    groups: tuple
    judged: np.ndarray | None = None

    def counts(self) -> dict:
        return {g: int(self.swapped[..., k].sum()) for k, g in enumerate(self.groups)}


def swap_pairs(joint_names) -> dict[str, np.ndarray]:
    """``{group: (K, 2) int}`` index pairs (left, right) of each :data:`SWAP_GROUPS` group present."""
    index = {n: i for i, n in enumerate(joint_names)}
    out = {}
    for group, parts in SWAP_GROUPS.items():
        pairs = [(index[f"left_{p}"], index[f"right_{p}"]) for p in parts
                 if f"left_{p}" in index and f"right_{p}" in index]
        if pairs:
            out[group] = np.array(pairs)
    return out


def fix_swaps(keypoints, rig, joint_names, *, options: SwapOptions | None = None) -> SwapResult:
    """Undo left/right swaps of one person's 2D keypoints.

    Parameters
    ----------
    keypoints : (C, F, J, 3) float
        One person, rig camera order: distorted pixels x, y and score; NaN where missing.
    rig : Rig
    joint_names : sequence of str
    options : SwapOptions, optional

    Returns
    -------
    SwapResult
    """
    opt = options or SwapOptions()
    kp = check_array(keypoints, "keypoints", (None, None, None, 3)).copy()
    C, F, J, _ = kp.shape
    if C != len(rig) or J != len(joint_names):
        raise InputShapeError(f"keypoints: {kp.shape} does not match {len(rig)} cameras and {len(joint_names)} joints")
    pairs = swap_pairs(joint_names)
    groups = tuple(pairs)
    swapped = np.zeros((C, F, len(groups)), bool)
    judged = np.zeros_like(swapped)
    if C < 3 or not groups:
        return SwapResult(kp, swapped, groups, judged)
    origin = np.asarray(rig.centers, float)
    rays = np.full((C, F, J, 3), np.nan)
    for c, cam in enumerate(rig.cameras):
        ok = np.isfinite(kp[c, ..., :2]).all(-1) & (np.nan_to_num(kp[c, ..., 2]) >= opt.min_score)
        if ok.any():
            rays[c][ok] = cam.rays(kp[c, ..., :2][ok])
    for g, lr in enumerate(pairs.values()):
        votes = _votes(origin, rays[:, :, lr[:, 0]], rays[:, :, lr[:, 1]], opt)      # (F, C, C)
        crossed, can_tell = _crossed_views(votes, opt.margin_m)
        swapped[:, :, g], judged[:, :, g] = crossed.T, can_tell.T
        c, f = np.nonzero(swapped[:, :, g])
        left, right = kp[c, f][:, lr[:, 0]], kp[c, f][:, lr[:, 1]]
        block = kp[c, f]
        block[:, lr[:, 0]], block[:, lr[:, 1]] = right, left
        kp[c, f] = block
    return SwapResult(kp, swapped, groups, judged)


def _votes(origin, left, right, opt) -> np.ndarray:
    """``(F, C, C)`` votes for the same labels in views a and b: (crossed distance - same
    distance) of the median left/right pair times the pairs that compare, meters; 0 where fewer
    than ``min_pairs`` pairs compare.
    ``left, right (C, F, K, 3)`` the rays of the group's left and right joints."""
    C, F = left.shape[:2]
    votes = np.zeros((F, C, C))
    for a in range(C):
        for b in range(a + 1, C):
            d = [np.minimum(ray_distances(origin[a], x, origin[b], y), opt.far_m)
                 for x, y in ((left[a], left[b]), (right[a], right[b]), (left[a], right[b]), (right[a], left[b]))]
            same, crossed = d[0] + d[1], d[2] + d[3]                      # (F, K)
            ok = np.isfinite(same) & np.isfinite(crossed)
            n = ok.sum(-1)
            # the median pair, times the pairs that vote: one outlier joint cannot carry the vote
            v = np.where(n >= opt.min_pairs, nan_median(np.where(ok, crossed - same, np.nan)), 0.0)
            v = np.where(np.abs(v) > opt.vote_m, v * n, 0.0)
            votes[:, a, b] = votes[:, b, a] = v
    return votes


def _crossed_views(votes, margin) -> tuple[np.ndarray, np.ndarray]:
    """``(F, C)`` bool: the views whose labels are crossed with respect to the majority, and the
    views that could be judged.

    Each frame starts with every label as detected (``s = +1``); the view that disagrees most
    with the others' signed votes (``s_c * sum_b votes[c, b] s_b < -margin``) is flipped, again
    until none does; then, should the flipped views be the majority, every label is flipped back
    (the detector is taken to be right more often than not)."""
    F, C, _ = votes.shape
    s = np.ones((F, C))
    for _ in range(C):
        agree = s * np.einsum("fcb,fb->fc", votes, s)                    # (F, C)
        worst = np.argmin(agree, axis=1)
        flip = agree[np.arange(F), worst] < -margin
        if not flip.any():
            break
        s[np.flatnonzero(flip), worst[flip]] *= -1
    # A view is judged when it is linked by votes to two others or more: two views alone cannot tell
    # which of them is wrong (in a ring, side views do not vote: their left and right rays coincide).
    linked = (votes != 0) | np.eye(C, dtype=bool)
    for _ in range(int(np.ceil(np.log2(max(C, 2))))):
        linked = np.einsum("fab,fbc->fac", linked.astype(np.int32), linked.astype(np.int32)) > 0
    judged = linked.sum(-1) >= 3
    crossed = (s < 0) & judged
    majority = crossed.sum(1) > judged.sum(1) / 2
    crossed[majority] = ~crossed[majority] & judged[majority]
    return crossed, judged


__all__ = ["SwapOptions", "SwapResult", "SWAP_GROUPS", "swap_pairs", "fix_swaps"]
