"""Calibration on the synthetic rig with boards rendered into the images and detected for real."""
import numpy as np
import pytest

from capture3d.calibrate.boards import Board
from capture3d.calibrate.detect import BoardObservations
from capture3d.calibrate.extrinsics import calibrate_extrinsics
from capture3d.calibrate.geometry import rigid_alignment, rotation_angle_deg
from capture3d.calibrate.intrinsics import IntrinsicsOptions, calibrate_intrinsics
from capture3d.rig import Rig
from capture3d.synthetic import make_rig
from capture3d.synthetic.boards import BoardRenderer, board_trajectory, intrinsic_board_poses

BOARD = Board(squares_x=7, squares_y=5, square_length_m=0.12, marker_length_m=0.09)
# The intrinsics board: 16 x 12 squares of 45 mm (72 x 54 cm), 165 inner corners.
FINE = Board(squares_x=16, squares_y=12, square_length_m=0.045, marker_length_m=0.03375,
             dictionary="DICT_4X4_100")


def _observe(renderer, poses, name, size, *, board=BOARD, noise_px=0.0, rng=None):
    frames, ids, corners = [], [], []
    for f, T in enumerate(poses):
        d = board.detect(renderer.render(T))
        if d.ok:
            frames.append(f)
            ids.append(d.ids)
            corners.append(d.corners + (rng.normal(0, noise_px, d.corners.shape) if noise_px else 0))
    return BoardObservations(name, size, np.array(frames, np.int64), ids, corners, len(poses))


@pytest.fixture(scope="module")
def calibrated():
    """Issue 3's acceptance rig: 4 cameras, boards rendered and detected, 1 px corner noise.

    The recording is what the numbers below need (README, "Recording a calibration"). Each
    camera's intrinsics come from 1000 views of the fine board held 0.5-0.9 m away and tilted
    35-60 degrees (a one-minute video, every other frame): with 1 px noise the principal point,
    and with it where the camera points, is only as good as the number of corners seen. Then
    the rig from 300 frames of the big board moving through the volume (floor board first).
    """
    truth = make_rig(4, radius_m=3.5, height_m=2.2, seed=1)
    rng = np.random.default_rng(0)
    poses = board_trajectory(300, BOARD, seed=1)
    intr, obs, results = [], {}, []
    for c, cam in enumerate(truth):
        held = intrinsic_board_poses(cam, FINE, 1000, tilt_deg=(35, 60), distance=(0.6, 1.1), seed=c)
        res = calibrate_intrinsics(_observe(BoardRenderer(FINE, cam, px_per_square=96, seed=c), held, cam.name,
                                            cam.size, board=FINE, noise_px=1.0, rng=rng), FINE)
        results.append(res)
        intr.append(res.camera)
        obs[cam.name] = _observe(BoardRenderer(BOARD, cam, seed=c), poses, cam.name, cam.size, noise_px=1.0, rng=rng)
    ext = calibrate_extrinsics(obs, Rig(intr), BOARD)
    return truth, results, ext, obs


def test_intrinsics_focal_within_half_a_percent(calibrated):
    truth, results, _, _ = calibrated
    print("focal errors (%):", [round(100 * (r.camera.matrix[0, 0] / c.matrix[0, 0] - 1), 3) for r, c in zip(results, truth)],
          "pointing std (deg):", [round(r.pointing_std_deg, 4) for r in results], "views:", [len(r.view_frames) for r in results])
    for res, cam in zip(results, truth):
        assert res.ok, res.message
        assert len(res.view_frames) > 900        # every usable view, not OpenCV's 40
        assert abs(res.camera.matrix[0, 0] / cam.matrix[0, 0] - 1) < 0.005  # measured <= 0.032 %
        assert 1.2 < res.rms_px < 1.6            # 1 px per axis of noise: sqrt(2) = 1.41 px RMS
        assert res.pointing_std_deg < 0.04       # measured 0.021-0.022 degrees


