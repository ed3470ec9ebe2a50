"""Choosing the same person in every view when several people are seen."""
import numpy as np
import pytest

import capture3d
from capture3d.reconstruct.association import AssociationOptions, associate_person
from capture3d.synthetic.observe import corrupt_keypoints, project_keypoints


def _two_people(n_frames=40, seed=0):
    rig = capture3d.synthetic.make_rig(4)
    a = capture3d.synthetic.make_motion(n_frames, kind="walk", seed=seed).points
    b = capture3d.synthetic.make_motion(n_frames, kind="arms", seed=seed + 1).points + [1.5, 0.8, 0.0]
    kp = np.stack([corrupt_keypoints(project_keypoints(p, rig), noise_px=1.0, seed=s)
                   for s, p in enumerate((a, b))], axis=2)          # (C, F, 2, J, 3)
    return rig, a, b, kp


def _shuffle_slots(kp, seed):
    """Each camera and frame lists the people in its own order, with an empty third slot."""
    rng = np.random.default_rng(seed)
    C, F, P, J, _ = kp.shape
    out = np.full((C, F, P + 1, J, 3), np.nan)
    truth = np.zeros((C, F, P + 1), int) - 1
    for c in range(C):
        for f in range(F):
            order = rng.permutation(P + 1)
            for slot, who in enumerate(order):
                if who < P:
                    out[c, f, slot] = kp[c, f, who]
                    truth[c, f, slot] = who
    return out, truth


def test_the_same_person_is_chosen_in_every_view_and_frame():
    rig, a, b, kp = _two_people()
    cand, truth = _shuffle_slots(kp, seed=3)
    res = associate_person(cand, rig)
    assert (res.person >= 0).all()
    who = np.take_along_axis(truth, res.person[..., None], axis=2)[..., 0]
    assert len(np.unique(who)) == 1                               # one person throughout
    assert res.searched.sum() == 1                                # found once, then followed
    X = capture3d.triangulate(res.keypoints, rig).points
    target = (a, b)[who[0, 0]]
    assert np.nanmean(np.linalg.norm(X - target, axis=-1)) < 0.01


def test_a_lost_person_is_found_again_near_where_it_was():
    rig, a, b, kp = _two_people()
    cand, truth = _shuffle_slots(kp, seed=4)
    first = associate_person(cand[:, :1], rig).person[0, 0]
    chosen = truth[0, 0, first]
    # the chosen person vanishes from every view for 5 frames
    gone = truth == chosen
    gone[:, :10] = gone[:, 15:] = False
    cand[gone] = np.nan
    res = associate_person(cand, rig)
    who = np.take_along_axis(truth, np.maximum(res.person, 0)[..., None], axis=2)[..., 0]
    assert (res.person[:, 10:15] == -1).all()                     # nobody else stands in
    assert (who[:, 15:] == chosen).all() and (who[:, :10] == chosen).all()


def test_options_and_shapes_are_checked():
    rig = capture3d.synthetic.make_rig(3)
    with pytest.raises(ValueError, match="max_distance_px"):
        AssociationOptions(max_distance_px=0)
    with pytest.raises(capture3d.errors.InputShapeError, match="4 cameras but the rig has 3"):
        associate_person(np.zeros((4, 2, 1, 17, 3)), rig)
    res = associate_person(np.full((3, 2, 2, 17, 3), np.nan), rig)
    assert (res.person == -1).all() and np.isnan(res.keypoints).all()
