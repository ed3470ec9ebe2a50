"""Spike removal, the Kalman/RTS smoother, and the whole-sequence skeleton fit."""
import numpy as np
import pytest
from scipy.sparse.linalg import norm as sparse_norm

import capture3d
from capture3d.cli import main
from capture3d.io import save_pose2d
from capture3d.reconstruct import FilterOptions, SkeletonFitOptions, fit_skeleton, postprocess
from capture3d.reconstruct.filters import fill_gaps, remove_spikes, rts_smoother
from capture3d.reconstruct.skeleton_fit import _Problem, _interpolate_in_time
from capture3d.skeleton import bone_length_cv
from capture3d.synthetic import corrupt_keypoints, make_motion, make_rig, project_keypoints


@pytest.fixture(scope="module")
def noisy_scene():
    rig = make_rig(4, seed=0)
    motion = make_motion(150, fps=30, kind="mixed", feet=True, seed=0)
    kp = corrupt_keypoints(project_keypoints(motion.points, rig), noise_px=1.0, missing=0.1, outliers=0.05,
                           outlier_px=(100, 300), seed=1)
    return rig, motion, kp, capture3d.triangulate(kp, rig)


def mean_mm(points, truth):
    return float(np.nanmean(np.linalg.norm(points - truth, axis=-1)) * 1000)


def test_spikes_are_removed_and_smooth_motion_is_kept():
    m = make_motion(300, fps=30, kind="mixed", seed=3)
    assert remove_spikes(m.points)[1].sum() == 0          # the true motion has no spike
    pts = m.points.copy()
    pts[100, 9] += [0.4, 0.0, 0.0]                         # one wrong point, 40 cm off
    pts[200:202, 3] += [0.0, 0.3, 0.1]                     # two in a row
    cleaned, spikes = remove_spikes(pts)
    assert spikes[100, 9] and spikes[200:202, 3].all() and spikes.sum() == 3
    assert np.isnan(cleaned[100, 9]).all()


def test_rts_smoother_reduces_noise_and_bridges_gaps():
    m = make_motion(300, fps=60, kind="walk", seed=1)
    noisy = m.points + np.random.default_rng(0).normal(0, 0.005, m.points.shape)
    noisy[150:156, 5] = np.nan
    out = rts_smoother(noisy, fps=60)
    assert mean_mm(out, m.points) < 0.7 * mean_mm(noisy, m.points)   # measured about 0.5x
    assert np.isfinite(out[150:156, 5]).all() and mean_mm(out[150:156, 5], m.points[150:156, 5]) < 10


def test_skeleton_fit_jacobian_matches_finite_differences(noisy_scene):
    rig, motion, kp, res = noisy_scene
    start = _interpolate_in_time(fill_gaps(res.points[:12], max_gap=15)[0])
    prob = _Problem(kp[:, :12], rig, start, list(motion.joint_names), 30.0, SkeletonFitOptions())
    x = np.concatenate([start.ravel(), np.full(len(prob.bones), 0.3)])
    J = prob.jacobian(x).toarray()
    rng = np.random.default_rng(0)
    for col in rng.choice(len(x), 25, replace=False):
        h = 1e-7
        dx = np.zeros_like(x)
        dx[col] = h
        fd = (prob.residuals(x + dx) - prob.residuals(x - dx)) / (2 * h)
        assert np.allclose(J[:, col], fd, rtol=1e-4, atol=1e-3 * max(1.0, np.abs(fd).max()))
    assert sparse_norm(prob.jacobian(x)) > 0


def test_skeleton_fit_lowers_error_and_steadies_bones(noisy_scene):
    rig, motion, kp, res = noisy_scene
    post = postprocess(res.points, fps=30, options=FilterOptions(smoother="skeleton"), keypoints=kp, rig=rig,
                       joint_names=motion.joint_names)
    cv = lambda p: np.nanmean(list(bone_length_cv(p, motion.joint_names).values()))  # noqa: E731
    assert mean_mm(post.points, motion.points) < 0.75 * mean_mm(res.points, motion.points)  # measured 0.5x
    assert cv(post.points) < 0.2 * cv(res.points)                                          # measured 0.03x
    truth_lengths = {"left_hip-left_knee": 0.45, "left_knee-left_ankle": 0.43, "left_shoulder-left_elbow": 0.30}
    for name, length in truth_lengths.items():
        assert post.bone_lengths[name] == pytest.approx(length, abs=0.005)
    assert np.isfinite(post.points).all(-1).mean() > 0.99


def test_long_unobserved_stretches_stay_empty(noisy_scene):
    rig, motion, kp, res = noisy_scene
    start = res.points.copy()
    start[40:80, 9] = np.nan                                 # 40 frames without the left wrist
    fit = fit_skeleton(kp, rig, start, motion.joint_names, fps=30, options=SkeletonFitOptions(max_gap=15))
    assert np.isnan(fit.points[40:80, 9]).all() and np.isfinite(fit.points[:30, 9]).all()


def test_postprocess_options_validate():
    with pytest.raises(ValueError, match="smoother"):
        FilterOptions(smoother="magic")
    with pytest.raises(ValueError, match="keypoints"):
        postprocess(np.zeros((5, 17, 3)), fps=30, options=FilterOptions(smoother="skeleton"))


def test_triangulate_command_filters_on_request(tmp_path, noisy_scene, capsys):
    rig, motion, kp, res = noisy_scene
    rig.save(tmp_path / "c.toml")
    for c, cam in enumerate(rig):
        save_pose2d(tmp_path / "pose2d" / f"{cam.name}.npz", kp[c][:, None], joint_names=motion.joint_names,
                    image_size=cam.size, detector="synthetic")
    for smoother in ("kalman", "skeleton"):
        out = tmp_path / f"{smoother}.npz"
        assert main(["triangulate", str(tmp_path / "pose2d"), "-c", str(tmp_path / "c.toml"), "-o", str(out),
                     "--smoother", smoother, "--despike", "0.1"]) == 0
        pts = np.load(out)["points"]
        assert mean_mm(pts, motion.points) < mean_mm(res.points, motion.points)
    assert "spikes removed" in capsys.readouterr().out
