"""The coarse correlation: its peak, and whether the peak is evidence at all."""
import numpy as np

from capture3d.sync.correlate import best_lag, effective_samples, smooth


def _smooth_noise(n, seed, sigma=3.0):
    return smooth(np.random.default_rng(seed).normal(size=n), sigma)


def test_a_shifted_copy_is_found_and_significant():
    x = _smooth_noise(400, 0)
    ref, own = x[50:350], x[20:320] + 0.2 * _smooth_noise(300, 1)    # own = ref 30 samples earlier
    peak = best_lag(ref, own, 0.1, max_lag_s=10.0, min_overlap=50, separation_s=1.0)
    assert abs(peak.lag_s - (-3.0)) < 0.05
    assert peak.z - peak.z_chance > 3.0           # measured 13.9 above chance


def test_unrelated_short_smooth_signals_are_chance_however_high_r():
    """A high r over few independent samples: in 200 pairs of unrelated smooth series of 40
    samples, the best lag reaches r >= 0.5 in most, and the significance stays under one above
    chance in 97 % (what align's min_significance relies on)."""
    high_r = below = 0
    for seed in range(200):
        peak = best_lag(_smooth_noise(40, 2 * seed), _smooth_noise(40, 2 * seed + 1), 1.0, max_lag_s=15.0,
                        min_overlap=15, separation_s=3.0)
        high_r += peak.r >= 0.5
        below += peak.z - peak.z_chance < 1.0
    assert high_r > 100          # measured 164 of 200
    assert below >= 185          # measured 194 of 200


def test_effective_samples_of_white_and_smooth_noise():
    white = np.random.default_rng(3).normal(size=(2, 2000))
    assert 0.9 * 2000 < effective_samples(white[0], white[1], 2000) <= 2000
    s = _smooth_noise(2000, 4, sigma=5.0)
    assert effective_samples(s, s, 2000) < 2000 / 5    # a sigma of 5 samples: measured 159 of 2000


def test_parabolic_vertex_of_a_peak_and_of_a_valley():
    from capture3d.sync.correlate import parabolic_vertex

    x = np.arange(7.0)
    assert abs(parabolic_vertex(-(x - 3.3) ** 2, 3, maximum=True) - 0.3) < 1e-12
    assert abs(parabolic_vertex((x - 2.8) ** 2, 3, maximum=False) + 0.2) < 1e-12
    assert parabolic_vertex((x - 2.8) ** 2, 3, maximum=True) == 0.0         # a valley is no peak
    assert parabolic_vertex(x, 0, maximum=True) == 0.0                       # an edge
    assert parabolic_vertex(np.r_[1.0, np.nan, 3.0, 1.0], 2, maximum=True) == 0.0
