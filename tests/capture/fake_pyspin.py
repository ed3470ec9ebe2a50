"""A stand-in for FLIR's ``PySpin`` module with the real API's names, node types and access rules,
so that the FLIR backend runs its real code path here (PySpin itself cannot be installed).

Mirrors Spinnaker's Python examples (Trigger.py, ChunkData.py, BufferHandling.py): ``System``
singleton, ``CameraList`` (``GetSize``, ``GetByIndex``, ``GetBySerial``, ``Clear``), cameras with
``Init``/``DeInit``, a GenICam node map reached by ``GetNode(name)`` and cast with
``CEnumerationPtr``/``CFloatPtr``/``CIntegerPtr``/``CBooleanPtr``/``CCommandPtr``/``CStringPtr``,
``IsReadable``/``IsWritable``, ``BeginAcquisition``/``GetNextImage(timeout_ms)``/``Release``/
``EndAcquisition``, chunk data, incomplete images and ``SpinnakerException`` with an error code.

The access rules are the ones that make configuration order matter on real cameras: the trigger
source and selector are read-only while ``TriggerMode`` is ``On``; ``ExposureTime`` and ``Gain``
while their auto mode is on; ``AcquisitionFrameRate`` until ``AcquisitionFrameRateEnable``;
``ChunkEnable`` until ``ChunkModeActive``; ``LineSource`` unless the selected line is an output;
image format nodes while streaming. Breaking one raises ``SpinnakerException`` like the camera.

Frames: a camera exposes when it runs free (trigger off), when the wired primary exposes
(``TriggerSource`` = its ``trigger_line``), or per ``TriggerSoftware``. ``FakeHardware`` holds
the cameras, the wiring, images to report incomplete, and ``writes``: every node write in order.
"""
from __future__ import annotations

import sys
import threading
import time
import types

import numpy as np

SPINNAKER_ERR_TIMEOUT = -1011
SPINNAKER_ERR_ACCESS_DENIED = -1005
IMAGE_NO_ERROR, SPINNAKER_IMAGE_STATUS_DATA_INCOMPLETE = 0, 6


class SpinnakerException(Exception):
    def __init__(self, message, errorcode=-1001):
        super().__init__(f"Spinnaker: {message} [{errorcode}]")
        self.errorcode = errorcode
        self.message = message


class _Node:
    def __init__(self, cam, name, kind, value=None, entries=(), lo=None, hi=None, writable=lambda cam: True,
                 on_write=None):
        self.cam, self.name, self.kind, self.value = cam, name, kind, value
        self.entries = {e: i for i, e in enumerate(entries)}
        self.lo, self.hi, self._writable, self._on_write = lo, hi, writable, on_write

    # casting pointers return the node itself when the type matches, as the SWIG casts do
    def _check(self, kind):
        if self.kind != kind:
            raise SpinnakerException(f"node {self.name} is a {self.kind}, not a {kind}")
        return self

    def writable(self):
        return self._writable(self.cam)

    def _write(self, value):
        if not self.writable():
            raise SpinnakerException(f"node {self.name} is not writable", SPINNAKER_ERR_ACCESS_DENIED)
        self.cam.hardware.writes.append((self.cam.serial, self.name, value))
        self.value = value
        if self._on_write:
            self._on_write(self.cam, value)

    # enumeration
    def GetEntryByName(self, name):
        return _Entry(name, self.entries[name]) if name in self.entries else None

    def SetIntValue(self, v):
        names = {i: e for e, i in self.entries.items()}
        if v not in names:
            raise SpinnakerException(f"{self.name}: no entry with value {v}")
        self._write(names[v])

    def GetCurrentEntry(self):
        return _Entry(self.value, self.entries[self.value])

    def GetIntValue(self):
        return self.entries[self.value] if self.kind == "enum" else self.value

    # float / int / bool / string
    def SetValue(self, v):
        if self.lo is not None and not self.lo <= v <= self.hi:
            raise SpinnakerException(f"{self.name}: {v} out of range")
        self._write(v)

    def GetValue(self):
        return self.value

    def GetMin(self):
        return self.lo

    def GetMax(self):
        return self.hi

    # command
    def Execute(self):
        if not self.writable():
            raise SpinnakerException(f"command {self.name} not available now", SPINNAKER_ERR_ACCESS_DENIED)
        self.cam.hardware.writes.append((self.cam.serial, self.name, "Execute"))
        self.cam._software_trigger()


