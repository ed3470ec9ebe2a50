"""Camera layouts to plan: a planning TOML (cameras by position and aim, lenses, the room and the
capture volume) or any calibration file :meth:`capture3d.Rig.load` reads.

The planning TOML (world frame of CONVENTIONS.md: Z up, meters)::

    [room]                          # walls and ceiling: where --add may put cameras
    min = [-3.0, -2.5, 0.0]
    max = [3.0, 2.5, 2.8]

    [volume]                        # the capture volume the plan is about
    min = [-1.5, -1.5, 0.0]
    max = [1.5, 1.5, 2.0]

    [lens]                          # defaults for every camera (and for cameras --add places)
    size = [1920, 1080]             # width, height, pixels
    focal_mm = 3.6                  # with sensor_width_mm; or hfov_deg = 90.0
    sensor_width_mm = 5.37
    distortions = [-0.1, 0.02, 0.0, 0.0, 0.0]   # optional, OpenCV order; fisheye: 4 values
    fisheye = false

    [options]                       # optional: any PlanOptions field (command-line flags win)
    pixel_noise_px = 7.5            # 2D keypoint noise, 1 sigma per axis, px
    grid_step_m = 0.1
    body = true                     # also body_radius_m, body_height_m, body_facings

    [cameras.cam01]                 # document order is rig order
    position = [-2.9, -2.4, 2.6]
    look_at = [0.0, 0.0, 1.0]       # or yaw_deg, pitch_deg, roll_deg
    # any [lens] key here overrides the default for this camera

Yaw is the heading of the optical axis about +Z from +X (counter-clockwise seen from above),
pitch its elevation (negative looks down), roll a turn about the optical axis (positive turns the
camera clockwise as seen from behind it). Square pixels, principal point at the image centre.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from ..camera import Camera
from ..camera.camera import rodrigues_from_rotation, rotation_from_rodrigues
from ..errors import FileFormatError
from ..rig import Rig
from ..synthetic.rig import look_at as _look_at

LENS_KEYS = ("size", "focal_mm", "sensor_width_mm", "hfov_deg", "distortions", "fisheye")
CAMERA_KEYS = LENS_KEYS + ("position", "look_at", "yaw_deg", "pitch_deg", "roll_deg")


@dataclass(frozen=True)
class Box:
    """An axis-aligned box, world meters: ``lo`` and ``hi`` are ``(3,)`` float corners."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]

    @property
    def center(self) -> np.ndarray:
        return (np.asarray(self.lo) + np.asarray(self.hi)) / 2

    @property
    def size(self) -> np.ndarray:
        return np.asarray(self.hi) - np.asarray(self.lo)

    def as_list(self) -> list[float]:
        return [*map(float, self.lo), *map(float, self.hi)]


@dataclass
class Layout:
    """What a plan is made for.

    Attributes
    ----------
    rig : Rig
        The cameras, in layout order.
    volume : Box
        The capture volume, meters.
    room : Box
        Walls, floor and ceiling: candidate places of ``--add``, meters.
    lens : Camera
        Intrinsics (size, matrix, distortion, model) given to cameras that ``--add`` places.
    source : str
        Where the layout came from (a path).
    options : dict
        The planning TOML's ``[options]`` (:class:`capture3d.plan.PlanOptions` fields), checked;
        empty for a calibration file. :meth:`plan_options` merges them with overrides.
    """

    rig: Rig
    volume: Box
    room: Box
    lens: Camera
    source: str
    options: dict = field(default_factory=dict)

    def plan_options(self, **overrides):
        """:class:`capture3d.plan.PlanOptions` from the file's ``[options]``, ``overrides``
        (not None) winning: what ``capture3d plan`` uses, flags over the file."""
        from .predict import PlanOptions

        return PlanOptions(**{**self.options, **{k: v for k, v in overrides.items() if v is not None}})


def parse_box(text, name: str) -> Box:
    """``"X0,Y0,Z0,X1,Y1,Z1"`` (meters) or 6 numbers -> :class:`Box`; ValueError naming ``name``."""
    try:
        vals = [float(v) for v in (text.split(",") if isinstance(text, str) else text)]
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected X0,Y0,Z0,X1,Y1,Z1 in meters, got {text!r}") from None
    if len(vals) != 6 or not np.all(np.isfinite(vals)):
        raise ValueError(f"{name}: expected 6 finite numbers X0,Y0,Z0,X1,Y1,Z1 in meters, got {text!r}")
    box = Box(tuple(vals[:3]), tuple(vals[3:]))
    _check_box(box, lambda problem: ValueError(f"{name}: {problem}"))
    return box


