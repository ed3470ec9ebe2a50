"""What a new user meets first on the command line: ``detect`` then ``triangulate`` finds the people
``process`` finds, ``-v`` after the command, ``triangulate``'s frame rate and output folder, and bad
input that costs nothing (no traceback, no empty output folder, one line)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from capture3d import io
from capture3d.cli import build_parser, main
from capture3d.synthetic import capture_area, make_crowd, make_rig, observe_crowd

ROOT = Path(__file__).resolve().parents[2]


def _two_people_pose2d(tmp_path, *, fps):
    rig = make_rig(3)
    rig.save(tmp_path / "calibration.toml")
    crowd = make_crowd(2, 30, fps=60, seed=4, area_m=capture_area(rig, min_views=3))
    observe_crowd(crowd, rig, seed=5, ghosts=0.0).save_pose2d(tmp_path / "pose2d", fps=fps)
    return tmp_path / "pose2d", tmp_path / "calibration.toml"


def test_detect_follows_as_many_people_per_view_as_process(monkeypatch, tmp_path):
    """With one slot, ``detect`` then ``triangulate`` found 1 of the 2 people of
    pose2sim_multiperson, where ``process`` found both."""
    import capture3d.detect.batch as batch
    import capture3d.sources as sources
    from capture3d.process import ProcessOptions

    seen = []
    monkeypatch.setattr(sources, "session_videos", lambda session: {"cam01": tmp_path / "cam01.mp4"})
    monkeypatch.setattr(batch, "detect_session", lambda videos, out, options, **kw: seen.append(options) or {})
    assert main(["detect", str(tmp_path), "-o", str(tmp_path / "pose2d")]) == 0
    assert main(["detect", str(tmp_path), "-o", str(tmp_path / "pose2d"), "--persons", "2"]) == 0
    assert main(["detect", str(tmp_path), "-o", str(tmp_path / "pose2d"), "--persons", "5"]) == 0
    # --persons N as process reads it: N + 1 slots, at least process's
    assert [o.max_persons for o in seen] == [ProcessOptions().detect.max_persons, 4, 6] == [4, 4, 6]


@pytest.mark.parametrize("argv", [["export", "bvh", "x.npz", "-o", "x.bvh", "-v"],
                                  ["-v", "export", "bvh", "x.npz", "-o", "x.bvh"],
                                  ["calibrate", "convert", "a.toml", "-o", "b.toml", "--verbose"]])
def test_verbose_goes_before_or_after_the_command(argv):
    assert build_parser().parse_args(argv).verbose is True
    assert build_parser().parse_args([a for a in argv if a not in ("-v", "--verbose")]).verbose is False


def test_triangulate_takes_the_frame_rate_the_pose2d_files_recorded(tmp_path, capsys):
    pose2d, calibration = _two_people_pose2d(tmp_path / "a", fps=60.0)
    assert main(["triangulate", str(pose2d), "-c", str(calibration), "-o", str(tmp_path / "a" / "p.npz")]) == 0
    assert "fps assumed" not in capsys.readouterr().out
    assert np.diff(io.load_points3d(tmp_path / "a" / "p.npz")["time_s"]) == pytest.approx(1 / 60)
    # files that do not record it (imported, or detected before they did): 30 fps, and it says so
    pose2d, calibration = _two_people_pose2d(tmp_path / "b", fps=None)
    assert main(["triangulate", str(pose2d), "-c", str(calibration), "-o", str(tmp_path / "b" / "p.npz")]) == 0
    assert "frame rate: 30 fps assumed" in capsys.readouterr().out
    assert np.diff(io.load_points3d(tmp_path / "b" / "p.npz")["time_s"]) == pytest.approx(1 / 30)
    assert main(["triangulate", str(pose2d), "-c", str(calibration), "-o", str(tmp_path / "b" / "q.npz"),
                 "--fps", "50"]) == 0
    assert np.diff(io.load_points3d(tmp_path / "b" / "q.npz")["time_s"]) == pytest.approx(1 / 50)
    for bad in ("0", "-60", "nan"):      # 0 divided by zero in the tracking, a 40-line traceback
        with pytest.raises(SystemExit) as exit_:
            main(["triangulate", str(pose2d), "-c", str(calibration), "--fps", bad])
        assert exit_.value.code == 2 and "--fps: must be > 0" in capsys.readouterr().err


def test_triangulate_writes_into_a_folder_given_as_output(tmp_path, capsys):
    pose2d, calibration = _two_people_pose2d(tmp_path, fps=60.0)
    (tmp_path / "existing").mkdir()
    for out, written in ((tmp_path / "existing", tmp_path / "existing" / "points3d.npz"),
                         (f"{tmp_path / 'new'}/", tmp_path / "new" / "points3d.npz")):
        assert main(["triangulate", str(pose2d), "-c", str(calibration), "-o", str(out)]) == 0
        assert f"wrote {written}" in capsys.readouterr().out
        assert io.load_points3d(written)["points"].shape[:2] == (2, 30)


def test_triangulate_names_a_pose2d_folder_that_is_not_there(tmp_path, capsys):
    _, calibration = _two_people_pose2d(tmp_path, fps=60.0)
    assert main(["triangulate", str(tmp_path / "nowhere"), "-c", str(calibration)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere: no such folder of pose2d files" in err[0]


def test_bad_input_leaves_no_empty_output_folder(tmp_path, capsys):
    session = tmp_path / "session"
    session.mkdir()
    (session / "cam01.mp4").write_bytes(b"not a video")
    (tmp_path / "garbage.toml").write_text("[[[ not toml")
    assert main(["process", str(session), "-c", str(tmp_path / "garbage.toml"), "-o", str(tmp_path / "out")]) == 1
    assert "garbage.toml" in capsys.readouterr().err and not (tmp_path / "out").exists()
    # an unknown detector: said once (it was once per camera), before any folder is made
    assert main(["detect", str(session), "-o", str(tmp_path / "pose2d"), "--detector", "nosuch"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["capture3d: error: unknown detector 'nosuch'; available: blazepose"]
    assert not (tmp_path / "pose2d").exists()


def test_a_garbage_opencv_calibration_gets_one_line(tmp_path, capsys):
    """OpenCV 4.14's FileStorage raises SystemError around its cv2.error: that was a 32-line traceback."""
    folder = tmp_path / "easymocap"
    folder.mkdir()
    for name in ("intri.yml", "extri.yml"):
        (folder / name).write_text("garbage: [unclosed\n%% nonsense {{{\n")
    assert main(["calibrate", "convert", str(folder), "-o", str(tmp_path / "c.toml")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "intri.yml: not an OpenCV XML/YAML file" in err[0]


@pytest.mark.skipif(bool(list(Path("/dev").glob("video*"))), reason="a webcam is plugged in: it would be found")
def test_absent_webcams_get_the_command_s_lines_only_and_opencv_s_with_v(tmp_path):
    """OpenCV probing a webcam that is not there wrote ~120 lines of ``[ WARN:0] VIDEOIO(V4L2...)``."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENCV_LOG_LEVEL", "CAPTURE3D_VERBOSE")}
    rig = ROOT / "rigs" / "usb_webcams.toml"

    def run(*flags):
        return subprocess.run([sys.executable, "-m", "capture3d.cli", *flags, "rig", "check", str(rig)],
                              capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)

    quiet, loud = run(), run("-v")
    assert quiet.returncode == loud.returncode == 1
    assert quiet.stderr.strip().splitlines() == ["capture3d: error: " + str(rig) + ": 3 of 3 cameras not ready: "
                                                 "left, centre, right"]
    assert "VIDEOIO" in loud.stderr


def test_a_calibration_without_poses_is_refused_naming_it(tmp_path, capsys):
    """An intrinsics file given as the calibration ran to "people: nobody" with exit 0; a camera
    with a translation but no rotation was silently unrotated."""
    from capture3d import Rig

    pose2d, calibration = _two_people_pose2d(tmp_path, fps=60.0)
    rig = Rig.load(calibration)
    Rig([c.with_pose(np.zeros(3), np.zeros(3)) for c in rig], {"kind": "intrinsics only"}).save(tmp_path / "intr.toml")
    assert main(["triangulate", str(pose2d), "-c", str(tmp_path / "intr.toml"), "-o", str(tmp_path / "p.npz")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "intr.toml: holds intrinsics only" in err[0] and not (tmp_path / "p.npz").exists()
    text = calibration.read_text()
    start = text.index("rotation = [")
    (tmp_path / "norot.toml").write_text(text[:start] + text[text.index("]", start) + 1:])
    assert main(["triangulate", str(pose2d), "-c", str(tmp_path / "norot.toml")]) == 1
    assert "norot.toml, camera 'cam_00', key 'rotation': has a translation but no rotation" in capsys.readouterr().err


@pytest.mark.parametrize("argv,flag", [
    (["record", "rigs/synthetic_4cam.toml", "-o", "s", "--duration", "0"], "--duration"),   # recorded 1 frame
    (["record", "rigs/synthetic_4cam.toml", "-o", "s", "--duration", "-1"], "--duration"),
    (["detect", "S", "--workers", "0"], "--workers"),
    (["detect", "S", "--every", "0"], "--every"),
    (["process", "S", "-c", "c.toml", "-o", "o", "--persons", "0"], "--persons"),
    (["triangulate", "p", "-c", "c.toml", "--despike", "-1"], "--despike"),   # made every point NaN
])
def test_numbers_that_mean_nothing_are_refused_by_the_parser(argv, flag, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2 and f"argument {flag}: must be" in capsys.readouterr().err


def test_batch_persons_means_what_process_persons_means(tmp_path, monkeypatch):
    """``batch --persons N`` set the detector's slots; ``process --persons N`` keeps N people."""
    import capture3d.batch as batch

    seen = []

    def fake_run_batch(root, out, options, *, calibration=None):
        seen.append(options.process)
        return batch.BatchResult([], tmp_path / "summary.csv", None, 0.0)

    monkeypatch.setattr(batch, "run_batch", fake_run_batch)
    for extra in ([], ["--persons", "2"], ["--persons", "6"]):
        assert main(["batch", str(tmp_path), "-o", str(tmp_path / "o"), "--serial", *extra]) == 0
    assert [(p.people.max_persons, p.detect.max_persons) for p in seen] == [(None, 4), (2, 4), (6, 7)]


def test_outputs_of_a_type_capture3d_cannot_write_are_named_with_what_it_can(tmp_path, capsys):
    pose2d, calibration = _two_people_pose2d(tmp_path, fps=60.0)
    assert main(["calibrate", "convert", str(calibration), "-o", str(tmp_path / "c.json")]) == 1
    assert "c.json: cannot tell the calibration format from the name: give a .toml name, or a folder and " \
           "--format" in capsys.readouterr().err           # it said "pass format=", a Python keyword
    assert main(["triangulate", str(pose2d), "-c", str(calibration), "-o", str(tmp_path / "p.npz")]) == 0
    capsys.readouterr()
    assert main(["view", str(tmp_path / "p.npz"), "--render", str(tmp_path / "x.gif")]) == 1
    assert "x.gif: cannot render to this type; use .png (one frame) or a video" in capsys.readouterr().err


@pytest.mark.parametrize("argv,said", [
    (["process", "S", "-c", "c.toml", "-o", "o", "--single", "--persons", "2"], "--single follows one person"),
    (["triangulate", "p", "-c", "c.toml", "--single", "--persons", "2"], "--single follows one person"),
    (["record", "rigs/synthetic_4cam.toml", "-o", "s", "--live-video"], "--live-video records what --live-3d"),
    (["record", "rigs/synthetic_4cam.toml", "-o", "s", "--scene", "board", "--people", "3"], "with nobody in it"),
    (["record", "rigs/usb_webcams.toml", "-o", "s", "--scene", "person"], "are for synthetic rigs"),
])
def test_flags_that_would_be_ignored_are_refused_before_any_work(argv, said, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = [str(ROOT / a) if a.startswith("rigs/") else a for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and said in err[0] and not (tmp_path / "s").exists() and not (tmp_path / "o").exists()


def test_require_poses_refuses_cameras_at_one_place_and_keeps_real_rigs(tmp_path):
    from capture3d import Rig
    from capture3d.errors import FileFormatError
    from capture3d.process import require_poses

    rig = make_rig(2)                                         # two cameras are a rig
    assert require_poses(rig, "c.toml") is rig
    centre = rig[0].center
    for gap, placed in ((0.05, True), (0.0004, False)):      # centres 5 cm apart: placed; 0.4 mm: not
        moved = Rig([c.with_pose(c.rvec, -c.rotation @ (centre + [gap * i, 0, 0])) for i, c in enumerate(rig)])
        assert np.ptp(moved.centers, axis=0).max() == pytest.approx(gap)
        if placed:
            require_poses(moved, "c.toml")
        else:
            with pytest.raises(FileFormatError, match="c.toml: holds intrinsics only"):
                require_poses(moved, "c.toml")


def test_triangulate_says_which_pose2d_files_lack_the_frame_rate_and_refuses_a_bad_one(tmp_path, capsys):
    pose2d, calibration = _two_people_pose2d(tmp_path, fps=60.0)
    name = sorted(p.stem for p in pose2d.glob("*.npz"))[0]       # the first camera
    first = io.load_pose2d(pose2d / f"{name}.npz")
    kw = dict(joint_names=first["joint_names"], image_size=first["image_size"], detector=first["detector"],
              frame_index=first["frame_index"])
    io.save_pose2d(pose2d / f"{name}.npz", first["keypoints"], **kw)                 # this one records none
    assert main(["triangulate", str(pose2d), "-c", str(calibration), "-o", str(tmp_path / "p.npz")]) == 0
    assert f"{name} none" in capsys.readouterr().out
    assert np.diff(io.load_points3d(tmp_path / "p.npz")["time_s"]) == pytest.approx(1 / 60)
    np.savez(pose2d / f"{name}.npz", keypoints=first["keypoints"], fps=np.float64("nan"), **kw)
    assert main(["triangulate", str(pose2d), "-c", str(calibration), "-o", str(tmp_path / "q.npz")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{name}.npz, key 'fps': fps must be one number > 0" in err[0]


def test_triangulate_shows_a_warning_its_passes_repeat_once(tmp_path, monkeypatch, caplog):
    """With --view-offsets the people are reconstructed twice; a warning both passes give is shown once."""
    import logging

    import capture3d.process as process

    real, calls = process.reconstruct_people, []

    def noisy(*args, **kwargs):
        calls.append(1)
        logging.getLogger("capture3d.test_once").warning("the same warning every pass")
        return real(*args, **kwargs)

    monkeypatch.setattr(process, "reconstruct_people", noisy)
    pose2d, calibration = _two_people_pose2d(tmp_path, fps=60.0)
    with caplog.at_level("WARNING"):
        assert main(["triangulate", str(pose2d), "-c", str(calibration), "-o", str(tmp_path / "p.npz"),
                     "--view-offsets"]) == 0
    assert len(calls) >= 2
    assert [r.getMessage() for r in caplog.records].count("the same warning every pass") == 1


def test_an_os_error_reads_path_then_problem(tmp_path, capsys):
    """Python's own text was "[Errno 20] Not a directory: 'notvideo.mp4/out'"."""
    (tmp_path / "file.txt").write_text("a file, not a folder")
    pose2d, calibration = _two_people_pose2d(tmp_path / "c", fps=60.0)
    assert main(["triangulate", str(pose2d), "-c", str(calibration), "-o", str(tmp_path / "file.txt" / "p.npz")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"capture3d: error: {tmp_path / 'file.txt'}: {tmp_path / 'file.txt'} is a file, where a folder "
                   "is needed"]
    assert main(["triangulate", str(pose2d), "-c", str(calibration), "-o", str(tmp_path / "p.npz")]) == 0
    capsys.readouterr()
    assert main(["export", "csv", str(tmp_path / "p.npz"), "-o", str(tmp_path / "file.txt" / "x.csv")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"capture3d: error: cannot write {tmp_path / 'file.txt'}") \
        and "Errno" not in err[0], err
