"""One calibrated camera.

Conventions (stated once, here):

- Pixels follow OpenCV: the centre of the top-left pixel is ``(0, 0)``, x to the right, y down.
- The camera frame is OpenCV's: x right, y down, z forward along the optical axis.
- Extrinsics map world to camera, ``x_cam = R @ X_world + t``, so ``rotation`` is
  ``cam_from_world`` and ``center`` (the camera position in the world) is ``-R.T @ t``.
- World units are meters.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from ..errors import check_array
from . import fisheye, pinhole
from .kernels import SERIAL_BELOW, pixels_to_normalized, pixels_to_normalized_serial

_MODELS = {pinhole.NAME: pinhole, fisheye.NAME: fisheye}


def rotation_from_rodrigues(rvec) -> np.ndarray:
    """Rodrigues vector ``(3,)`` (radians) -> rotation matrix ``(3, 3)``."""
    return cv2.Rodrigues(np.asarray(rvec, dtype=np.float64).reshape(3, 1))[0]


def rodrigues_from_rotation(rotation) -> np.ndarray:
    """Rotation matrix ``(3, 3)`` -> Rodrigues vector ``(3,)`` (radians)."""
    return cv2.Rodrigues(np.asarray(rotation, dtype=np.float64))[0].ravel()


@dataclass
class Camera:
    """A named, calibrated camera.

    Parameters
    ----------
    name : str
        The camera's name in the rig and the session (files are matched by it).
    size : (2,) int
        Image width and height in pixels.
    matrix : (3, 3) float
        Intrinsic matrix ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``, pixels.
    dist : (K,) float
        Distortion coefficients of ``model`` (pinhole: 4, 5 or 8 in OpenCV order; fisheye: 4).
    rvec : (3,) float
        Rotation ``cam_from_world`` as a Rodrigues vector, radians.
    tvec : (3,) float
        Translation ``cam_from_world``, meters.
    model : {"pinhole", "fisheye"}
    serial : str, optional
        Device serial number, when known.
    """

    name: str
    size: tuple[int, int]
    matrix: np.ndarray
    dist: np.ndarray = field(default_factory=lambda: np.zeros(5))
    rvec: np.ndarray = field(default_factory=lambda: np.zeros(3))
    tvec: np.ndarray = field(default_factory=lambda: np.zeros(3))
    model: str = "pinhole"
    serial: str | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"camera name must be a non-empty string, got {self.name!r}")
        if self.model not in _MODELS:
            raise ValueError(f"camera {self.name!r}: unknown model {self.model!r}; "
                             f"known: {sorted(_MODELS)}")
        self.size = (int(self.size[0]), int(self.size[1]))
        self.matrix = check_array(self.matrix, f"camera {self.name!r} matrix", (3, 3)).copy()
        self.dist = np.asarray(self.dist, dtype=np.float64).ravel().copy()
        _MODELS[self.model].padded(self.dist)  # raises on a wrong coefficient count
        self.rvec = check_array(self.rvec, f"camera {self.name!r} rvec", (3,)).copy()
        self.tvec = check_array(self.tvec, f"camera {self.name!r} tvec", (3,)).copy()

    # -- geometry ---------------------------------------------------------------------------
    @property
    def rotation(self) -> np.ndarray:
        """``cam_from_world`` rotation matrix, ``(3, 3)``."""
        return rotation_from_rodrigues(self.rvec)

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates, ``(3,)`` meters."""
        return -self.rotation.T @ self.tvec

    @property
    def pose_matrix(self) -> np.ndarray:
        """``[R | t]``, ``(3, 4)``: world (meters) to camera frame."""
        return np.hstack([self.rotation, self.tvec[:, None]])

    @property
    def model_id(self) -> int:
        return _MODELS[self.model].MODEL_ID

    @property
    def dist8(self) -> np.ndarray:
        """Distortion padded to the kernels' common width ``(8,)``."""
        return _MODELS[self.model].padded(self.dist)

    def world_to_camera(self, points) -> np.ndarray:
        """``(..., 3)`` world meters -> ``(..., 3)`` camera frame meters."""
        pts = check_array(points, "points", (..., 3))
        return pts @ self.rotation.T + self.tvec

    def normalized_to_pixels(self, xy) -> np.ndarray:
        """Undistorted normalised ``(..., 2)`` -> distorted pixels ``(..., 2)``."""
        xy = check_array(xy, "xy", (..., 2))
        xd = _MODELS[self.model].distort(xy, self.dist)
        K = self.matrix
        u = K[0, 0] * xd[..., 0] + K[0, 1] * xd[..., 1] + K[0, 2]
        v = K[1, 1] * xd[..., 1] + K[1, 2]
        return np.stack([u, v], axis=-1)

    def project(self, points) -> np.ndarray:
        """Project world points to pixels, with distortion.

        Parameters
        ----------
        points : (..., 3) float
            World coordinates, meters.

        Returns
        -------
        (..., 2) float64
            Pixels; NaN for points on or behind the camera plane (z <= 0).
        """
        pc = self.world_to_camera(points)
        z = pc[..., 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            xy = pc[..., :2] / np.where(z > 0, z, np.nan)[..., None]
        return self.normalized_to_pixels(xy)

    def pixels_to_normalized(self, pixels) -> np.ndarray:
        """Distorted pixels ``(..., 2)`` -> undistorted normalised coordinates ``(..., 2)``.

        NaN where the input is NaN or the distortion cannot be inverted there.
        """
        px = check_array(pixels, "pixels", (..., 2))
        flat = np.ascontiguousarray(px.reshape(-1, 2))
        kernel = pixels_to_normalized_serial if len(flat) < SERIAL_BELOW else pixels_to_normalized
        out = kernel(flat, self.matrix, self.dist8, self.model_id)
        return out.reshape(px.shape)

    def undistort_pixels(self, pixels) -> np.ndarray:
        """Distorted pixels -> pixels of the distortion-free camera with the same matrix."""
        xy = self.pixels_to_normalized(pixels)
        K = self.matrix
        return np.stack([K[0, 0] * xy[..., 0] + K[0, 1] * xy[..., 1] + K[0, 2],
                         K[1, 1] * xy[..., 1] + K[1, 2]], axis=-1)

    def rays(self, pixels) -> np.ndarray:
        """Unit viewing directions in the world frame, ``(..., 3)``, for pixels ``(..., 2)``."""
        xy = self.pixels_to_normalized(pixels)
        d = np.concatenate([xy, np.ones(xy.shape[:-1] + (1,))], axis=-1) @ self.rotation
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    def with_pose(self, rvec, tvec) -> "Camera":
        """A copy with another ``cam_from_world`` pose."""
        return replace(self, rvec=np.asarray(rvec, float), tvec=np.asarray(tvec, float))

    def __eq__(self, other):
        if not isinstance(other, Camera):
            return NotImplemented
        return (self.name == other.name and self.size == other.size and self.model == other.model
                and self.serial == other.serial
                and np.array_equal(self.matrix, other.matrix) and np.array_equal(self.dist, other.dist)
                and np.array_equal(self.rvec, other.rvec) and np.array_equal(self.tvec, other.tvec))
