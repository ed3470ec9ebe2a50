"""Live view: the mosaic with live 3D from the newest frames, and a recording that runs it
without being held up (the view skips frames, the recorder loses none)."""
import cv2
import numpy as np

from capture3d.capture import Frame, RecordOptions, RigConfig, SyntheticScene, record
from capture3d.capture.live import TILE_WIDTH, LiveView

from .test_recorder import rig_file


def test_live_3d_from_the_newest_frames_lands_on_the_person(tmp_path, blazepose_models):
    scene = SyntheticScene(4, kind="person", n_frames=10, size=(640, 480), seed=0)
    view = LiveView(tmp_path, scene.rig.names, scene.rig, window=False)
    k = 5
    frames = {cam: Frame(scene.frames(c)[k], k, 0, 0) for c, cam in enumerate(scene.rig.names)}
    picture = view.render(frames)
    assert picture.shape[1] == 4 * TILE_WIDTH and picture.shape[0] == 2 * 360   # 4 views + 2 panels
    truth = scene.motion.points[k][:17]
    err = np.linalg.norm(view.points3d - truth, axis=1)
    assert np.isfinite(err).sum() >= 12 and np.nanmedian(err) < 0.15      # meters


def test_recording_with_the_live_view_loses_no_frame(tmp_path, blazepose_models):
    text = rig_file(tmp_path, fps=30.0, size=(640, 480)).read_text().replace('scene = "board"', 'scene = "person"')
    (tmp_path / "rig.toml").write_text(text)
    rig = RigConfig.load(tmp_path / "rig.toml")
    scene = SyntheticScene(4, kind="person", n_frames=12, size=(640, 480), seed=0)
    res = record(rig, tmp_path / "s", RecordOptions(duration_s=6.0), live_calibration=scene.rig)
    frames = sum(c["frames"] for c in res.report["cameras"].values())
    assert all(c["drops"] == 0 and c["queue_drops"] == 0 for c in res.report["cameras"].values())
    assert 1 <= res.report["live_view_updates"] < frames / 4          # it skipped frames to keep up
    preview = cv2.imread(str(tmp_path / "s" / "preview.jpg"))
    assert preview is not None and preview.shape[1] == 4 * TILE_WIDTH
