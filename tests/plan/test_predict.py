"""Predicted accuracy against Monte Carlo triangulation, exact camera counts, the projection
Jacobian, the body model and the default volume."""
import numpy as np
import pytest

import capture3d
from capture3d.plan import Box, PlanOptions, default_volume, grid_points, predict
from capture3d.plan.predict import body_visible, camera_jacobians


@pytest.mark.parametrize("n_cameras", [4, 8, 16])
def test_prediction_matches_monte_carlo_triangulation(n_cameras):
    rig = capture3d.synthetic.make_rig(n_cameras, seed=1)          # lens distortion included
    pts, _ = grid_points(Box((-1.5, -1.5, 0.2), (1.5, 1.5, 1.8)), 0.75)  # 5 x 5 x 3 points
    pred = predict(rig, pts)                                       # 7.5 px, the BlazePose default
    trials = 200
    rng = np.random.default_rng(0)
    kp = rig.project(pts)[:, None] + rng.normal(0, pred_sigma(), (n_cameras, trials, len(pts), 2))
    kp[~np.broadcast_to(pred.visible[:, None], kp.shape[:-1])] = np.nan
    # robust rejection off: 7.5 px noise would trip the 8 px two-view threshold now and then
    res = capture3d.triangulate(kp, rig, robust=False, min_ray_angle_deg=0.0)
    measured = np.sqrt(np.mean(np.sum((res.points - pts) ** 2, axis=-1), axis=0)) * 1000
    assert (pred.views >= 2).all()
    rel = np.abs(pred.error_mm / measured - 1)
    # measured: median 1.7 / 2.3 / 2.3 %, 95th percentile 6.6 / 7.2 / 5.9 % (4 / 8 / 16 cameras)
    assert np.median(rel) < 0.20
    assert np.percentile(rel, 95) < 0.35


def pred_sigma():
    return PlanOptions().pixel_noise_px


def test_camera_counts_are_exact():
    """A camera sees X when X projects inside its image and that pixel's ray leads back to X (far
    off axis, the distortion polynomial folds points from behind the lens's field into the image:
    Camera.project puts 62 of these grid points there)."""
    rig = capture3d.synthetic.make_rig(8, seed=3, fisheye=2)
    pts, _ = grid_points(Box((-4, -4, 0), (4, 4, 2.5)), 0.4)
    pred = predict(rig, pts)
    seen = []
    for cam, pix in zip(rig, rig.project(pts)):
        w, h = cam.size
        inside = (pix[:, 0] >= -0.5) & (pix[:, 0] <= w - 0.5) & (pix[:, 1] >= -0.5) & (pix[:, 1] <= h - 0.5)
        pc = cam.world_to_camera(pts)
        with np.errstate(invalid="ignore", divide="ignore"):
            back = np.linalg.norm(cam.pixels_to_normalized(np.where(inside[:, None], pix, np.nan))
                                  - pc[:, :2] / pc[:, 2:], axis=1) < 1e-6
        seen.append(inside & back)
    assert np.array_equal(pred.visible, np.array(seen))
    assert np.array_equal(pred.views, np.sum(seen, axis=0))
    assert 0 < (pred.views < 8).mean() < 1       # the grid reaches beyond some views


def test_projection_jacobian_matches_finite_differences():
    rig = capture3d.synthetic.make_rig(4, seed=2, fisheye=1)
    pts = np.random.default_rng(1).uniform([-1, -1, 0.2], [1, 1, 1.8], (50, 3))
    for cam in rig:
        _, jac = camera_jacobians(cam, pts)
        eps = 1e-6
        num = np.stack([(cam.project(pts + eps * e) - cam.project(pts - eps * e)) / (2 * eps)
                        for e in np.eye(3)], axis=-1)
        assert np.max(np.abs(jac - num) / np.abs(num).max()) < 1e-6   # measured ~1e-9


def test_body_hides_the_cameras_behind_it():
    point = np.array([[0.0, 0.0, 1.0]])
    cams = np.array([[3.0, 0, 1.5], [-3.0, 0, 1.5], [0, 3.0, 1.5], [-3.0, 0, 20.0], [0.05, 0, 3.0], [-0.3, 0, 3.0]])
    seen = body_visible(point, cams, (0.15, 0.0, 1.75))[:, 0]       # the skin faces +x
    # in front, behind, beside (the tangent plane), behind and high (through the top), straight
    # above, above but over the body's middle (the ray runs into the body)
    assert seen.tolist() == [True, False, True, False, True, False]
    rig = capture3d.synthetic.make_rig(6, seed=0)
    pts, _ = grid_points(Box((-1, -1, 0.2), (1, 1, 1.6)), 0.5)
    free, body = predict(rig, pts), predict(rig, pts, options=PlanOptions(body=True))
    assert (body.views <= free.views).all() and body.views.mean() < free.views.mean()
    assert (body.error_mm >= free.error_mm - 1e-9).all()


def test_default_volume_is_seen_by_two_cameras_everywhere():
    rig = capture3d.synthetic.make_rig(4, layout="arc", seed=0)
    vol = default_volume(rig)
    assert vol.lo[2] == 0.0 and vol.hi[2] == 2.0
    assert np.prod(vol.size[:2]) > 1.0               # m^2; measured 12.3
    pts, _ = grid_points(vol, 0.25)
    assert (predict(rig, pts).views >= 2).all()
