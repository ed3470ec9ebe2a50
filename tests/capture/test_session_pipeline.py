"""A session recorded from synthetic cameras goes through ``calibrate extrinsics`` and ``process``
unchanged, even with frames dropped by one camera (frames.csv keeps the instants together)."""
import json
from pathlib import Path

import numpy as np
import pytest

from capture3d import Rig, io
from capture3d.capture import SyntheticScene
from capture3d.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A board session (cam02 loses frames 20 and 21) and its calibration from the CLI."""
    tmp = tmp_path_factory.mktemp("recorded")
    text = (ROOT / "rigs" / "synthetic_4cam.toml").read_text()
    rig = tmp / "rig.toml"
    rig.write_text(text.replace('name = "cam02"\ndevice = 1\ntrigger = "secondary"\n',
                                'name = "cam02"\ndevice = 1\ntrigger = "secondary"\n'
                                '[cameras.options]\ndrop_frames = [20, 21]\n'))
    assert main(["record", str(rig), "-o", str(tmp / "board"), "--max-frames", "90"]) == 0
    assert main(["calibrate", "extrinsics", "--board", str(ROOT / "calibration/boards/demo_charuco.toml"),
                 str(tmp / "board"), "-o", str(tmp / "calibration.toml")]) == 0
    return tmp, rig


def test_a_recorded_board_session_calibrates(recorded):
    tmp, _ = recorded
    report = json.loads((tmp / "board" / "sync_report.json").read_text())
    assert report["cameras"]["cam02"]["dropped_device_frame_ids"] == [20, 21]
    cal = Rig.load(tmp / "calibration.toml")
    truth = SyntheticScene(4, kind="board", size=(1280, 720), seed=0).rig
    assert cal.names == truth.names
    assert cal_rms(tmp / "calibration.toml") < 0.5
    for c, t in zip(cal, truth):
        assert abs(c.matrix[0, 0] / t.matrix[0, 0] - 1) < 0.01
    d_cal = np.linalg.norm(cal.centers[:, None] - cal.centers[None], axis=2)
    d_true = np.linalg.norm(truth.centers[:, None] - truth.centers[None], axis=2)
    assert np.abs(d_cal - d_true).max() < 0.03          # meters, between camera centres


def cal_rms(path):
    import tomllib
    return tomllib.loads(Path(path).read_text())["metadata"]["reprojection_error_px"]


def test_a_recorded_person_session_goes_through_process(recorded, blazepose_models, capsys):
    tmp, rig = recorded
    assert main(["record", str(rig), "-o", str(tmp / "walk"), "--max-frames", "60", "--scene", "person"]) == 0
    assert main(["process", str(tmp / "walk"), "-c", str(tmp / "calibration.toml"), "-o", str(tmp / "out"),
                 "--workers", "2"]) == 0
    report = json.loads((tmp / "out" / "report.json").read_text())
    assert report["frames_with_person"] >= 0.8
    assert report["persons"] == 1                         # one person recorded: one person, no ghost track
    data = io.load_points3d(tmp / "out" / "points3d.npz")
    assert data["points"].shape[0] == 1
    data["points"] = data["points"][0]
    motion = SyntheticScene(4, kind="person", n_frames=60, size=(1280, 720), seed=0).motion
    # frame_index counts trigger pulses: cam02's lost frames leave no hole and no shift
    assert data["frame_index"][0] == 0 and data["frame_index"][-1] == 61
    truth = motion.points[data["frame_index"] % 60][:, :17]
    err = np.linalg.norm(data["points"][:, :17] - truth, axis=2)
    assert np.nanmedian(err) < 0.15      # meters: a crude mannequin, BlazePose, and a calibrated rig
    assert (tmp / "out" / "skeleton_p0.bvh").is_file()
    # the 3D-guided crops read each video at the frames frames.csv gives: cam02's detections of
    # session frames 40-45 taken away (its video frames 38-43, after the 2 it lost) are found again
    import shutil
    shutil.copytree(tmp / "out" / "pose2d", tmp / "guided" / "pose2d")
    d = io.load_pose2d(tmp / "guided" / "pose2d" / "cam02.npz")
    kp = d["keypoints"].copy()
    kp[np.isin(d["frame_index"], np.arange(38, 44))] = np.nan
    io.save_pose2d(tmp / "guided" / "pose2d" / "cam02.npz", kp, joint_names=d["joint_names"],
                   image_size=tuple(d["image_size"]), detector=str(d["detector"]), frame_index=d["frame_index"])
    capsys.readouterr()
    assert main(["process", str(tmp / "walk"), "-c", str(tmp / "calibration.toml"), "-o", str(tmp / "guided"),
                 "--guided-crops"]) == 0
    out = capsys.readouterr().out
    assert "3D-guided crops: cam01" in out and "skipped" not in out, out
    crops = json.loads((tmp / "guided" / "report.json").read_text())["steps"]["guided_crops"]
    assert crops["cam02"]["tried"] >= 6 and crops["cam02"]["found"] >= 5, crops
