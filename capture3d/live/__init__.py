"""Live 3D: every person, tracked and triangulated from the newest frames while recording or
while a session is replayed, drawn in the Open3D scene of ``capture3d view`` beside the cameras'
mosaic.

- :mod:`~capture3d.live.options`: :class:`LiveOptions`, :class:`LiveUpdate`;
- :mod:`~capture3d.live.engine`: detection on the newest frames (cameras interleaved), online
  tracking, triangulation (:class:`LiveReconstructor`);
- :mod:`~capture3d.live.guide`: crops from the 3D for a camera that does not follow a person;
- :mod:`~capture3d.live.runner`: the live threads and their statistics (:class:`LiveRunner`);
- :mod:`~capture3d.live.view`: the picture, ``live.png`` and the MP4 (:class:`LivePicture`), its
  3D half drawn by :mod:`~capture3d.live.scene`;
- :mod:`~capture3d.live.calibration`: a synthetic rig's own calibration, and the check that a
  calibration fits the cameras (:func:`check_calibration`);
- :mod:`~capture3d.live.replay`: ``capture3d live SESSION`` (:func:`replay`).

Open3D is imported only when a picture is drawn.
"""
from .calibration import check_calibration, load_calibration, rig_calibration
from .engine import LiveReconstructor
from .options import LiveOptions, LiveUpdate
from .replay import ReplayResult, replay
from .runner import LiveRunner, LiveStats

__all__ = ["LiveOptions", "LiveReconstructor", "LiveRunner", "LiveStats", "LiveUpdate", "ReplayResult",
           "check_calibration", "load_calibration", "replay", "rig_calibration"]
