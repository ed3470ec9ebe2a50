"""OpenPose per-camera XML (``models/cameraParameters``) and EasyMocap ``intri.yml`` / ``extri.yml``.

Both are OpenCV ``FileStorage`` files, read and written through ``cv2.FileStorage``.

- OpenPose: one ``<serial>.xml`` per camera in a folder, with ``CameraMatrix`` (3x4 ``[R | t]``,
  world to camera), ``Intrinsics`` (3x3) and ``Distortion`` (OpenCV order, 4/5/8 values). The
  file carries no unit and no image size: we read and write meters (pass ``units="mm"`` for files
  from a millimeter calibration) and add an ``ImageSize`` node that OpenPose ignores; without it
  the size is taken as twice the principal point.
- EasyMocap: ``names``, ``K_<name>``, ``dist_<name>`` in ``intri.yml``; ``R_<name>`` (Rodrigues),
  ``Rot_<name>`` (3x3) and ``T_<name>`` (meters) in ``extri.yml``. ``H_<name>``/``W_<name>``
  carry the image size when present.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..camera import Camera
from ..camera.camera import rodrigues_from_rotation
from ..errors import FileFormatError
from ..rig import Rig
from ._common import unit_scale


def _open(path: Path, mode=cv2.FILE_STORAGE_READ) -> cv2.FileStorage:
    if mode == cv2.FILE_STORAGE_READ and not path.is_file():
        raise FileFormatError(path, "file not found")
    try:
        fs = cv2.FileStorage(str(path), mode)
    except (cv2.error, SystemError) as exc:
        # OpenCV 4.14's constructor raises SystemError ("returned a result with an exception set")
        # with the cv2.error as its cause; older versions raise the cv2.error itself
        cause = exc if isinstance(exc, cv2.error) else exc.__cause__
        reason = getattr(cause, "err", None) or str(cause or exc)
        raise FileFormatError(path, f"not an OpenCV XML/YAML file ({reason.strip()})") from None
    if not fs.isOpened():
        raise FileFormatError(path, "cannot be opened as an OpenCV XML/YAML file")
    return fs


def _mat(fs, key, path, camera, shapes) -> np.ndarray:
    node = fs.getNode(key)
    m = None if node.empty() else node.mat()
    if m is None:
        raise FileFormatError(path, "missing or not a matrix", camera=camera, key=key)
    m = np.asarray(m, dtype=np.float64)
    for shape in shapes:
        if m.size == int(np.prod(shape)):
            return m.reshape(shape)
    raise FileFormatError(path, f"expected {' or '.join(map(str, shapes))} values, got shape {m.shape}",
                          camera=camera, key=key)


def _size_from(fs, key_w, key_h, matrix) -> tuple[int, int]:
    w, h = fs.getNode(key_w), fs.getNode(key_h)
    if not w.empty() and not h.empty():
        return int(w.real()), int(h.real())
    return int(round(2 * matrix[0, 2])), int(round(2 * matrix[1, 2]))


# -- OpenPose ----------------------------------------------------------------------------------
def looks_like_openpose(path: Path) -> bool:
    files = sorted(path.glob("*.xml")) if path.is_dir() else [path]
    return bool(files) and all(f.suffix.lower() == ".xml" for f in files) and \
        b"<CameraMatrix" in files[0].read_bytes()[:2000]


def read_openpose(path, *, units: str | None = None) -> Rig:
    path = Path(path)
    files = sorted(path.glob("*.xml")) if path.is_dir() else [path]
    if not files:
        raise FileFormatError(path, "no .xml camera files in this folder")
    scale = unit_scale(units or "m", path)
    cameras = []
    for f in files:
        fs = _open(f)
        name = f.stem
        extr = _mat(fs, "CameraMatrix", f, name, [(3, 4)])
        K = _mat(fs, "Intrinsics", f, name, [(3, 3)])
        dist = _mat(fs, "Distortion", f, name, [(4,), (5,), (8,)])
        node = fs.getNode("ImageSize")
        size = tuple(int(v) for v in node.mat().ravel()) if not node.empty() else \
            (int(round(2 * K[0, 2])), int(round(2 * K[1, 2])))
        fs.release()
        cameras.append(Camera(name=name, size=size, matrix=K, dist=dist,
                              rvec=rodrigues_from_rotation(extr[:, :3]), tvec=extr[:, 3] * scale,
                              serial=name))
    return Rig(cameras, {"source": f"openpose:{path.name}"})


def write_openpose(rig: Rig, folder) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for cam in rig.cameras:
        if cam.model != "pinhole":
            raise ValueError(f"camera {cam.name!r}: OpenPose XML holds pinhole cameras only")
        fs = _open(folder / f"{cam.name}.xml", cv2.FILE_STORAGE_WRITE)
        fs.write("CameraMatrix", cam.pose_matrix)
        fs.write("Intrinsics", cam.matrix)
        fs.write("Distortion", cam.dist.reshape(-1, 1))
        fs.write("ImageSize", np.array([[cam.size[0], cam.size[1]]], dtype=np.int32))
        fs.release()
    return folder


# -- EasyMocap ---------------------------------------------------------------------------------
def _easymocap_paths(path: Path) -> tuple[Path, Path]:
    folder = path if path.is_dir() else path.parent
    return folder / "intri.yml", folder / "extri.yml"


def looks_like_easymocap(path: Path) -> bool:
    intri, extri = _easymocap_paths(path)
    return (path.is_dir() or path.name in ("intri.yml", "extri.yml")) and intri.is_file() and extri.is_file()


def _names(fs, path) -> list[str]:
    node = fs.getNode("names")
    if node.empty() or not node.isSeq():
        raise FileFormatError(path, "missing the list of camera names", key="names")
    return [node.at(i).string() for i in range(node.size())]


def read_easymocap(path, *, units: str | None = None) -> Rig:
    intri_path, extri_path = _easymocap_paths(Path(path))
    scale = unit_scale(units or "m", extri_path)
    intri, extri = _open(intri_path), _open(extri_path)
    names = _names(intri, intri_path)
    missing = [n for n in names if extri.getNode(f"T_{n}").empty()]
    if missing:
        raise FileFormatError(extri_path, f"no extrinsics for cameras {missing}", camera=missing[0],
                              key=f"T_{missing[0]}")
    cameras = []
    for n in names:
        K = _mat(intri, f"K_{n}", intri_path, n, [(3, 3)])
        dist = _mat(intri, f"dist_{n}", intri_path, n, [(4,), (5,), (8,)])
        if not extri.getNode(f"Rot_{n}").empty():
            rvec = rodrigues_from_rotation(_mat(extri, f"Rot_{n}", extri_path, n, [(3, 3)]))
        else:
            rvec = _mat(extri, f"R_{n}", extri_path, n, [(3,)])
        tvec = _mat(extri, f"T_{n}", extri_path, n, [(3,)]) * scale
        cameras.append(Camera(name=n, size=_size_from(intri, f"W_{n}", f"H_{n}", K), matrix=K,
                              dist=dist, rvec=rvec, tvec=tvec))
    intri.release()
    extri.release()
    return Rig(cameras, {"source": "easymocap"})


def write_easymocap(rig: Rig, folder) -> Path:
    folder = Path(folder)
    if folder.suffix:  # given intri.yml / extri.yml: write beside it
        folder = folder.parent
    folder.mkdir(parents=True, exist_ok=True)
    intri = _open(folder / "intri.yml", cv2.FILE_STORAGE_WRITE)
    extri = _open(folder / "extri.yml", cv2.FILE_STORAGE_WRITE)
    for fs in (intri, extri):
        fs.write("names", rig.names)
    for cam in rig.cameras:
        if cam.model != "pinhole":
            raise ValueError(f"camera {cam.name!r}: EasyMocap YAML holds pinhole cameras only")
        intri.write(f"K_{cam.name}", cam.matrix)
        intri.write(f"dist_{cam.name}", cam.dist.reshape(1, -1))
        intri.write(f"H_{cam.name}", int(cam.size[1]))
        intri.write(f"W_{cam.name}", int(cam.size[0]))
        extri.write(f"R_{cam.name}", cam.rvec.reshape(3, 1))
        extri.write(f"Rot_{cam.name}", cam.rotation)
        extri.write(f"T_{cam.name}", cam.tvec.reshape(3, 1))
    intri.release()
    extri.release()
    return folder
