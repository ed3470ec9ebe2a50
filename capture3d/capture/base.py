"""The camera backend interface: every source of frames (FLIR, USB, video files, synthetic) is
opened, configured, started, grabbed from, stopped and closed the same way.

A :class:`Frame` carries the image and three clocks: the device's frame id and timestamp when the
hardware has them (FLIR chunk data, the synthetic camera's simulated clock), and the host's
receive time (``time.monotonic_ns``) always. Drops are found from gaps in the device frame ids;
cameras without ids (USB) are synchronised in software by nearest host timestamp.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import Capture3DError

TRIGGERS = ("off", "software", "primary", "secondary", "external")


def triggers_synchronised(triggers) -> bool:
    """Whether cameras with these ``trigger`` settings expose on the same pulses (all of them
    hardware-triggered from one source, or all software-triggered together), so that their device
    frame ids count the same pulses."""
    triggers = list(triggers)
    return all(t in ("primary", "secondary", "external") for t in triggers) or all(t == "software" for t in triggers)


class CameraError(Capture3DError):
    """A camera cannot be opened or configured, or failed while recording."""


class CameraTimeout(CameraError):
    """No frame arrived within the timeout (a stalled camera, or no trigger pulses)."""


class CameraDisconnected(CameraError):
    """The camera went away (unplugged, powered off)."""


class SourceFinished(CameraError):
    """A finite source (a played-back video) has no more frames: a normal end, not a failure."""


@dataclass
class Frame:
    """One image and its clocks. ``image``: ``(H, W, 3)`` BGR or ``(H, W)`` mono, ``uint8``.
    ``device_frame_id`` and ``device_timestamp_ns`` are None when the camera has no such
    counter; ``host_timestamp_ns`` is ``time.monotonic_ns()`` when the frame was received."""

    image: np.ndarray
    device_frame_id: int | None
    device_timestamp_ns: int | None
    host_timestamp_ns: int
    incomplete: bool = False


@dataclass
class CameraSettings:
    """One camera of a rig file (``rigs/*.toml``, ``[[cameras]]``); every unset value keeps the
    camera's own setting.

    ``trigger``: ``off`` (free running), ``software`` (we fire each frame), ``primary`` (free
    running at ``fps`` and driving the others through ``output_line``), ``secondary`` (triggered
    through ``trigger_line`` by the primary's pulses) or ``external`` (triggered through
    ``trigger_line`` by an outside pulse generator).
    """

    name: str
    backend: str                                # flir | usb | video | synthetic
    serial: str | None = None                   # flir: the serial number
    device: int | str | None = None             # usb: index or /dev path; video: the file
    size: tuple[int, int] | None = None         # width, height in pixels
    fps: float | None = None
    pixel_format: str | None = None             # flir: Mono8, BayerRG8, BGR8, ...
    exposure_us: float | None = None
    gain_db: float | None = None
    trigger: str = "off"
    trigger_line: str = "Line3"                 # secondary / external: the input line
    output_line: str = "Line1"                  # primary: the line its exposure pulses leave on
    buffer_handling: str = "OldestFirst"        # flir: StreamBufferHandlingMode (see flir.py)
    buffers: int = 64                           # flir: stream buffers (about 1 s at 60 fps)
    options: dict = field(default_factory=dict)  # backend-specific extras

    def __post_init__(self):
        if self.trigger not in TRIGGERS:
            raise ValueError(f"camera {self.name!r}: trigger must be one of {TRIGGERS}, got {self.trigger!r}")
        if self.size is not None:
            self.size = (int(self.size[0]), int(self.size[1]))


class Camera:
    """Base class of the backends. Lifecycle: ``open() -> configure() -> start() -> grab()... ->
    stop() -> close()``; also a context manager that closes."""

    backend = ""

    def __init__(self, settings: CameraSettings):
        self.settings = settings
        self.name = settings.name

    @classmethod
    def enumerate(cls) -> list[dict]:
        """Cameras of this backend that are present: dicts with at least ``id`` and ``model``."""
        return []

    def open(self) -> None:
        """Connect to the device; raises :class:`CameraError` naming the camera if it is absent."""

    def configure(self) -> dict:
        """Apply the settings; returns what the camera now uses (``size``, ``fps``, ...)."""
        return {}

    def start(self) -> None:
        """Begin acquisition."""

    def grab(self, timeout_s: float = 1.0) -> Frame:
        """The next frame; :class:`CameraTimeout` or :class:`CameraDisconnected` otherwise."""
        raise NotImplementedError

    def trigger(self) -> None:
        """Fire one software trigger (``trigger = "software"``)."""

    def stop(self) -> None:
        """End acquisition (frames still in flight are discarded)."""

    def close(self) -> None:
        """Release the device."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def now_ns() -> int:
    """The host clock of every :class:`Frame`."""
    return time.monotonic_ns()


_BACKENDS: dict[str, type] = {}


def register_backend(name: str):
    """Class decorator: the backend a rig file names as ``backend = NAME``."""
    def deco(cls):
        cls.backend = name
        _BACKENDS[name] = cls
        return cls
    return deco


def backend_class(name: str) -> type:
    from . import flir, opencv_cameras, synthetic  # noqa: F401  (they register themselves)
    try:
        return _BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown camera backend {name!r}; one of {sorted(_BACKENDS)}") from None


def make_camera(settings: CameraSettings, **kwargs) -> Camera:
    """The backend object for one camera of a rig file (not yet opened)."""
    return backend_class(settings.backend)(settings, **kwargs)
