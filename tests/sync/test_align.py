"""Motion sync on synthetic cameras with known clocks (tests/sync/helpers.py)."""
import numpy as np
import pytest

import capture3d
from capture3d.sync import SyncOptions, align_keypoints, resample
from capture3d.synthetic import corrupt_keypoints, project_keypoints

from .helpers import motion_at, unsynced_session

# cam02 0.37 frame late, cam03 at 30 fps half a frame past 0.25 s and 0.03 % fast, cam04 0.03 % slow
STARTS = [0.0, 0.37 / 60, 0.25 + 0.5 / 30, 0.5 + 0.11 / 60]
FPS = [60.0, 60.0, 30.0, 60.0]
RATES = [1.0, 1.0, 1.0003, 0.9997]


@pytest.fixture(scope="module")
def session():
    return unsynced_session(STARTS, FPS, [7.0, 7.0, 7.0, 6.5], rates=RATES, noise_px=1.0)


def test_subframe_offsets_rates_and_3d_with_a_calibration(session):
    rig, motion, kps, times = session
    res = align_keypoints(kps, times, rig=rig, options=SyncOptions(max_shift_s=1.0))
    assert res.ok and res.reference == "cam01"
    for k, (name, clock) in enumerate(res.cameras.items()):
        # <= 0.1 frame (own frames); measured 0.063, 0.042, 0.072
        assert abs(clock.start_s - STARTS[k]) * FPS[k] < 0.1, name
        # rate on the common clock <= 0.05 %; measured 0.026-0.033 %
        assert abs(clock.fps * RATES[k] / FPS[k] - 1) < 5e-4, name
        assert clock.confidence > 0.8
    # 3D of the resampled 2D against a truly synchronised session (every camera at cam01's instants)
    T = res.cameras["cam01"].frame_times(len(times["cam01"]))
    F = max(len(v) for v in kps.values())
    vals, tt = np.full((4, F, 1, 17, 3), np.nan), np.full((4, F), np.nan)
    for c, n in enumerate(rig.names):
        vals[c, :len(kps[n])] = kps[n]
        tt[c, :len(kps[n])] = res.cameras[n].frame_times(len(kps[n]))
    X = motion_at(motion, T)
    moved = capture3d.triangulate(resample(vals, tt, T)[:, :, 0], rig).points
    synced = np.stack([corrupt_keypoints(project_keypoints(X, rig.subset([n])), noise_px=1.0, seed=c)[0]
                       for c, n in enumerate(rig.names)])
    e_moved = np.linalg.norm(moved - X, axis=-1)
    e_synced = np.linalg.norm(capture3d.triangulate(synced, rig).points - X, axis=-1)
    ok = np.isfinite(e_moved) & np.isfinite(e_synced)
    # within 1.1x of the synced session; measured 3.04 mm against 3.31 mm (interpolation averages noise)
    assert np.median(e_moved[ok]) < 1.1 * np.median(e_synced[ok])


def test_without_calibration_offsets_to_a_frame(session):
    rig, motion, kps, times = session
    res = align_keypoints(kps, times, options=SyncOptions(max_shift_s=1.0))
    assert res.ok
    for k, clock in enumerate(res.cameras.values()):
        assert abs(clock.start_s - STARTS[k]) * FPS[k] < 1.0   # measured 0.014, 0.029, 0.131 frame


def test_camera_that_never_sees_the_person_is_named(session):
    rig, motion, kps, times = session
    blind = dict(kps, cam03=np.full_like(kps["cam03"], np.nan))
    res = align_keypoints(blind, times, options=SyncOptions(max_shift_s=1.0))
    assert not res.ok and list(res.failed) == ["cam03"] and "no person seen" in res.failed["cam03"]
    assert set(res.cameras) == {"cam01", "cam02", "cam04"}


def test_recording_shorter_than_the_shift_searched_is_named(session):
    rig, motion, kps, times = session
    short = dict(kps, cam04=kps["cam04"][:40])
    res = align_keypoints(short, dict(times, cam04=times["cam04"][:40]), options=SyncOptions(max_shift_s=2.0))
    assert "cam04" in res.failed and "shorter than the 2 s shift searched" in res.failed["cam04"]


def test_unknown_calibration_camera_and_reference_raise(session):
    rig, motion, kps, times = session
    with pytest.raises(ValueError, match=r"no camera named \['cam09'\]"):
        align_keypoints(dict(kps, cam09=kps["cam01"]), dict(times, cam09=times["cam01"]), rig=rig)
    with pytest.raises(ValueError, match="reference camera 'camX'"):
        align_keypoints(kps, times, options=SyncOptions(reference="camX"))


