"""Time-lagged correlation of signals with gaps, the coarse step of every method.

Each camera's signal is put on a regular grid of its own clock; the Pearson correlation with
the reference camera's is computed at every lag at once from FFT correlations of the values,
their squares and their masks, so NaN (a person not seen, a frame not decoded) only removes
samples from the sums instead of breaking them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import correlate, correlation_lags


def on_grid(times_s, values, step_s: float, smooth_s: float = 0.0) -> np.ndarray:
    """``values`` at ``times_s`` (increasing seconds, own clock) linearly interpolated at
    ``0, step, 2 step, ...`` up to the last time; NaN where a neighbour is NaN or the
    neighbours are further apart than 1.5 median steps (a gap); then Gaussian-smoothed with a
    sigma of ``smooth_s`` seconds (:func:`smooth`)."""
    from .resample import resample

    t = np.asarray(times_s, float)
    grid = np.arange(0.0, t[-1] + 1e-9, step_s)
    out = resample(np.asarray(values, float)[None], t[None], grid, score_last=False)[0]
    return smooth(out, smooth_s / step_s) if smooth_s > 0 else out


def smooth(values, sigma_samples: float) -> np.ndarray:
    """NaN-aware Gaussian smoothing (the weights of missing samples left out); NaN stays NaN."""
    from scipy.ndimage import gaussian_filter1d

    v = np.asarray(values, float)
    if sigma_samples <= 0:
        return v
    m = np.isfinite(v)
    num = gaussian_filter1d(np.where(m, v, 0.0), sigma_samples, mode="constant")
    den = gaussian_filter1d(m.astype(float), sigma_samples, mode="constant")
    with np.errstate(all="ignore"):
        return np.where(m, num / den, np.nan)


def lagged_pearson(ref, sig, *, min_overlap: int):
    """Pearson correlation of ``ref[n + lag]`` with ``sig[n]`` at every lag (samples).

    Returns ``(lags (L,) int, r (L,) float, overlap (L,) int)``; ``r`` is NaN where fewer than
    ``min_overlap`` samples overlap or a side is constant there.
    """
    a, b = np.asarray(ref, float), np.asarray(sig, float)
    ma, mb = np.isfinite(a).astype(float), np.isfinite(b).astype(float)
    a, b = np.nan_to_num(a), np.nan_to_num(b)
    # centre first: the sums below are differences of large numbers otherwise
    a = (a - a[ma > 0].mean()) * ma if ma.any() else a
    b = (b - b[mb > 0].mean()) * mb if mb.any() else b

    def xc(x, y):
        return correlate(x, y, mode="full", method="fft")

    n = np.rint(xc(ma, mb))
    sa, sb = xc(a, mb), xc(ma, b)
    saa, sbb, sab = xc(a * a, mb), xc(ma, b * b), xc(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sab - sa * sb / n
        va, vb = saa - sa * sa / n, sbb - sb * sb / n
        r = cov / np.sqrt(va * vb)
    tiny = 1e-9 * max(float(np.abs(a).max(initial=0) ** 2), float(np.abs(b).max(initial=0) ** 2), 1e-30)
    r[(n < min_overlap) | (va <= tiny * n) | (vb <= tiny * n)] = np.nan
    return correlation_lags(len(a), len(b), mode="full"), r, n.astype(np.int64)


def parabolic_vertex(values, k: int, *, maximum: bool) -> float:
    """Where, in samples from ``k`` (-0.5..0.5), the parabola through ``values[k-1..k+1]`` peaks
    (``maximum``) or bottoms out; 0.0 at an edge, next to a NaN, or when the three samples
    do not curve that way."""
    v = np.asarray(values, float)
    if not (0 < k < len(v) - 1 and np.isfinite(v[k - 1]) and np.isfinite(v[k + 1])):
        return 0.0
    curvature = v[k - 1] - 2 * v[k] + v[k + 1]
    if (curvature >= 0) if maximum else (curvature <= 0):
        return 0.0
    return float(np.clip(0.5 * (v[k - 1] - v[k + 1]) / curvature, -0.5, 0.5))


@dataclass
class Peak:
    """The best lag: ``lag_s`` (ref time = own time + lag_s), its correlation ``r``, and the
    best correlation at least ``separation`` away (``r_second``; ambiguity of periodic motion).

    ``z`` is the peak's significance: Fisher's ``atanh(r) sqrt(n_eff - 3)`` over the effective
    number of independent samples at that lag (smooth signals have far fewer than samples);
    ``z_chance`` what the best of the lags searched would reach on unrelated signals,
    ``sqrt(2 ln L_eff)`` for ``L_eff`` independent lags. A peak with ``z <= z_chance`` is no
    evidence, however high its ``r``."""

    lag_s: float
    r: float
    r_second: float
    z: float = float("inf")
    z_chance: float = 0.0
    n_eff: float = float("inf")


def _autocorrelation(x, max_lag: int) -> np.ndarray:
    """NaN-aware autocorrelation of ``x`` at lags ``1..max_lag`` (pairs with a gap left out)."""
    x = np.asarray(x, float)
    m = np.isfinite(x)
    x = np.where(m, x - (x[m].mean() if m.any() else 0.0), 0.0)
    var = float((x * x).sum() / max(m.sum(), 1))
    out = np.zeros(max_lag)
    for k in range(1, max_lag + 1):
        both = m[k:] & m[:-k]
        if both.sum() > 2 and var > 0:
            out[k - 1] = float((x[k:] * x[:-k])[both].mean() / var)
    return out


def effective_samples(ref, sig, n: float) -> float:
    """Bartlett's effective sample count of a correlation of ``n`` overlapping samples of two
    autocorrelated series: ``n / (1 + 2 sum_k rho_ref(k) rho_sig(k))``, the sum taken while both
    autocorrelations stay above their noise level ``2 / sqrt(length)``."""
    K = max(1, min(len(ref), len(sig)) // 4)
    a, b = _autocorrelation(ref, K), _autocorrelation(sig, K)
    noise = 2.0 / np.sqrt(np.array([np.isfinite(ref).sum(), np.isfinite(sig).sum()], float).clip(1))
    stop = np.flatnonzero((a <= noise[0]) | (b <= noise[1]))
    prod = (a * b)[: stop[0]] if len(stop) else a * b
    return float(n / (1.0 + 2.0 * prod.sum()))


def best_lag(ref, sig, step_s: float, *, max_lag_s: float, min_overlap: int, separation_s: float,
             around_s: float | None = None) -> Peak | None:
    """The lag of highest correlation within ``+-max_lag_s`` (or within ``+-max_lag_s`` of
    ``around_s``), refined to a fraction of a step by a parabola through the peak; None when no
    lag has enough overlap."""
    lags, r, n = lagged_pearson(ref, sig, min_overlap=min_overlap)
    lag_s = lags * step_s
    centre = 0.0 if around_s is None else around_s
    r = np.where(np.abs(lag_s - centre) <= max_lag_s + 1e-12, r, np.nan)
    if not np.isfinite(r).any():
        return None
    k = int(np.nanargmax(r))
    frac = parabolic_vertex(r, k, maximum=True)
    far = np.abs(lag_s - lag_s[k]) > separation_s
    second = float(np.nanmax(r[far])) if np.isfinite(r[far]).any() else float("nan")
    # significance: independent samples at the peak, and independent lags searched (samples
    # closer than the signals' correlation length are one sample, lags alike)
    n_eff = effective_samples(ref, sig, float(n[k]))
    per_sample = max(float(n[k]) / max(n_eff, 1e-9), 1.0)
    lags_eff = max(float(np.isfinite(r).sum()) / per_sample, 2.0)
    z = float(np.arctanh(min(r[k], 0.999999)) * np.sqrt(max(n_eff - 3.0, 0.0)))
    return Peak(float((lags[k] + frac) * step_s), float(r[k]), second, z, float(np.sqrt(2 * np.log(lags_eff))), n_eff)
