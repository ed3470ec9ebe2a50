"""Synthetic unsynchronised recordings: one ground-truth motion sampled by every camera at its
own instants (start, frame rate, clock rate), and videos with a clap or a light switched on."""
from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

from capture3d.sync.signals import ffmpeg_exe
from capture3d.synthetic import corrupt_keypoints, make_motion, make_rig, project_keypoints

FINE_FPS = 1200.0   # the ground truth's rate, interpolated linearly (error ~1e-6 m at 1 m/s)


def motion_at(motion, t):
    """Ground-truth joints ``(len(t), J, 3)`` at times ``t`` seconds (NaN outside)."""
    ft = motion.time_s
    out = np.empty((len(t),) + motion.points.shape[1:])
    for j in range(out.shape[1]):
        for k in range(3):
            out[:, j, k] = np.interp(t, ft, motion.points[:, j, k], left=np.nan, right=np.nan)
    return out


def unsynced_session(starts, fps, durations, *, rates=None, noise_px=1.0, seed=0, kind="mixed"):
    """``(rig, motion, keypoints {cam: (F, 1, J, 3)}, own_times {cam: (F,)})``: camera c's frame i
    is taken at ``starts[c] + rates[c] * i / fps[c]`` seconds of the common clock."""
    rig = make_rig(len(starts), seed=seed)
    total = max(s + d for s, d in zip(starts, durations)) + 0.1
    motion = make_motion(int(total * FINE_FPS) + 1, fps=FINE_FPS, kind=kind, seed=seed)
    kps, times = {}, {}
    for c, cam in enumerate(rig.names):
        tau = np.arange(int(round(durations[c] * fps[c]))) / fps[c]
        rate = 1.0 if rates is None else rates[c]
        X = motion_at(motion, starts[c] + rate * tau)
        kp = project_keypoints(X, rig.subset([cam]))
        kps[cam] = corrupt_keypoints(kp, noise_px=noise_px, seed=seed + c)[0][:, None]
        times[cam] = tau
    return rig, motion, kps, times


def write_video(path, frames_gray, fps, audio=None, rate_hz=48000):
    """An mp4 of ``frames_gray (F, H, W) uint8`` at ``fps``, with ``audio (n,)`` float in -1..1 as
    its AAC sound track when given (the shipped ffmpeg)."""
    path = Path(path)
    F, H, W = frames_gray.shape
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray",
           "-s", f"{W}x{H}", "-r", str(fps), "-i", "-"]
    if audio is not None:
        wav = path.with_suffix(".wav")
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate_hz)
            w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
        cmd += ["-i", str(wav), "-c:a", "aac", "-b:a", "128k"]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18", "-shortest" if audio is None else "-y",
            str(path)]
    subprocess.run(cmd, input=frames_gray.tobytes(), check=True)
    if audio is not None:
        path.with_suffix(".wav").unlink()
    return path
