"""Audio and flash sync on videos the test writes with the shipped ffmpeg."""
import numpy as np
import pytest

from capture3d.sync import estimate_sync
from capture3d.sync.events import brightness_step

from .helpers import write_video

RATE = 48000


def _clap_session(folder, starts, *, silent=(), seconds=2.0, fps=30):
    """Cameras whose videos start at ``starts`` seconds of the common clock, hearing one clap
    (a 30 ms decaying noise burst) at 1.1 s, over a faint room noise."""
    rng = np.random.default_rng(0)
    clap = rng.normal(0, 1, int(0.03 * RATE)) * np.exp(-np.arange(int(0.03 * RATE)) / (0.004 * RATE)) * 0.8
    folder.mkdir(parents=True)
    for c, start in enumerate(starts):
        a = rng.normal(0, 0.003, int(seconds * RATE))
        k = int(round((1.1 - start) * RATE))
        a[k:k + len(clap)] += clap
        if c in silent:
            a[:] = 0.0
        write_video(folder / f"cam{c + 1:02d}.mp4", np.full((int(seconds * fps), 32, 48), 90, np.uint8), fps, audio=a)
    return folder


def test_clap_aligns_within_a_millisecond(tmp_path):
    starts = [0.0, 0.2345, 0.51234]
    res = estimate_sync(_clap_session(tmp_path / "s", starts), method="audio")
    assert res.ok and res.method == "audio"
    for k, clock in enumerate(res.cameras.values()):
        assert abs(clock.start_s - starts[k]) < 1e-3   # measured 0.006 ms (AAC, 48 kHz)
        assert clock.fps == pytest.approx(30.0)


def test_silent_track_is_named(tmp_path):
    res = estimate_sync(_clap_session(tmp_path / "s", [0.0, 0.1], silent=(1,)), method="audio")
    assert not res.ok and list(res.failed) == ["cam02"] and "silent sound track" in res.failed["cam02"]


def test_light_switched_on(tmp_path):
    """A light comes on at 0.8 s of the common clock; cameras at 30 fps start at 0, 0.11 and 0.4 s.
    The frame exposed while it came on is partly lit (the fraction of its exposure after)."""
    folder = tmp_path / "flash"
    folder.mkdir()
    starts, fps = [0.0, 0.11, 0.4], 30.0
    for c, start in enumerate(starts):
        t = start + np.arange(45) / fps
        lit = np.clip((t + 1 / fps - 0.8) * fps, 0, 1)     # exposure [t, t + 1/fps)
        frames = (40 + 140 * lit)[:, None, None] * np.ones((1, 32, 48))
        write_video(folder / f"cam{c + 1:02d}.mp4", frames.astype(np.uint8), fps)
    res = estimate_sync(folder, method="flash")
    assert res.ok
    for k, clock in enumerate(res.cameras.values()):
        assert abs(clock.start_s - starts[k]) * fps < 0.1   # <= 0.1 frame; measured 0, 0.085, 0


def test_flat_brightness_is_named():
    t, step = brightness_step(np.full(30, 80.0) + np.random.default_rng(0).normal(0, 1, 30), np.arange(30) / 30, 8.0)
    assert np.isnan(t) and abs(step) < 8
