"""Damaged inputs for the readers and commands a new user meets: each ends with exit 1 and one
line on stderr naming the file and the problem, writes nothing half, and a re-run on repaired
input completes. Every input is made by the test."""
import shutil

import numpy as np
import pytest

from capture3d import io
from capture3d.cli import main
from capture3d.synthetic import capture_area, make_crowd, make_rig, observe_crowd, render_person
from capture3d.video import VideoWriter


def _fails_naming(capsys, argv, *names):
    """Run the CLI; it must exit 1 with one stderr line holding every string of ``names``."""
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert err.count("\n") == 0 and err.startswith("capture3d: error:"), err
    for n in names:
        assert str(n) in err, (n, err)
    return err


@pytest.fixture
def pose2d_session(tmp_path):
    """A calibration and a pose2d folder of two people, 30 frames, 3 cameras."""
    rig = make_rig(3)
    rig.save(tmp_path / "calibration.toml")
    crowd = make_crowd(2, 30, seed=1, area_m=capture_area(rig))
    obs = observe_crowd(crowd, rig, seed=2)
    obs.save_pose2d(tmp_path / "pose2d")
    return tmp_path, rig


def _triangulate(tmp, out="points3d.npz", calibration="calibration.toml"):
    return ["triangulate", str(tmp / "pose2d"), "-c", str(tmp / calibration), "-o", str(tmp / out)]


def test_calibration_files_with_nan_wrong_shapes_or_a_camera_behind(pose2d_session, capsys):
    tmp, rig = pose2d_session
    import tomllib

    import tomli_w

    doc = tomllib.loads((tmp / "calibration.toml").read_text())
    nan = {k: dict(v) for k, v in doc.items()}
    nan["cam_01"]["matrix"] = [[float("nan"), 0.0, 640.0], [0.0, 1000.0, 360.0], [0.0, 0.0, 1.0]]
    shape = {k: dict(v) for k, v in doc.items()}
    shape["cam_02"]["translation"] = [1.0, 2.0, 3.0, 4.0]
    cases = {"nan.toml": tomli_w.dumps(nan), "shape.toml": tomli_w.dumps(shape), "garbage.toml": "[cam_00\nname = "}
    for name, body in cases.items():
        (tmp / name).write_text(body)
        _fails_naming(capsys, _triangulate(tmp, f"{name}.npz", name), name)
        assert not (tmp / f"{name}.npz").exists()
    # a camera turned away from the scene: every ray of its people points behind it
    from capture3d.camera.camera import rodrigues_from_rotation
    away = [c.with_pose(rodrigues_from_rotation(np.diag([-1.0, 1.0, -1.0]) @ c.rotation), -c.tvec) if k == 0 else c
            for k, c in enumerate(rig.cameras)]
    from capture3d import Rig
    Rig(away).save(tmp / "away.toml")
    assert main(_triangulate(tmp, "away.npz", "away.toml")) == 0       # the other two cameras still see them
    assert io.load_points3d(tmp / "away.npz")["points"].shape[0] == 2
    assert main(_triangulate(tmp)) == 0                                  # the good file still works


