"""Synchronising on an event every camera recorded: a clap on the sound tracks, or a light
switched on (a step in mean brightness). These give each camera's start; its rate stays the
container's (a second event far from the first would be needed to measure drift)."""
from __future__ import annotations

import numpy as np

from .align import SyncOptions
from .clock import CameraClock, SyncResult
from .correlate import best_lag
from .signals import is_variable_rate, nominal_fps

ENVELOPE_HZ = 1000


def _clock(start, conf, tau):
    fps = nominal_fps(tau)
    vfr = is_variable_rate(tau)
    return CameraClock(float(start), fps, float(np.clip(conf, 0, 1)), "container" if vfr else "index", 1.0,
                       len(tau), fps)


def align_audio(tracks: dict, frame_times: dict, *, rate_hz: int, options: SyncOptions | None = None) -> SyncResult:
    """Clocks from the sound tracks: the lag of best correlation of their envelopes (1 ms
    steps), then of the samples themselves within 3 ms of it, to a fraction of a sample.

    Parameters
    ----------
    tracks : {camera: (n,) float32 or None}
        Mono samples at ``rate_hz`` from the video's first frame (None: no sound track).
    frame_times : {camera: (F,) float}
        The videos' own frame times, seconds.
    """
    opts = options or SyncOptions()
    failed, env = {}, {}
    for n, x in tracks.items():
        if x is None:
            failed[n] = "no sound track"
        elif len(x) < rate_hz // 10 or float(np.max(np.abs(x))) < 1e-3:
            failed[n] = f"silent sound track (peak {float(np.max(np.abs(x), initial=0)):.1e} of full scale)"
        else:
            k = rate_hz // ENVELOPE_HZ
            env[n] = np.abs(x[: len(x) // k * k]).reshape(-1, k).mean(axis=1)
    names = list(tracks)
    usable = [n for n in names if n not in failed]
    reference = opts.reference or (usable[0] if usable else names[0])
    if reference not in usable:
        return SyncResult("audio", reference, {}, failed)
    durations = {n: len(tracks[n]) / rate_hz for n in usable}
    max_shift = opts.max_shift_s or 0.5 * min(durations.values())
    clocks = {reference: _clock(0.0, 1.0, frame_times[reference])}
    signals = {reference: (np.arange(len(env[reference])) / ENVELOPE_HZ, env[reference])}
    for n in usable:
        if n == reference:
            continue
        if opts.max_shift_s is not None and durations[n] < max_shift:
            failed[n] = f"its sound lasts {durations[n]:.2f} s, shorter than the {max_shift:g} s shift searched"
            continue
        overlap = int(opts.min_overlap * min(len(env[n]), len(env[reference])))
        coarse = best_lag(env[reference], env[n], 1.0 / ENVELOPE_HZ, max_lag_s=max_shift, min_overlap=overlap,
                          separation_s=0.05)
        if coarse is None or not coarse.r >= opts.min_correlation:
            best = f"{coarse.r:.2f}" if coarse is not None else "none"
            failed[n] = f"no sound shared with {reference} (best correlation {best} < {opts.min_correlation})"
            continue
        fine = best_lag(tracks[reference], tracks[n], 1.0 / rate_hz, max_lag_s=0.003, around_s=coarse.lag_s,
                        min_overlap=int(opts.min_overlap * min(len(tracks[n]), len(tracks[reference]))),
                        separation_s=0.001)
        lag = fine.lag_s if fine is not None else coarse.lag_s
        clocks[n] = _clock(lag, coarse.r, frame_times[n])
        signals[n] = (lag + np.arange(len(env[n])) / ENVELOPE_HZ, env[n])
    return SyncResult("audio", reference, clocks, {n: failed[n] for n in names if n in failed}, signals)


def brightness_step(brightness, tau, min_step: float):
    """``(time_s, step)`` of the largest step in mean brightness: the instant, on the camera's
    own clock, where the brightness crosses half-way between the levels before and after (a
    frame exposed while the light came on sits in between); ``time_s`` NaN when the step is
    smaller than ``min_step`` grey levels."""
    b = np.asarray(brightness, float)
    if len(b) < 4:
        return float("nan"), 0.0
    k = int(np.argmax(np.abs(np.diff(b))))
    before = float(np.median(b[max(0, k - 5): k + 1]))
    after = float(np.median(b[k + 1: k + 7]))
    # the frame before the largest jump may already be partly lit: take levels a frame further out
    if k >= 1:
        before = float(np.median(b[max(0, k - 6): k]))
    if k + 2 < len(b):
        after = float(np.median(b[k + 2: k + 8]))
    step = after - before
    if abs(step) < min_step:
        return float("nan"), step
    frac = (b - before) / step
    i = int(np.argmax(frac[max(k - 1, 0):] >= 0.5)) + max(k - 1, 0)
    if i == 0:
        return float(tau[0]), step
    w = (0.5 - frac[i - 1]) / (frac[i] - frac[i - 1])
    return float(tau[i - 1] + w * (tau[i] - tau[i - 1])), step


def align_flash(brightness: dict, frame_times: dict, *, options: SyncOptions | None = None) -> SyncResult:
    """Clocks from a light switched on (or off) in view of every camera: the step's instant
    (:func:`brightness_step`) lines the cameras up.

    ``brightness``: ``{camera: (F,) float}`` mean grey level per frame; ``frame_times``: the
    videos' own frame times ``(F,)`` seconds.
    """
    opts = options or SyncOptions()
    failed, steps = {}, {}
    for n, b in brightness.items():
        tau = np.asarray(frame_times[n], float)[: len(b)]
        t, step = brightness_step(b, tau, opts.min_flash_step)
        if not np.isfinite(t):
            failed[n] = (f"flat brightness: the largest step is {abs(step):.1f} grey levels "
                         f"(< {opts.min_flash_step:g}); switch a light on in view of every camera")
        else:
            steps[n] = (t, step)
    names = list(brightness)
    usable = [n for n in names if n not in failed]
    reference = opts.reference or (usable[0] if usable else names[0])
    if reference not in usable:
        return SyncResult("flash", reference, {}, failed)
    clocks, signals = {}, {}
    for n in usable:
        start = steps[reference][0] - steps[n][0]
        tau = np.asarray(frame_times[n], float)
        noise = float(np.median(np.abs(np.diff(brightness[n])))) + 1e-9
        clocks[n] = _clock(start, 1.0 - min(1.0, 10 * noise / abs(steps[n][1])), tau)
        signals[n] = (start + tau[: len(brightness[n])], np.asarray(brightness[n], float))
    return SyncResult("flash", reference, clocks, {n: failed[n] for n in names if n in failed}, signals)
