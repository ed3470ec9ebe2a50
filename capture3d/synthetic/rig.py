"""Synthetic rigs: cameras placed around a capture volume, looking at its centre."""
from __future__ import annotations

import numpy as np

from ..camera import Camera
from ..camera.camera import rodrigues_from_rotation
from ..rig import Rig


def look_at(position, target, up=(0.0, 0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """``cam_from_world`` (rvec, tvec) of an OpenCV camera at ``position`` looking at ``target``."""
    position, target, up = (np.asarray(v, float) for v in (position, target, up))
    z = target - position
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:  # looking straight up or down: any right vector will do
        x = np.cross(z, [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return rodrigues_from_rotation(R), -R @ position


def make_rig(n_cameras: int = 4, *, layout: str = "ring", radius_m: float = 4.0,
             height_m: float = 1.8, target=(0.0, 0.0, 0.9), size=(1280, 720),
             focal_px: float | None = None, distortion: bool = True, fisheye: int = 0,
             seed: int = 0) -> Rig:
    """Cameras around a capture volume, named ``cam01``, ``cam02``...

    Parameters
    ----------
    n_cameras : int
    layout : {"ring", "arc", "random"}
        Ring: evenly around 360 degrees; arc: spread over 180 degrees in front (+Y side);
        random: random azimuths, radii in 0.8-1.2 x ``radius_m`` and heights in 1.0-2.6 m.
    radius_m, height_m : float
        Distance from the centre and height of the cameras, meters.
    target : (3,) float
        Point every camera looks at, meters.
    size : (width, height), pixels
    focal_px : float, optional
        Focal length; default about 0.9 x width (a 60 degree horizontal field of view), jittered.
    distortion : bool
        Realistic lens distortion (k1 in -0.25..0.05, small k2 and tangential terms).
    fisheye : int
        How many of the cameras (the last ones) are fisheye (Kannala-Brandt) instead.
    seed : int
    """
    if n_cameras < 1:
        raise ValueError(f"n_cameras must be >= 1, got {n_cameras}")
    if layout not in ("ring", "arc", "random"):
        raise ValueError(f"layout must be 'ring', 'arc' or 'random', got {layout!r}")
    rng = np.random.default_rng(seed)
    w, h = int(size[0]), int(size[1])
    if layout == "ring":
        az = np.linspace(0, 2 * np.pi, n_cameras, endpoint=False) + 0.3
        radii = np.full(n_cameras, radius_m)
        heights = np.full(n_cameras, height_m) + rng.uniform(-0.3, 0.3, n_cameras)
    elif layout == "arc":
        az = np.linspace(np.pi * 0.05, np.pi * 0.95, n_cameras) if n_cameras > 1 else np.array([np.pi / 2])
        radii = np.full(n_cameras, radius_m)
        heights = np.full(n_cameras, height_m) + rng.uniform(-0.3, 0.3, n_cameras)
    else:
        az = rng.uniform(0, 2 * np.pi, n_cameras)
        radii = radius_m * rng.uniform(0.8, 1.2, n_cameras)
        heights = rng.uniform(1.0, 2.6, n_cameras)
    digits = max(2, len(str(n_cameras)))
    cameras = []
    for i in range(n_cameras):
        pos = np.array([radii[i] * np.cos(az[i]), radii[i] * np.sin(az[i]), heights[i]])
        rvec, tvec = look_at(pos, np.asarray(target, float) + rng.normal(0, 0.05, 3))
        is_fisheye = i >= n_cameras - fisheye
        f = (focal_px or (0.55 if is_fisheye else 0.9) * w) * rng.uniform(0.95, 1.05)
        K = np.array([[f, 0, w / 2 + rng.uniform(-0.02, 0.02) * w],
                      [0, f * rng.uniform(0.998, 1.002), h / 2 + rng.uniform(-0.02, 0.02) * h],
                      [0, 0, 1.0]])
        if is_fisheye:
            dist = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.01, 0.01), 0.0, 0.0]) \
                if distortion else np.zeros(4)
        else:
            dist = np.array([rng.uniform(-0.25, 0.05), rng.uniform(-0.05, 0.1),
                             rng.uniform(-1e-3, 1e-3), rng.uniform(-1e-3, 1e-3), 0.0]) \
                if distortion else np.zeros(5)
        cameras.append(Camera(name=f"cam{i + 1:0{digits}d}", size=(w, h), matrix=K, dist=dist,
                              rvec=rvec, tvec=tvec, model="fisheye" if is_fisheye else "pinhole"))
    return Rig(cameras, {"source": f"synthetic:{layout}:{n_cameras}:seed{seed}"})
