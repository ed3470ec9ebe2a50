"""After triangulation, one options object for the temporal stage: spike removal, gap filling,
then one smoother (zero-phase Butterworth, Kalman/RTS, or the whole-sequence skeleton fit that
also steadies the bone lengths)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import check_array
from . import filters
from .skeleton_fit import SkeletonFitOptions, fit_skeleton

SMOOTHERS = ("none", "butterworth", "kalman", "skeleton")


@dataclass(frozen=True)
class FilterOptions:
    """Options of :func:`postprocess`."""

    despike_m: float | None = 0.1   # points this far (meters) from their 7-frame median are removed; None = off
    max_gap: int = 15               # fill NaN gaps up to this many frames; longer ones stay NaN
    smoother: str = "butterworth"   # one of SMOOTHERS
    cutoff_hz: float = 6.0          # Butterworth cut-off, Hz
    kalman_jerk_m_s3: float = 200.0    # Kalman/RTS process noise (jerk), m/s^3
    kalman_noise_m: float = 0.005      # Kalman/RTS measurement noise, meters
    skeleton: SkeletonFitOptions = field(default_factory=SkeletonFitOptions)

    def __post_init__(self):
        if self.smoother not in SMOOTHERS:
            raise ValueError(f"smoother must be one of {SMOOTHERS}, got {self.smoother!r}")
        if self.max_gap < 0:
            raise ValueError(f"max_gap must be >= 0 frames, got {self.max_gap}")


@dataclass
class PostprocessResult:
    points: np.ndarray                  # (F, J, 3) meters
    spikes: np.ndarray                  # (F, J) bool: points removed as spikes
    long_gaps: list                     # (joint, start, stop) left NaN
    bone_lengths: dict | None = None    # meters by "a-b", from the skeleton fit

    def summary(self) -> str:
        return f"{int(self.spikes.sum())} spikes removed, {len(self.long_gaps)} gaps longer than allowed left empty"


def postprocess(points, *, fps: float, options: FilterOptions | None = None, keypoints=None, rig=None,
                joint_names=None) -> PostprocessResult:
    """Clean and smooth triangulated ``points (F, J, 3)`` meters at ``fps`` Hz.

    The ``"skeleton"`` smoother needs the 2D ``keypoints (C, F, J, 3)``, the ``rig`` and the
    ``joint_names`` (it minimises the reprojection error again, with smoothness and bone terms).
    """
    opt = options or FilterOptions()
    pts = check_array(points, "points", (None, None, 3))
    spikes = np.zeros(pts.shape[:2], bool)
    if opt.despike_m is not None:
        pts, spikes = filters.remove_spikes(pts, threshold_m=opt.despike_m)
    filled, long_gaps = filters.fill_gaps(pts, max_gap=opt.max_gap)
    bones = None
    if opt.smoother == "butterworth":
        out = filters.butterworth(filled, fps=fps, cutoff_hz=opt.cutoff_hz)
    elif opt.smoother == "kalman":
        out = filters.rts_smoother(filled, fps=fps, measurement_noise_m=opt.kalman_noise_m,
                                   jerk_m_s3=opt.kalman_jerk_m_s3)
        out[~np.isfinite(filled).all(-1)] = np.nan   # long gaps stay gaps
    elif opt.smoother == "skeleton":
        if keypoints is None or rig is None or joint_names is None:
            raise ValueError("the skeleton smoother needs keypoints, rig and joint_names")
        fit = fit_skeleton(keypoints, rig, filled, joint_names, fps=fps, options=opt.skeleton)
        out, bones = fit.points, fit.bone_lengths
    else:
        out = filled
    return PostprocessResult(out, spikes, long_gaps, bones)
