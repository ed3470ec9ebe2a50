"""Triangulation on the synthetic scene: exactness, accuracy against an ideal estimator, outliers,
distortion, bad input, and parity of the numba kernel with the NumPy reference."""
import numpy as np
import pytest
from scipy.optimize import least_squares

import capture3d
from capture3d.errors import InputShapeError
from capture3d.reconstruct.reference import dlt_svd_numpy, weighted_dlt_numpy
from capture3d.reconstruct.triangulation import TriangulationOptions
from capture3d.synthetic import corrupt_keypoints, make_motion, make_rig, project_keypoints


@pytest.fixture(scope="module")
def scene():
    rig = make_rig(4, seed=1)
    motion = make_motion(300, kind="mixed", seed=2)
    return rig, motion, project_keypoints(motion.points, rig)


def error_mm(res, truth):
    return np.linalg.norm(res.points - truth, axis=-1) * 1000


def test_noise_free_is_exact(scene):
    rig, motion, kp = scene
    res = capture3d.triangulate(kp, rig)
    assert res.ok.all()
    assert np.abs(res.points - motion.points).max() < 1e-9  # m; measured 6e-16
    assert np.nanmax(res.reprojection_error_px) < 1e-6


def test_one_pixel_noise_within_10_percent_of_ideal_estimator(scene):
    rig, motion, kp = scene
    noisy = corrupt_keypoints(kp, noise_px=1.0, seed=3)
    ours = error_mm(capture3d.triangulate(noisy, rig), motion.points)
    # ideal: the maximum-likelihood point, found by refining from the *true* point
    pts = motion.points.reshape(-1, 3)[::7]
    obs = noisy.reshape(4, -1, 3)[:, ::7, :2]
    ideal = np.array([least_squares(lambda X, o=obs[:, k]: (rig.project(X) - o).ravel(), p0).x
                      for k, p0 in enumerate(pts)])
    ideal_mm = np.linalg.norm(ideal - pts, axis=-1).mean() * 1000
    ours_mm = ours.reshape(-1)[::7].mean()
    assert ours_mm <= 1.10 * ideal_mm  # measured: 3.4 mm against 3.4 mm


def test_missing_views_and_outliers_under_twice_the_clean_error(scene):
    rig, motion, kp = scene
    clean = error_mm(capture3d.triangulate(corrupt_keypoints(kp, noise_px=1.0, seed=4), rig), motion.points)
    bad = corrupt_keypoints(kp, noise_px=1.0, missing=0.10, outliers=0.05, seed=4)
    res = capture3d.triangulate(bad, rig)
    err = error_mm(res, motion.points)
    assert np.nanmean(err) < 2.0 * clean.mean()  # measured 1.5x (5.2 mm against 3.4 mm)
    assert res.ok.mean() > 0.97
    plain = error_mm(capture3d.triangulate(bad, rig, robust=False), motion.points)
    assert np.nanmean(plain) > 3 * np.nanmean(err)  # rejection is what makes the difference


def test_strong_distortion_gives_the_same_points_as_its_undistorted_twin(scene):
    _, motion, _ = scene
    twin = make_rig(4, seed=1, distortion=False)
    warped = make_rig(4, seed=1, distortion=False)
    for cam in warped:
        cam.dist = np.array([-0.35, 0.15, 2e-3, -1e-3, -0.03])
    kp_twin = project_keypoints(motion.points, twin)
    kp_warp = project_keypoints(motion.points, warped)
    assert np.nanmax(np.abs(kp_twin[..., :2] - kp_warp[..., :2])) > 15  # px, on the person; measured 19.5
    a = capture3d.triangulate(kp_twin, twin).points
    b = capture3d.triangulate(kp_warp, warped).points
    ok = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)
    assert ok.mean() > 0.95 and np.abs(a[ok] - b[ok]).max() < 1e-8
    ignored = capture3d.triangulate(kp_warp, twin, robust=False).points  # distortion ignored
    assert np.nanmean(np.linalg.norm(ignored - motion.points, axis=-1)) > 5e-3  # m: it matters