def test_a_camera_whose_keypoints_sit_off_to_one_side_is_still_placed():
    """A calibration a fraction of a degree off shifts every keypoint of a camera alike (measured
    on pose2sim_multiperson: cam01 +15 px, cam03 +8 px). Walking past cameras that started 0, 7,
    13 and 22 frames late, cam03's keypoints 30 px to the right: with the camera's shift fitted
    away every start is within a quarter frame (measured 0.18, 0.07, 0.20); without, the shift
    outweighs the walk and cam03 comes out 6.5 frames late, pulling the others 5-6 frames."""
    starts = [0.0, 7 / 30, 13 / 30, 22 / 30]
    rig, motion, kps, times = unsynced_session(starts, [30.0] * 4, [3.0] * 4, noise_px=2.0, seed=1, kind="walk")
    kps = dict(kps, cam03=kps["cam03"] + np.array([30.0, 0.0, 0.0]))
    res = align_keypoints(kps, times, rig=rig, options=SyncOptions(max_shift_s=1.2))
    assert res.ok
    for k, clock in enumerate(res.cameras.values()):
        assert abs(clock.start_s - starts[k]) * 30 < 0.25
    plain = align_keypoints(kps, times, rig=rig, options=SyncOptions(max_shift_s=1.2, camera_shift=False))
    assert abs(plain.cameras["cam03"].start_s - starts[2]) * 30 > 2.0


def test_a_motion_that_repeats_within_the_shift_searched_is_refused_not_guessed():
    # 2 s of motion played 4 times (a treadmill, a looped scene): a start one period off fits as well
    starts = [0.0, 7 / 60, 13 / 60, 22 / 60]
    rig, _, kps, _ = unsynced_session(starts, [60.0] * 4, [2.0] * 4, noise_px=1.0)
    looped = {n: np.concatenate([k] * 4) for n, k in kps.items()}
    times = {n: np.arange(len(k)) / 60.0 for n, k in looped.items()}
    res = align_keypoints(looped, times, rig=rig, options=SyncOptions(max_shift_s=3.0))
    assert set(res.failed) == {"cam02", "cam03", "cam04"} and list(res.cameras) == ["cam01"]
    assert all("motion repeats" in why for why in res.failed.values()), res.failed
    # searched within less than a period, the same recording is synchronised
    res = align_keypoints(looped, times, rig=rig, options=SyncOptions(max_shift_s=0.8))
    assert res.ok
    assert max(abs(res.cameras[n].start_s - s) * 60 for n, s in zip(rig.names, starts)) < 0.1


def test_a_flat_fine_cost_gives_no_offset_not_an_arbitrary_one():
    """Every error at the cap (costs equal at every lag): no estimate. Before, the first grid
    point won, and over-relaxed rounds walked pose2sim_multiperson's cam02 11 frames off."""
    from capture3d.sync.refine import _search

    assert np.isnan(_search(lambda d: 20.0, 1 / 60, 6.0))
    assert _search(lambda d: 15.0 + (d * 60 - 0.4) ** 2, 1 / 60, 6.0) * 60 == pytest.approx(0.4, abs=1e-3)


def test_the_fine_step_falls_back_to_every_camera_when_the_strong_ones_tell_nothing(monkeypatch):
    """The weak cameras are left out of the 3D a camera is refined against; when the rest gives a
    flat cost (pose2sim_multiperson's cam01 + cam03: 3 % of the points triangulated, every error
    at the cap), the window is refined against every camera instead."""
    import capture3d.sync.refine as refine

    frame_s = 1 / 60
    tried = []

    def window_errors(name, window, clocks, keypoints, speed, reference, rig, opts, fs, search, exclude=()):
        tried.append(tuple(exclude))
        if exclude:   # the strong cameras alone: every error capped, the same at every lag
            return lambda delta: (np.full(len(window), 20.0), np.ones(len(window)))
        return lambda delta: (np.full(len(window), 15.0 + (delta / frame_s - 0.4) ** 2), np.ones(len(window)))

    monkeypatch.setattr(refine, "window_errors", window_errors)
    tau = np.arange(50) * frame_s
    speed = {"cam02": (tau, tau, np.ones(50))}
    clocks = {"cam01": [0.0, 1.0], "cam02": [0.1, 1.0], "cam03": [0.2, 1.0], "cam04": [0.3, 1.0]}
    tk, start_k, weight = refine.refine_window("cam02", np.arange(50), clocks, {}, speed, "cam01", object(),
                                               SyncOptions(), frame_s, 0.5 * frame_s, 6.0, exclude={"cam04"})
    assert tried == [("cam04",), ()]
    assert (start_k - tk - 0.1) / frame_s == pytest.approx(0.4, abs=1e-3) and weight == 50
    # with nothing to tell the lags apart against anyone: no estimate, the camera keeps its start
    monkeypatch.setattr(refine, "window_errors", lambda *a, **k: (lambda d: (np.full(50, 20.0), np.ones(50))))
    assert np.isnan(refine.refine_window("cam02", np.arange(50), clocks, {}, speed, "cam01", object(), SyncOptions(),
                                         frame_s, 0.5 * frame_s, 6.0, exclude={"cam04"})[1])