class _Entry:
    def __init__(self, name, value):
        self.name, self.value = name, value

    def GetValue(self):
        return self.value

    def GetSymbolic(self):
        return self.name


def _cast(kind):
    def cast(node):
        if node is None:
            return None
        return node._check(kind)
    return cast


def IsReadable(node):
    return node is not None


def IsAvailable(node):
    return node is not None


def IsWritable(node):
    return node is not None and (not hasattr(node, "writable") or node.writable())


class _NodeMap:
    def __init__(self, nodes):
        self.nodes = {n.name: n for n in nodes}

    def GetNode(self, name):
        return self.nodes.get(name)


class _ChunkData:
    def __init__(self, cam, frame_id, timestamp):
        self.cam, self.frame_id, self.timestamp = cam, frame_id, timestamp

    def _enabled(self, chunk):
        return self.cam.node("ChunkModeActive").value and self.cam.chunks.get(chunk)

    def GetFrameID(self):
        if not self._enabled("FrameID"):
            raise SpinnakerException("chunk FrameID is not enabled")
        return self.frame_id

    def GetTimestamp(self):
        if not self._enabled("Timestamp"):
            raise SpinnakerException("chunk Timestamp is not enabled")
        return self.timestamp


class _Image:
    def __init__(self, cam, array, frame_id, timestamp, incomplete):
        self.cam, self.array, self.frame_id, self.timestamp = cam, array, frame_id, timestamp
        self.incomplete = incomplete
        self.released = False

    def IsIncomplete(self):
        return self.incomplete

    def GetImageStatus(self):
        return SPINNAKER_IMAGE_STATUS_DATA_INCOMPLETE if self.incomplete else IMAGE_NO_ERROR

    def GetNDArray(self):
        return self.array

    def GetChunkData(self):
        return _ChunkData(self.cam, self.frame_id, self.timestamp)

    def GetFrameID(self):
        return self.frame_id

    def GetTimeStamp(self):
        return self.timestamp

    def GetWidth(self):
        return self.array.shape[1]

    def GetHeight(self):
        return self.array.shape[0]

    def Release(self):
        self.released = True
        self.cam.hardware.released += 1


def Image_GetImageStatusDescription(status):
    return {IMAGE_NO_ERROR: "Image has no error",
            SPINNAKER_IMAGE_STATUS_DATA_INCOMPLETE: "Image data is incomplete"}.get(status, "unknown")


