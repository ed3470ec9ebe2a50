"""Calibration file formats: one reader per format, chosen by content, and the writers.

========== ============================================ ======= =======
format     files                                        read    write
========== ============================================ ======= =======
toml       ours, aniposelib, Pose2Sim, caliscope TOML   yes     yes
qualisys   ``*.qca.txt``                                yes     no
openpose   folder of per-camera XML                     yes     yes
easymocap  folder with ``intri.yml`` + ``extri.yml``    yes     yes
========== ============================================ ======= =======
"""
from __future__ import annotations

from pathlib import Path

from ..errors import FileFormatError
from . import opencv_storage, qualisys, toml_format

READERS = {
    "toml": toml_format.read,
    "qualisys": qualisys.read,
    "openpose": opencv_storage.read_openpose,
    "easymocap": opencv_storage.read_easymocap,
}
WRITERS = {
    "toml": toml_format.write,
    "openpose": opencv_storage.write_openpose,
    "easymocap": opencv_storage.write_easymocap,
}


def detect_format(path) -> str:
    """The format of ``path`` from its name and content; FileFormatError if none fits."""
    path = Path(path)
    if not path.exists():
        raise FileFormatError(path, "file not found")
    if qualisys.looks_like(path):
        return "qualisys"
    if opencv_storage.looks_like_easymocap(path):
        return "easymocap"
    if path.is_dir() and opencv_storage.looks_like_openpose(path) or \
            path.suffix.lower() == ".xml" and opencv_storage.looks_like_openpose(path):
        return "openpose"
    if toml_format.looks_like(path):
        return "toml"
    raise FileFormatError(path, "unknown calibration format; expected a .toml, .qca.txt, an OpenPose "
                                "XML folder or an EasyMocap folder (intri.yml + extri.yml)")


def read_calibration(path, *, format: str | None = None, units: str | None = None):
    """Read a calibration into a :class:`~capture3d.rig.Rig` (meters, world -> camera)."""
    fmt = format or detect_format(path)
    if fmt not in READERS:
        raise ValueError(f"unknown calibration format {fmt!r}; known: {sorted(READERS)}")
    return READERS[fmt](path, units=units)


def write_calibration(rig, path, *, format: str | None = None) -> Path:
    """Write ``rig``; format from ``format`` or the path (``.toml`` or a folder name)."""
    path = Path(path)
    fmt = format or ("toml" if path.suffix.lower() == ".toml" else None)
    if fmt is None:
        raise ValueError(f"{path}: cannot tell the calibration format from the name: give a .toml name, or a "
                         f"folder and --format (format= in Python) one of {sorted(WRITERS)}")
    if fmt not in WRITERS:
        raise ValueError(f"cannot write format {fmt!r}; writable: {sorted(WRITERS)}")
    return WRITERS[fmt](rig, path)
