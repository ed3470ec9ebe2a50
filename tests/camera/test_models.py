"""Every registered camera model: against OpenCV, round trips, Jacobians, numba parity."""
import cv2
import numpy as np
import pytest

from capture3d.camera import MODELS, Camera
from capture3d.camera.kernels import distort_any, undistort_any

COEFFS = {
    "pinhole": [np.array([-0.28, 0.09, 1e-3, -2e-3]), np.array([-0.3, 0.12, 1e-3, -2e-3, -0.02]),
                np.array([0.2, -0.3, 1e-3, 2e-3, 0.1, 0.3, -0.2, 0.15])],
    "fisheye": [np.array([0.05, -0.02, 0.004, -0.001]), np.array([-0.03, 0.01, 0.0, 0.0])],
}
CASES = [(m, c) for m in MODELS for c in COEFFS[m]]


def _camera(model, dist):
    return Camera("c", (1920, 1080), [[1100.0, 0.0, 950.0], [0.0, 1105.0, 545.0], [0.0, 0.0, 1.0]],
                  dist, [0.2, -0.1, 0.05], [0.1, -0.2, 3.0], model=model)


def _points(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform([-1.5, -1, -1], [1.5, 1, 1], (n, 3))


def test_registry_lists_both_models():
    assert set(MODELS) == {"pinhole", "fisheye"}


@pytest.mark.parametrize("model,dist", CASES)
def test_project_matches_opencv(model, dist):
    cam = _camera(model, dist)
    pts = _points()
    ours = cam.project(pts)
    if model == "pinhole":
        ref = cv2.projectPoints(pts, cam.rvec, cam.tvec, cam.matrix, cam.dist)[0][:, 0]
    else:
        ref = cv2.fisheye.projectPoints(pts.reshape(1, -1, 3), cam.rvec, cam.tvec, cam.matrix, cam.dist)[0][0]
    assert np.abs(ours - ref).max() < 1e-6  # px; measured ~2e-13


@pytest.mark.parametrize("model,dist", CASES)
def test_undistort_matches_opencv_and_round_trips(model, dist):
    cam = _camera(model, dist)
    px = cam.project(_points())
    xy = cam.pixels_to_normalized(px)
    assert np.abs(cam.normalized_to_pixels(xy) - px).max() < 1e-6  # px; measured ~1e-10
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-15)
    if model == "pinhole":
        ref = cv2.undistortPointsIter(px.reshape(-1, 1, 2), cam.matrix, cam.dist, None, None, crit)[:, 0]
    else:
        ref = cv2.fisheye.undistortPoints(px.reshape(-1, 1, 2), cam.matrix, cam.dist, criteria=crit)[:, 0]
    f = cam.matrix[0, 0]
    assert np.abs(xy - ref).max() * f < 1e-4  # px equivalent; OpenCV's own iteration limits this


@pytest.mark.parametrize("model,dist", CASES)
def test_jacobian_matches_finite_differences(model, dist):
    mod = MODELS[model]
    xy = np.random.default_rng(1).uniform(-0.6, 0.6, (200, 2))
    jac = mod.distort_jacobian(xy, dist)
    h = 1e-6
    num = np.stack([(mod.distort(xy + h * e, dist) - mod.distort(xy - h * e, dist)) / (2 * h)
                    for e in np.eye(2)], axis=-1)
    assert np.abs(jac - num).max() < 1e-7


@pytest.mark.parametrize("model,dist", CASES)
def test_numba_point_functions_match_numpy(model, dist):
    mod = MODELS[model]
    d8 = mod.padded(dist)
    xy = np.random.default_rng(2).uniform(-0.6, 0.6, (300, 2))
    xy[0] = 0.0  # the centre, where the fisheye formula has a limit
    ref, jref = mod.distort(xy, dist), mod.distort_jacobian(xy, dist)
    for k, (x, y) in enumerate(xy):
        xd, yd, j00, j01, j10, j11 = distort_any(mod.MODEL_ID, x, y, d8)
        assert np.allclose([xd, yd], ref[k], atol=1e-14)
        assert np.allclose([[j00, j01], [j10, j11]], jref[k], atol=1e-12)
        ux, uy = undistort_any(mod.MODEL_ID, xd, yd, d8)
        assert np.allclose([ux, uy], [x, y], atol=1e-11)