class FakeCamera:
    """One simulated camera; exposes frames when its trigger configuration says it would."""

    def __init__(self, hardware, serial, model="Blackfly S BFS-U3-16S2C", size=(320, 240)):
        self.hardware, self.serial, self.model = hardware, str(serial), model
        self.initialized = self.streaming = False
        self.valid = True
        self.frame_counter = 0
        self.chunks = {}
        self.pending = []          # exposed frames waiting in the host buffers
        self.cond = threading.Condition()
        W, H = size
        locked = lambda c: not c.streaming                                   # noqa: E731
        trig_off = lambda c: c.node("TriggerMode").value == "Off"            # noqa: E731
        self.tl = _NodeMap([_Node(self, "DeviceSerialNumber", "string", self.serial),
                            _Node(self, "DeviceModelName", "string", model)])
        self.stream = _NodeMap([
            _Node(self, "StreamBufferHandlingMode", "enum", "OldestFirst",
                  ("OldestFirst", "OldestFirstOverwrite", "NewestOnly", "NewestFirst"), writable=locked),
            _Node(self, "StreamBufferCountMode", "enum", "Auto", ("Auto", "Manual"), writable=locked),
            _Node(self, "StreamBufferCountManual", "int", 10, lo=1, hi=1000,
                  writable=lambda c: c.stream.nodes["StreamBufferCountMode"].value == "Manual" and not c.streaming)])
        self.nodes = _NodeMap([
            _Node(self, "AcquisitionMode", "enum", "Continuous", ("Continuous", "SingleFrame", "MultiFrame"), writable=locked),
            _Node(self, "PixelFormat", "enum", "BayerRG8", ("Mono8", "BayerRG8", "RGB8", "BGR8"), writable=locked),
            _Node(self, "OffsetX", "int", 0, lo=0, hi=W, writable=locked),
            _Node(self, "OffsetY", "int", 0, lo=0, hi=H, writable=locked),
            _Node(self, "Width", "int", W, lo=16, hi=W, writable=locked),
            _Node(self, "Height", "int", H, lo=16, hi=H, writable=locked),
            _Node(self, "ExposureAuto", "enum", "Continuous", ("Off", "Once", "Continuous")),
            _Node(self, "ExposureTime", "float", 10000.0, lo=10.0, hi=30e6,
                  writable=lambda c: c.node("ExposureAuto").value == "Off"),
            _Node(self, "GainAuto", "enum", "Continuous", ("Off", "Once", "Continuous")),
            _Node(self, "Gain", "float", 0.0, lo=0.0, hi=47.0, writable=lambda c: c.node("GainAuto").value == "Off"),
            _Node(self, "ChunkModeActive", "bool", False, writable=locked),
            _Node(self, "ChunkSelector", "enum", "Image", ("Image", "FrameID", "Timestamp", "ExposureTime", "Gain"),
                  writable=lambda c: c.node("ChunkModeActive").value),
            _Node(self, "ChunkEnable", "bool", False, writable=lambda c: c.node("ChunkModeActive").value,
                  on_write=lambda c, v: c.chunks.__setitem__(c.node("ChunkSelector").value, v)),
            _Node(self, "TriggerMode", "enum", "Off", ("Off", "On")),
            _Node(self, "TriggerSelector", "enum", "FrameStart", ("FrameStart", "AcquisitionStart"), writable=trig_off),
            _Node(self, "TriggerSource", "enum", "Software", ("Software", "Line0", "Line2", "Line3"), writable=trig_off),
            _Node(self, "TriggerActivation", "enum", "RisingEdge", ("RisingEdge", "FallingEdge"), writable=trig_off),
            _Node(self, "TriggerOverlap", "enum", "Off", ("Off", "ReadOut"), writable=trig_off),
            _Node(self, "TriggerSoftware", "command",
                  writable=lambda c: c.streaming and c.node("TriggerMode").value == "On"
                  and c.node("TriggerSource").value == "Software"),
            _Node(self, "LineSelector", "enum", "Line0", ("Line0", "Line1", "Line2", "Line3")),
            _Node(self, "LineMode", "enum", "Input", ("Input", "Output"),
                  writable=lambda c: c.node("LineSelector").value in ("Line1", "Line2")),
            _Node(self, "LineSource", "enum", "Off", ("Off", "ExposureActive", "FrameTriggerWait", "UserOutput0"),
                  writable=lambda c: c.node("LineMode").value == "Output"),
            _Node(self, "AcquisitionFrameRateEnable", "bool", False),
            _Node(self, "AcquisitionFrameRate", "float", 30.0, lo=1.0, hi=226.0,
                  writable=lambda c: c.node("AcquisitionFrameRateEnable").value),
            _Node(self, "AcquisitionResultingFrameRate", "float", 30.0, writable=lambda c: False)])

    def node(self, name):
        return self.nodes.nodes[name]

    # --- the PySpin camera API ---
    def Init(self):
        self.initialized = True

    def DeInit(self):
        self.initialized = False

    def IsInitialized(self):
        return self.initialized

    def IsValid(self):
        return self.valid

    def IsStreaming(self):
        return self.streaming

    def GetTLDeviceNodeMap(self):
        return self.tl

    def GetTLStreamNodeMap(self):
        return self.stream

    def GetNodeMap(self):
        if not self.initialized:
            raise SpinnakerException("camera not initialized (call Init first)")
        return self.nodes

    def BeginAcquisition(self):
        if not self.initialized:
            raise SpinnakerException("camera not initialized")
        self.streaming = True
        self.frame_counter = 0      # chunk FrameID restarts with each acquisition
        self.hardware.writes.append((self.serial, "BeginAcquisition", None))
        self.hardware.started(self)

    def EndAcquisition(self):
        self.streaming = False
        self.hardware.writes.append((self.serial, "EndAcquisition", None))

    def GetNextImage(self, timeout_ms=1000):
        if not self.valid:
            raise SpinnakerException("device was removed", -1010)
        if not self.streaming:
            raise SpinnakerException("camera is not streaming")
        with self.cond:
            if not self.cond.wait_for(lambda: self.pending or not self.valid, timeout_ms / 1000):
                raise SpinnakerException("Failed waiting for EventData on NEW_BUFFER_DATA event", SPINNAKER_ERR_TIMEOUT)
            if not self.valid:
                raise SpinnakerException("device was removed", -1010)
            return self.pending.pop(0)

    # --- the simulated sensor ---
    def _expose(self, timestamp_ns):
        if not self.streaming:
            return
        self.frame_counter += 1
        fid = self.frame_counter
        H, W = self.node("Height").value, self.node("Width").value
        array = np.full((H, W), fid % 256, np.uint8)
        image = _Image(self, array, fid, timestamp_ns, incomplete=(self.serial, fid) in self.hardware.incomplete)
        with self.cond:
            self.pending.append(image)
            self.cond.notify_all()
        if (self.node("LineSource").value == "ExposureActive" and self.node("LineMode").value == "Output"):
            self.hardware.pulse(self, self.node("LineSelector").value, timestamp_ns)

    def _software_trigger(self):
        self._expose(time.monotonic_ns())

    def free_running(self):
        return self.streaming and self.node("TriggerMode").value == "Off"


