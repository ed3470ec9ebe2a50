"""Extrinsics refined on the people a rig films: a known rotation error is found and taken away."""
from dataclasses import replace

import numpy as np
import pytest

from capture3d import io
from capture3d.camera.camera import rodrigues_from_rotation, rotation_from_rodrigues
from capture3d.errors import InputShapeError
from capture3d.process import ProcessOptions, triangulate_folder
from capture3d.reconstruct import TriangulationOptions
from capture3d.reconstruct.self_calibration import SelfCalibrationOptions, refine_extrinsics
from capture3d.reconstruct.view_agreement import held_out_residuals
from capture3d.rig import Rig
from capture3d.skeleton import COCO17
from capture3d.synthetic import make_motion, make_rig
from capture3d.synthetic.observe import project_keypoints

TRI = TriangulationOptions(max_error_px=40.0, max_error_two_views_px=20.0)
#: the calibration's errors: cam01 tilted 0.6 deg, cam03 rolled 0.4 deg (rotation vectors in the camera frame)
ERRORS = {0: np.radians([0.3, -0.5, 0.1]), 2: np.radians([0.0, 0.2, 0.4])}


def _people(rig, noise_px, n_frames=100, seed=0):
    """Two people's keypoints ``(P, C, F, 17, 3)`` through ``rig``, pixel noise, score 1."""
    rng = np.random.default_rng(seed)
    points = make_motion(n_frames, fps=60.0).points[:, :17]                # (F, 17, 3) meters
    people = np.stack([points, points + np.array([0.8, 0.3, 0.0])])
    kp = np.stack([project_keypoints(p, rig) for p in people])
    kp[..., :2] += rng.normal(0.0, noise_px, kp[..., :2].shape)
    return kp


def _perturbed(rig, errors=ERRORS):
    """``rig`` with each camera of ``errors`` turned about its own centre by ``errors[c]``."""
    cams = []
    for i, cam in enumerate(rig):
        if i in errors:
            R = rotation_from_rodrigues(errors[i]) @ cam.rotation
            cam = cam.with_pose(rodrigues_from_rotation(R), -R @ cam.center)
        cams.append(cam)
    return Rig(cams, dict(rig.metadata))


def _angle_deg(a, b):
    """Rotation angle between the ``cam_from_world`` rotations of cameras ``a`` and ``b``, degrees."""
    return float(np.degrees(np.linalg.norm(rodrigues_from_rotation(a.rotation @ b.rotation.T))))


def _held_out_px(kp, rig):
    r = held_out_residuals(kp, rig, triangulation=TRI)
    return np.nanmedian(np.hypot(r[..., 0], r[..., 1]), axis=(0, 2, 3))   # (C,)


def test_a_known_rotation_error_is_recovered():
    truth = make_rig(4, seed=1)
    kp = _people(truth, 2.0)
    wrong = _perturbed(truth)
    res = refine_extrinsics(kp, wrong, triangulation=TRI)
    assert res.ok and res.message == "" and res.fitted.all()
    for c in range(4):
        assert _angle_deg(res.rig[c], truth[c]) < 0.06          # degrees; measured 0.013-0.018
        assert np.allclose(res.rig[c].center, truth[c].center, atol=1e-9)   # centres held
        assert np.array_equal(res.rig[c].matrix, truth[c].matrix)           # intrinsics untouched
    assert res.rotation_change_deg[0] == pytest.approx(np.degrees(np.linalg.norm(ERRORS[0])), abs=0.06)  # 0.59
    assert res.rotation_change_deg[1] < 0.05 and res.rotation_change_deg[3] < 0.05   # measured 0.01, 0.02
    # the views agree again, held out, as with the true calibration (3.0 px at 2 px noise; 9.3 px wrong)
    assert _held_out_px(kp, wrong)[0] > 8.0
    assert np.all(_held_out_px(kp, res.rig) < _held_out_px(kp, truth) + 0.1)
    assert (res.residual_after_px < res.residual_before_px).all()
    assert _angle_deg(wrong[0], truth[0]) > 0.5                 # the input rig is not modified
    d = res.to_dict()
    assert set(d["cameras"]) == set(truth.names) and d["cameras"]["cam01"]["rotation_change_deg"] > 0.5


