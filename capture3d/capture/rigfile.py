"""Rig files (``rigs/*.toml``): which cameras to record from and how they are wired.

```toml
name = "flir_4cam"
backend = "flir"          # default for every camera: flir | usb | video | synthetic
fps = 60.0                # defaults, each overridable per camera
size = [1440, 1080]

[[cameras]]
name = "cam1"
serial = "21012345"
trigger = "primary"       # off | software | primary | secondary | external
output_line = "Line1"

[[cameras]]
name = "cam2"
serial = "21012346"
trigger = "secondary"
trigger_line = "Line3"

[synthetic]               # synthetic rigs only: what the cameras see
scene = "board"           # board | person | board+person
frames = 90               # played in a loop
cameras = 4
seed = 0
people = 1                # walkers in the person scenes (2+: crossing paths)
radius_m = 3.5            # meters from the volume's centre to the ring of cameras
board = "board.toml"      # the board the board scenes show (default: the demo's 7 x 5 ChArUco)
```

Any key of :class:`capture3d.capture.base.CameraSettings` may appear at the top (a default) or
in a camera; keys a backend alone understands go into ``[cameras.options]``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import FileFormatError
from ..io import load_toml
from .base import Camera, CameraSettings, make_camera, triggers_synchronised

_SETTINGS = {f.name for f in fields(CameraSettings)}


@dataclass
class RigConfig:
    """A parsed rig file."""

    name: str
    cameras: list[CameraSettings]
    synthetic: dict = field(default_factory=dict)
    path: Path | None = None
    scene: object = field(default=None, repr=False)   # the SyntheticScene, once cameras are made

    @classmethod
    def load(cls, path) -> "RigConfig":
        path = Path(path)
        data = load_toml(path, "rig file")
        defaults = {k: v for k, v in data.items() if k in _SETTINGS and k != "name"}
        cams = data.get("cameras")
        if not cams:
            raise FileFormatError(path, "no [[cameras]] in this rig file")
        settings, names = [], set()
        for i, cam in enumerate(cams):
            merged = {**defaults, **cam}
            unknown = sorted(set(merged) - _SETTINGS)
            if unknown:
                raise FileFormatError(path, f"unknown keys {unknown} (backend-specific ones go into "
                                            "[cameras.options])", key=f"cameras[{i}]")
            if "name" not in merged or "backend" not in merged:
                raise FileFormatError(path, "every camera needs a name and a backend", key=f"cameras[{i}]")
            if merged["name"] in names:
                raise FileFormatError(path, f"two cameras are named {merged['name']!r}", key=f"cameras[{i}]")
            names.add(merged["name"])
            try:
                settings.append(CameraSettings(**merged))
            except (TypeError, ValueError) as exc:
                raise FileFormatError(path, str(exc), key=f"cameras[{i}]") from None
        primaries = [s.name for s in settings if s.trigger == "primary"]
        if len(primaries) > 1:
            raise FileFormatError(path, f"more than one primary camera: {primaries}")
        if any(s.trigger == "secondary" for s in settings) and not primaries:
            raise FileFormatError(path, "secondary cameras but no primary camera to trigger them")
        return cls(name=str(data.get("name", path.stem)), cameras=settings,
                   synthetic=dict(data.get("synthetic", {})), path=path)

    @property
    def hardware_synced(self) -> bool:
        """Every camera is triggered by the same pulses (primary/secondary or external)."""
        return triggers_synchronised(s.trigger for s in self.cameras)

    def make_cameras(self, *, realtime: bool = True) -> list[Camera]:
        """The cameras, not yet opened. Synthetic cameras share one scene, and one clock when they
        are hardware-synchronised (else each runs on its own, slightly offset clock)."""
        scene = clock = None
        out = []
        for i, s in enumerate(self.cameras):
            if s.backend == "synthetic":
                from .synthetic import SyntheticClock, SyntheticScene
                if scene is None:
                    o = self.synthetic
                    fps = s.fps or 30.0
                    board = None
                    if "board" in o:      # a board file, relative to the rig file
                        from ..calibrate.boards import Board
                        board = Board.load((self.path.parent if self.path else Path()) / o["board"])
                    scene = SyntheticScene(int(o.get("cameras", len(self.cameras))), kind=o.get("scene", "board"),
                                           n_frames=int(o.get("frames", 90)), fps=fps,
                                           size=tuple(s.size or o.get("size", (640, 480))), seed=int(o.get("seed", 0)),
                                           people=int(o.get("people", 1)), radius_m=float(o.get("radius_m", 3.5)),
                                           board=board)
                    self.scene = scene
                if s.trigger == "off":
                    cam_clock = SyntheticClock(s.fps or scene.fps, offset_ns=int(i * 0.37e9 / (s.fps or scene.fps)))
                else:
                    clock = clock or SyntheticClock(s.fps or scene.fps, offset_ns=int(0.05e9))
                    cam_clock = clock
                out.append(make_camera(s, scene=scene, clock=cam_clock, realtime=realtime))
            elif s.backend == "video":
                out.append(make_camera(s, realtime=realtime))
            else:
                out.append(make_camera(s))
        return out


@dataclass
class CameraCheck:
    """What ``rig check`` found for one camera."""

    name: str
    backend: str
    ok: bool
    message: str
    applied: dict = field(default_factory=dict)


def check_rig(rig: RigConfig, *, grab: bool = True) -> list[CameraCheck]:
    """Open and configure every camera (and grab one frame when ``grab``), then release it.
    A camera that fails is reported, the others are still checked."""
    results = []
    for cam in rig.make_cameras(realtime=False):
        s = cam.settings
        try:
            cam.open()
            applied = cam.configure()
            msg = "found, configuration applied"
            if grab and s.trigger in ("off", "primary", "software"):
                cam.start()
                if s.trigger == "software":
                    cam.trigger()
                frame = cam.grab(2.0)
                cam.stop()
                h, w = (frame.image.shape[:2] if frame.image is not None else (0, 0))
                msg += f", grabbed a {w}x{h} frame"
            elif grab:
                msg += " (triggered camera: no frame grabbed without its trigger)"
            results.append(CameraCheck(s.name, s.backend, True, msg, applied))
        except Exception as exc:   # noqa: BLE001  (any failure is the answer for this camera)
            results.append(CameraCheck(s.name, s.backend, False, str(exc)))
        finally:
            try:
                cam.close()
            except Exception:  # noqa: BLE001
                pass
    return results
