"""Video files written by an ffmpeg child process fed raw frames through a pipe.

Why a child process: if the recorder dies (Ctrl-C, a crash, ``kill -9``), ffmpeg sees its input
end and closes the file properly, so every frame handed to it is in a readable video; an
in-process ``cv2.VideoWriter`` loses its buffered frames and leaves an MP4 without its index.
ffmpeg runs in its own session so that Ctrl-C reaches only the recorder. The codec is MJPEG
(every frame a key frame: exact seeking, cheap to encode) in AVI; the ffmpeg binary comes from
the ``imageio-ffmpeg`` wheel.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from ..errors import Capture3DError


class VideoPipeError(Capture3DError):
    """The encoder stopped taking frames (disk full, the file cannot be written)."""


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise Capture3DError("recording needs ffmpeg: pip install imageio-ffmpeg") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


class VideoPipe:
    """Write ``(H, W, 3)`` BGR ``uint8`` frames of one size to ``path`` (``.avi``, MJPEG)."""

    def __init__(self, path, fps: float, size: tuple[int, int], *, quality: int = 3):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.size = (int(size[0]), int(size[1]))
        self.frames = 0
        self._log = open(self.path.with_suffix(".ffmpeg.log"), "wb")
        cmd = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{self.size[0]}x{self.size[1]}",
               "-r", f"{fps:.6g}", "-i", "pipe:0",
               "-c:v", "mjpeg", "-q:v", str(quality), "-pix_fmt", "yuvj420p", str(self.path)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=self._log, start_new_session=True)

    def write(self, image: np.ndarray):
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if (image.shape[1], image.shape[0]) != self.size:
            raise ValueError(f"{self.path}: frame size {image.shape[1]}x{image.shape[0]} differs from the "
                             f"video's {self.size[0]}x{self.size[1]}")
        try:
            self._proc.stdin.write(np.ascontiguousarray(image).data)
        except (BrokenPipeError, OSError) as exc:
            raise VideoPipeError(f"{self.path}: the encoder stopped ({self._reason()}; {exc})") from None
        self.frames += 1

    def _reason(self) -> str:
        """The last line ffmpeg logged (why it stopped), or ``"no message"``."""
        try:
            if not self._log.closed:
                self._log.flush()
            return self.path.with_suffix(".ffmpeg.log").read_text(errors="replace").strip().splitlines()[-1]
        except (OSError, IndexError):
            return "no message"

    def close(self):
        """Finish the file; raises :class:`VideoPipeError` when ffmpeg reports a failure."""
        if self._proc is None:
            return
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        code = self._proc.wait()
        self._proc = None
        self._log.close()
        if code != 0:
            raise VideoPipeError(f"{self.path}: ffmpeg ended with code {code} ({self._reason()})")
        self.path.with_suffix(".ffmpeg.log").unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