def _rotation_alignment(estimated, true):
    """World rotation ``Q`` that best maps the estimated camera orientations onto the true ones:
    the argmin of sum |R_est Q^T - R_true|^2 over rotations (an SVD)."""
    U, _, Vt = np.linalg.svd(sum(a.rotation.T @ b.rotation for a, b in zip(estimated, true)))
    return (U @ np.diag([1, 1, np.linalg.det(U @ Vt)]) @ Vt).T


def test_extrinsics_centres_within_5_mm_and_rotations_within_a_tenth_of_a_degree(calibrated):
    """The rig's geometry against the truth, each in its own best gauge: camera centres after the
    best rigid alignment of the centres, orientations after the best rotation of the world.
    Issue 3 asks 5 mm and 0.1 degree; this recording measured 0.5-1.0 mm and 0.019-0.073
    degrees, three others (other seeds) up to 3.3 mm and 0.042-0.071 degrees. The world frame itself comes from the floor board and is checked
    separately, against looser bounds: the board lies 4 m away, seen at 60-70 degrees."""
    truth, _, ext, _ = calibrated
    assert ext.ok, ext.message
    A, B = np.array([c.center for c in ext.rig]), truth.centers
    R, t = rigid_alignment(A, B)
    centre_mm = np.linalg.norm(A @ R.T + t - B, axis=1) * 1000
    Q = _rotation_alignment(ext.rig, truth)
    rotation_deg = np.array([rotation_angle_deg(a.rotation @ Q.T, b.rotation) for a, b in zip(ext.rig, truth)])
    print("aligned centre errors (mm):", np.round(centre_mm, 2), "rotation errors (deg):", np.round(rotation_deg, 3))
    assert centre_mm.max() < 5.0
    assert rotation_deg.max() < 0.1
    assert ext.world.startswith("floor board")
    print("in the floor board's world frame (mm, deg):", [(round(np.linalg.norm(a.center - b.center) * 1000, 1),
          round(rotation_angle_deg(a.rotation, b.rotation), 3)) for a, b in zip(ext.rig, truth)])
    for a, b in zip(ext.rig, truth):
        assert np.linalg.norm(a.center - b.center) < 0.025  # m; measured 6.6-11.2 mm
        assert rotation_angle_deg(a.rotation, b.rotation) < 0.4  # degrees; measured 0.12-0.18


def test_metric_check_square_size(calibrated):
    """Triangulated neighbouring corners are one square apart (the check that exposes a wrong scale)."""
    from capture3d.calibrate.report import metric_check
    _, _, ext, obs = calibrated
    d = metric_check(ext.rig, obs, BOARD)
    print(f"metric check: {np.mean(d) * 1000:+.3f} +- {np.std(d) * 1000:.3f} mm over {len(d)} pairs")
    assert len(d) > 100
    # Measured +0.10 to +0.19 mm over four recordings, and the same with the true cameras: the
    # length of a noisy difference vector is biased up (by about its sideways variance / length).
    assert abs(np.mean(d)) < 0.0005  # m


def test_cameras_that_never_share_the_board_fail_with_a_diagnosis(calibrated):
    truth, _, _, obs = calibrated
    split = {}
    for parity, name in enumerate(["cam01", "cam02"]):  # cam01 keeps even frames, cam02 odd ones
        o = obs[name]
        keep = [k for k, f in enumerate(o.frames) if f % 2 == parity]
        split[name] = BoardObservations(name, o.image_size, o.frames[keep], [o.ids[k] for k in keep],
                                        [o.corners[k] for k in keep], o.frames_read)
    ext = calibrate_extrinsics(split, truth, BOARD)
    assert not ext.ok and ext.rig is None
    assert "not connected" in ext.message and "cam01-cam02: 0" in ext.message


def test_intrinsics_with_too_few_views_fail_cleanly():
    obs = BoardObservations("camX", (640, 480), np.array([0]), [np.arange(10)], [np.random.rand(10, 2) * 100], 50)
    res = calibrate_intrinsics(obs, BOARD)
    assert not res.ok and "camX" in res.message and "1 usable frames of 50" in res.message


