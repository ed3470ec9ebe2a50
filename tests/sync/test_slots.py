"""People listed in any order per frame (BlazePose static mode, OpenPose JSON): slots linked over time."""
import itertools

import numpy as np

from capture3d.sync import SyncOptions, align_keypoints, link_person_slots, resample_keypoints
from capture3d.sync.clock import CameraClock, SyncResult
from capture3d.synthetic import corrupt_keypoints, project_keypoints

from .helpers import motion_at, unsynced_session

STARTS = [0.0, 0.37 / 60, 7.3 / 60, 13.0 / 60]


def _three_walkers(F=300, seed=0):
    """``(F, 3, 17, 3)`` pixels + score of three people side by side, moving, person 1 unseen
    for frames 50-59."""
    rng = np.random.default_rng(seed)
    t = np.arange(F) / 60
    centre = np.stack([np.stack([200 + 300 * p + 50 * np.sin(2 * t + p), 300 + 30 * np.cos(3 * t + p)], -1)
                       for p in range(3)], 1)                                   # (F, 3, 2)
    xy = centre[:, :, None] + rng.normal(0, 40, (3, 17, 2))[None]
    kp = np.concatenate([xy, np.full(xy.shape[:-1] + (1,), 0.9)], -1)
    kp[50:60, 1] = np.nan
    return kp


def _shuffled(kp, seed=1):
    rng = np.random.default_rng(seed)
    return np.stack([frame[rng.permutation(len(frame))] for frame in kp])


def _same_people(a, b) -> float:
    """Share of frames where ``a``'s slots hold ``b``'s people under one permutation for all frames."""
    def frames_equal(g):
        return np.mean([np.array_equal(np.nan_to_num(a[f, list(g)], nan=-1), np.nan_to_num(b[f], nan=-1))
                        for f in range(len(a))])
    return max(frames_equal(g) for g in itertools.permutations(range(a.shape[1])))


def test_shuffled_people_come_back_in_one_slot_each_and_ordered_ones_are_untouched():
    kp = _three_walkers()
    shuffled = _shuffled(kp)
    assert _same_people(shuffled, kp) < 0.5                  # the input really is shuffled
    assert _same_people(link_person_slots(shuffled), kp) == 1.0   # across the 10-frame gap too
    assert np.array_equal(np.nan_to_num(link_person_slots(kp), nan=-7), np.nan_to_num(kp, nan=-7))


def _two_people_session():
    """Two people 1.5 m apart, the second 0.8 s later on the same path; every camera lists them
    in a random order per frame."""
    rig, motion, kps, times = unsynced_session(STARTS, [60.0] * 4, [6.0] * 4, noise_px=1.0)
    for c, name in enumerate(rig.names):
        X = motion_at(motion, STARTS[c] + times[name] + 0.8) + np.array([1.5, 0.0, 0.0])
        other = corrupt_keypoints(project_keypoints(X, rig.subset([name])), noise_px=1.0, seed=10 + c)[0]
        kps[name] = _shuffled(np.concatenate([kps[name], other[:, None]], axis=1), seed=c)
    return rig, kps, times


def test_sync_of_people_listed_in_any_order_is_subframe():
    rig, kps, times = _two_people_session()
    res = align_keypoints(kps, times, rig=rig, options=SyncOptions(max_shift_s=0.5))
    assert res.ok, res.failed
    errors = [abs(res.cameras[n].start_s - s) * 60 for n, s in zip(rig.names, STARTS)]
    print("start errors (frames):", np.round(errors, 3))
    assert max(errors) < 0.1


def test_keypoints_moved_to_common_instants_keep_each_person_whole():
    # cam02 half a frame late: each common instant blends two of its frames, which must be one person's
    walkers = _three_walkers(60)
    kp = np.stack([walkers, _shuffled(walkers)])                               # (2, F, 3, 17, 3)
    sync = SyncResult("manual", "cam01", {"cam01": CameraClock(start_s=0.0, fps=60.0),
                                          "cam02": CameraClock(start_s=0.5 / 60, fps=60.0)})
    moved, _ = resample_keypoints(kp, np.arange(60), sync, ["cam01", "cam02"])
    step = np.linalg.norm(np.diff(moved[1, :, :, 0, :2], axis=0), axis=-1)    # (T - 1, 3) px
    assert np.isfinite(step).sum() > 100
    assert np.nanmax(step) < 10, np.nanmax(step)   # a blend of two people is ~150 px from either
