"""2D pose detection: detectors behind one interface (:class:`Detector`), chosen by name.

``make_detector("blazepose")`` is the default (our pipeline on MediaPipe's model files); ONNX
and OpenCV-DNN OpenPose models listed in ``models/manifest.toml`` are chosen by their entry name.
:func:`detect_session` runs a detector over every camera of a session, one process per core.
"""
from .base import Detector, available_detectors, make_detector, to_canonical
from .blazepose import BlazePose, BlazePoseOptions

__all__ = ["Detector", "BlazePose", "BlazePoseOptions", "available_detectors", "make_detector",
           "to_canonical"]
