"""What cameras see of the ground truth: projections, then a separate seeded corruption step
(pixel noise, missing views, outliers) so that tests can vary one at a time."""
from __future__ import annotations

import numpy as np

from ..errors import check_array


def project_keypoints(points, rig) -> np.ndarray:
    """Noise-free 2D keypoints ``(C, F, J, 3)``: pixels and score 1; NaN outside an image or
    behind a camera.

    Parameters
    ----------
    points : (F, J, 3) float
        World meters.
    """
    pts = check_array(points, "points", (None, None, 3))
    px = rig.project(pts)
    sizes = np.array([c.size for c in rig.cameras], float)[:, None, None, :]
    outside = (px < 0).any(-1) | (px > sizes - 1).any(-1) | np.isnan(px).any(-1)
    px[outside] = np.nan
    score = np.where(outside, np.nan, 1.0)
    return np.concatenate([px, score[..., None]], axis=-1)


def corrupt_keypoints(keypoints, *, noise_px: float = 1.0, missing: float = 0.0,
                      outliers: float = 0.0, outlier_px=(100.0, 300.0), seed: int = 0) -> np.ndarray:
    """A noisy copy of ``keypoints (C, F, J, 3)``.

    Parameters
    ----------
    noise_px : float
        Standard deviation of the Gaussian noise on each pixel coordinate.
    missing : float
        Fraction of observations removed (set to NaN).
    outliers : float
        Fraction of observations moved by a random offset of ``outlier_px`` pixels (uniform in
        that range, random direction); their score is kept, as a real detector's would be.
    """
    kp = check_array(keypoints, "keypoints", (None, None, None, 3)).copy()
    rng = np.random.default_rng(seed)
    shape = kp.shape[:-1]
    kp[..., :2] += rng.normal(0.0, noise_px, shape + (2,))
    if outliers > 0:
        hit = rng.random(shape) < outliers
        r = rng.uniform(outlier_px[0], outlier_px[1], shape)
        a = rng.uniform(0, 2 * np.pi, shape)
        kp[..., 0] += np.where(hit, r * np.cos(a), 0.0)
        kp[..., 1] += np.where(hit, r * np.sin(a), 0.0)
    if missing > 0:
        gone = rng.random(shape) < missing
        kp[gone] = np.nan
    return kp
