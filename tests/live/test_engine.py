"""A held view's joints weigh in the triangulation by how far they may have moved since detected."""
import numpy as np

from capture3d.live.engine import HELD_FLOOR, _held_weight


def test_a_held_joint_weighs_less_the_farther_it_moved():
    kp0 = np.array([[[100.0, 100.0, 0.9], [200.0, 100.0, 0.9], [np.nan, np.nan, np.nan]]])   # (S=1, J=3, 3)
    kp1 = kp0 + [[[0.0, 0.0, 0.0], [30.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]   # still, 30 px in 100 ms, unseen
    history = [(0, kp0), (int(100e6), kp1)]
    assert _held_weight(history, int(100e6), 15.0) is None                 # fresh: full weight
    w = _held_weight(history, int(150e6), 15.0)                            # held 50 ms: the fast joint moved 15 px
    assert w.shape == (1, 3) and w[0, 0] == 1.0 and w[0, 2] == 1.0
    assert np.isclose(w[0, 1], HELD_FLOOR + (1 - HELD_FLOOR) / 2)
    assert np.isclose(_held_weight(history, int(10e9), 15.0)[0, 1], HELD_FLOOR, atol=1e-4)   # never below the floor
    assert _held_weight(history, int(150e6), 0.0) is None                  # switched off