def test_fisheye_cameras_triangulate_exactly():
    rig = make_rig(5, fisheye=3, seed=4)
    motion = make_motion(50, seed=1)
    res = capture3d.triangulate(project_keypoints(motion.points, rig), rig)
    assert np.nanmax(np.abs(res.points - motion.points)) < 1e-9


def test_kernel_matches_numpy_reference(scene):
    rig, motion, kp = scene
    noisy = corrupt_keypoints(kp, noise_px=2.0, missing=0.2, seed=5)
    res = capture3d.triangulate(noisy, rig, robust=False, refine_iterations=0, min_score=0.0)
    C = len(rig)
    flat = noisy.reshape(C, -1, 3)
    xn = np.stack([cam.pixels_to_normalized(flat[c, :, :2]) for c, cam in enumerate(rig)])
    K, _, _, pose = rig.kernel_arrays()
    ref = weighted_dlt_numpy(xn, np.nan_to_num(flat[..., 2]), pose, 0.5 * (K[:, 0, 0] + K[:, 1, 1]))
    ours = res.points.reshape(-1, 3)
    both = np.isfinite(ours).all(-1)
    assert both.sum() > 0.9 * len(ours)
    assert np.abs(ours[both] - ref[both]).max() < 1e-9
    # and the textbook SVD DLT lands within noise of both
    svd = dlt_svd_numpy(xn, pose, np.nan_to_num(flat[..., 2]))
    assert np.nanmedian(np.linalg.norm(svd[both] - ref[both], axis=-1)) < 2e-3


def test_scores_below_threshold_are_not_used(scene):
    rig, motion, kp = scene
    kp = kp.copy()
    kp[0, :, :, :2] += 80.0  # camera 0 is badly off...
    kp[0, :, :, 2] = 0.1     # ...but says so
    res = capture3d.triangulate(kp, rig, min_score=0.2, robust=False)
    assert (res.n_views == 3).all() and np.nanmax(np.abs(res.points - motion.points)) < 1e-9


def test_bad_input_is_a_clear_error_or_nan():
    rig = make_rig(3)
    with pytest.raises(InputShapeError, match=r"has 2 cameras but the rig has 3"):
        capture3d.triangulate(np.zeros((2, 5, 17, 3)), rig)
    with pytest.raises(InputShapeError, match=r"keypoints: expected shape"):
        capture3d.triangulate(np.zeros((3, 5, 17)), rig)
    with pytest.raises(ValueError, match="max_error_px"):
        capture3d.triangulate(np.zeros((3, 1, 1, 3)), rig, max_error_px=-1)
    allnan = np.full((3, 4, 17, 3), np.nan)
    res = capture3d.triangulate(allnan, rig)
    assert np.isnan(res.points).all() and (res.status == 1).all() and (res.n_views == 0).all()


def test_two_cameras_facing_each_other_give_no_depth():
    rig = make_rig(2, layout="ring", seed=0, distortion=False)
    # a point on the line joining the two camera centres
    c0, c1 = rig.centers
    X = (0.4 * c0 + 0.6 * c1)[None, None]
    res = capture3d.triangulate(project_keypoints(X, rig), rig)
    assert res.status[0, 0] == 3 and np.isnan(res.points).all()


def test_options_round_trip_and_validate():
    opts = capture3d.TriangulationOptions(max_error_px=12.0)
    assert capture3d.TriangulationOptions.from_dict(opts.to_dict()) == opts
    with pytest.raises(ValueError, match="unknown triangulation options"):
        capture3d.TriangulationOptions.from_dict({"max_err": 3})
    with pytest.raises(ValueError, match="suspect_ratio must be > 1"):
        capture3d.TriangulationOptions(suspect_ratio=1.0)