def test_points_behind_camera_project_to_nan():
    cam = _camera("pinhole", COEFFS["pinhole"][1])
    behind = cam.center + 0.5 * (cam.center - np.array([0.0, 0.0, 0.0]))
    assert np.isnan(cam.project(behind)).all()


def test_rays_point_at_the_projected_point():
    cam = _camera("fisheye", COEFFS["fisheye"][0])
    pts = _points(50)
    d = cam.rays(cam.project(pts))
    to_pt = pts - cam.center
    to_pt /= np.linalg.norm(to_pt, axis=1, keepdims=True)
    assert np.abs(d - to_pt).max() < 1e-9


def test_wrong_coefficient_count_is_an_error():
    with pytest.raises(ValueError, match="4, 5 or 8"):
        _camera("pinhole", np.zeros(6))
    with pytest.raises(ValueError, match="4 coefficients"):
        _camera("fisheye", np.zeros(5))


@pytest.mark.parametrize("model,dist", CASES)
def test_block_undistortion_matches_the_one_point_newton(model, dist):
    """The vectorised path (fixed Newton steps, fallback where they did not converge) gives the
    same points as the damped one-point Newton, NaN in and NaN out."""
    from capture3d.camera.kernels import undistort_block

    mod = MODELS[model]
    d8 = mod.padded(dist)
    xy = np.random.default_rng(3).uniform(-0.7, 0.7, (257, 2))
    xyd = mod.distort(xy, dist)
    xyd[5] = np.nan
    x, y, scratch = np.empty(257), np.empty(257), np.empty(257)
    undistort_block(mod.MODEL_ID, np.ascontiguousarray(xyd[:, 0]), np.ascontiguousarray(xyd[:, 1]), 257, d8,
                    x, y, scratch)
    ref = np.array([undistort_any(mod.MODEL_ID, u, v, d8) for u, v in xyd])
    assert np.isnan(x[5]) and np.isnan(y[5])
    ok = np.arange(257) != 5
    assert np.abs(np.stack([x, y], -1)[ok] - ref[ok]).max() < 2e-10  # the one-point Newton stops at 1e-10
    assert np.abs(np.stack([x, y], -1)[ok] - xy[ok]).max() < 2e-10  # 2e-7 px at f = 1000 px


def test_block_undistortion_falls_back_where_two_newton_steps_are_not_enough():
    """Strong barrel distortion at the image corner: the fixed steps leave a residual above the
    tolerance, and the damped Newton takes over (same answer as the one-point path)."""
    from capture3d.camera import pinhole
    from capture3d.camera.kernels import undistort_block

    d8 = pinhole.padded([-0.45, 0.2, 0.0, 0.0, -0.04])
    xy = np.array([[0.05, 0.02], [0.62, 0.5], [0.7, -0.6]])
    xyd = pinhole.distort(xy, d8)
    x, y, r2 = np.empty(3), np.empty(3), np.empty(3)
    pinhole.undistort_many(xyd[:, 0].copy(), xyd[:, 1].copy(), 3, d8, x, y, r2)
    assert r2[0] < pinhole.UNDISTORT_MANY_TOL < r2[-1]  # the corner needs the fallback
    undistort_block(0, xyd[:, 0].copy(), xyd[:, 1].copy(), 3, d8, x, y, r2)
    assert np.abs(np.stack([x, y], -1) - xy).max() < 1e-11


def test_serial_and_threaded_undistortion_agree():
    """Small inputs take the kernel without threads; both give the same numbers."""
    from capture3d.camera.kernels import pixels_to_normalized, pixels_to_normalized_serial
    from capture3d.synthetic import make_rig

    rng = np.random.default_rng(0)
    for cam in make_rig(3, fisheye=1):
        px = rng.uniform(0, 1, (2000, 2)) * cam.size
        px[::7] = np.nan
        a = pixels_to_normalized(px, cam.matrix, cam.dist8, cam.model_id)
        b = pixels_to_normalized_serial(px, cam.matrix, cam.dist8, cam.model_id)
        assert np.array_equal(a, b, equal_nan=True)
