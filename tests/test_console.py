"""Without -v a command prints only its own lines: third-party start-up chatter written from C
(Open3D's GLFW / EGL lines and libwayland's XDG_RUNTIME_DIR error, TFLite's XNNPACK line once
per worker) stays out of stdout and stderr; with -v it is shown."""
import os
import subprocess
import sys

import numpy as np
import pytest

from capture3d import console, io, synthetic
from capture3d.video import VideoWriter

CHATTER = ("Open3D", "XDG_RUNTIME_DIR", "GLFW", "EGL", "TensorFlow Lite", "XNNPACK", "sha256")


def _run(*args, cwd, code=0):
    """The command in a fresh process, as a user starts it; it must exit with ``code``."""
    unset = ("XDG_RUNTIME_DIR", "DISPLAY", console.VERBOSE_ENV, "OPENCV_FFMPEG_LOGLEVEL")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    run = subprocess.run([sys.executable, "-m", "capture3d.cli", *args], capture_output=True, text=True,
                         cwd=cwd, env=env, timeout=300)
    assert run.returncode == code, run.stderr
    return run.stdout, run.stderr


def test_captured_output_takes_c_level_writes_to_the_descriptors_unless_verbose(capfd, monkeypatch):
    monkeypatch.setenv(console.VERBOSE_ENV, "0")
    with console.captured_output() as said:
        os.write(1, b"from C on fd 1\n")
        os.write(2, b"from C on fd 2\n")
    print("ours", flush=True)
    out, err = capfd.readouterr()
    assert (out, err) == ("ours\n", "") and said == ["from C on fd 1\nfrom C on fd 2\n"]
    monkeypatch.setenv(console.VERBOSE_ENV, "1")
    with console.captured_output(fds=(2,)) as said:
        os.write(2, b"shown\n")
    assert capfd.readouterr().err == "shown\n" and said == []


def test_view_render_prints_only_its_own_line_and_the_chatter_with_v(tmp_path):
    pytest.importorskip("open3d")
    motion = synthetic.make_motion(4, fps=30.0, seed=0)
    io.save_points3d(tmp_path / "p.npz", motion.points, joint_names=motion.joint_names)
    out, err = _run("view", "p.npz", "--render", "x.png", cwd=tmp_path)
    assert (out, err) == ("wrote x.png\n", "")           # before: 3 Open3D lines + 1 on stderr
    assert (tmp_path / "x.png").is_file()
    out, err = _run("-v", "view", "p.npz", "--render", "y.png", cwd=tmp_path)
    assert "[Open3D INFO]" in out and out.endswith("wrote y.png\n")


def test_detect_prints_only_its_own_lines(tmp_path, blazepose_models):
    motion = synthetic.make_motion(3, fps=30.0, seed=0)
    cam = synthetic.make_rig(2, size=(160, 120), seed=0)
    (tmp_path / "s" / "videos").mkdir(parents=True)
    for c in cam:
        with VideoWriter(tmp_path / "s" / "videos" / f"{c.name}.avi", 30.0, (160, 120)) as w:
            for k in range(3):
                w.write(synthetic.render_person(c, motion.points[k]))
    out, err = _run("detect", "s", "-o", "pose2d", "--workers", "2", cwd=tmp_path)
    assert err == "" and out.splitlines() == [f"{c.name}: pose2d/{c.name}.npz" for c in cam]
    assert not any(word in out + err for word in CHATTER)  # before: the XNNPACK line once per worker


def test_a_warning_repeated_by_a_later_pass_is_shown_once(monkeypatch, caplog):
    """Inside one ``warnings_once`` block (one reconstruct_session, one triangulate_folder) a
    plain warning repeated word for word is shown once; errors, warnings with a traceback and a
    later block are not held back, and with -v nothing is."""
    import logging

    log = logging.getLogger("capture3d.test_once")

    def run():
        for _ in range(3):
            log.warning("view offsets: cameras %s: fewer than 100 held-out points", ["cam04"])
        log.warning("another camera: %s", "cam03")
        log.error("failed twice")
        log.error("failed twice")
        try:
            raise ValueError("boom")
        except ValueError:
            log.warning("detect failed", exc_info=True)
            log.warning("detect failed", exc_info=True)

    monkeypatch.setenv(console.VERBOSE_ENV, "0")
    for block in range(2):      # a fresh filter per block: the second block shows them all again
        caplog.clear()
        with caplog.at_level("WARNING", logger="capture3d.test_once"), console.warnings_once():
            run()
        said = [r.getMessage() for r in caplog.records]
        assert said == ["view offsets: cameras ['cam04']: fewer than 100 held-out points", "another camera: cam03",
                        "failed twice", "failed twice", "detect failed", "detect failed"], block
    assert not any(isinstance(f, console.OnceFilter) for h in logging.getLogger().handlers for f in h.filters)
    monkeypatch.setenv(console.VERBOSE_ENV, "1")
    caplog.clear()
    with caplog.at_level("WARNING", logger="capture3d.test_once"), console.warnings_once():
        run()
    assert len(caplog.records) == 8


def test_a_damaged_video_gets_one_line_and_ffmpeg_speaks_only_with_v(tmp_path, blazepose_models):
    """A cut-off MP4 made FFmpeg print "moov atom not found" and detection log the failure before
    the command's own error line: three lines for one problem. Now the one line, naming the file."""
    (tmp_path / "s").mkdir()
    with VideoWriter(tmp_path / "s" / "camA.avi", 30.0, (160, 120)) as w:
        w.write(np.zeros((120, 160, 3), np.uint8))
    (tmp_path / "s" / "camB.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200)   # no moov atom
    _, err = _run("detect", "s", "-o", "pose2d", "--workers", "1", cwd=tmp_path, code=1)
    assert err.count("\n") == 1 and err.startswith("capture3d: error: 1 of 2 cameras failed")
    assert "camB.mp4: cannot open this video" in err
    _, err = _run("-v", "detect", "s", "-o", "pose2d", "--workers", "1", cwd=tmp_path, code=1)
    assert "moov atom not found" in err                  # the switch is what silenced it
    assert (tmp_path / "pose2d" / "camA.npz").is_file()   # the good camera is kept


def test_the_quieting_is_taken_back_by_a_verbose_run_and_never_touches_the_user_s_values(monkeypatch):
    """``main`` quiets FFmpeg and OpenCV for its process; a later ``main(["-v", ...])`` in the same
    process (a notebook, these tests) gets their lines back, and a level the user set stays."""
    import cv2

    for name in ("OPENCV_FFMPEG_LOGLEVEL", "OPENCV_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(console.VERBOSE_ENV, "0")
    console.quiet_native_logs()
    assert os.environ["OPENCV_LOG_LEVEL"] == "FATAL" and os.environ["OPENCV_FFMPEG_LOGLEVEL"] == "-8"
    assert cv2.utils.logging.getLogLevel() == cv2.utils.logging.LOG_LEVEL_FATAL
    monkeypatch.setenv(console.VERBOSE_ENV, "1")
    console.quiet_native_logs()
    assert "OPENCV_LOG_LEVEL" not in os.environ and "OPENCV_FFMPEG_LOGLEVEL" not in os.environ
    assert cv2.utils.logging.getLogLevel() == cv2.utils.logging.LOG_LEVEL_WARNING
    monkeypatch.setenv("OPENCV_FFMPEG_LOGLEVEL", "24")          # the user's: kept, quiet or not
    for verbose in ("0", "1"):
        monkeypatch.setenv(console.VERBOSE_ENV, verbose)
        console.quiet_native_logs()
        assert os.environ["OPENCV_FFMPEG_LOGLEVEL"] == "24"