def test_centres_move_only_by_what_is_not_a_similarity_of_the_rig():
    truth = make_rig(4, seed=1)
    kp = _people(truth, 2.0)
    res = refine_extrinsics(kp, _perturbed(truth), triangulation=TRI,
                            options=SelfCalibrationOptions(refine_centers=True))
    assert res.ok
    for c in range(4):
        assert _angle_deg(res.rig[c], truth[c]) < 0.1           # degrees; measured 0.017-0.034
    moved = res.rig.centers
    assert np.abs(moved.mean(axis=0) - truth.centers.mean(axis=0)).max() < 1e-6    # meters: the rig's position
    spread = lambda c: np.linalg.norm(c - c.mean(axis=0), axis=1).mean()           # noqa: E731
    assert spread(moved) == pytest.approx(spread(truth.centers), rel=1e-5)          # and its scale
    assert res.center_shift_m.max() < 0.01                      # meters; measured 2.3 mm at most


def test_a_rig_that_agrees_is_left_nearly_alone_and_limits_refuse():
    truth = make_rig(4, seed=1)
    kp = _people(truth, 2.0, n_frames=60)
    same = refine_extrinsics(kp, truth, triangulation=TRI)
    assert same.ok and same.rotation_change_deg.max() < 0.05    # degrees; measured 0.027
    focal = refine_extrinsics(kp, truth, triangulation=TRI, options=SelfCalibrationOptions(refine_focal=True))
    assert focal.ok and np.abs(focal.focal_change).max() < 0.002   # share; measured 0.0001-0.0008
    far = refine_extrinsics(kp, _perturbed(truth), triangulation=TRI,
                            options=SelfCalibrationOptions(max_rotation_deg=0.1))
    assert not far.ok and "beyond the limits" in far.message
    assert far.rig[0] == _perturbed(truth)[0] and (far.rotation_change_deg == 0).all()
    few = kp.copy()
    few[:, 3, 2:] = np.nan                                       # cam04 sees two frames: held fixed
    held = refine_extrinsics(few, truth, triangulation=TRI)
    assert held.ok and not held.fitted[3] and held.rig[3] == truth[3] and "cam04" in held.message
    with pytest.raises(InputShapeError, match="3 cameras"):
        refine_extrinsics(kp[:, :2], truth.subset(truth.names[:2]))
    with pytest.raises(ValueError, match="loss"):
        SelfCalibrationOptions(loss="square")


def test_triangulate_writes_the_refined_calibration_beside_the_points(tmp_path):
    truth = make_rig(4, seed=1)
    kp = _people(truth, 1.0, n_frames=60)                        # (P, C, F, 17, 3)
    wrong = _perturbed(truth)
    calib = wrong.save(tmp_path / "calibration.toml")
    before = calib.read_bytes()
    pose2d = tmp_path / "pose2d"
    pose2d.mkdir()
    for c, cam in enumerate(truth):
        io.save_pose2d(pose2d / f"{cam.name}.npz", kp[:, c].transpose(1, 0, 2, 3), joint_names=list(COCO17),
                       image_size=cam.size, detector="synthetic")
    opts = ProcessOptions(view_offsets=False, triangulation=TRI, self_calibration=SelfCalibrationOptions())
    lines = []
    path, rec = triangulate_folder(pose2d, calib, tmp_path / "out" / "points3d.npz", fps=60.0, options=opts,
                                   echo=lines.append)
    refined = tmp_path / "out" / "calibration_refined.toml"
    assert path.exists() and refined.exists() and calib.read_bytes() == before
    assert any("calibration refined" in line for line in lines)
    back = Rig.load(refined)
    assert back.names == truth.names
    assert max(_angle_deg(back[c], truth[c]) for c in range(4)) < 0.06   # degrees; measured 0.01
    assert len(rec.person_id) == 2


