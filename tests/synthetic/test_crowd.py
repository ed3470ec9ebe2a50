"""Multi-person synthetic scenes: the ground truth (make_crowd) and what a detector sees of it
(observe_crowd): exact when noise-free, occlusions by the nearer person, ghosts, outliers,
misses and shuffled slots at the asked rates, seeded, and files the readers take back."""
import numpy as np
import pytest

import capture3d
from capture3d.formats.openpose_json import read_openpose_json
from capture3d.io import stack_pose2d_files
from capture3d.skeleton import bone_lengths
from capture3d.synthetic import (CrowdNoise, body_along_path, capture_area, make_crowd, make_motion, make_rig,
                                 observe_crowd)
from capture3d.synthetic.occlusion import capsules, occluders, occluders_reference

CLEAN = dict(noise_px=0.0, outliers=0.0, ghosts=0.0, misses=0.0, occlusion=False)


@pytest.fixture(scope="module")
def rig():
    return make_rig(4)


@pytest.fixture(scope="module")
def crowd():
    return make_crowd(4, 150, seed=0)


@pytest.fixture(scope="module")
def seen(crowd, rig):
    return observe_crowd(crowd, rig, seed=0)


def test_make_motion_is_unchanged_by_the_body_refactor():
    # Values printed by make_motion before body_along_path was split out of it; the nose (first
    # column) since the face has an adult's proportions (nose 0.155 m above the neck, 0.11 m ahead).
    p = make_motion(240, kind="mixed", feet=True, seed=0).points[[0, 100, 239]][:, [0, 9, 16, 20]]
    before = [
        [[-0.37743401790314807, -0.6229314265065506, 1.625],
         [-0.170052950372511, -0.4384457800478212, 0.9529439080562161],
         [-0.7009831462502008, -0.48276764110795933, 0.1355030406543476],
         [-0.5859050448980696, -0.5789811047665796, 0.06550304065434759]],
        [[0.2473257103352225, -0.685076632944941, 1.625],
         [0.2563390059486802, -0.40344796685337736, 0.9702477207642772],
         [0.15876943843596925, -0.8044826072816782, 0.07],
         [0.30593089098749576, -0.775439417323879, 0.0]],
        [[0.5242463782958803, 0.5056339929669016, 1.625],
         [0.27103552104970613, 0.01219860030055023, 1.0148212028377173],
         [0.6694123429057536, 0.47358960626837004, 0.07],
         [0.5827800978566614, 0.5960430836291786, 0.0]]]
    np.testing.assert_allclose(p, before, rtol=0, atol=1e-12)


def test_body_along_path_is_make_motions_walk_on_its_path():
    m = make_motion(90, fps=30, kind="walk", seed=4)
    rng = np.random.default_rng(4)                   # make_motion's own draws, to rebuild its path
    t = np.arange(90) / 30
    angle = np.cumsum(np.ones(90)) / 30 / 1.2 + rng.uniform(0, 2 * np.pi)
    xy = np.stack([1.2 * np.cos(angle), 1.2 * np.sin(angle)], axis=1) * 0.6
    p = body_along_path(xy, angle + np.pi / 2, 2 * np.pi * 0.9 * t, np.ones(90))
    np.testing.assert_allclose(p, m.points, rtol=0, atol=1e-12)


def test_people_differ_in_size_and_keep_their_bone_lengths(crowd):
    lengths = bone_lengths(crowd.points, crowd.joint_names)
    spread = max(float(np.std(v, axis=1).max()) for v in lengths.values())
    assert spread < 1e-9                             # m over 150 frames; measured 1e-16
    per_person = np.array([[v[p].mean() for v in lengths.values()] for p in range(4)])
    gaps = [np.abs(per_person[i] - per_person[j]).max() for i in range(4) for j in range(i + 1, 4)]
    assert min(gaps) > 0.01                          # m: some bone differs by over 1 cm; measured 24 mm
    assert 0.85 <= crowd.scale.min() and crowd.scale.max() <= 1.1
    z = crowd.points[..., 2]
    assert z.min() > 0.0 and 1.45 < z.max() < 2.0    # m: on the floor, standing heights


