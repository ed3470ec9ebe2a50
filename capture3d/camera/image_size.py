"""A video whose image size is not its calibration's: what to assume, said in one line per camera.

- the same size: nothing to say;
- the same shape at another scale (a 1920 x 1080 calibration, 960 x 540 videos): the camera's
  matrix is rescaled (``f' = s f``, ``c' = s (c + 0.5) - 0.5`` in the pixel-centre convention of
  :mod:`capture3d.camera`); the distortion, in normalised coordinates, stays;
- a few pixels more or fewer on one side (codecs pad 1080 rows to 1088, or crop them back):
  the image is taken as the calibrated one cropped or padded at its right and bottom edges, so
  the matrix stays and the principal point keeps its place; said so, since a crop elsewhere
  would shift it;
- anything else: refused, naming the camera and both sizes.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import FileFormatError

#: Largest crop or pad taken for one, pixels per side and share of the side.
CROP_PX, CROP_SHARE = 32, 0.02
#: Width and height scales closer than this are one scale.
SCALE_TOLERANCE = 0.005


def match_image_size(camera, size, *, source="video", path=None):
    """The camera to use for images of ``size (w, h)``, and the line that says what was assumed.

    Returns ``(camera, note)`` with ``note`` None when the sizes are equal. Raises
    :class:`FileFormatError` (naming the camera) when ``size`` is neither a scale nor a small
    crop or pad of the calibrated size.

    >>> import numpy as np
    >>> from capture3d import Camera
    >>> cam = Camera("cam01", (1920, 1080), np.array([[1000.0, 0, 959.5], [0, 1000.0, 539.5], [0, 0, 1]]))
    >>> half, note = match_image_size(cam, (960, 540))
    >>> float(half.matrix[0, 0]), float(half.matrix[0, 2]), note
    (500.0, 479.5, 'cam01: video 960x540, calibration 1920x1080: matrix rescaled by 0.5')
    """
    w, h = (int(v) for v in size)
    cw, ch = camera.size
    if (w, h) == (cw, ch):
        return camera, None
    sx, sy = w / cw, h / ch
    said = f"{camera.name}: {source} {w}x{h}, calibration {cw}x{ch}"
    if abs(sx - sy) <= SCALE_TOLERANCE * max(sx, sy) and abs(sx - 1) > CROP_SHARE:
        s = (sx + sy) / 2
        K = camera.matrix.copy()
        K[0, 0], K[0, 1], K[1, 1] = K[0, 0] * sx, K[0, 1] * sx, K[1, 1] * sy
        K[0, 2], K[1, 2] = sx * (K[0, 2] + 0.5) - 0.5, sy * (K[1, 2] + 0.5) - 0.5
        return replace(camera, size=(w, h), matrix=K), f"{said}: matrix rescaled by {s:.4g}"
    small = all(abs(a - b) <= min(CROP_PX, CROP_SHARE * b) for a, b in ((w, cw), (h, ch)))
    if small:
        how = ", ".join(f"{abs(a - b)} px {'cropped' if a < b else 'padded'} at the {edge}"
                        for a, b, edge in ((w, cw, "right"), (h, ch, "bottom")) if a != b)
        return replace(camera, size=(w, h)), f"{said}: taken as {how} (principal point kept)"
    raise FileFormatError(path or source, f"{source} is {w}x{h} but the calibration is {cw}x{ch}: neither a "
                          "scale nor a small crop of it; calibrate this camera at this size", camera=camera.name)


def match_rig_sizes(rig, sizes: dict, *, source="video", paths: dict | None = None):
    """:func:`match_image_size` for every camera of ``rig`` with a size in ``sizes {name: (w, h)}``
    (``paths {name: file}`` for the messages); returns ``(rig, notes)``. Sizes of ``(0, 0)``
    (unknown, e.g. imported OpenPose JSON) are skipped."""
    from ..rig import Rig

    cameras, notes = [], []
    for cam in rig:
        size = sizes.get(cam.name)
        if size is None or not np.all(np.asarray(size) > 0):
            cameras.append(cam)
            continue
        new, note = match_image_size(cam, size, source=source, path=(paths or {}).get(cam.name))
        cameras.append(new)
        if note:
            notes.append(note)
    return Rig(cameras, dict(rig.metadata)), notes


__all__ = ["match_image_size", "match_rig_sizes"]
