import numpy as np

from capture3d.calibrate.detect import BoardObservations
from capture3d.sync import CameraClock, SyncResult, resample, resample_board, resample_keypoints
from capture3d.sync.resample import ON_FRAME


def test_linear_motion_is_interpolated_exactly_and_nan_outside_and_across_gaps():
    # camera 0 at 10 fps from 0 s, camera 1 at 4 fps from 0.13 s; x = 7 t pixels
    t0, t1 = np.arange(10) / 10, 0.13 + np.arange(5) / 4
    times = np.full((2, 10), np.nan)
    times[0], times[1, :5] = t0, t1
    vals = np.full((2, 10, 1, 3), np.nan)
    vals[0, :, 0] = np.stack([7 * t0, 0 * t0, np.full(10, 0.9)], -1)
    vals[1, :5, 0] = np.stack([7 * t1, 0 * t1, [0.8, 0.5, 0.7, 0.9, 0.9]], -1)
    out = resample(vals, times, t0)
    assert np.allclose(out[0], vals[0], equal_nan=True)                 # own instants: exact
    inside = (t0 >= t1[0]) & (t0 <= t1[4])
    assert np.allclose(out[1, inside, 0, 0], 7 * t0[inside])
    assert np.isnan(out[1, ~inside]).all()                              # outside its span
    assert out[1, 4, 0, 2] == 0.5                                       # between 0.38 and 0.63: lower score
    vals[1, 2] = np.nan                                                 # a gap at 0.63 s
    out = resample(vals, times, t0)
    assert np.isnan(out[1, (t0 > t1[1]) & (t0 < t1[3])]).all()


def test_cubic_interpolation_of_a_curve():
    t = np.arange(20) / 30
    target = t[2:-2] + 0.37 / 30
    v = np.sin(2 * np.pi * 2 * t)[None, :, None]
    truth = np.sin(2 * np.pi * 2 * target)
    lin = resample(v, t[None], target, score_last=False)[0, :, 0]
    cub = resample(v, t[None], target, score_last=False, cubic=True)[0, :, 0]
    # 2 Hz sine sampled at 30 fps: linear off by up to 0.020, cubic by 0.00097 (measured)
    assert np.abs(cub - truth).max() < 0.003 < np.abs(lin - truth).max()


def test_resample_keypoints_and_board_move_to_reference_instants():
    sync = SyncResult("manual", "a", {"a": CameraClock(0.0, 10.0), "b": CameraClock(0.05, 10.0)})
    frames = np.arange(6)
    x = np.arange(6, dtype=float)   # camera b sees x = frame number: at common t, x = 10 t - 0.5
    kp = np.zeros((2, 6, 1, 1, 3))
    kp[..., 2] = 1.0
    kp[0, :, 0, 0, 0] = x
    kp[1, :, 0, 0, 0] = x
    out, t = resample_keypoints(kp, frames, sync, ["a", "b"])
    assert np.allclose(t, frames / 10.0)
    assert np.isnan(out[1, 0]).all() and np.allclose(out[1, 1:, 0, 0, 0], frames[1:] - 0.5)
    ids = [np.array([0, 3]) for _ in range(6)]
    obs = {n: BoardObservations(n, (64, 48), np.arange(6), ids, [np.stack([x[f] + np.zeros(2), np.ones(2)], 1)
                                                                  for f in range(6)], frames_read=6)
           for n in ("a", "b")}
    moved = resample_board(obs, sync)
    assert moved["a"].frames.tolist() == list(range(6))
    assert moved["b"].frames.tolist() == [1, 2, 3, 4, 5]
    assert np.allclose(moved["b"].corners[0][:, 0], 0.5) and moved["b"].ids[0].tolist() == [0, 3]


def test_pose2d_files_of_unsynced_cameras_come_back_at_reference_instants(tmp_path):
    from capture3d.io import save_pose2d

    names = ["cam01", "cam02"]
    sync = SyncResult("manual", "cam01", {"cam01": CameraClock(0.0, 10.0, frames=8),
                                          "cam02": CameraClock(0.15, 20.0)})
    files = {}
    for n, clock in sync.cameras.items():   # x = 10 * common time, pixels
        t = clock.frame_times(12)
        kp = np.stack([10 * t, np.zeros(12), np.ones(12)], -1)[:, None, None]
        files[n] = save_pose2d(tmp_path / f"{n}.npz", kp, joint_names=["nose"], image_size=(64, 48), detector="t")
    from capture3d.sync import resample_pose2d_files

    kp, frames, time_s, joints, sizes = resample_pose2d_files(files, sync)
    assert kp.shape == (2, 8, 1, 1, 3) and frames.tolist() == list(range(8)) and joints == ["nose"]
    assert np.allclose(time_s, np.arange(8) / 10)
    assert np.isnan(kp[1, :2]).all()                          # cam02 starts at 0.15 s
    assert np.allclose(kp[:, 2:, 0, 0, 0], 10 * time_s[2:])   # both at the same instants


def test_nearest_video_frame_of_each_instant():
    from capture3d.sync import nearest_frames

    sync = SyncResult("manual", "a", {"a": CameraClock(0.0, 10.0), "b": CameraClock(0.26, 20.0)})
    t = np.arange(8) / 10
    # b's frames at 0.26, 0.31, ...: 0.3 -> frame 1 (0.31), 0.2 is 0.06 s before its first frame (> half a frame)
    assert nearest_frames(sync, "b", t, 10).tolist() == [-1, -1, -1, 1, 3, 5, 7, 9]
    assert nearest_frames(sync, "a", t, 8).tolist() == list(range(8))


def test_whole_frame_starts_take_their_own_frame_though_the_clock_rounds():
    """A camera that started 7 frames late at 60 fps: 7/60 + i/60 and (7 + i)/60 differ in the last
    bits. Each instant still takes that camera's own frame, value and score, not a blend with a
    neighbour (which would lose a point wherever the next frame misses it)."""
    fps, late = 60.000000000000014, 7
    sync = SyncResult("manual", "a", {"a": CameraClock(0.0, fps), "b": CameraClock(late / fps, fps)})
    times = np.stack([sync.cameras["a"].frame_times(40), sync.cameras["b"].frame_times(40)])
    b = np.stack([np.arange(40.0), np.linspace(0.5, 0.9, 40)], axis=-1)       # (F, 2): value, score
    b[1::2, 0] = np.nan                                                        # every other frame missed
    values = np.stack([np.zeros_like(b), b])
    assert np.isnan(resample(values, times, times[0])[1, late::2, 0]).sum() >= 3   # on_frame 0: some blend
    out = resample(values, times, times[0], on_frame=ON_FRAME)[1, late:]       # (33, 2)
    own = b[:40 - late]
    assert np.array_equal(np.isnan(out[:, 0]), np.isnan(own[:, 0]))
    assert np.array_equal(out[::2], own[::2]) and np.allclose(out[:, 1], own[:, 1], rtol=0, atol=1e-12)