def _check_box(box: Box, error):
    if np.any(box.size <= 0):
        axis = "xyz"[int(np.argmax(box.size <= 0))]
        raise error(f"empty box: max must exceed min on every axis ({axis}: "
                    f"{box.lo['xyz'.index(axis)]} .. {box.hi['xyz'.index(axis)]} m)")


def _lens_camera(name: str, spec: dict, path: Path) -> Camera:
    """Intrinsics from the lens keys of ``spec`` (a camera table merged over ``[lens]``)."""
    def bad(key, problem):
        return FileFormatError(path, problem, camera=name, key=key)

    if "size" not in spec:
        raise bad("size", "missing (width, height in pixels)")
    size = np.asarray(spec["size"], float).ravel()
    if size.size != 2 or np.any(size < 1):
        raise bad("size", f"expected [width, height] in pixels, got {spec['size']!r}")
    w, h = int(size[0]), int(size[1])
    if "hfov_deg" in spec:
        hfov = float(spec["hfov_deg"])
        if not 0 < hfov < 180:
            raise bad("hfov_deg", f"field of view must be in (0, 180) degrees, got {hfov}")
        f = w / 2 / np.tan(np.radians(hfov) / 2)
    elif "focal_mm" in spec and "sensor_width_mm" in spec:
        fmm, smm = float(spec["focal_mm"]), float(spec["sensor_width_mm"])
        if not fmm > 0:
            raise bad("focal_mm", f"focal length must be > 0 mm, got {fmm}")
        if not smm > 0:
            raise bad("sensor_width_mm", f"sensor width must be > 0 mm (zero field of view), got {smm}")
        f = fmm / smm * w
    else:
        raise bad("focal_mm", "lens missing: give focal_mm with sensor_width_mm, or hfov_deg")
    fisheye = bool(spec.get("fisheye", False))
    dist = np.asarray(spec.get("distortions", np.zeros(4 if fisheye else 5)), float).ravel()
    K = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]])
    try:
        return Camera(name=name, size=(w, h), matrix=K, dist=dist,
                      model="fisheye" if fisheye else "pinhole")
    except ValueError as exc:
        raise bad("distortions", str(exc)) from None


def _rotation(name: str, spec: dict, position: np.ndarray, path: Path) -> np.ndarray:
    """``cam_from_world`` rotation ``(3, 3)`` from ``look_at`` or yaw/pitch/roll."""
    if "look_at" in spec:
        target = np.asarray(spec["look_at"], float).ravel()
        if target.size != 3 or np.linalg.norm(target - position) < 1e-6:
            raise FileFormatError(path, "expected a point [x, y, z] m away from the camera",
                                  camera=name, key="look_at")
        return rotation_from_rodrigues(_look_at(position, target)[0])
    if "yaw_deg" not in spec:
        raise FileFormatError(path, "aim missing: give look_at = [x, y, z] or yaw_deg, pitch_deg, roll_deg",
                              camera=name, key="look_at")
    yaw, pitch, roll = (np.radians(float(spec.get(k, 0.0))) for k in ("yaw_deg", "pitch_deg", "roll_deg"))
    z = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), np.sin(pitch)])
    x = np.array([np.sin(yaw), -np.cos(yaw), 0.0])          # right, horizontal at roll 0
    y = np.cross(z, x)                                       # image down
    c, s = np.cos(roll), np.sin(roll)
    x, y = c * x + s * y, -s * x + c * y
    return np.stack([x, y, z])


def _box(doc: dict, key: str, path: Path) -> Box:
    table = doc.get(key)
    if not isinstance(table, dict) or "min" not in table or "max" not in table:
        raise FileFormatError(path, "expected a table with min = [x, y, z] and max = [x, y, z] (m)", key=key)
    lo, hi = (np.asarray(table[k], float).ravel() for k in ("min", "max"))
    if lo.size != 3 or hi.size != 3:
        raise FileFormatError(path, "min and max must be [x, y, z] in meters", key=key)
    box = Box(tuple(lo), tuple(hi))
    _check_box(box, lambda problem: FileFormatError(path, problem, key=key))
    return box


