"""Left/right swaps found by the other views' votes."""
import numpy as np
import pytest

from capture3d.reconstruct.swaps import fix_swaps, swap_pairs
from capture3d.synthetic import capture_area, make_crowd, make_rig, observe_crowd


def _person(rig, n_frames=600):
    crowd = make_crowd(1, n_frames, seed=0, area_m=capture_area(rig, min_views=min(3, len(rig))))
    obs = observe_crowd(crowd, rig, seed=1, ghosts=0.0)          # 2 px noise, 3 % outliers, misses
    kp = obs.by_person()[:, :, 0]
    error = np.linalg.norm(kp[..., :2] - obs.projected[:, :, 0, :, :2], axis=-1)
    # a view of a limb group is correct when none of its joints is an outlier (all within 20 px)
    correct = np.stack([~(error[..., lr.ravel()] > 20).any(-1) for lr in swap_pairs(crowd.joint_names).values()], -1)
    return kp, crowd.joint_names, correct


def _inject(kp, joint_names, share, seed):
    """Swap one view's arms or legs in ``share`` of the frames (as a back view does)."""
    pairs = swap_pairs(joint_names)
    rng = np.random.default_rng(seed)
    C, F = kp.shape[:2]
    inject = np.zeros((C, F, len(pairs)), bool)
    for g in range(len(pairs)):
        frames = np.flatnonzero(rng.random(F) < share)
        inject[rng.integers(C, size=len(frames)), frames, g] = True
    inject &= np.isfinite(kp[..., 0]).any(-1)[..., None]
    bad = kp.copy()
    for g, lr in enumerate(pairs.values()):
        for c, f in np.argwhere(inject[..., g]):
            bad[c, f, lr[:, 0]], bad[c, f, lr[:, 1]] = kp[c, f, lr[:, 1]], kp[c, f, lr[:, 0]]
    return bad, inject


@pytest.mark.parametrize("n_cameras, layout", [(4, "ring"), (4, "random"), (8, "ring")])
def test_injected_swaps_are_found_and_correct_views_kept(n_cameras, layout):
    rig = make_rig(n_cameras, layout=layout, seed=3)
    kp, names, correct = _person(rig)
    clean = fix_swaps(kp, rig, names)
    assert not (clean.swapped & correct).any() and clean.judged.sum() > 1000   # never swaps a correct view
    # measured: 0 / 0 / 2 exchanged, each a view with two outliers among its three arm or leg joints
    assert clean.swapped.sum() <= 2
    bad, inject = _inject(kp, names, 0.1, seed=0)
    res = fix_swaps(bad, rig, names)
    judged = res.judged & inject
    # measured: judged 96-100 % of the injected swaps; found all of them; false 0 / 0 / 2 of ~8000
    assert judged.sum() >= 0.95 * inject.sum()
    assert (res.swapped & judged).sum() >= 0.99 * judged.sum()
    assert (res.swapped & ~inject).sum() <= 0.001 * (res.judged & ~inject).sum()
    fixed = np.isfinite(kp[..., 0]) & (inject == res.swapped).all(-1)[..., None]
    assert np.array_equal(res.keypoints[fixed], kp[fixed])              # the exchange restores them exactly


def test_two_views_alone_are_not_judged():
    rig = make_rig(2)
    kp, names, _ = _person(rig, 50)
    bad, _ = _inject(kp, names, 0.5, seed=1)
    res = fix_swaps(bad, rig, names)
    assert not res.swapped.any() and not res.judged.any()
