"""`capture3d process` on real people (pose2sim_multiperson), and its bad-input messages."""
import json
import shutil

import numpy as np
import pytest

from capture3d import io
from capture3d.cli import main


def test_process_reconstructs_a_person_from_real_videos(shared_data, blazepose_models, tmp_path, capsys):
    folder = shared_data / "pose2sim_multiperson"
    out = tmp_path / "out"
    code = main(["process", str(folder / "videos"), "-c", str(folder / "Calib.qca.txt"), "-o", str(out),
                 "--max-frames", "30", "--workers", "2"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    # measured on these 30 frames: a person in every frame, 80 % with all 17 joints, 7.5 px
    assert report["frames"] == 30 and report["frames_with_person"] >= 0.9
    assert report["frames_with_all_17_joints"] >= 0.5
    assert 1.0 < report["median_reprojection_error_px"] < 15.0
    assert np.nanmedian(list(report["bone_length_cv"].values())) < 0.1
    data = io.load_points3d(out / "points3d.npz")
    assert data["points"].shape == (30, 21, 3)
    height = np.nanmax(data["points"][..., 2], axis=1) - np.nanmin(data["points"][..., 2], axis=1)
    assert 1.0 < np.nanmedian(height) < 2.1      # nose to ankle of a standing person, meters (measured 1.27)
    for fmt in ("csv", "trc", "c3d", "bvh"):
        assert (out / f"skeleton.{fmt}").stat().st_size > 0
    assert set(report["seconds"]) == {"detect", "associate", "triangulate", "filter", "export"}


def test_cameras_the_calibration_does_not_know_are_named(shared_data, tmp_path, capsys):
    folder = shared_data / "pose2sim_multiperson"
    session = tmp_path / "session"
    session.mkdir()
    for name in ("cam01", "cam02"):
        shutil.copy(folder / "videos" / f"{name}.mp4", session / f"{name}.mp4")
    shutil.copy(folder / "videos" / "cam03.mp4", session / "side.mp4")
    assert main(["process", str(session), "-c", str(folder / "Calib.qca.txt"), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "Calib.qca.txt" in err and "['side']" in err and err.count("\n") == 1


def test_detect_on_an_unreadable_video_keeps_the_other_cameras(shared_data, blazepose_models, tmp_path, capsys):
    folder = shared_data / "pose2sim_multiperson"
    session = tmp_path / "session"
    session.mkdir()
    shutil.copy(folder / "videos" / "cam01.mp4", session / "cam01.mp4")
    (session / "cam02.mp4").write_bytes(b"\x00" * 1000)
    assert main(["detect", str(session), "-o", str(tmp_path / "pose2d"), "--max-frames", "3"]) == 1
    err = capsys.readouterr().err
    assert "cam02" in err and "cannot open this video" in err
    assert io.load_pose2d(tmp_path / "pose2d" / "cam01.npz")["keypoints"].shape[0] == 3
