"""OpenPose per-frame JSON: our BODY_25 writer, the reader for every layout, and the CLI."""
import json

import numpy as np
import pytest

from capture3d import io
from capture3d.cli import main
from capture3d.errors import FileFormatError
from capture3d.formats.openpose_json import read_openpose_json, write_openpose_json
from capture3d.skeleton import COCO17, FEET


def _keypoints(frames=3, persons=2, seed=0):
    rng = np.random.default_rng(seed)
    kp = np.concatenate([rng.uniform(10, 500, (frames, persons, 21, 2)),
                         rng.uniform(0.3, 1.0, (frames, persons, 21, 1))], axis=-1)
    kp[1, 1] = np.nan              # nobody in the second slot of frame 1
    kp[2, 0, 3] = np.nan           # one joint missing
    return kp


def test_body25_round_trip_keeps_every_canonical_joint(tmp_path):
    names = COCO17 + FEET
    kp = _keypoints()
    write_openpose_json(tmp_path, kp, names, stem="cam01", frame_index=[10, 11, 12])
    first = json.loads((tmp_path / "cam01_000000000010_keypoints.json").read_text())
    body = np.array(first["people"][0]["pose_keypoints_2d"]).reshape(25, 3)
    # BODY_25's neck is the shoulders' mid-point; its heels are ours
    assert np.allclose(body[1, :2], (kp[0, 0, 5, :2] + kp[0, 0, 6, :2]) / 2, atol=1e-3)
    assert np.allclose(body[21], kp[0, 0, 17], atol=1e-3)
    assert np.all(body[20] == 0)                       # small toe: we have none, OpenPose writes zeros
    back, frames, back_names = read_openpose_json(tmp_path)
    assert back_names == names and frames.tolist() == [10, 11, 12]
    assert np.allclose(back[0], kp[0], atol=1e-3)
    assert np.isnan(back[1, 1]).all() and np.isnan(back[2, 0, 3]).all()


def test_coco17_files_from_other_tools_are_read_and_bad_files_named(tmp_path):
    person = np.arange(17 * 3, dtype=float) + 1
    (tmp_path / "v_000000000000_keypoints.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": person.tolist()}]}))
    kp, frames, names = read_openpose_json(tmp_path)
    assert names == COCO17 and kp.shape == (1, 1, 17, 3) and kp[0, 0, 1, 0] == 4.0
    (tmp_path / "v_000000000001_keypoints.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": [1, 2, 3]}]}))
    with pytest.raises(FileFormatError, match="v_000000000001_keypoints.json: 1 joints where earlier files have 17"):
        read_openpose_json(tmp_path)
    (tmp_path / "v_000000000001_keypoints.json").write_text("{")
    with pytest.raises(FileFormatError, match="v_000000000001_keypoints.json: not OpenPose JSON"):
        read_openpose_json(tmp_path)
    with pytest.raises(FileFormatError, match="no \\*_keypoints.json"):
        read_openpose_json(tmp_path / "nothing")


def test_cli_exports_and_imports(tmp_path):
    names = COCO17 + FEET
    io.save_pose2d(tmp_path / "cam01.npz", _keypoints(), joint_names=names, image_size=(640, 480), detector="x")
    assert main(["openpose", "export", str(tmp_path / "cam01.npz"), "-o", str(tmp_path / "json" / "cam01")]) == 0
    assert main(["openpose", "import", str(tmp_path / "json" / "cam01"), "-o", str(tmp_path / "pose2d"),
                 "--image-size", "640", "480"]) == 0
    back = io.load_pose2d(tmp_path / "pose2d" / "cam01.npz")
    assert back["joint_names"] == list(names) and back["detector"] == "openpose-json"
    assert np.allclose(back["keypoints"][0], _keypoints()[0], atol=1e-3)
