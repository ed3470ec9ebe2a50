"""Writing videos (``cv2.VideoWriter``) with checks that say which file failed and why."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import FileFormatError

FOURCC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "FFV1"}


class VideoWriter:
    """Context manager writing BGR or grayscale ``uint8`` frames of one size to ``path``."""

    def __init__(self, path, fps: float, size: tuple[int, int]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        code = FOURCC.get(self.path.suffix.lower())
        if code is None:
            raise FileFormatError(self.path, f"unsupported video type; use one of {sorted(FOURCC)}")
        self.size = (int(size[0]), int(size[1]))
        self._w = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*code), float(fps), self.size)
        if not self._w.isOpened():
            raise FileFormatError(self.path, f"cannot open a {code} video writer here")
        self.frames = 0

    def write(self, image: np.ndarray):
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if (image.shape[1], image.shape[0]) != self.size:
            raise ValueError(f"{self.path}: frame size {image.shape[1]}x{image.shape[0]} differs "
                             f"from the video's {self.size[0]}x{self.size[1]}")
        self._w.write(image)
        self.frames += 1

    def close(self):
        self._w.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
