import numpy as np
import pytest

import capture3d
from capture3d.reconstruct.filters import butterworth, fill_gaps
from capture3d.skeleton import bone_length_cv
from capture3d.synthetic import corrupt_keypoints, make_motion, make_rig, project_keypoints


def test_fill_gaps_fills_short_gaps_and_reports_long_ones():
    t = np.linspace(0, 2, 100)
    pts = np.stack([np.sin(t), np.cos(t), t], -1)[:, None, :].repeat(2, 1)
    holed = pts.copy()
    holed[40:45, 0] = np.nan     # short: filled
    holed[10:40, 1] = np.nan     # long: stays
    holed[:3, 0] = np.nan        # at the start: stays
    filled, long_gaps = fill_gaps(holed, max_gap=10)
    assert np.abs(filled[40:45, 0] - pts[40:45, 0]).max() < 1e-4
    assert np.isnan(filled[10:40, 1]).all() and np.isnan(filled[:3, 0]).all()
    assert (1, 10, 40) in long_gaps and (0, 0, 3) in long_gaps


def test_butterworth_removes_noise_and_keeps_slow_motion():
    fps = 60.0
    t = np.arange(600) / fps
    slow = np.stack([np.sin(2 * np.pi * 0.5 * t)] * 3, -1)[:, None]
    noisy = slow + np.random.default_rng(0).normal(0, 0.01, slow.shape)
    out = butterworth(noisy, fps=fps, cutoff_hz=6.0)
    rms = lambda e: np.sqrt(np.mean(e ** 2))  # noqa: E731
    # white noise keeps about sqrt(6 / 30) = 0.45 of its RMS below 6 Hz at 60 fps
    assert rms((out - slow)[30:-30]) < 0.55 * rms(noisy - slow)
    with pytest.raises(ValueError, match="cutoff_hz"):
        butterworth(noisy, fps=fps, cutoff_hz=40)


def test_bone_length_variation_drops_after_filtering_on_the_walk():
    rig = make_rig(4, seed=3)
    motion = make_motion(300, fps=60, kind="walk", seed=1)
    kp = corrupt_keypoints(project_keypoints(motion.points, rig), noise_px=1.5, missing=0.05, seed=2)
    raw = capture3d.triangulate(kp, rig).points
    smooth = butterworth(fill_gaps(raw, max_gap=15)[0], fps=60, cutoff_hz=6)
    cv_raw = np.nanmean(list(bone_length_cv(raw, motion.joint_names).values()))
    cv_smooth = np.nanmean(list(bone_length_cv(smooth, motion.joint_names).values()))
    assert cv_smooth < 0.8 * cv_raw  # measured about 0.6x
    truth_cv = np.nanmean(list(bone_length_cv(motion.points, motion.joint_names).values()))
    assert truth_cv < 1e-9  # the generator's bones are rigid
