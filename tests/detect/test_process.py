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
    # measured on these 30 frames: the two people in the middle in every frame, 7-13 px
    assert report["frames"] == 30 and report["persons"] == 2 and report["frames_with_person"] >= 0.9
    for person in report["people"]:
        assert person["frames_with_person"] >= 0.95
        assert 1.0 < person["median_reprojection_error_px"] < 16.0
        assert person["bone_length_cv_median"] < 0.1
    assert report["frames_with_all_17_joints"] >= 0.5
    assert set(report["camera_reprojection_error_px"]) == {"cam01", "cam02", "cam03", "cam04"}
    data = io.load_points3d(out / "points3d.npz")
    assert data["points"].shape == (2, 30, 21, 3) and data["person_id"].tolist() == [0, 1]
    height = np.nanmax(data["points"][..., 2], axis=-1) - np.nanmin(data["points"][..., 2], axis=-1)
    assert (1.0 < np.nanmedian(height, axis=1)).all() and (np.nanmedian(height, axis=1) < 2.1).all()
    pelvis = np.nanmean(data["points"][:, :, 11:13], axis=2)                  # (P, F, 3)
    assert np.linalg.norm(pelvis[0] - pelvis[1], axis=-1).min() > 0.3        # two people, not one twice
    for fmt in ("csv", "trc", "bvh"):
        for pid in (0, 1):
            assert (out / f"skeleton_p{pid}.{fmt}").stat().st_size > 0
    assert (out / "skeleton.c3d").stat().st_size > 0
    assert set(report["seconds"]) == {"detect", "read", "associate", "triangulate", "filter", "view_offsets", "export"}
    temporal = report["steps"]["temporal_views"]     # process: the temporal pass on refused points only
    assert temporal["used"] and temporal["refused_only"] and temporal["points_lost"] == 0
    suspect = report["steps"]["suspect_views"]
    assert suspect["used"] and suspect["points_judged"] >= suspect["points_redone"] >= suspect["points_gained"] >= 0
    out = capsys.readouterr().out
    assert "p0:" in out and "p1:" in out and "per camera" in out


def test_process_single_keeps_one_person(shared_data, blazepose_models, tmp_path, capsys):
    folder = shared_data / "pose2sim_multiperson"
    out = tmp_path / "out"
    code = main(["process", str(folder / "videos"), "-c", str(folder / "Calib.qca.txt"), "-o", str(out),
                 "--max-frames", "10", "--workers", "2", "--single", "--export", "csv"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["persons"] == 1 and report["mode"] == "single"
    assert io.load_points3d(out / "points3d.npz")["points"].shape == (10, 21, 3)
    assert (out / "skeleton.csv").stat().st_size > 0


def test_process_flip_detects_again_and_takes_it_where_the_other_views_agree_better(shared_data, blazepose_models,
                                                                                  tmp_path, capsys):
    folder = shared_data / "pose2sim_multiperson"
    out = tmp_path / "out"
    code = main(["process", str(folder / "videos"), "-c", str(folder / "Calib.qca.txt"), "-o", str(out),
                 "--max-frames", "12", "--workers", "2", "--flip", "--export", "csv"])
    assert code == 0, capsys.readouterr().err
    for cam in ("cam01", "cam02", "cam03", "cam04"):
        plain = io.load_pose2d(out / "pose2d" / f"{cam}.npz")
        flipped = io.load_pose2d(out / "pose2d_flip" / f"{cam}.npz")
        assert "'flip': True" in flipped["detector"] and "flip" not in plain["detector"]
        # the same crops (presence and tracking from the crop alone): the same slots, points a few px apart
        a, b = plain["keypoints"], flipped["keypoints"]
        assert np.array_equal(np.isfinite(a[..., 0]), np.isfinite(b[..., 0]))
        assert 0.0 < np.nanmedian(np.linalg.norm(a[..., :2] - b[..., :2], axis=-1)) < 15.0
    report = json.loads((out / "report.json").read_text())
    judged = report["steps"]["flip_views_judged"]
    assert len(judged) >= 4 and {"detect_flip", "flip_judged"} <= set(report["seconds"])
    for j in judged:   # taken exactly where the view, held out, agrees better with it
        assert j["chosen"] == (j["alternative_px"] < j["held_out_px"])
    assert "flip averaging, judged per person-view" in capsys.readouterr().out


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


def test_video_positions_follow_frames_csv_and_sync_toml():
    """Where the guided crops read each camera's video: the row's own frame; with a frames.csv the
    video frame recorded with that session frame (none for a lost one); with a sync.toml the
    position on the camera's own clock, between frames when it shares no clock."""
    from capture3d.process import video_positions
    from capture3d.sync import CameraClock, SyncResult

    frames = np.arange(6)
    assert video_positions(["a", "b"], frames, frames / 30.0) is frames
    lost = {"a": np.arange(6), "b": np.array([0, 1, 4, 5])}          # b lost session frames 2 and 3
    got = video_positions(["a", "b"], frames, frames / 30.0, frame_map=lost)
    assert got["a"].tolist() == [0, 1, 2, 3, 4, 5]
    assert np.array_equal(got["b"], [0, 1, np.nan, np.nan, 2, 3], equal_nan=True)
    sync = SyncResult("manual", "a", {"a": CameraClock(0.0, 30.0), "b": CameraClock(0.1 + 0.25 / 30, 30.0)})
    got = video_positions(["a", "b"], frames, frames / 30.0, sync=sync)
    assert np.allclose(got["a"], frames) and np.allclose(got["b"], frames - 3.25)