def test_paths_cross_without_bodies_meeting(crowd):
    pel = crowd.pelvis[..., :2]
    d = np.linalg.norm(pel[:, None] - pel[None], axis=-1)
    closest = d[np.triu_indices(4, 1)].min(axis=1)   # per pair over the frames
    assert (closest < 0.6).sum() >= 2                # m: pairs pass close; measured 3 of 6 (0.45-0.51 m)
    assert closest.min() > 0.3                       # m: but never through each other; measured 0.45
    x0, y0, x1, y1 = crowd.area_m
    assert np.all((pel[..., 0] > x0) & (pel[..., 0] < x1) & (pel[..., 1] > y0) & (pel[..., 1] < y1))
    speed = np.linalg.norm(np.diff(pel, axis=1), axis=-1) * crowd.fps
    assert 0.3 < np.median(speed) < 1.4              # m/s walking; measured 0.50
    heading = np.arctan2(*np.diff(pel, axis=1)[..., ::-1].transpose(2, 0, 1))
    turned = np.abs(np.angle(np.exp(1j * (heading[:, :, None] - heading[:, None, :])))).max(axis=(1, 2))
    assert np.all(turned > np.pi / 2)                # everyone turns at least once


def test_standing_people_and_exits():
    crowd = make_crowd(4, 120, seed=2, standing=1, exits=[(0, 40, 80)])
    assert crowd.standing.tolist() == [False, False, False, True]
    pel = crowd.pelvis
    assert np.ptp(pel[3, :, :2], axis=0).max() < 1e-9        # m: the stander does not move
    assert np.isnan(crowd.points[0, 40:80]).all() and not crowd.present[0, 40:80].any()
    assert np.isfinite(crowd.points[0, :40]).all() and np.isfinite(crowd.points[0, 80:]).all()
    step = np.linalg.norm(np.diff(pel[0, :40, :2], axis=0), axis=1).max()
    assert step < 0.1                                        # m per frame: walks out, no jump
    obs = observe_crowd(crowd, make_rig(4), seed=2)
    assert not obs.detected[:, 40:80, 0].any() and not (obs.slot_person[:, 40:80] == 0).any()
    assert obs.detected[:, 100:, 0].any()                    # back in view


def test_noise_free_candidates_are_the_projections(crowd, rig):
    obs = observe_crowd(crowd, rig, **CLEAN)
    c, f, s = np.nonzero(obs.slot_person >= 0)
    p = obs.slot_person[c, f, s]
    got, want = obs.candidates[c, f, s], obs.projected[c, f, p]
    np.testing.assert_array_equal(got[..., :2], want[..., :2])      # exact, NaN where outside
    for k, cam in enumerate(rig):
        mine = c == k
        np.testing.assert_array_equal(got[mine][..., :2], np.where(np.isfinite(want[mine][..., :1]),
                                      cam.project(crowd.points[p[mine], f[mine]]), np.nan))
    score = got[..., 2][np.isfinite(got[..., 2])]
    assert 0.6 <= score.min() and score.max() <= 1.0
    in_view = np.isfinite(obs.projected[..., 0]).sum(-1) >= 6
    np.testing.assert_array_equal(obs.detected, in_view)            # everyone in view is found
    assert (obs.slot_person == -1).sum() == np.isnan(obs.candidates[..., 0]).all(-1).sum()
    np.testing.assert_array_equal(obs.by_person()[..., :2], np.where(obs.detected[..., None, None],
                                                                     obs.projected[..., :2], np.nan))


