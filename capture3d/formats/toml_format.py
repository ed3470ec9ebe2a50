"""``calibration.toml``: ours, aniposelib's, Pose2Sim's and caliscope's.

All four are one family: a table per camera with ``matrix``, ``distortions``, ``rotation``,
``translation`` and ``size``. Differences handled here:

- ours / aniposelib / Pose2Sim: top-level sections, any names, ``metadata`` skipped; the camera's
  name is its ``name`` key (else the section name). Cameras keep the *file's* order (aniposelib
  re-sorts section names, which puts ``cam_10`` before ``cam_2``; we never do).
- caliscope ``camera_array.toml``: ``[cameras.N]``; ``config.toml``: ``[cam_N]`` among settings.
  Rotation may be a 3x3 matrix; cameras are named ``cam_N``; ``ignore = true`` cameras are dropped.
- Units: ``metadata.units`` if present, else the ``units`` argument, else meters.
"""
from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import tomli_w

from .. import __version__
from ..camera import Camera
from ..errors import FileFormatError
from ..io import load_toml
from ..rig import Rig
from ._common import field_array, rotation_to_rvec, unit_scale

_CAMERA_KEYS = {"matrix", "distortions", "rotation", "translation"}
_NOT_CAMERAS = {"metadata", "capture_volume", "charuco", "checkerboard", "board"}



def looks_like(path: Path) -> bool:
    return path.suffix.lower() == ".toml"


def _camera_tables(doc: dict) -> list[tuple[str, str, dict]]:
    """(section label, default name, table) for every camera table, in file order."""
    if isinstance(doc.get("cameras"), dict):  # caliscope camera_array.toml
        return [(f"cameras.{k}", f"cam_{k}", v) for k, v in doc["cameras"].items()
                if isinstance(v, dict)]
    return [(k, k, v) for k, v in doc.items()
            if isinstance(v, dict) and k not in _NOT_CAMERAS and _CAMERA_KEYS & set(v)]


def read(path, *, units: str | None = None) -> Rig:
    path = Path(path)
    doc = load_toml(path)
    meta = dict(doc.get("metadata", {})) if isinstance(doc.get("metadata"), dict) else {}
    scale = unit_scale(meta.get("units", units or "m"), path)
    cameras = []
    for label, default_name, tab in _camera_tables(doc):
        if tab.get("ignore", False) is True:
            continue
        name = str(tab.get("name", default_name))
        size = field_array(tab, "size", [(2,)], path, label)
        matrix = field_array(tab, "matrix", [(3, 3)], path, label)
        dist = field_array(tab, "distortions", [(4,), (5,), (8,)], path, label)
        rot = field_array(tab, "rotation", [(3,), (3, 3)], path, label) if "rotation" in tab else np.zeros(3)
        trans = field_array(tab, "translation", [(3,)], path, label) if "translation" in tab else np.zeros(3)
        if ("rotation" in tab) != ("translation" in tab):   # both absent: intrinsics only, camera at the origin
            missing = "rotation" if "translation" in tab else "translation"
            raise FileFormatError(path, f"has a {'translation' if missing == 'rotation' else 'rotation'} but no "
                                  f"{missing}", camera=label, key=missing)
        fisheye = bool(tab.get("fisheye", False))
        if fisheye and dist.size != 4:
            raise FileFormatError(path, f"fisheye camera needs 4 coefficients, got {dist.size}",
                                  camera=label, key="distortions")
        serial = tab.get("serial")
        cameras.append(Camera(name=name, size=(int(size[0]), int(size[1])), matrix=matrix, dist=dist,
                              rvec=rotation_to_rvec(rot, path, label), tvec=trans * scale,
                              model="fisheye" if fisheye else "pinhole",
                              serial=None if serial is None else str(serial)))
    if not cameras:
        raise FileFormatError(path, "no camera sections found (tables with 'matrix', 'distortions', ...)")
    try:
        return Rig(cameras, meta)
    except ValueError as exc:
        raise FileFormatError(path, str(exc), key="name") from None


def _clean(value):
    """Metadata values as TOML can hold them (NumPy scalars and arrays to Python)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_clean(v) for v in np.asarray(value).tolist()] if isinstance(value, np.ndarray) \
            else [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def write(rig: Rig, path) -> Path:
    """Write ours: sections ``cam_00``...; aniposelib and Pose2Sim read it unchanged."""
    path = Path(path)
    width = max(2, len(str(len(rig) - 1)))
    doc = {}
    for i, cam in enumerate(rig.cameras):
        tab = {"name": cam.name, "size": list(cam.size), "matrix": cam.matrix.tolist(),
               "distortions": cam.dist.tolist(), "rotation": cam.rvec.tolist(),
               "translation": cam.tvec.tolist(), "fisheye": cam.model == "fisheye"}
        if cam.serial is not None:
            tab["serial"] = cam.serial
        doc[f"cam_{i:0{width}d}"] = tab
    meta = {k: v for k, v in rig.metadata.items() if k not in ("units", "up_axis")}
    meta = {"units": "m", "up_axis": "z", **_clean(meta)}
    meta.setdefault("software", f"capture3d {__version__}")
    meta.setdefault("date", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    # the cameras' arrays on one line each, as CONVENTIONS.md shows them (tomli_w puts every number
    # of a matrix on a line of its own); the metadata, which may nest tables, as tomli_w writes it
    text = "\n".join([f"[{name}]\n" + "".join(f"{k} = {_inline(v)}\n" for k, v in tab.items())
                      for name, tab in doc.items()] + [tomli_w.dumps({"metadata": meta})])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # never leave a half-written calibration under the real name
    return path


def _inline(value) -> str:
    """``value`` as an inline TOML value, arrays on one line (scalars as tomli_w writes them).

    >>> _inline([[1.5, 0.0], [float("nan"), 2]]), _inline("cam01"), _inline(True)
    ('[[1.5, 0.0], [nan, 2]]', '"cam01"', 'true')
    """
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return tomli_w.dumps({"v": value})[len("v = "):].rstrip("\n")
