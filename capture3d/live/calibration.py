"""Which calibration live 3D uses, and the check that it fits the cameras before anything is written.

A synthetic rig file knows its own calibration: its cameras are cameras of the synthetic scene's
rig (:class:`capture3d.capture.synthetic.SyntheticScene`), so :func:`rig_calibration` gives that
rig with the rig file's camera names, and ``capture3d rig calibration RIG -o calibration.toml``
writes it out for the other commands. Any other calibration is checked by
:func:`check_calibration` against the cameras' names and image sizes: a calibration made for
other images would triangulate nothing (every view disagrees), so it is refused with the camera
and both sizes named.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import FileFormatError
from ..rig import Rig, require_poses


def rig_calibration(rig_config) -> Rig:
    """The exact calibration of a synthetic rig file (every camera ``backend = "synthetic"``).

    Parameters
    ----------
    rig_config : capture3d.capture.RigConfig

    Returns
    -------
    Rig
        The rig file's cameras, in its order and with its names, as the synthetic scene renders
        them (meters, world frame of the scene).

    Raises
    ------
    FileFormatError
        When a camera is not synthetic (real cameras need ``capture3d calibrate``).
    """
    real = [s.name for s in rig_config.cameras if s.backend != "synthetic"]
    where = rig_config.path or rig_config.name
    if real:
        raise FileFormatError(where, f"cameras {real} are not synthetic: only a synthetic rig knows its own "
                                     "calibration; calibrate real cameras with capture3d calibrate (and give "
                                     "record that file: --live-3d CALIBRATION)")
    scene = rig_config.scene
    if scene is None:
        rig_config.make_cameras(realtime=False)        # builds the scene (images are rendered lazily)
        scene = rig_config.scene
    cameras = []
    for s in rig_config.cameras:
        index = int(s.device or 0)
        if not 0 <= index < len(scene.rig):
            raise FileFormatError(where, f"device {index} is not a camera of the synthetic rig "
                                         f"(it has {len(scene.rig)})", camera=s.name)
        cameras.append(dataclasses.replace(scene.rig[index], name=s.name))
    return Rig(cameras, {"source": f"synthetic rig {rig_config.name}"})


def check_calibration(rig: Rig, sizes: dict, *, source="calibration") -> Rig:
    """The calibration's cameras for ``sizes``, in that order, or an error naming what differs.

    Parameters
    ----------
    rig : Rig
        The calibration.
    sizes : dict
        ``{camera name: (width, height)}`` pixels, as the cameras record (or the videos hold).
    source : str or Path
        The calibration's file, for the message.

    Raises
    ------
    FileFormatError
        A camera the calibration does not know, or one whose calibrated image size differs
        ("camera 'cam01': calibrated for 640x480 images, the camera records 1280x720").
    """
    missing = [name for name in sizes if name not in rig.names]
    if missing:
        raise FileFormatError(source, f"no camera {missing} in this calibration (it has {rig.names})")
    for name, size in sizes.items():
        if size is None:
            continue
        calibrated = tuple(int(v) for v in rig[name].size)
        recorded = (int(size[0]), int(size[1]))
        if calibrated != recorded:
            raise FileFormatError(source, f"calibrated for {calibrated[0]}x{calibrated[1]} images, the camera records "
                                          f"{recorded[0]}x{recorded[1]}", camera=name)
    return rig.subset(list(sizes))


def load_calibration(calibration, rig_config=None) -> tuple[Rig, str]:
    """A :class:`Rig` from ``calibration`` (a path, a Rig, or ``"rig"``/None for a synthetic rig
    file's own), and where it came from (for messages)."""
    if isinstance(calibration, Rig):
        return calibration, "calibration"
    if calibration in (None, "rig", True):
        if rig_config is None:
            raise ValueError("live 3D needs a calibration (-c CALIBRATION)")
        return rig_calibration(rig_config), str(rig_config.path or rig_config.name)
    path = Path(calibration)
    if not path.exists():
        raise FileFormatError(path, "no such calibration file")
    return require_poses(Rig.load(path), path), str(path)
