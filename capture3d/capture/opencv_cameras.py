"""Cameras OpenCV opens: USB / UVC webcams, and video files played back as if live.

USB cameras have no device clock: a frame's time is the host time ``read()`` returned, and a
recording's cameras are put side by side afterwards by nearest host timestamp
(:func:`capture3d.sources.session_frame_numbers`). A played-back video's "device" frame id is its
frame index and its timestamp the index over the video's fps.
"""
from __future__ import annotations

import time

import cv2

from .base import (Camera, CameraDisconnected, CameraError, CameraTimeout, Frame, SourceFinished, now_ns,
                   register_backend)


@register_backend("usb")
class UsbCamera(Camera):
    """``settings.device``: the OpenCV index (0, 1, ...) or a ``/dev/video*`` path."""

    @classmethod
    def enumerate(cls, max_index: int = 8) -> list[dict]:
        found = []
        for i in range(max_index):
            cap = cv2.VideoCapture(i)
            if cap.isOpened():
                found.append({"id": i, "model": cap.getBackendName(),
                              "size": (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))})
            cap.release()
        return found

    def open(self):
        device = self.settings.device if self.settings.device is not None else 0
        self.cap = cv2.VideoCapture(device)
        if not self.cap.isOpened():
            raise CameraError(f"{self.name}: no USB camera at {device!r} (`ls /dev/video*` lists them)")
        self._count = 0

    def configure(self) -> dict:
        s = self.settings
        if s.pixel_format:
            self.cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*s.pixel_format[:4]))
        if s.size:
            self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, s.size[0])
            self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, s.size[1])
        if s.fps:
            self.cap.set(cv2.CAP_PROP_FPS, s.fps)
        if s.exposure_us is not None:
            self.cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, 1)      # V4L2: manual
            self.cap.set(cv2.CAP_PROP_EXPOSURE, s.exposure_us / 100.0)   # V4L2 units of 100 us
        if s.gain_db is not None:
            self.cap.set(cv2.CAP_PROP_GAIN, s.gain_db)
        size = (int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if s.size and size != tuple(s.size):
            raise CameraError(f"{self.name}: asked for {s.size[0]}x{s.size[1]}, the camera gives "
                              f"{size[0]}x{size[1]}")
        return {"size": size, "fps": self.cap.get(cv2.CAP_PROP_FPS) or s.fps, "trigger": "off"}

    def grab(self, timeout_s: float = 1.0) -> Frame:
        t0 = time.monotonic()
        ok, image = self.cap.read()
        host = now_ns()
        if not ok:
            if time.monotonic() - t0 > timeout_s:
                raise CameraTimeout(f"{self.name}: no frame within {timeout_s:.1f} s")
            raise CameraDisconnected(f"{self.name}: the camera stopped delivering frames")
        self._count += 1
        return Frame(image, None, None, host)

    def close(self):
        if getattr(self, "cap", None) is not None:
            self.cap.release()
            self.cap = None


@register_backend("video")
class VideoFileCamera(Camera):
    """``settings.device``: a video file, played from its start; ``realtime`` paces it to its fps."""

    def __init__(self, settings, *, realtime: bool = False):
        super().__init__(settings)
        self.realtime = realtime

    @classmethod
    def enumerate(cls) -> list[dict]:
        return [{"id": "any video file", "model": "played back as a camera"}]

    def open(self):
        from ..errors import FileFormatError

        self.cap = cv2.VideoCapture(str(self.settings.device))
        if not self.cap.isOpened():
            raise FileFormatError(self.settings.device, f"camera {self.name}: cannot open this video")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or self.settings.fps or 30.0
        self._index = 0

    def configure(self) -> dict:
        return {"size": (int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))),
                "fps": self.fps, "trigger": "off"}

    def start(self):
        self._t0 = now_ns()

    def grab(self, timeout_s: float = 1.0) -> Frame:
        ok, image = self.cap.read()
        if not ok:
            raise SourceFinished(f"{self.name}: end of {self.settings.device}")
        device_ns = int(round(self._index * 1e9 / self.fps))
        if self.realtime:
            wait = (self._t0 + device_ns - now_ns()) / 1e9
            if wait > 0:
                time.sleep(wait)
        frame = Frame(image, self._index, device_ns, now_ns())
        self._index += 1
        return frame

    def close(self):
        if getattr(self, "cap", None) is not None:
            self.cap.release()
            self.cap = None
