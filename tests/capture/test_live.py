"""Live 3D: every person from the newest frames, drawn where its 3D points project; a calibration
that does not fit the cameras refused before any file is written; a recording with live 3D that
loses no frame; a recorded session replayed through the same path."""
import json

import cv2
import numpy as np
import pytest

from capture3d.capture import Frame, RecordOptions, RigConfig, record
from capture3d.cli import main
from capture3d.errors import FileFormatError
from capture3d.live import LiveOptions, LiveReconstructor, LiveRunner, check_calibration, rig_calibration
from capture3d.live.view import LivePicture
from capture3d.skeleton import COCO17
from capture3d.synthetic import make_rig
from capture3d.viz.colors import person_color

from .test_recorder import rig_file


class TruthDetector:
    """A stand-in 2D detector: the scene's people projected into one camera (COCO-17, score 1),
    for the frame whose number the caller sets; slots in a fixed order."""

    joint_names = COCO17

    def __init__(self, camera, people_points):
        self.camera, self.people_points, self.frame = camera, people_points, 0
        self.max_persons = len(people_points)

    def __call__(self, image):
        pixels = self.camera.project(self.people_points[:, self.frame, :17])
        return np.concatenate([pixels, np.ones(pixels.shape[:-1] + (1,))], axis=-1).astype(np.float32)

    def reset(self):
        pass


def _two_walkers(n_frames):
    rng = np.random.default_rng(0)
    from capture3d.synthetic import make_motion
    a, b = make_motion(n_frames, fps=30.0, seed=0).points, make_motion(n_frames, fps=30.0, seed=1).points
    return np.stack([a + [-0.8, 0.4, 0.0], b + [0.8, -0.4, 0.0]]) + rng.normal(0, 1e-3, (2, n_frames, 1, 3))


def test_live_people_are_drawn_where_their_3d_points_project(tmp_path):
    rig = make_rig(4, size=(320, 240), seed=0)
    people = _two_walkers(12)
    detectors = {cam.name: TruthDetector(cam, people) for cam in rig}
    opts = LiveOptions(detect_workers=1, cameras_per_update=1)
    runner = LiveRunner(rig, 30.0, opts, reconstructor=LiveReconstructor(rig, 30.0, opts, detectors=detectors))
    picture = LivePicture(rig, runner.recon.joint_names, out_png=tmp_path / "live.png", window=False,
                          size_3d=(640, 360))
    runner.picture = picture
    image = np.zeros((240, 320, 3), np.uint8)
    for k in range(12):
        for d in detectors.values():
            d.frame = k
        for cam in rig.names:
            runner.update(cam, Frame(image, k, 0, 0))
        while runner.step():
            pass
    update = runner.last_update
    # one camera detected per update, the cameras in turn: 4 updates a frame
    assert len(update.persons) == 2 and runner.stats.cameras_detected == [1] * 48
    # live 3D against the truth: the latest cameras exact, the others carried forward one frame
    for pid, points in update.persons.items():
        err = np.linalg.norm(points[:17] - people[:, 11, :17][:, None], axis=-1).min(axis=0)
        assert np.median(err) < 1e-3        # meters; measured 5e-7 (the last update saw every camera afresh)
    scene = cv2.cvtColor(picture.draw(update, {n: image for n in rig.names})[:, :640], cv2.COLOR_BGR2RGB)
    runner.close()
    for pid, points in update.persons.items():
        mask = np.abs(scene.astype(int) - person_color(pid).rgb255).sum(-1) < 40
        px = picture.view.project(points[:17])
        dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
        at_joints = dist[np.round(px[:, 1]).astype(int), np.round(px[:, 0]).astype(int)]
        assert np.median(at_joints) <= 1.0 and at_joints.max() <= 4.0     # px; measured 0 / 1
    written = cv2.imread(str(tmp_path / "live.png"))
    assert written is not None and written.shape == (360, 1280, 3)


def test_a_mismatched_calibration_is_refused_before_any_file_is_written(tmp_path, capsys):
    rig = RigConfig.load(rig_file(tmp_path, fps=30.0, size=(320, 240)))
    own = rig_calibration(rig)
    assert own.names == ["cam01", "cam02", "cam03", "cam04"] and own["cam02"].size == (320, 240)
    other = make_rig(4, size=(640, 480), seed=0)
    other.save(tmp_path / "other.toml")
    with pytest.raises(FileFormatError, match=r"camera 'cam01'.*640x480.*320x240"):
        record(rig, tmp_path / "s1", RecordOptions(max_frames=3), live_calibration=tmp_path / "other.toml")
    assert not (tmp_path / "s1").exists()
    with pytest.raises(FileFormatError, match=r"no camera \['cam04'\]"):
        check_calibration(own.subset(["cam01", "cam02", "cam03"]), {n: (320, 240) for n in own.names})
    assert main(["record", str(tmp_path / "rig.toml"), "-o", str(tmp_path / "s2"), "--max-frames", "3",
                 "--live-3d", str(tmp_path / "other.toml")]) != 0
    assert "640x480" in capsys.readouterr().err and not (tmp_path / "s2").exists()


def test_recording_with_live_3d_loses_no_frame_and_reports_its_rate(tmp_path, blazepose_models):
    text = rig_file(tmp_path, fps=30.0, size=(640, 480)).read_text().replace('scene = "board"', 'scene = "person"')
    (tmp_path / "rig.toml").write_text(text)
    rig = RigConfig.load(tmp_path / "rig.toml")
    res = record(rig, tmp_path / "s", RecordOptions(duration_s=4.0), live_calibration="rig",
                 live_options=LiveOptions(max_persons=1))
    assert all(c["drops"] == 0 and c["queue_drops"] == 0 for c in res.report["cameras"].values())
    live = json.loads((tmp_path / "s" / "sync_report.json").read_text())["live"]
    assert live["updates"] >= 2 and {"updates_per_s", "latency_ms_median", "latency_ms_p95"} <= set(live)
    assert isinstance(live["held_for_writers"], int)     # the recorder's writers can hold the live view
    assert cv2.imread(str(tmp_path / "s" / "live.png")) is not None
    assert (tmp_path / "s" / "calibration.toml").is_file()       # the rig's own, for the other commands

    # the same session replayed through the live path
    assert main(["live", str(tmp_path / "s"), "-c", str(tmp_path / "s" / "calibration.toml"), "--persons", "1",
                 "--seconds", "1.5", "--picture", str(tmp_path / "replay.png")]) == 0
    assert cv2.imread(str(tmp_path / "replay.png")) is not None


def test_a_held_detection_is_carried_forward_along_its_motion():
    from capture3d.live.engine import _carry_forward
    kp0 = np.array([[[10.0, 20.0, 0.9], [np.nan, np.nan, np.nan]]])       # (S=1, J=2, 3)
    kp1 = kp0 + [4.0, -2.0, 0.0]
    history = [(0, kp0), (int(10e6), kp1)]                                  # 10 ms apart
    ahead = _carry_forward(history, int(15e6), max_ns=100e6)
    assert np.allclose(ahead[0, 0], [16.0, 17.0, 0.9]) and np.isnan(ahead[0, 1]).all()
    capped = _carry_forward(history, int(1e9), max_ns=20e6)                 # never beyond max_ns
    assert np.allclose(capped[0, 0], [22.0, 14.0, 0.9])
    assert _carry_forward(history[:1], int(15e6), max_ns=100e6) is kp0