def test_two_cameras_skip_the_refinement_with_a_warning(tmp_path, caplog):
    truth = make_rig(2, seed=1)
    kp = _people(truth, 1.0, n_frames=20)
    pose2d = tmp_path / "pose2d"
    pose2d.mkdir()
    for c, cam in enumerate(truth):
        io.save_pose2d(pose2d / f"{cam.name}.npz", kp[:, c].transpose(1, 0, 2, 3), joint_names=list(COCO17),
                       image_size=cam.size, detector="synthetic")
    calib = truth.save(tmp_path / "calibration.toml")
    opts = ProcessOptions(view_offsets=False, triangulation=TRI, self_calibration=SelfCalibrationOptions())
    path, _ = triangulate_folder(pose2d, calib, tmp_path / "out" / "points3d.npz", fps=60.0, options=opts,
                                 echo=lambda line: None)
    assert path.exists() and not (tmp_path / "out" / "calibration_refined.toml").exists()
    assert "needs 3 cameras" in caplog.text


def test_a_known_focal_error_is_recovered_with_refine_focal():
    truth = make_rig(4, seed=1)
    kp = _people(truth, 1.0)
    cams = list(truth)
    for c, change in ((1, 0.02), (3, -0.015)):                  # board intrinsics 2 % and 1.5 % off
        matrix = cams[c].matrix.copy()
        matrix[:2, :2] *= 1.0 + change
        cams[c] = replace(cams[c], matrix=matrix)
    wrong = Rig(cams, dict(truth.metadata))
    focal = lambda rig: np.array([rig[c].matrix[0, 0] / truth[c].matrix[0, 0] - 1 for c in range(4)])  # noqa: E731
    rotations = refine_extrinsics(kp, wrong, triangulation=TRI)
    assert rotations.ok and np.abs(focal(rotations.rig)[[1, 3]]).min() > 0.014    # untouched without the option
    res = refine_extrinsics(kp, wrong, triangulation=TRI, options=SelfCalibrationOptions(refine_focal=True))
    assert res.ok and np.abs(focal(res.rig)).max() < 0.002        # share; measured 0.0008 at most
    assert res.focal_change[1] == pytest.approx(1 / 1.02 - 1, abs=0.002)
    assert (res.residual_after_px < rotations.residual_after_px).all()   # measured 0.81-1.03 against 1.25-1.55 px
    for c in range(4):
        assert np.allclose(res.rig[c].matrix[:2, 2], truth[c].matrix[:2, 2])     # principal point held
    assert res.to_dict()["cameras"]["cam02"]["focal_change_pct"] == pytest.approx(100 * res.focal_change[1], abs=1e-3)
    limited = refine_extrinsics(kp, wrong, triangulation=TRI,
                                options=SelfCalibrationOptions(refine_focal=True, max_focal_change=0.01))
    assert not limited.ok and "focal lengths" in limited.message
    assert limited.rig[1] == wrong[1] and (limited.focal_change == 0).all()   # refused: the rig as given


def test_the_jacobian_is_the_residuals_derivative():
    """The adjustment's exact sparse Jacobian (rotations, focal scales, centre moves, points, with
    one camera held) against central differences of its residuals."""
    from capture3d.reconstruct import self_calibration as sc

    truth = make_rig(4, seed=1)
    rig = _perturbed(truth)
    kp = _people(truth, 1.0, n_frames=10)
    X0, cam, point, uv = sc._observations(kp.transpose(1, 0, 2, 3, 4).reshape(4, -1, 17, 3), rig, TRI,
                                          SelfCalibrationOptions())
    keep = point < 15
    basis = sc._similarity_basis(rig.centers)
    complement = np.linalg.svd(np.eye(12) - basis @ basis.T)[0][:, :12 - basis.shape[1]]
    free = np.array([True, False, True, True])                       # cam02 held: no rotation, no focal
    prob = sc._Problem(rig, X0[:15], cam[keep], point[keep], uv[keep], free, complement,
                       np.ones(9 + 3 + complement.shape[1]), 0.0, focal=True)
    assert prob.n_rot == 9 and prob.n_foc == 3
    rng = np.random.default_rng(0)
    x = prob.x0 + np.concatenate([rng.normal(0, 0.01, prob.n_cal), rng.normal(0, 0.001, len(prob.x0) - prob.n_cal)])
    J = prob.jacobian(x).toarray()
    h = 1e-7
    numeric = np.stack([(prob.residuals(x + h * e) - prob.residuals(x - h * e)) / (2 * h) for e in np.eye(len(x))], 1)
    assert np.abs(J - numeric).max() < 1e-4 * np.abs(numeric).max()   # measured 1.3e-9 of the largest entry