def test_no_board_diagnosis_names_the_dictionary_the_video_holds(tmp_path):
    import cv2
    from capture3d.calibrate.detect import diagnose_no_board
    from capture3d.video import VideoWriter
    real = Board(squares_x=5, squares_y=4, square_length_m=0.04, marker_length_m=0.03, dictionary="DICT_5X5_100")
    img = cv2.copyMakeBorder(real.image(80), 60, 60, 60, 60, cv2.BORDER_CONSTANT, value=255)
    with VideoWriter(tmp_path / "v.avi", 10, (img.shape[1], img.shape[0])) as w:
        for _ in range(5):
            w.write(img)
    wrong_dict = Board(squares_x=5, squares_y=4, square_length_m=0.04, marker_length_m=0.03,
                       dictionary="DICT_4X4_50")
    assert "DICT_5X5" in diagnose_no_board(tmp_path / "v.avi", wrong_dict)
    # right dictionary, wrong layout: the dictionary is not blamed
    wrong_layout = Board(squares_x=7, squares_y=5, square_length_m=0.04, marker_length_m=0.03,
                         dictionary="DICT_5X5_100")
    msg = diagnose_no_board(tmp_path / "v.avi", wrong_layout)
    assert "visible but no corners" in msg and "squares_x" in msg


def test_principal_point_uncertainty_matches_the_spread_of_repeated_calibrations():
    """``std_px`` and ``pointing_std_deg`` predict how far the principal point, and so where the
    camera points, scatter over recordings with 1 px corner noise (projected boards, 12 repeats)."""
    from capture3d.synthetic.boards import observe_board
    cam = make_rig(1, seed=1)[0]
    poses = intrinsic_board_poses(cam, BOARD, 150, seed=0)
    found, predicted = [], []
    for seed in range(12):
        obs = observe_board(Rig([cam]), BOARD, poses, noise_px=1.0, min_view_cos=0.0, seed=seed)[cam.name]
        res = calibrate_intrinsics(obs, BOARD, options=IntrinsicsOptions(max_views=150))
        assert res.ok, res.message
        found.append(res.camera.matrix[:2, 2] - cam.matrix[:2, 2])
        predicted.append(res.std_px[2:])
        assert 0.01 < res.pointing_std_deg < 1.0
    spread, predicted = np.std(found, axis=0), np.mean(predicted, axis=0)
    print("principal point spread (px):", np.round(spread, 2), "predicted:", np.round(predicted, 2))
    assert np.all(spread / predicted > 0.5) and np.all(spread / predicted < 2.0)


def test_refinement_over_all_views_reaches_opencvs_all_view_solution_from_40_views():
    """OpenCV's cost grows with the cube of the views; the bundle adjustment that follows it
    (Schur-complement Levenberg-Marquardt) takes every view at linear cost and must land on the
    same optimum as OpenCV given all of them, with the uncertainty that many views earn."""
    from capture3d.synthetic.boards import observe_board
    cam = make_rig(1, seed=1)[0]
    poses = intrinsic_board_poses(cam, BOARD, 300, distance=(1.1, 1.8), seed=3)
    obs = observe_board(Rig([cam]), BOARD, poses, noise_px=1.0, min_view_cos=0.0, seed=0)[cam.name]
    every = calibrate_intrinsics(obs, BOARD, options=IntrinsicsOptions(max_views=300, refine_all_views=False))
    start = calibrate_intrinsics(obs, BOARD, options=IntrinsicsOptions(max_views=40, refine_all_views=False))
    refined = calibrate_intrinsics(obs, BOARD, options=IntrinsicsOptions(max_views=40))
    assert every.ok and start.ok and refined.ok
    assert len(refined.view_frames) == len(every.view_frames) > 150
    K, K_every, K_start = refined.camera.matrix, every.camera.matrix, start.camera.matrix
    print("K - K(OpenCV, all views):", np.round((K - K_every)[:2].ravel(), 4),
          "start:", np.round((K_start - K_every)[:2].ravel(), 3))
    assert np.abs(K - K_every).max() < 0.01                          # pixels
    assert np.abs(refined.camera.dist - every.camera.dist).max() < 1e-5
    assert np.abs(K_start - K_every).max() > 0.3                     # the start was elsewhere
    assert np.allclose(refined.std_px, every.std_px, rtol=0.03)
    assert np.all(refined.std_px < 0.6 * start.std_px)               # sqrt(40 / 200) = 0.45
    assert abs(refined.rms_px - every.rms_px) < 1e-4