def test_reported_errors_match_the_returned_points(scene):
    """The refinement's last short step updates the errors from its linearisation instead of a
    new pass over the views: they must still match a reprojection of the returned point."""
    rig, _, kp = scene
    bad = corrupt_keypoints(kp, noise_px=2.0, missing=0.10, outliers=0.05, seed=8)
    res = capture3d.triangulate(bad, rig)
    proj = rig.project(res.points)                                   # (C, F, J, 2)
    d = np.linalg.norm(proj - bad[..., :2], axis=-1)                  # every view's error
    used = d <= TriangulationOptions().max_error_px                   # no outlier reprojects that close
    mean_used = np.where(used, d, 0).sum(0) / np.maximum(used.sum(0), 1)
    ok = res.ok & (used.sum(0) == res.n_views)
    assert ok.mean() > 0.95
    assert np.abs(mean_used[ok] - res.reprojection_error_px[ok]).max() < 0.01  # px


def test_an_outlier_on_the_epipolar_line_of_three_views_is_not_guessed():
    """Three views, one displaced along the epipolar line of another: two different pairs agree
    exactly, and two views cannot say which holds the outlier. The point is reported as
    inconsistent rather than triangulated from a coin toss."""
    rig = make_rig(4, seed=1, distortion=False)
    X = np.array([0.1, 0.2, 1.0])
    C0 = rig[0].center
    X_wrong = C0 + 1.25 * (X - C0)                       # same ray from camera 0, 25 % deeper
    kp = np.concatenate([rig.project(X[None]), np.ones((4, 1, 1))], axis=-1)[:, :, None]  # (4, 1, 1, 3)
    kp[2, 0, 0, :2] = rig[2].project(X_wrong[None])[0]
    kp[3] = np.nan                                       # camera 3 did not see it
    assert np.linalg.norm(kp[2, 0, 0, :2] - rig[2].project(X[None])[0]) > 50  # px: a real outlier
    res = capture3d.triangulate(kp, rig)
    assert res.status[0, 0] == 2 and np.isnan(res.points).all()
    # with a fourth, clean view the majority is clear again
    kp[3] = np.concatenate([rig[3].project(X[None]), [[1.0]]], axis=-1)[:, None]
    res = capture3d.triangulate(kp, rig)
    assert res.ok.all() and np.abs(res.points[0, 0] - X).max() < 1e-9


def _view_off_along_camera0_rays(points, rig, wrong_joints, depth=1.25):
    """``(4, 1, J, 3)`` keypoints of ``points (J, 3)``: camera 2 sees ``wrong_joints`` on camera 0's
    rays, ``depth`` x deeper (so pairs 0+1 and 0+2 agree exactly), camera 3 sees only the upper
    body (joints 0-10), so the lower body has three views and an ambiguous pair."""
    C0 = rig[0].center
    kp = np.concatenate([rig.project(points), np.ones((4,) + points.shape[:-1] + (1,))], axis=-1)[:, None]
    wrong = C0 + depth * (points[wrong_joints] - C0)
    kp[2, 0, wrong_joints, :2] = rig[2].project(wrong)
    kp[3, 0, 11:] = np.nan
    return kp


def test_a_view_wrong_for_the_whole_person_is_dropped_where_two_pairs_agree():
    """Camera 2 has the whole person wrong (displaced along camera 0's rays): on the upper body a
    fourth view outvotes it, on the lower body only three views see the person and the per-point
    test cannot tell which pair holds the outlier. The suspect-view pass can: camera 2 lands tens of
    pixels from the upper body's points, the other views on them, so it is dropped there and the
    lower body is triangulated from cameras 0 and 1, at the true points."""
    rig = make_rig(4, seed=1, distortion=False)
    X = make_motion(1, kind="mixed", seed=2).points[0]                        # (17, 3)
    kp = _view_off_along_camera0_rays(X, rig, np.arange(17))
    moved = np.linalg.norm(kp[2, 0, :, :2] - rig[2].project(X), axis=-1)
    assert moved.min() > 25                                                   # px: real outliers
    before = capture3d.triangulate(kp, rig, suspect_views=False)
    assert before.ok[0, :11].all() and (before.status[0, 11:] == 2).all()     # the ambiguity is real
    res = capture3d.triangulate(kp, rig)                                      # the pass is on by default
    assert res.ok.all()
    assert np.abs(res.points[0] - X).max() < 1e-6                             # m: camera 2 was the one dropped
    assert (res.n_views[0, 11:] == 2).all()
    assert res.suspect_views == {"used": True, "points_judged": 6, "points_redone": 6, "points_gained": 6}
    # what the per-point test had triangulated is left as it was
    assert np.array_equal(res.points[0, :11], before.points[0, :11])


