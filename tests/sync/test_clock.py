import numpy as np
import pytest

from capture3d.errors import FileFormatError
from capture3d.sync import CameraClock, SyncResult, read_sync, to_whole_frames, write_sync


def _result(names):
    return SyncResult("motion", names[0], {n: CameraClock(0.01 * k, 30.0 - 0.01 * k, 0.9, frames=100, nominal_fps=30.0)
                                           for k, n in enumerate(names)})


def test_round_trip_keeps_names_order_and_values(tmp_path):
    names = [f"cam_{k}" for k in (0, 1, 2, 10, 11)]   # cam_10 after cam_2, as written
    res = _result(names)
    res.cameras["cam_2"] = CameraClock(0.5, 59.94, 0.5, "container", 1.001, 300, 60.0)
    path = write_sync(res, tmp_path / "sync.toml")
    back = read_sync(path, cameras=names)
    assert list(back.cameras) == names and back.reference == "cam_0" and back.method == "motion"
    for n in names:
        assert back.cameras[n] == res.cameras[n]
    assert not list(tmp_path.glob("*.part"))


def test_frame_times_index_and_container():
    clock = CameraClock(0.25, 50.0)
    assert np.allclose(clock.frame_times(3), [0.25, 0.27, 0.29])
    vfr = CameraClock(1.0, 30.0, timestamps="container", clock_rate=1.001)
    tau = np.array([0.0, 0.033, 0.07, 0.1])
    assert np.allclose(vfr.frame_times(container_times_s=tau), 1.0 + 1.001 * tau)
    with pytest.raises(ValueError, match="container_times_s"):
        vfr.frame_times(4)


def test_unknown_and_missing_cameras_are_named(tmp_path):
    path = write_sync(_result(["cam01", "cam02"]), tmp_path / "sync.toml")
    with pytest.raises(FileFormatError, match=r"camera 'cam02'.*does not have: \['cam02'\]"):
        read_sync(path, cameras=["cam01", "cam03"])
    with pytest.raises(FileFormatError, match="no clock for cameras"):
        read_sync(path, cameras=["cam01", "cam02", "cam03"])


def test_bad_files_say_what_is_wrong(tmp_path):
    p = tmp_path / "sync.toml"
    p.write_text('[metadata]\nmethod = "motion"\nreference = "cam01"\n[cameras.cam01]\nstart_s = 0.0\n')
    with pytest.raises(FileFormatError, match="cam01.*missing fps"):
        read_sync(p)
    p.write_text('[metadata]\nmethod = "guess"\nreference = "cam01"\n')
    with pytest.raises(FileFormatError, match="method must be one of"):
        read_sync(p)
    with pytest.raises(FileFormatError, match="sync file not found"):
        read_sync(tmp_path / "absent.toml")


def test_failed_result_is_never_written(tmp_path):
    res = _result(["cam01"])
    res.failed["cam02"] = "silent sound track"
    with pytest.raises(ValueError, match="cam02: silent sound track"):
        write_sync(res, tmp_path / "sync.toml")
    assert not list(tmp_path.iterdir())


def test_whole_frames_rounds_starts_keeps_the_estimate_and_refuses_another_rate():
    res = SyncResult("motion", "cam01", {"cam01": CameraClock(0.0, 30.0, nominal_fps=30.0),
                                         "cam02": CameraClock(7.3 / 30, 30.004, 0.9, nominal_fps=30.0),
                                         "cam03": CameraClock(12.6 / 30, 29.99, 0.8, nominal_fps=30.0),
                                         "cam04": CameraClock(0.1, 60.0, nominal_fps=60.0)})
    whole = to_whole_frames(res)
    assert whole.cameras["cam02"].start_s * 30 == pytest.approx(7.0, abs=1e-12)
    assert whole.cameras["cam03"].start_s * 30 == pytest.approx(13.0, abs=1e-12)
    assert {c.fps for c in whole.cameras.values()} == {30.0} and whole.cameras["cam03"].confidence == 0.8
    assert whole.details["estimated_frames"]["cam02"] == pytest.approx(7.3)
    assert not whole.ok and "cam04" not in whole.cameras and "60 fps" in whole.failed["cam04"]