def test_pose2d_files_truncated_of_another_layout_or_missing(pose2d_session, capsys):
    tmp, rig = pose2d_session
    good = (tmp / "pose2d" / "cam02.npz").read_bytes()
    (tmp / "pose2d" / "cam02.npz").write_bytes(good[: len(good) // 2])       # truncated
    _fails_naming(capsys, _triangulate(tmp), "cam02.npz")
    (tmp / "pose2d" / "cam02.npz").write_bytes(b"")                          # zero bytes
    _fails_naming(capsys, _triangulate(tmp), "cam02.npz")
    kp = np.zeros((30, 1, 5, 3))                                             # another layout: 5 joints
    io.save_pose2d(tmp / "pose2d" / "cam02.npz", kp, joint_names=[f"j{i}" for i in range(5)], image_size=rig[1].size,
                   detector="other")
    _fails_naming(capsys, _triangulate(tmp), "cam02.npz", "joint names")
    (tmp / "pose2d" / "cam02.npz").unlink()
    _fails_naming(capsys, _triangulate(tmp), "pose2d", "cam02")
    assert not (tmp / "points3d.npz").exists()
    (tmp / "pose2d" / "cam02.npz").write_bytes(good)                         # repaired: the re-run completes
    assert main(_triangulate(tmp)) == 0 and (tmp / "points3d.npz").is_file()


def test_points3d_damaged_for_export_view_and_overlay(pose2d_session, capsys):
    tmp, rig = pose2d_session
    assert main(_triangulate(tmp)) == 0
    good = (tmp / "points3d.npz").read_bytes()
    (tmp / "bad.npz").write_bytes(good[:100])
    for argv in (["export", "csv", str(tmp / "bad.npz"), "-o", str(tmp / "x.csv")],
                 ["overlay", str(tmp / "bad.npz"), "-c", str(tmp / "calibration.toml"), "-o", str(tmp / "ov")],
                 ["plot", str(tmp / "bad.npz"), "-o", str(tmp / "plots")]):
        _fails_naming(capsys, argv, "bad.npz")
    assert not (tmp / "x.csv").exists()


def _video(path, rig, n=8, size=None):
    cam = rig[0]
    crowd = make_crowd(1, n, seed=0, area_m=capture_area(rig, min_views=len(rig)))
    with VideoWriter(path, 30, size or cam.size) as w:
        for f in range(n):
            w.write(render_person(cam, crowd.points[0, f]))


def test_videos_zero_byte_truncated_or_corrupt_in_the_middle(tmp_path, capsys, blazepose_models):
    rig = make_rig(2, size=(320, 240))
    rig.save(tmp_path / "calibration.toml")
    session = tmp_path / "session"
    session.mkdir()
    _video(session / "cam01.avi", rig)                                        # MJPEG, as record writes
    (session / "cam02.avi").write_bytes(b"")
    err = _fails_naming(capsys, ["detect", str(session), "-o", str(tmp_path / "pose2d"), "--workers", "1"],
                        "cam02")
    assert "cannot open" in err
    assert io.load_pose2d(tmp_path / "pose2d" / "cam01.npz")["keypoints"].shape[0] == 8   # nothing lost
    good = (session / "cam01.avi").read_bytes()
    (session / "cam02.avi").write_bytes(good[: len(good) // 2])               # truncated: the frames there are kept
    assert main(["detect", str(session), "-o", str(tmp_path / "pose2d"), "--workers", "1"]) == 0
    n = io.load_pose2d(tmp_path / "pose2d" / "cam02.npz")["keypoints"].shape[0]
    assert 0 < n < 8
    middle = bytearray(good)
    middle[len(good) // 3: len(good) // 2] = bytes(len(good) // 2 - len(good) // 3)   # zeros in the middle
    (session / "cam02.avi").write_bytes(bytes(middle))
    shutil.rmtree(tmp_path / "pose2d")
    assert main(["detect", str(session), "-o", str(tmp_path / "pose2d"), "--workers", "1"]) == 0
    assert io.load_pose2d(tmp_path / "pose2d" / "cam02.npz")["keypoints"].shape[0] >= 1


def test_frames_csv_with_missing_and_duplicated_rows(tmp_path, capsys):
    from capture3d.sources import session_frame_map

    session = tmp_path / "s"
    (session / "videos").mkdir(parents=True)
    rows = ["camera,frame_index,device_frame_id,device_timestamp_ns,host_timestamp_ns"]
    for cam in ("cam01", "cam02"):
        for i in range(5):
            rows.append(f"{cam},{i},{i},{i * 1000},{i * 1000}")
    (session / "frames.csv").write_text("\n".join(rows + [rows[3]]) + "\n")      # a duplicated row
    (session / "session.toml").write_text('rig = "x"\n')
    for cam in ("cam01", "cam02"):
        (session / "videos" / f"{cam}.avi").write_bytes(b"")
    frame_map = session_frame_map(session)
    assert {k: v.tolist() for k, v in frame_map.items()} == {"cam01": [0, 1, 2, 3, 4], "cam02": [0, 1, 2, 3, 4]}
    (session / "frames.csv").write_text("\n".join(rows[:3] + rows[4:]) + "\n")   # cam01's frame 2 missing
    assert frame_map["cam01"].tolist() == session_frame_map(session)["cam01"].tolist()   # interpolated
    (session / "frames.csv").write_text(rows[0] + "\ncam01,zero,0,0,0\n")          # not a number
    with pytest.raises(ValueError, match=r"frames.csv: line 2"):
        session_frame_map(session)
    (session / "frames.csv").write_text("camera,frame_index\ncam01,0\n")           # other columns
    with pytest.raises(ValueError, match="frames.csv"):
        session_frame_map(session)


def test_board_files_with_impossible_sizes(tmp_path, capsys):
    for body, word in (('type = "charuco"\nsquares_x = 1\nsquares_y = 5\nsquare_length_m = 0.04\n'
                        'marker_length_m = 0.03\ndictionary = "DICT_4X4_50"\n', "squares"),
                       ('type = "charuco"\nsquares_x = 7\nsquares_y = 5\nsquare_length_m = 0.04\n'
                        'marker_length_m = 0.05\ndictionary = "DICT_4X4_50"\n', "marker"),
                       ('type = "checkerboard"\nsquares_x = 7\nsquares_y = 5\nsquare_length_m = -1\n', "square")):
        path = tmp_path / "board.toml"
        path.write_text(body)
        _fails_naming(capsys, ["calibrate", "intrinsics", "--board", str(path), str(tmp_path / "none.mp4"),
                               "-o", str(tmp_path / "i.toml")], "board.toml")
        assert not (tmp_path / "i.toml").exists()


def test_a_sync_toml_naming_an_unknown_camera(pose2d_session, capsys):
    tmp, rig = pose2d_session
    (tmp / "sync.toml").write_text('[metadata]\nmethod = "manual"\nreference = "cam01"\n'
                                   '[cameras.cam01]\nstart_s = 0.0\nfps = 30.0\nconfidence = 1.0\n'
                                   '[cameras.cam09]\nstart_s = 0.1\nfps = 30.0\nconfidence = 1.0\n')
    _fails_naming(capsys, _triangulate(tmp), "sync.toml", "cam09")
    assert not (tmp / "points3d.npz").exists()


@pytest.fixture
def small_session(tmp_path):
    """Two 320 x 240 cameras, 20 frames of one rendered person, and their calibration."""
    rig = make_rig(2, size=(320, 240))
    rig.save(tmp_path / "calibration.toml")
    crowd = make_crowd(1, 20, seed=0, area_m=capture_area(rig, min_views=2))
    for c, cam in enumerate(rig.cameras):
        with VideoWriter(tmp_path / "session" / f"{cam.name}.avi", 30, cam.size) as w:
            for f in range(20):
                w.write(render_person(cam, crowd.points[0, f]))
    return tmp_path


def _no_part_files(folder):
    return [p for p in folder.rglob("*") if ".part" in p.name]


def test_a_disk_that_fills_during_process(small_session, capsys, blazepose_models):
    import subprocess

    tmp = small_session
    full = tmp / "full"
    full.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(full)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        err = _fails_naming(capsys, ["process", str(tmp / "session"), "-c", str(tmp / "calibration.toml"),
                                     "-o", str(full / "out"), "--workers", "1"], "No space left")
        assert str(full) in err                                           # the file it could not write
        assert not _no_part_files(full)                                   # nothing half-written
        for f in (full / "out" / "pose2d").glob("*.npz"):                # what was written is whole
            io.load_pose2d(f)
    finally:
        subprocess.run(["umount", str(full)], check=True)
    assert main(["process", str(tmp / "session"), "-c", str(tmp / "calibration.toml"), "-o", str(tmp / "out"),
                 "--workers", "1"]) == 0                                  # the re-run with room completes
    assert (tmp / "out" / "points3d.npz").is_file()


def test_ctrl_c_during_process_and_calibrate(small_session, blazepose_models):
    import signal
    import subprocess
    import sys
    import time

    tmp = small_session
    out = tmp / "out"
    cmd = [sys.executable, "-m", "capture3d.cli", "process", str(tmp / "session"), "-c", str(tmp / "calibration.toml"),
           "-o", str(out), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp)
    deadline = time.monotonic() + 60
    while not (out / "pose2d").is_dir() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    if proc.returncode == 0:
        pytest.skip("process finished before the interrupt")             # (a fast machine)
    assert proc.returncode == 130 and stderr.strip().splitlines()[-1] == "capture3d: interrupted", stderr
    assert not _no_part_files(out)
    for f in (out / "pose2d").glob("*.npz"):
        io.load_pose2d(f)                                                 # kept files are whole
    assert main(["process", str(tmp / "session"), "-c", str(tmp / "calibration.toml"), "-o", str(out),
                 "--workers", "1"]) == 0                                  # the re-run completes
    # calibrate: interrupted while it works, no calibration file (an interrupt during start-up ends
    # Python by the signal itself: -2, which a shell reports as 130 too)
    from capture3d.calibrate.boards import Board
    Board(type="charuco", squares_x=7, squares_y=5, square_length_m=0.04, marker_length_m=0.03,
          dictionary="DICT_4X4_50").save(tmp / "board.toml")
    proc = subprocess.Popen([sys.executable, "-m", "capture3d.cli", "calibrate", "intrinsics", "--board",
                             str(tmp / "board.toml"), str(tmp / "session" / "cam01.avi"), "-o", str(tmp / "i.toml")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp)
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode in (1, 130, -signal.SIGINT) and not (tmp / "i.toml").exists()