def test_occlusion_hides_the_far_persons_joints(crowd, rig, seen):
    in_image = np.isfinite(seen.projected[..., 0])
    share = seen.hidden[in_image].mean()
    assert 0.03 < share < 0.4                        # measured 0.19 (4 people, 4 cameras, 150 frames)
    c, f, p, j = np.nonzero(seen.hidden)
    q = seen.occluder[c, f, p, j]
    assert np.all(q >= 0) and np.all(q != p)
    centres = rig.centers
    far = np.linalg.norm(crowd.points[p, f, j] - centres[c], axis=-1)
    near = np.linalg.norm(crowd.points[q, f] - centres[c][:, None], axis=-1).min(axis=1)
    assert np.all(near < far)                        # the occluder's body is nearer the camera
    # ... and covers the joint in the image: within its 2D outline (joints' box, 40 px margin)
    box = seen.projected[c, f, q, :, :2]
    uv = seen.projected[c, f, p, j, :2]
    inside = (uv > np.nanmin(box, axis=1) - 40).all(-1) & (uv < np.nanmax(box, axis=1) + 40).all(-1)
    assert inside.mean() > 0.99                      # measured 0.9987 (a near capsule is wider than 40 px)
    # Hidden joints are missing or a low-score guess off by more than the noise.
    got = seen.by_person()[c, f, p, j]
    guess = np.isfinite(got[:, 0])
    assert 0.1 < guess.mean() < 0.45                 # hidden_guess 0.3 of those whose person is detected; measured 0.18
    assert got[guess, 2].max() <= 0.45
    # The same scene without occlusion keeps every joint in view.
    assert not observe_crowd(crowd, rig, occlusion=False).hidden.any()


def test_occlusion_kernel_matches_the_numpy_reference(rig):
    crowd = make_crowd(5, 12, seed=7)
    X = np.stack([cam.world_to_camera(crowd.points.transpose(1, 0, 2, 3)) for cam in rig]).reshape(-1, 5, 17, 3)
    X[3, 2] = np.nan                                 # an absent person
    parts = capsules(X, crowd.joint_names, crowd.scale)
    fast, slow = occluders(X, *parts), occluders_reference(X, *parts)
    np.testing.assert_array_equal(fast, slow)
    assert 0.05 < (fast >= 0).mean()                 # there is something to compare; measured 0.19


def test_ghost_and_outlier_rates_are_as_asked(crowd, rig):
    obs = observe_crowd(crowd, rig, noise_px=1.0, outliers=0.1, ghosts=0.2, misses=0.0, occlusion=False, seed=3)
    n = obs.ghost.shape[0] * obs.ghost.shape[1]
    k = obs.ghosts_per_view.sum()
    assert obs.ghosts_per_view.max() <= 1
    assert abs(k - 0.2 * n) < 4 * np.sqrt(n * 0.2 * 0.8)            # binomial, 4 sigma; measured 113 of 600 views
    ghost_kp = obs.candidates[obs.ghost]
    assert (np.isfinite(ghost_kp[..., 0]).sum(-1) >= 6).all() and np.all(obs.slot_person[obs.ghost] == -1)
    c, f, s = np.nonzero(obs.slot_person >= 0)
    truth = obs.projected[c, f, obs.slot_person[c, f, s], :, :2]
    err = np.linalg.norm(obs.candidates[c, f, s, :, :2] - truth, axis=-1)
    err = err[np.isfinite(err)]
    out = err > 50
    assert abs(out.sum() - 0.1 * err.size) < 4 * np.sqrt(err.size * 0.1 * 0.9)  # binomial; measured 0.0998
    assert err[out].min() > 100 - 6 and err[out].max() < 300 + 6     # px: outlier_px +- 6 sigma of noise
    assert np.std(err[~out]) < 1.0 and np.sqrt(np.mean(err[~out] ** 2) / 2) == pytest.approx(1.0, rel=0.05)


def test_slots_are_shuffled_and_compact(seen):
    sp = seen.slot_person
    used = sp >= 0
    first_slot = sp[:, :, 0]
    share = [(first_slot == p).mean() for p in range(4)]
    assert max(share) < 0.4                          # ~1/4 each with 4 people; measured 0.22-0.28
    changes = (sp[:, 1:, 0] != sp[:, :-1, 0]).mean()
    assert changes > 0.5                             # reshuffled frame to frame
    filled = ~np.isnan(seen.candidates[..., 0]).all(-1)
    np.testing.assert_array_equal(filled, used | seen.ghost)
    assert np.all(np.diff(filled.astype(int), axis=2) <= 0)           # detections first, then empty slots


