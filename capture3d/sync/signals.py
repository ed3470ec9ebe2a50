"""What the cameras share, as signals in time: the speed of keypoints or board corners, the sound
track, the mean brightness; and each video's own frame timestamps.

Videos are read through the ffmpeg binary imageio-ffmpeg ships (no system package): frame
timestamps from the container's packets (no decoding), sound decoded to mono float samples.
"""
from __future__ import annotations

import re
import subprocess
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, check_array

AUDIO_RATE_HZ = 48000


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg(args, path) -> subprocess.CompletedProcess:
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path), *args],
                          capture_output=True)
    return proc


def video_frame_times(path) -> np.ndarray:
    """The video's own timestamp of every frame, ``(F,)`` float64 seconds from its first frame,
    read from the container's packets (``ffmpeg -c copy -f framemd5``: exact, nothing decoded),
    so that variable frame rate videos are timed as recorded, not as index / fps."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(path, "video not found")
    proc = _ffmpeg(["-map", "0:v:0", "-c", "copy", "-f", "framemd5", "-"], path)
    text = proc.stdout.decode(errors="replace")
    tb = re.search(r"#tb 0: (\d+)/(\d+)", text)
    if proc.returncode != 0 or tb is None:
        raise FileFormatError(path, f"not a readable video ({proc.stderr.decode(errors='replace').strip()[:200]})")
    base = Fraction(int(tb.group(1)), int(tb.group(2)))
    pts = np.array(sorted(int(line.split(",")[2]) for line in text.splitlines()
                          if line and not line.startswith("#")), np.int64)
    if len(pts) == 0:
        raise FileFormatError(path, "the video has no frames")
    return (pts - pts[0]) * float(base)


def nominal_fps(times_s) -> float:
    """Frames per second of a camera's own frame times: the median step (a dropped frame does
    not change it), or for a variable frame rate the mean over the whole recording."""
    t = np.asarray(times_s, float)
    if len(t) < 2:
        return float("nan")
    return float((len(t) - 1) / (t[-1] - t[0])) if is_variable_rate(t) else float(1.0 / np.median(np.diff(t)))


def is_variable_rate(times_s, tolerance: float = 0.02) -> bool:
    """True when frame steps vary by more than ``tolerance`` of the median step (a phone's VFR)."""
    d = np.diff(np.asarray(times_s, float))
    return bool(len(d) > 1 and np.max(np.abs(d - np.median(d))) > tolerance * np.median(d))


def read_audio(path, rate_hz: int = AUDIO_RATE_HZ) -> np.ndarray | None:
    """The first sound track as mono float32 samples at ``rate_hz``; None when there is none."""
    proc = _ffmpeg(["-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(rate_hz), "-f", "f32le", "-"], path)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")
        if "matches no streams" in err or "does not contain any stream" in err:
            return None
        raise FileFormatError(path, f"sound track cannot be decoded ({err.strip()[:200]})")
    return np.frombuffer(proc.stdout, np.float32)


def mean_brightness(path, *, size: int = 64) -> np.ndarray:
    """Mean grey level of every frame, ``(F,)`` float64 in 0..255 (frames shrunk to ``size`` px
    wide by ffmpeg first: cheap)."""
    proc = _ffmpeg(["-map", "0:v:0", "-vf", f"scale={size}:-2", "-pix_fmt", "gray", "-f", "rawvideo",
                    "-fps_mode", "passthrough", "-"], path)
    if proc.returncode != 0:
        raise FileFormatError(path, f"not a readable video ({proc.stderr.decode(errors='replace').strip()[:200]})")
    probe = _ffmpeg(["-map", "0:v:0", "-vf", f"scale={size}:-2", "-frames:v", "1", "-pix_fmt", "gray",
                     "-f", "rawvideo", "-"], path)
    frame_px = len(probe.stdout)
    if frame_px == 0:
        raise FileFormatError(path, "the video has no frames")
    frames = np.frombuffer(proc.stdout, np.uint8)[: len(proc.stdout) // frame_px * frame_px]
    return frames.reshape(-1, frame_px).mean(axis=1)


def keypoint_speed(keypoints, times_s, *, min_score: float = 0.3, clip_quantile: float = 0.98,
                   vertical: bool = True):
    """The motion signal of one camera: summed vertical speed of every confident joint of every
    person (image y; cameras rolled by 90 degrees would need their images turned first).

    Parameters
    ----------
    keypoints : (F, P, J, 3) float
        Pixels + score, NaN where absent (person slots need not match other cameras').
    times_s : (F,) float
        The frames' own times, seconds.
    vertical : bool
        The image-vertical speed (people); False: the speed along the image (a board, moved
        and turned by hand in every direction).

    Returns
    -------
    mid_s : (F - 1,) float64
        Times between consecutive frames, seconds.
    speed : (F - 1,) float64
        Sum over persons and joints of the vertical pixel speed, each joint track divided by its median
        (dimensionless); speeds are first clipped at their ``clip_quantile`` so that a person
        slot jumping to someone else is no spike. NaN where no joint was seen in both frames.
    """
    kp = check_array(keypoints, "keypoints", (None, None, None, 3))
    t = check_array(times_s, "times_s", (kp.shape[0],))
    xy = np.where((kp[..., 2:] >= min_score), kp[..., :2], np.nan)
    dt = np.diff(t)
    # the image-vertical speed: cameras stand upright, and a body's up-down motion looks alike
    # from every side while its sideways motion depends on where the camera looks from
    # (measured on a synthetic walk: |vy| r = 0.97 at the right lag, |v| 0.72 at a wrong one)
    step = np.abs(np.diff(xy[..., 1], axis=0)) if vertical else np.linalg.norm(np.diff(xy, axis=0), axis=-1)
    v = step / dt[:, None, None]
    finite = np.isfinite(v)
    if not finite.any():
        return 0.5 * (t[1:] + t[:-1]), np.full(len(dt), np.nan)
    v = np.minimum(v, np.quantile(v[finite], clip_quantile))
    # each joint track counts alike: a joint's speed scales with its distance from the camera
    # and its direction, its rhythm does not
    with warnings.catch_warnings():   # joints never seen: all-NaN columns, NaN scale
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = np.nanmedian(np.where(v > 0, v, np.nan), axis=0)
    v = v / np.where(scale > 0, scale, np.nan)
    finite = np.isfinite(v)
    speed = np.where(finite.any(axis=(1, 2)), np.nansum(v, axis=(1, 2)), np.nan)
    return 0.5 * (t[1:] + t[:-1]), speed


def board_keypoints(obs, n_frames: int | None = None) -> np.ndarray:
    """A camera's board detections (:class:`capture3d.calibrate.detect.BoardObservations`) as
    keypoints ``(F, 1, N, 3)``: one "person" whose joints are the corner ids, score 1, NaN where
    a corner was not seen; frame ``f`` = video frame ``f``."""
    n_ids = 1 + max((int(i.max()) for i in obs.ids if len(i)), default=-1)
    F = n_frames or max(obs.frames_read, int(obs.frames.max()) + 1 if len(obs.frames) else 0)
    out = np.full((F, 1, max(n_ids, 1), 3), np.nan)
    for f, ids, corners in zip(obs.frames, obs.ids, obs.corners):
        out[f, 0, ids, :2] = corners
        out[f, 0, ids, 2] = 1.0
    return out
