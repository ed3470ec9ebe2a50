"""FLIR / Point Grey machine-vision cameras through PySpin (Spinnaker's Python bindings).

PySpin is not on the package index: it comes with FLIR's Spinnaker SDK and is imported only when
a FLIR camera is opened. Cameras are found by serial number and configured through their GenICam
nodes, the way Spinnaker's own examples do it (``Trigger.py``, ``ChunkData.py``,
``BufferHandling.py``), in the order the cameras require:

1. stream (transport layer): ``StreamBufferHandlingMode`` (``OldestFirst`` by default: every
   frame is handed out once, in order, and a brief lag of the acquisition thread loses nothing;
   ``NewestOnly`` suits a live view, it overwrites frames the host has not taken yet), and
   ``StreamBufferCountMode = Manual`` with ``StreamBufferCountManual`` buffers;
2. ``AcquisitionMode = Continuous``; ``PixelFormat``, then ``OffsetX/OffsetY = 0`` before
   ``Width``/``Height`` (these are locked while streaming);
3. ``ExposureAuto = Off`` before ``ExposureTime`` (µs), ``GainAuto = Off`` before ``Gain`` (dB);
4. chunk data: ``ChunkModeActive = True``, then for ``FrameID`` and ``Timestamp``:
   ``ChunkSelector`` and ``ChunkEnable = True``; every image then carries the camera's own frame
   counter and clock, which is how drops are counted;
5. trigger: ``TriggerMode = Off`` first (source and selector are read-only while it is on), then
   ``TriggerSelector = FrameStart``, ``TriggerSource`` (``Software`` or the input line),
   ``TriggerOverlap = ReadOut`` (allows the next trigger while reading out), ``TriggerMode = On``.
   A ``primary`` camera runs free and sends its exposures out on ``output_line``:
   ``LineSelector``, ``LineMode = Output``, ``LineSource = ExposureActive``;
6. frame rate last (exposure limits it): ``AcquisitionFrameRateEnable = True`` and
   ``AcquisitionFrameRate`` on free-running and primary cameras.

Images with ``IsIncomplete()`` are released and reported as incomplete frames (the recorder counts
them as drops); a camera that stops answering raises :class:`CameraDisconnected`.
"""
from __future__ import annotations

import importlib
import logging

import cv2
import numpy as np

from .base import Camera, CameraDisconnected, CameraError, CameraTimeout, Frame, now_ns, register_backend

log = logging.getLogger("capture3d.record")

INSTALL_HELP = ("PySpin (FLIR Spinnaker's Python bindings) is not installed. It is not on PyPI: "
                "install the Spinnaker SDK from https://www.teledynevisionsolutions.com/products/spinnaker-sdk/ "
                "and then the spinnaker_python wheel that matches your Python from the same download "
                "(pip install spinnaker_python-*.whl)")
TIMEOUT_ERROR = -1011    # SPINNAKER_ERR_TIMEOUT
#: GenICam Bayer names -> OpenCV's conversion (OpenCV names the pattern from the second row).
BAYER_TO_BGR = {"BayerRG8": cv2.COLOR_BayerBG2BGR, "BayerBG8": cv2.COLOR_BayerRG2BGR,
                "BayerGR8": cv2.COLOR_BayerGB2BGR, "BayerGB8": cv2.COLOR_BayerGR2BGR}


def import_pyspin():
    """The ``PySpin`` module, or a :class:`CameraError` saying how to install it."""
    try:
        return importlib.import_module("PySpin")
    except ImportError:
        raise CameraError(INSTALL_HELP) from None


class _System:
    """Spinnaker's ``System`` is a process-wide singleton: shared by the cameras, released when
    the last one closes."""

    users = 0
    instance = None

    @classmethod
    def acquire(cls, PySpin):
        if cls.instance is None:
            cls.instance = PySpin.System.GetInstance()
        cls.users += 1
        return cls.instance

    @classmethod
    def release(cls):
        cls.users -= 1
        if cls.users <= 0 and cls.instance is not None:
            cls.instance.ReleaseInstance()
            cls.instance, cls.users = None, 0


