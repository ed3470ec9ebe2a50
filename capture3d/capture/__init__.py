"""Capture: camera backends (FLIR via PySpin, USB and video files via OpenCV, synthetic) behind
one interface, rig files, and the synchronized recorder that writes a session folder."""
from .base import (Camera, CameraDisconnected, CameraError, CameraSettings, CameraTimeout, Frame,
                   SourceFinished, backend_class, make_camera)
from .recorder import RecordOptions, RecordResult, read_frames_csv, record
from .rigfile import RigConfig, check_rig
from .synthetic import SyntheticCamera, SyntheticClock, SyntheticScene, read_frame_id, stamp_frame_id

__all__ = ["Camera", "CameraSettings", "Frame", "CameraError", "CameraTimeout", "CameraDisconnected",
           "SourceFinished",
           "make_camera", "backend_class", "RigConfig", "check_rig", "RecordOptions", "RecordResult",
           "record", "read_frames_csv", "SyntheticScene", "SyntheticClock", "SyntheticCamera",
           "stamp_frame_id", "read_frame_id"]
