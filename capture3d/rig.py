"""The rig: an ordered, named group of calibrated cameras (COLMAP's reconstruction, aniposelib's
CameraGroup). Cameras are known by name; the order is the order of the arrays that go with it
(keypoints ``(C, F, J, 3)`` are in rig order) and is kept exactly through save and load.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .camera import Camera
from .errors import FileFormatError, check_array


@dataclass
class Rig:
    """Ordered cameras plus free-form calibration metadata.

    Parameters
    ----------
    cameras : list of Camera
        In rig order; names must be unique.
    metadata : dict
        Anything worth keeping with the calibration (units are always meters in memory).
    """

    cameras: list[Camera]
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self.cameras = list(self.cameras)
        names = [c.name for c in self.cameras]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"camera names must be unique; repeated: {dupes}")

    # -- access ----------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def __len__(self) -> int:
        return len(self.cameras)

    def __iter__(self):
        return iter(self.cameras)

    def __getitem__(self, key) -> Camera:
        """A camera by name (``rig["cam01"]``) or by position (``rig[0]``)."""
        if isinstance(key, str):
            for cam in self.cameras:
                if cam.name == key:
                    return cam
            raise KeyError(f"no camera named {key!r} in the rig; cameras: {self.names}")
        return self.cameras[key]

    def subset(self, names) -> "Rig":
        """The rig restricted to ``names``, in that order (KeyError names the missing one)."""
        return Rig([self[n] for n in names], dict(self.metadata))

    @property
    def centers(self) -> np.ndarray:
        """Camera centres, ``(C, 3)`` meters, world frame."""
        return np.array([c.center for c in self.cameras]).reshape(-1, 3)

    def axes_meeting_point(self) -> np.ndarray:
        """The point nearest, in least squares, to every camera's optical axis, ``(3,)`` world
        meters: where the rig looks."""
        A, b = np.zeros((3, 3)), np.zeros(3)
        for cam in self.cameras:
            d = cam.rotation[2]
            P = np.eye(3) - np.outer(d, d)
            A += P
            b += P @ cam.center
        return np.linalg.lstsq(A, b, rcond=None)[0]

    # -- geometry --------------------------------------------------------------------------
    def project(self, points) -> np.ndarray:
        """Project world points into every camera.

        Parameters
        ----------
        points : (..., 3) float
            World meters.

        Returns
        -------
        (C, ..., 2) float64
            Pixels per camera; NaN behind a camera.
        """
        pts = check_array(points, "points", (..., 3))
        return np.stack([c.project(pts) for c in self.cameras]) if self.cameras else \
            np.empty((0,) + pts.shape[:-1] + (2,))

    def kernel_arrays(self):
        """Per-camera arrays for the numba kernels, in rig order.

        Returns ``(K (C, 3, 3), dist (C, 8), model (C,) int64, pose (C, 3, 4))``.
        """
        K = np.array([c.matrix for c in self.cameras], dtype=np.float64).reshape(-1, 3, 3)
        dist = np.array([c.dist8 for c in self.cameras], dtype=np.float64).reshape(-1, 8)
        model = np.array([c.model_id for c in self.cameras], dtype=np.int64)
        pose = np.array([c.pose_matrix for c in self.cameras], dtype=np.float64).reshape(-1, 3, 4)
        return K, dist, model, pose

    # -- files -----------------------------------------------------------------------------
    @classmethod
    def load(cls, path, *, format: str | None = None, units: str | None = None) -> "Rig":
        """Read any supported calibration (see :mod:`capture3d.formats`); format by content."""
        from .formats import read_calibration

        return read_calibration(path, format=format, units=units)

    def save(self, path, *, format: str | None = None) -> Path:
        """Write the rig; ``format`` defaults from the path (``.toml`` -> capture3d TOML)."""
        from .formats import write_calibration

        return write_calibration(self, path, format=format)


def require_poses(rig: Rig, path) -> Rig:
    """``rig`` itself when its cameras are placed; a :class:`FileFormatError` naming ``path`` when
    it holds intrinsics only (``capture3d calibrate intrinsics``' file, or every camera centre
    within 1 mm of the others), with which every 3D point is degenerate and "nobody" is found."""
    if len(rig) >= 2 and (rig.metadata.get("kind") == "intrinsics only"
                          or float(np.ptp(rig.centers, axis=0).max()) < 1e-3):
        raise FileFormatError(path, "holds intrinsics only (every camera at the same place): 3D needs the "
                              "cameras' poses too (capture3d calibrate extrinsics finds them)")
    return rig