def test_fewer_slots_than_people_drops_detections(crowd, rig):
    obs = observe_crowd(crowd, rig, slots=2, seed=0)
    assert obs.candidates.shape[2] == 2 and obs.slot_person.shape[2] == 2
    assert obs.detected.sum(axis=2).max() <= 2 and (obs.slot_person >= 0).sum() == obs.detected.sum()


def test_misses_spans_and_rate(crowd, rig):
    obs = observe_crowd(crowd, rig, **{**CLEAN, "misses": 0.1, "miss_spans": (("cam02", 1, 20, 50),)}, seed=5)
    clean = observe_crowd(crowd, rig, **CLEAN)
    assert not obs.detected[1, 20:50, 1].any()
    lost = clean.detected & ~obs.detected
    lost[1, 20:50, 1] = False
    rate = lost.sum() / clean.detected.sum()
    assert 0.04 < rate < 0.2                         # asked 0.1 in spans of 5-30 frames; measured 0.078
    runs = np.diff(np.concatenate([np.zeros((4, 1, 4)), lost, np.zeros((4, 1, 4))], axis=1).astype(int), axis=1)
    assert (runs == 1).sum() < lost.sum() / 3        # missed in spans, not frame by frame; measured 10 spans, 187 frames


def test_same_seed_same_scene_and_options_checked(crowd, rig):
    a, b = observe_crowd(crowd, rig, seed=9), observe_crowd(crowd, rig, seed=9)
    np.testing.assert_array_equal(a.candidates, b.candidates)
    np.testing.assert_array_equal(a.slot_person, b.slot_person)
    np.testing.assert_array_equal(make_crowd(3, 40, seed=4).points, make_crowd(3, 40, seed=4).points)
    assert not np.array_equal(make_crowd(3, 40, seed=4).points, make_crowd(3, 40, seed=5).points)
    assert not np.array_equal(observe_crowd(crowd, rig, seed=10).slot_person, a.slot_person)
    with pytest.raises(ValueError, match="ghosts"):
        CrowdNoise(ghosts=1.5)
    with pytest.raises(TypeError, match="noise"):
        observe_crowd(crowd, rig, noise=1.0)
    with pytest.raises(ValueError, match="exits"):
        make_crowd(2, 50, exits=[(0, 40, 60)])
    with pytest.raises(ValueError, match="n_people"):
        make_crowd(0, 50)


def test_files_read_back(crowd, rig, tmp_path):
    obs = observe_crowd(make_crowd(3, 8, seed=1, feet=True), rig, seed=1)
    files = obs.save_pose2d(tmp_path / "pose2d")
    kp, frames, names, sizes = stack_pose2d_files(files)
    np.testing.assert_allclose(kp, obs.candidates, rtol=1e-6, atol=1e-3)   # float32 files
    assert tuple(names) == obs.joint_names and list(files) == rig.names
    folders = obs.save_openpose_json(tmp_path / "pose")
    assert [f.name for f in folders.values()] == [f"{n}_json" for n in rig.names]
    for c, folder in enumerate(folders.values()):
        back, frames, names = read_openpose_json(folder)
        S = back.shape[1]
        assert tuple(names) == obs.joint_names and np.array_equal(frames, np.arange(8))
        np.testing.assert_allclose(back, obs.candidates[c][:, :S], atol=2e-3)   # px: 3 decimals
        assert np.isnan(obs.candidates[c][:, S:]).all()


def test_capture_area_and_the_qualisys_rig(shared_data):
    rig = capture3d.Rig.load(shared_data / "pose2sim_multiperson" / "Calib.qca.txt")
    x0, y0, x1, y1 = capture_area(rig, min_views=3)
    assert x0 < -0.9 < x1 and y0 < 0.0 < y1         # where the cameras look; measured -1.64..-0.44, -0.82..0.58
    crowd = make_crowd(4, 90, seed=1)
    obs = observe_crowd(crowd, rig, seed=1)
    views = obs.detected.sum(axis=0)
    assert (views >= 2).mean() > 0.97                # person-frames seen twice; measured 1.0
    assert obs.candidates.shape[:2] == (4, 90) and obs.image_sizes[0] == (1088, 1920)