class NodeMap:
    """Typed access to one GenICam node map with errors that name the camera and the node."""

    def __init__(self, PySpin, nodemap, camera_name: str, log: list | None = None):
        self.PySpin, self.nodemap, self.camera = PySpin, nodemap, camera_name
        self.log = log if log is not None else []

    def _node(self, name, kind):
        node = getattr(self.PySpin, kind)(self.nodemap.GetNode(name))
        if not self.PySpin.IsReadable(node):
            raise CameraError(f"{self.camera}: node {name} is not available on this camera")
        return node

    def _writable(self, name, node):
        if not self.PySpin.IsWritable(node):
            raise CameraError(f"{self.camera}: node {name} is not writable now")

    def set_enum(self, name: str, entry: str):
        node = self._node(name, "CEnumerationPtr")
        self._writable(name, node)
        value = node.GetEntryByName(entry)
        if value is None or not self.PySpin.IsReadable(value):
            raise CameraError(f"{self.camera}: {name} has no entry {entry!r}")
        node.SetIntValue(value.GetValue())
        self.log.append((name, entry))

    def get_enum(self, name: str) -> str:
        return self._node(name, "CEnumerationPtr").GetCurrentEntry().GetSymbolic()

    def _set_number(self, name: str, value, kind: str):
        node = self._node(name, kind)
        self._writable(name, node)
        lo, hi = node.GetMin(), node.GetMax()
        if not lo <= value <= hi:
            raise CameraError(f"{self.camera}: {name} = {value} is outside the camera's range {lo}..{hi}")
        node.SetValue(value)
        self.log.append((name, value))
        return node.GetValue()

    def set_float(self, name: str, value: float) -> float:
        return self._set_number(name, float(value), "CFloatPtr")

    def set_int(self, name: str, value: int) -> int:
        return self._set_number(name, int(value), "CIntegerPtr")

    def get_int(self, name: str) -> int:
        return self._node(name, "CIntegerPtr").GetValue()

    def get_float(self, name: str) -> float:
        return self._node(name, "CFloatPtr").GetValue()

    def set_bool(self, name: str, value: bool):
        node = self._node(name, "CBooleanPtr")
        self._writable(name, node)
        node.SetValue(bool(value))
        self.log.append((name, bool(value)))

    def get_string(self, name: str) -> str:
        return self._node(name, "CStringPtr").GetValue()

    def execute(self, name: str):
        node = self._node(name, "CCommandPtr")
        self._writable(name, node)
        node.Execute()


