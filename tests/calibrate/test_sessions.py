"""Calibration over whole recordings (calibrate/sessions.py): inputs, reasons, frame numbering."""
import numpy as np
import pytest

from capture3d.calibrate.boards import Board
from capture3d.calibrate.detect import BoardObservations
from capture3d.calibrate.sessions import calibration_sources, dropped_views, no_views_reason, report_folder
from capture3d.errors import Capture3DError

BOARD = Board(type="charuco", squares_x=5, squares_y=4, square_length_m=0.04, marker_length_m=0.03,
              dictionary="DICT_4X4_50")


def test_inputs_are_named_by_file_folder_or_glob(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "side.mp4").write_bytes(b"")
    (tmp_path / "gopro").mkdir()
    for k in range(2):
        (tmp_path / "gopro" / f"{k}.jpg").write_bytes(b"")
    (tmp_path / "front").mkdir()
    sources = calibration_sources(["side.mp4", "front", "gopro/*.jpg"])
    assert [name for name, _ in sources] == ["side", "front", "gopro"]
    assert sources[2][1] == ["gopro/0.jpg", "gopro/1.jpg"]
    with pytest.raises(Capture3DError, match="matches no file"):
        calibration_sources(["nothing/*.png"])
    with pytest.raises(Capture3DError, match="missing.mp4: file not found"):
        calibration_sources(["missing.mp4"])
    assert report_folder("rigs/calibration.toml").as_posix() == "rigs/calibration_report"


def _observations(n_views, blurred=0, small=0):
    empty = np.zeros((n_views, 0))
    return BoardObservations(camera="cam01", image_size=(640, 480), frames=np.arange(n_views), ids=[empty] * n_views,
                             corners=[empty] * n_views, frames_read=50, rejected_blurred=blurred,
                             rejected_small=small)


def test_reasons_say_what_to_record():
    blurred = _observations(0, blurred=7, small=2)
    assert "found in 9 of 50 frames, but every view was too blurred or too small" in no_views_reason(blurred, None, BOARD)
    assert "dropped 7 blurred" in dropped_views(blurred) and "2 with squares under" in dropped_views(blurred)
    assert no_views_reason(_observations(3), None, BOARD) is None and dropped_views(_observations(3)) is None
