"""Multi-person results against ground truth: which estimated person is which true one, and the
figures of the field (person-frames found, identity switches, PCP, MPJPE).

PCP follows the Shelf/Campus rule: a limb is correct when the mean of its two ends' errors is at
most half its true length.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..errors import check_array
from ..skeleton import bones_for

#: The ten limbs of the PCP rule (upper/lower arms and legs, head-neck and torso taken as the
#: COCO-17 stand-ins: nose to shoulder midpoint is not a joint pair, so the torso sides are used).
PCP_LIMBS = (("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
             ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
             ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
             ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
             ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"))


@dataclass
class PeopleScore:
    """Figures of :func:`score_people`.

    Attributes
    ----------
    found : float
        Share of true person-frames (the person is in view of >= 2 cameras) matched by an
        estimated person whose joints lie within ``match_m`` (median).
    id_switches : int
        Times the estimated person matched to a true person changes between two frames where
        both are matched (CLEAR-MOT's IDSW).
    pcp : float
        Share of correct limbs over matched person-frames.
    mpjpe_m : float
        Mean per-joint position error over matched person-frames, meters.
    false_frames : int
        Estimated person-frames matched to nobody (ghost or wrong people).
    """

    found: float
    id_switches: int
    pcp: float
    mpjpe_m: float
    false_frames: int

    def __str__(self):
        return (f"found {self.found:.1%}, {self.id_switches} identity switches, PCP {self.pcp:.1%}, "
                f"MPJPE {self.mpjpe_m * 1000:.1f} mm, {self.false_frames} false person-frames")


def score_people(estimated, truth, joint_names, *, visible=None, match_m: float = 0.3) -> PeopleScore:
    """Score estimated people against true ones, frame by frame.

    Parameters
    ----------
    estimated : (P, F, J, 3) float
        Meters, NaN where absent.
    truth : (Q, F, J, 3) float
        Meters.
    joint_names : sequence of str
    visible : (Q, F) bool, optional
        True person-frames that count (e.g. seen by >= 2 cameras); default all.
    match_m : float
        A pair is matched in a frame when the median joint distance is at most this.
    """
    est = check_array(estimated, "estimated", (None, None, None, 3))
    tru = check_array(truth, "truth", (None, None, None, 3))
    P, F, J, _ = est.shape
    Q = tru.shape[0]
    visible = np.ones((Q, F), bool) if visible is None else np.asarray(visible, bool)
    limbs = bones_for(joint_names, PCP_LIMBS)
    matched = np.full((Q, F), -1)
    correct = total = 0
    errors = []
    false = 0
    for f in range(F):
        with np.errstate(invalid="ignore"):
            d = np.linalg.norm(est[:, None, f] - tru[None, :, f], axis=-1)       # (P, Q, J)
        med = np.full((P, Q), np.inf)
        some = (~np.isnan(d)).sum(-1) > 0
        if some.any():
            med[some] = np.nanmedian(d[some], axis=-1)
        present = np.isfinite(est[:, f]).any(axis=(-1, -2))
        rows, cols = linear_sum_assignment(np.where(np.isfinite(med), med, 1e6)) if P and Q else ([], [])
        hit = set()
        for p, q in zip(rows, cols):
            if med[p, q] <= match_m:
                matched[q, f] = p
                hit.add(p)
                if visible[q, f]:
                    errors.append(np.nanmean(d[p, q]))
                    for a, b in limbs:
                        length = np.linalg.norm(tru[q, f, a] - tru[q, f, b])
                        e = (d[p, q, a] + d[p, q, b]) / 2
                        total += 1
                        correct += bool(e <= length / 2)
        false += int(sum(1 for p in np.flatnonzero(present) if p not in hit))
    found = float(((matched >= 0) & visible).sum() / max(visible.sum(), 1))
    switches = 0
    for q in range(Q):
        seq = matched[q][matched[q] >= 0]
        switches += int((np.diff(seq) != 0).sum())
    return PeopleScore(found, switches, correct / total if total else float("nan"),
                       float(np.mean(errors)) if errors else float("nan"), false)


__all__ = ["PeopleScore", "score_people", "PCP_LIMBS"]
