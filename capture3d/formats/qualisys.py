"""Qualisys ``.qca.txt`` (QTM calibration export, XML).

How the file is read, and why (checked against Pose2Sim's ``calib_qca_fun``):

- Pixel quantities (``focalLengthU/V``, ``centerPointU/V``, ``sensorMax*``) are in Qualisys
  sub-pixel units, 1/64 pixel; we divide them by 64. The principal point is then shifted by the
  video field of view's ``left`` / ``top``, and the image size is ``right - left + 1`` by
  ``bottom - top + 1`` of ``fov_video``.
- ``transform`` holds the camera position ``x, y, z`` in millimeters and a rotation ``r11..r33``.
  The rotation read row by row is ``cam_from_world`` in Qualisys' camera axes (y up, z backward);
  a half turn about the camera's x axis brings it to OpenCV's axes (y down, z forward). So
  ``R = Rx(pi) @ M`` and ``t = -R @ position``. The test confirms every camera's optical axis then
  points into the capture volume.
- Distortion (``radialDistortion1/2/3``, ``tangentalDistortion1/2``) is **not** divided by 64.
  These are coefficients of a polynomial in the normalised (unit-free) image radius; the 1/64
  sub-pixel unit applies only to values measured in pixels. Pose2Sim divides them by 64 as well.
  The data decides it: for these 9.3 mm lenses the file's k1 = -0.046, k2 = 0.14 displace the
  image corners by about 7 px, typical of such a lens; divided by 64, every camera would be
  distortion-free to 0.1 px, which no real lens is. ``distortion_scale=1/64`` reproduces
  Pose2Sim exactly when wanted.
- Cameras are taken in natural order of their ``serial`` (as Pose2Sim does), named by serial.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..camera import Camera
from ..camera.camera import rodrigues_from_rotation
from ..errors import FileFormatError
from ..rig import Rig

SUBPIXELS = 64.0


def looks_like(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(".qca.txt") or name.endswith(".qca"):
        return True
    if path.suffix.lower() in (".xml", ".txt") and path.is_file():
        head = path.read_bytes()[:400].decode("ascii", "ignore")
        return "<calibration" in head
    return False


def _natural_key(s: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def _attr(el, key, path, camera) -> float:
    if el is None:
        raise FileFormatError(path, "missing element", camera=camera, key=key.split(".")[0])
    name = key.split(".")[-1]
    try:
        return float(el.attrib[name])
    except KeyError:
        raise FileFormatError(path, "missing attribute", camera=camera, key=key) from None
    except ValueError:
        raise FileFormatError(path, f"not a number: {el.attrib[name]!r}", camera=camera, key=key) from None


def read(path, *, distortion_scale: float = 1.0, units=None) -> Rig:
    """Read a ``.qca.txt``; ``distortion_scale=1/64`` gives Pose2Sim's (doubtful) distortion."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise FileFormatError(path, f"not valid XML ({exc})") from None
    except OSError as exc:
        raise FileFormatError(path, f"cannot be read ({exc.strerror})") from None
    cams_el = root.findall("cameras/camera")
    if not cams_el:
        raise FileFormatError(path, "no <cameras>/<camera> elements: not a Qualisys calibration")
    cameras = []
    flip = np.diag([1.0, -1.0, -1.0])  # Rx(pi): Qualisys camera axes -> OpenCV camera axes
    for i, el in enumerate(cams_el):
        name = el.attrib.get("serial") or f"cam{i + 1:02d}"
        fov = el.find("fov_video")
        intr = el.find("intrinsic")
        tr = el.find("transform")
        left, top = _attr(fov, "fov_video.left", path, name), _attr(fov, "fov_video.top", path, name)
        width = _attr(fov, "fov_video.right", path, name) - left + 1
        height = _attr(fov, "fov_video.bottom", path, name) - top + 1
        g = lambda k: _attr(intr, f"intrinsic.{k}", path, name)  # noqa: E731
        fu, fv = g("focalLengthU") / SUBPIXELS, g("focalLengthV") / SUBPIXELS
        cu = g("centerPointU") / SUBPIXELS - left
        cv_ = g("centerPointV") / SUBPIXELS - top
        skew = float(intr.attrib.get("skew", 0.0)) if intr is not None else 0.0
        matrix = np.array([[fu, skew, cu], [0.0, fv, cv_], [0.0, 0.0, 1.0]])
        dist = np.array([g("radialDistortion1"), g("radialDistortion2"),
                         g("tangentalDistortion1"), g("tangentalDistortion2"),
                         float(intr.attrib.get("radialDistortion3", 0.0))]) * distortion_scale
        m = np.array([[_attr(tr, f"transform.r{r}{c}", path, name) for c in (1, 2, 3)]
                      for r in (1, 2, 3)])
        position_m = np.array([_attr(tr, f"transform.{k}", path, name) for k in "xyz"]) / 1000.0
        R = flip @ m
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-4):
            raise FileFormatError(path, "rotation r11..r33 is not orthonormal", camera=name, key="transform")
        cameras.append(Camera(name=name, size=(int(width), int(height)), matrix=matrix, dist=dist,
                              rvec=rodrigues_from_rotation(R), tvec=-R @ position_m, serial=name))
    cameras.sort(key=lambda c: _natural_key(c.name))
    meta = {"source": f"qualisys:{path.name}",
            "qualisys_avg_residual": [float(e.attrib.get("avg-residual", "nan")) for e in cams_el]}
    return Rig(cameras, meta)