@register_backend("flir")
class FlirCamera(Camera):
    """A FLIR camera by ``settings.serial``; see the module docstring for what is configured."""

    def __init__(self, settings):
        super().__init__(settings)
        self.PySpin = None
        self.cam = None
        self.config_log: list = []   # (node, value) in the order they were written

    @classmethod
    def enumerate(cls) -> list[dict]:
        PySpin = import_pyspin()
        system = _System.acquire(PySpin)
        found = []
        try:
            cams = system.GetCameras()
            for i in range(cams.GetSize()):
                cam = cams.GetByIndex(i)
                tl = NodeMap(PySpin, cam.GetTLDeviceNodeMap(), f"camera {i}")
                found.append({"id": tl.get_string("DeviceSerialNumber"), "model": tl.get_string("DeviceModelName")})
                del cam
            cams.Clear()
        finally:
            _System.release()
        return found

    def open(self):
        if not self.settings.serial:
            raise CameraError(f"{self.name}: a FLIR camera needs its serial number in the rig file")
        self.PySpin = PySpin = import_pyspin()
        system = _System.acquire(PySpin)
        cams = system.GetCameras()
        try:
            serials = []
            for i in range(cams.GetSize()):
                serials.append(NodeMap(PySpin, cams.GetByIndex(i).GetTLDeviceNodeMap(), "?").get_string("DeviceSerialNumber"))
            if str(self.settings.serial) not in serials:
                raise CameraError(f"{self.name}: no FLIR camera with serial {self.settings.serial} "
                                  f"(found: {', '.join(serials) or 'none'})")
            self.cam = cams.GetBySerial(str(self.settings.serial))
            self.cam.Init()
        except Exception:
            cams.Clear()
            _System.release()
            raise
        cams.Clear()
        self.nodes = NodeMap(PySpin, self.cam.GetNodeMap(), self.name, self.config_log)
        self.stream = NodeMap(PySpin, self.cam.GetTLStreamNodeMap(), self.name, self.config_log)
        self.pixel_format = None

    def configure(self) -> dict:
        s, n = self.settings, self.nodes
        try:
            self.stream.set_enum("StreamBufferHandlingMode", s.buffer_handling)
            self.stream.set_enum("StreamBufferCountMode", "Manual")
            self.stream.set_int("StreamBufferCountManual", s.buffers)
            n.set_enum("AcquisitionMode", "Continuous")
            if s.pixel_format:
                n.set_enum("PixelFormat", s.pixel_format)
            if s.size:
                n.set_int("OffsetX", 0)
                n.set_int("OffsetY", 0)
                n.set_int("Width", s.size[0])
                n.set_int("Height", s.size[1])
            if s.exposure_us is not None:
                n.set_enum("ExposureAuto", "Off")
                n.set_float("ExposureTime", s.exposure_us)
            if s.gain_db is not None:
                n.set_enum("GainAuto", "Off")
                n.set_float("Gain", s.gain_db)
            n.set_bool("ChunkModeActive", True)
            for chunk in ("FrameID", "Timestamp"):
                n.set_enum("ChunkSelector", chunk)
                n.set_bool("ChunkEnable", True)
            n.set_enum("TriggerMode", "Off")
            if s.trigger in ("software", "secondary", "external"):
                n.set_enum("TriggerSelector", "FrameStart")
                n.set_enum("TriggerSource", "Software" if s.trigger == "software" else s.trigger_line)
                if s.trigger != "software":
                    n.set_enum("TriggerActivation", "RisingEdge")
                    n.set_enum("TriggerOverlap", "ReadOut")
                n.set_enum("TriggerMode", "On")
            if s.trigger == "primary":
                n.set_enum("LineSelector", s.output_line)
                n.set_enum("LineMode", "Output")
                n.set_enum("LineSource", "ExposureActive")
            if s.fps and s.trigger in ("off", "primary"):
                n.set_bool("AcquisitionFrameRateEnable", True)
                n.set_float("AcquisitionFrameRate", s.fps)
            self.pixel_format = n.get_enum("PixelFormat")
            size = (n.get_int("Width"), n.get_int("Height"))
            fps = n.get_float("AcquisitionResultingFrameRate") if s.trigger in ("off", "primary") else s.fps
        except self.PySpin.SpinnakerException as exc:
            raise CameraError(f"{self.name}: the camera refused its configuration: {exc}") from None
        return {"size": size, "fps": fps, "trigger": s.trigger, "pixel_format": self.pixel_format}

    def start(self):
        try:
            self.cam.BeginAcquisition()
        except self.PySpin.SpinnakerException as exc:
            raise CameraError(f"{self.name}: cannot start acquisition: {exc}") from None

    def trigger(self):
        self.nodes.execute("TriggerSoftware")

    def _to_bgr(self, array: np.ndarray) -> np.ndarray:
        fmt = self.pixel_format or ""
        if fmt in BAYER_TO_BGR:
            return cv2.cvtColor(array, BAYER_TO_BGR[fmt])
        if fmt == "RGB8":
            return cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
        return np.ascontiguousarray(array)

    def grab(self, timeout_s: float = 1.0) -> Frame:
        PySpin = self.PySpin
        try:
            image = self.cam.GetNextImage(int(timeout_s * 1000))
        except PySpin.SpinnakerException as exc:
            if getattr(exc, "errorcode", None) == TIMEOUT_ERROR:
                raise CameraTimeout(f"{self.name}: no frame within {timeout_s:.1f} s") from None
            raise CameraDisconnected(f"{self.name}: {exc}") from None
        host = now_ns()
        try:
            if image.IsIncomplete():
                # lost pixels: counted as a drop by the recorder, never written
                log.debug("%s: incomplete image (%s)", self.name,
                          PySpin.Image_GetImageStatusDescription(image.GetImageStatus()))
                return Frame(None, None, None, host, incomplete=True)
            chunk = image.GetChunkData()
            return Frame(self._to_bgr(image.GetNDArray()), int(chunk.GetFrameID()), int(chunk.GetTimestamp()), host)
        finally:
            image.Release()

    def stop(self):
        if self.cam is not None and self.cam.IsStreaming():
            self.cam.EndAcquisition()

    def close(self):
        if self.cam is None:
            return
        try:
            self.stop()
            if self.settings.trigger != "off":
                self.nodes.set_enum("TriggerMode", "Off")   # leave the camera free-running
            self.cam.DeInit()
        finally:
            self.cam = None          # Spinnaker needs every camera reference gone before release
            _System.release()