def read_planning_toml(path) -> Layout:
    """Read a planning TOML (format in this module's docstring) into a :class:`Layout`."""
    path = Path(path)
    doc = tomllib.loads(path.read_text())
    volume = _box(doc, "volume", path)
    room = _box(doc, "room", path) if "room" in doc else _room_around(None, volume)
    lens_defaults = doc.get("lens", {})
    unknown = set(lens_defaults) - set(LENS_KEYS)
    if unknown:
        raise FileFormatError(path, f"unknown keys {sorted(unknown)}; known: {list(LENS_KEYS)}", key="lens")
    cams = doc.get("cameras")
    if not isinstance(cams, dict) or not cams:
        raise FileFormatError(path, "no cameras: expected [cameras.NAME] tables", key="cameras")
    cameras = []
    for name, spec in cams.items():
        unknown = set(spec) - set(CAMERA_KEYS)
        if unknown:
            raise FileFormatError(path, f"unknown keys {sorted(unknown)}", camera=name)
        spec = {**lens_defaults, **spec}
        position = np.asarray(spec.get("position", []), float).ravel()
        if position.size != 3:
            raise FileFormatError(path, "expected [x, y, z] in meters", camera=name, key="position")
        R = _rotation(name, spec, position, path)
        cam = _lens_camera(name, spec, path)
        cameras.append(cam.with_pose(rodrigues_from_rotation(R), -R @ position))
    lens = _lens_camera("added", lens_defaults, path) if lens_defaults else cameras[0]
    return Layout(Rig(cameras, {"source": str(path)}), volume, room, lens, str(path), _options(doc, path))


def _options(doc, path) -> dict:
    """The ``[options]`` table, its keys and values checked by :class:`PlanOptions` itself."""
    from .predict import PlanOptions

    table = doc.get("options", {})
    if not isinstance(table, dict):
        raise FileFormatError(path, "expected a table of PlanOptions fields", key="options")
    known = [f.name for f in fields(PlanOptions)]
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise FileFormatError(path, f"unknown keys {unknown}; known: {known}", key="options")
    try:
        PlanOptions(**table)
    except (TypeError, ValueError) as exc:
        raise FileFormatError(path, str(exc), key="options") from None
    return dict(table)


def _room_around(rig: Rig | None, volume: Box) -> Box:
    """The smallest box holding the cameras and the volume, from the floor up (meters)."""
    pts = np.vstack([np.asarray(volume.lo), np.asarray(volume.hi)] +
                    ([rig.centers] if rig is not None and len(rig) else []))
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    lo[2] = min(lo[2], 0.0)
    hi[2] = max(hi[2], volume.hi[2] + 0.5)
    return Box(tuple(lo), tuple(hi))


def is_planning_toml(path) -> bool:
    """A planning TOML has a ``[volume]`` table (no calibration format has one)."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() != ".toml":
        return False
    try:
        return "volume" in tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise FileFormatError(path, f"not valid TOML ({exc})") from None


def load_layout(path, *, volume: Box | None = None, room: Box | None = None) -> Layout:
    """A layout from a planning TOML or a calibration file.

    Parameters
    ----------
    path : path
        Planning TOML, or any calibration :meth:`capture3d.Rig.load` reads.
    volume, room : Box, optional
        Override the file's boxes. For a calibration file, the default volume is the box above
        the floor that at least two cameras see (:func:`capture3d.plan.default_volume`) and the
        default room the box around the cameras and the volume.
    """
    if is_planning_toml(path):
        lay = read_planning_toml(path)
        if volume is not None:
            lay.volume = volume
        if room is not None:
            lay.room = room
    else:
        rig = Rig.load(path)
        if volume is None:
            from .predict import default_volume
            volume = default_volume(rig)
        lay = Layout(rig, volume, room or _room_around(rig, volume), rig[0] if len(rig) else None,
                     str(path))
    if np.any(np.asarray(lay.volume.lo) < np.asarray(lay.room.lo) - 1e-9) or \
            np.any(np.asarray(lay.volume.hi) > np.asarray(lay.room.hi) + 1e-9):
        raise FileFormatError(path, f"the capture volume {lay.volume.as_list()} is not inside the room "
                                    f"{lay.room.as_list()} (m)", key="room")
    if len(lay.rig) < 2:
        raise FileFormatError(path, f"{len(lay.rig)} camera(s) {lay.rig.names}; a plan needs at least 2",
                              key="cameras")
    return lay