def test_refinement_over_all_views_drops_views_that_do_not_fit():
    from capture3d.synthetic.boards import observe_board
    cam = make_rig(1, seed=1)[0]
    poses = intrinsic_board_poses(cam, BOARD, 200, distance=(1.1, 1.8), seed=3)
    obs = observe_board(Rig([cam]), BOARD, poses, noise_px=0.5, min_view_cos=0.0, seed=0)[cam.name]
    rng = np.random.default_rng(1)
    broken = [int(obs.frames[k]) for k in (5, 30, 60)]
    for k in (5, 30, 60):                                            # a detector's bad frames
        obs.corners[k] = obs.corners[k] + rng.normal(0, 6.0, obs.corners[k].shape)
    res = calibrate_intrinsics(obs, BOARD, options=IntrinsicsOptions(max_views=30))
    assert res.ok, res.message
    assert not set(broken) & set(res.view_frames.tolist())
    assert len(res.view_frames) >= len(obs.frames) - 6
    assert abs(res.camera.matrix[0, 0] / cam.matrix[0, 0] - 1) < 0.003 and res.rms_px < 0.8


def _one_camera_views(fisheye: bool):
    from capture3d.synthetic.boards import observe_board
    cam = make_rig(1, seed=2, fisheye=int(fisheye))[0]
    poses = intrinsic_board_poses(cam, BOARD, 240, distance=(1.1, 1.8), seed=5)
    return cam, observe_board(Rig([cam]), BOARD, poses, noise_px=0.5, min_view_cos=0.0, seed=0)[cam.name]


def test_fisheye_intrinsics_from_all_views_match_opencv_given_all_views():
    cam, obs = _one_camera_views(fisheye=True)
    refined = calibrate_intrinsics(obs, BOARD, options=IntrinsicsOptions(model="fisheye", max_views=40))
    every = calibrate_intrinsics(obs, BOARD, options=IntrinsicsOptions(model="fisheye", max_views=300,
                                                                        refine_all_views=False))
    assert refined.ok and every.ok, (refined.message, every.message)
    assert len(refined.view_frames) == len(every.view_frames) > 100
    assert refined.camera.model == "fisheye" and len(refined.camera.dist) == 4
    print("f error %:", 100 * (refined.camera.matrix[0, 0] / cam.matrix[0, 0] - 1),
          "K - K(OpenCV, all views):", np.round((refined.camera.matrix - every.camera.matrix)[:2].ravel(), 4),
          "std:", np.round(refined.std_px, 3))
    assert abs(refined.camera.matrix[0, 0] / cam.matrix[0, 0] - 1) < 0.005
    assert np.abs(refined.camera.matrix - every.camera.matrix).max() < 0.01      # pixels
    assert np.all(np.isfinite(refined.std_px)) and np.all(refined.std_px < 3.0)  # OpenCV gives none
    assert np.all(np.isnan(every.std_px))


def test_rational_intrinsics_keep_eight_coefficients_and_fit_as_well_as_opencv():
    """The 8-coefficient model (``--rational``) on a lens that does not need it: its coefficients
    trade off against each other along a flat valley, so the test compares fits, not numbers."""
    cam, obs = _one_camera_views(fisheye=False)
    refined = calibrate_intrinsics(obs, BOARD, options=IntrinsicsOptions(rational=True, max_views=40))
    every = calibrate_intrinsics(obs, BOARD, options=IntrinsicsOptions(rational=True, max_views=300,
                                                                        refine_all_views=False))
    assert refined.ok and every.ok, (refined.message, every.message)
    assert len(refined.camera.dist) == 8 and len(every.camera.dist) == 8   # OpenCV returns 14
    print("RMS", refined.rms_px, every.rms_px, "f errors %:",
          [100 * (r.camera.matrix[0, 0] / cam.matrix[0, 0] - 1) for r in (refined, every)])
    assert refined.rms_px < every.rms_px + 1e-3
    assert abs(refined.camera.matrix[0, 0] / cam.matrix[0, 0] - 1) < 0.005