class FakeHardware:
    """The cameras, the trigger wiring ``{(serial, output line): [(serial, input line)]}``, the
    images to deliver incomplete ``{(serial, frame id)}``, and the log of node writes."""

    def __init__(self, serials, wiring=None, fps=100.0, incomplete=(), max_frames=None, size=(320, 240)):
        self.cameras = [FakeCamera(self, s, size=size) for s in serials]
        self.wiring = wiring or {}
        self.period = 1.0 / fps
        self.incomplete = set(incomplete)
        self.max_frames = max_frames
        self.writes = []
        self.released = 0
        self._clock = None
        self._stop = threading.Event()

    def started(self, cam):
        if self._clock is None:
            self._clock = threading.Thread(target=self._run, daemon=True)
            self._clock.start()

    def _run(self):
        n = 0
        while not self._stop.is_set() and (self.max_frames is None or n < self.max_frames):
            t = time.monotonic_ns()
            for cam in self.cameras:
                if cam.free_running():
                    cam._expose(t)
            n += 1
            time.sleep(self.period)

    def pulse(self, source, line, timestamp_ns):
        for serial, in_line in self.wiring.get((source.serial, line), []):
            cam = next(c for c in self.cameras if c.serial == serial)
            if (cam.node("TriggerMode").value == "On" and cam.node("TriggerSource").value == in_line):
                cam._expose(timestamp_ns + 1000)

    def stop(self):
        self._stop.set()


class _CameraList:
    def __init__(self, cams):
        self.cams = list(cams)

    def GetSize(self):
        return len(self.cams)

    def GetByIndex(self, i):
        return self.cams[i]

    def GetBySerial(self, serial):
        for c in self.cams:
            if c.serial == serial:
                return c
        raise SpinnakerException(f"no camera with serial {serial}")

    def Clear(self):
        self.cams = []

    def __len__(self):
        return len(self.cams)


class _System:
    instance = None
    hardware = None

    @classmethod
    def GetInstance(cls):
        if cls.instance is None:
            cls.instance = cls()
        return cls.instance

    def GetCameras(self):
        return _CameraList(self.hardware.cameras)

    def ReleaseInstance(self):
        _System.instance = None


def install(hardware: FakeHardware, monkeypatch) -> types.ModuleType:
    """Insert a ``PySpin`` module driving ``hardware`` into ``sys.modules`` (undone by monkeypatch)."""
    mod = types.ModuleType("PySpin")
    _System.hardware = hardware
    _System.instance = None
    mod.System = _System
    mod.SpinnakerException = SpinnakerException
    for name, kind in (("CEnumerationPtr", "enum"), ("CFloatPtr", "float"), ("CIntegerPtr", "int"),
                       ("CBooleanPtr", "bool"), ("CCommandPtr", "command"), ("CStringPtr", "string")):
        setattr(mod, name, _cast(kind))
    mod.IsReadable, mod.IsWritable, mod.IsAvailable = IsReadable, IsWritable, IsAvailable
    mod.Image_GetImageStatusDescription = Image_GetImageStatusDescription
    mod.SPINNAKER_ERR_TIMEOUT = SPINNAKER_ERR_TIMEOUT
    monkeypatch.setitem(sys.modules, "PySpin", mod)
    return mod
