"""Held-out residuals and per-camera 2D offsets found from the views' agreement."""
import numpy as np
import pytest

from capture3d.errors import InputShapeError
from capture3d.reconstruct import TriangulationOptions
from capture3d.reconstruct.view_agreement import (OffsetOptions, apply_view_offsets, choose_views,
                                                  fit_view_offsets, held_out_residuals)
from capture3d.synthetic import make_motion, make_rig
from capture3d.synthetic.observe import project_keypoints

TRUE_OFFSETS = np.array([[12.0, -6.0], [0.0, 0.0], [-5.0, 8.0], [0.0, 0.0]])   # pixels, rig order


def _people(rig, noise_px, seed=0, n_frames=60):
    """Two people's keypoints (P, C, F, J, 3) seen by ``rig``, noise in pixels, score 1."""
    rng = np.random.default_rng(seed)
    points = make_motion(n_frames, fps=60.0).points[:, :17]             # (F, 17, 3) meters
    people = np.stack([points, points + np.array([0.8, 0.3, 0.0])])     # (P, F, 17, 3)
    kp = np.stack([project_keypoints(p, rig) for p in people])          # (P, C, F, 17, 3)
    kp[..., :2] += rng.normal(0.0, noise_px, kp[..., :2].shape)
    return kp, people


def test_held_out_residuals_are_zero_without_noise_and_see_an_offset_view():
    rig = make_rig(4, seed=1)
    kp, _ = _people(rig, 0.0)
    r = held_out_residuals(kp, rig)
    assert r.shape == kp.shape[:-1] + (2,)
    assert np.nanmax(np.abs(r)) < 1e-4          # pixels; measured ~1e-9
    moved = kp.copy()
    moved[:, 0, ..., :2] += [20.0, 0.0]         # cam 0 off by 20 px in x
    r = held_out_residuals(moved, rig)
    assert np.nanmedian(r[:, 0, ..., 0]) == pytest.approx(20.0, abs=0.5)   # the others do not move; measured 20.0
    assert np.isfinite(r).mean() > 0.99


def test_offsets_of_two_cameras_are_found_and_taken_away():
    rig = make_rig(4, seed=1)
    kp, _ = _people(rig, 2.0)
    tri = TriangulationOptions(max_error_px=40.0, max_error_two_views_px=20.0)
    moved = kp.copy()
    moved[..., :2] += TRUE_OFFSETS[None, :, None, None]
    fit = fit_view_offsets(moved, rig, triangulation=tri)
    assert fit.fitted.all() and fit.message == ""
    # offsets are found only up to what a small move of the whole 3D absorbs, so the test is the
    # agreement they give back: every camera near the 2 px noise held out
    assert np.nanmax(fit.held_out_after_px) < 4.0                    # pixels; measured 3.71
    assert fit.held_out_before_px[0] > 8.0                           # the 12 px camera; measured 12.0
    same = fit_view_offsets(kp, rig, triangulation=tri)               # a rig that agrees: next to nothing
    assert np.abs(same.offsets).max() < 1.0                          # pixels; measured 0.10
    cand = np.transpose(moved, (1, 2, 0, 3, 4))                       # (C, F, S=P, J, 3)
    back = apply_view_offsets(cand, fit.offsets)
    assert back.shape == cand.shape and np.array_equal(back[..., 2], cand[..., 2])


def test_a_camera_without_enough_points_gets_no_offset_and_two_cameras_are_refused():
    rig = make_rig(4, seed=1)
    kp, _ = _people(rig, 1.0, n_frames=20)
    kp[:, 3, 2:] = np.nan                       # cam 3 sees 2 frames only
    fit = fit_view_offsets(kp, rig, options=OffsetOptions(min_points=100))
    assert not fit.fitted[3] and np.all(fit.offsets[3] == 0) and rig.names[3] in fit.message
    assert fit.fitted[:3].all()
    with pytest.raises(InputShapeError, match="3 cameras"):
        fit_view_offsets(kp[:, :2], rig.subset(rig.names[:2]))
    with pytest.raises(ValueError, match="step"):
        OffsetOptions(step=0.0)


def test_choose_views_takes_the_alternative_where_the_other_views_agree_better_with_it():
    """Two detections of the same slots: cam0's alternative is the cleaner one for person 0, cam1's
    the noisier; person 1's alternative in cam2 is another person and is never taken."""
    rig = make_rig(4, seed=1)
    rng = np.random.default_rng(3)
    truth, _ = _people(rig, 0.0)                                      # (P, C, F, J, 3)
    plain = truth.copy()
    plain[..., :2] += rng.normal(0.0, 1.0, plain[..., :2].shape)
    plain[0, 0, ..., :2] += rng.normal(0.0, 6.0, plain[0, 0, ..., :2].shape)   # person 0 badly seen in cam0
    alternative = truth.copy()
    alternative[..., :2] += rng.normal(0.0, 1.0, alternative[..., :2].shape)
    alternative[0, 1, ..., :2] += rng.normal(0.0, 6.0, alternative[0, 1, ..., :2].shape)   # worse in cam1
    alternative[1, 2, ..., :2] += 300.0                                # cam2's slot 1: someone 300 px away
    cand, alt = (np.transpose(a, (1, 2, 0, 3, 4)) for a in (plain, alternative))    # (C, F, S=P, J, 3)
    P, C, F = plain.shape[:3]
    assignment = np.broadcast_to(np.arange(P)[:, None, None], (P, C, F)).copy()
    tri = TriangulationOptions(max_error_px=40.0, max_error_two_views_px=20.0)
    use, judged = choose_views(cand, alt, plain, assignment, rig, triangulation=tri)
    assert use.shape == (C, F, P)
    chosen = {(j["person"], j["camera"]): j["chosen"] for j in judged}
    names = rig.names
    assert chosen[(0, names[0])] and use[0, :, 0].all()               # the cleaner 2D taken
    assert not chosen[(0, names[1])] and not use[1, :, 0].any()       # the noisier one not
    assert (1, names[2]) not in chosen and not use[2, :, 1].any()     # another person: not even judged
    j = next(j for j in judged if j["person"] == 0 and j["camera"] == names[0])
    assert j["alternative_px"] < 0.5 * j["held_out_px"]               # measured 1.4 against 7.1 px
    with pytest.raises(InputShapeError):
        choose_views(cand, alt[:, :-1], plain, assignment, rig)