def test_a_view_wrong_for_one_joint_only_is_not_suspect():
    """The same ambiguity on one joint, camera 2 right everywhere else: nothing says which pair
    holds the outlier, so the point stays refused rather than guessed."""
    rig = make_rig(4, seed=1, distortion=False)
    X = make_motion(1, kind="mixed", seed=2).points[0]
    kp = _view_off_along_camera0_rays(X, rig, np.array([13]))
    kp[..., :2] += np.random.default_rng(0).normal(0, 1.0, kp[..., :2].shape)   # 1 px noise
    res = capture3d.triangulate(kp, rig)
    assert res.status[0, 13] == 2 and np.isnan(res.points[0, 13]).all()
    assert res.suspect_views["points_judged"] == 1 and res.suspect_views["points_redone"] == 0
    # without the floor, noise alone decides: one view's few pixels against another's
    options = TriangulationOptions(suspect_floor=0.0, suspect_ratio=1.01)
    assert capture3d.triangulate(kp, rig, options=options).suspect_views["points_redone"] == 1


def run_kernel(kp, rig, block_path, opts=TriangulationOptions()):
    """The kernel called directly, so that both of its paths can be run on the same points."""
    from capture3d.reconstruct import kernels

    C = len(rig)
    flat = np.ascontiguousarray(kp, dtype=np.float64).reshape(C, -1, 3)
    N = flat.shape[1]
    out = (np.full((N, 3), np.nan), np.full(N, np.nan), np.zeros(N, np.int64), np.full(N, np.nan),
           np.zeros(N, np.int64))
    kernels.triangulate_kernel(flat, 0, *rig.kernel_arrays(), opts.min_score, opts.max_error_px,
                               opts.max_error_two_views_px, opts.min_views, opts.refine_iterations,
                               opts.robust, np.sin(np.radians(opts.min_ray_angle_deg)), block_path, *out)
    return out


@pytest.mark.parametrize("n_cams", [3, 4, 8])
@pytest.mark.parametrize("robust,refine", [(True, 10), (False, 0)])
def test_block_path_matches_per_point_path(n_cams, robust, refine):
    """The vectorised block path takes the common points; the per-point path, every point when
    told so. Both must give the same points, statuses, view counts and errors."""
    rig = make_rig(n_cams, seed=n_cams)
    motion = make_motion(200, kind="mixed", seed=3)
    kp = corrupt_keypoints(project_keypoints(motion.points, rig), noise_px=2.0, missing=0.15,
                           outliers=0.05, seed=9)
    kp[:, :3] = np.nan                                  # frames nobody sees
    kp[1:, 3, :, 2] = 0.0                               # a frame seen by one camera only
    opts = TriangulationOptions(robust=robust, refine_iterations=refine)
    block = run_kernel(kp, rig, True, opts)
    per_point = run_kernel(kp, rig, False, opts)
    points, error, n_views, score, status = block
    assert (status == per_point[4]).all() and (n_views == per_point[2]).all()
    assert set(np.unique(status)) >= {0, 1}
    ok = status == 0
    assert ok.mean() > 0.8
    assert np.abs(points[ok] - per_point[0][ok]).max() < 1e-9                 # m
    assert np.abs(error[ok] - per_point[1][ok]).max() < 2e-3                  # px: linearised there
    assert np.abs(score[ok] - per_point[3][ok]).max() < 1e-12
    assert np.isnan(points[~ok]).all() and np.isnan(per_point[0][~ok]).all()
