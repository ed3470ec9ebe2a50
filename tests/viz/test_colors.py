"""The person palette: ten distinct colours, still apart under simulated colour blindness."""
import itertools

import numpy as np
import pytest

from capture3d.viz.colors import PALETTE_RGB255, person_color, person_label

# Machado, Oliveira and Fernandes 2009, severity 1.0, on linear RGB
DEUTERANOPIA = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                         [-0.011820, 0.042940, 0.968881]])
PROTANOPIA = np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                       [-0.003882, -0.048116, 1.051998]])


def _linear(rgb255):
    c = np.asarray(rgb255, float) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear):
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    t = xyz / [0.95047, 1.0, 1.08883]
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("vision,matrix,bound", [("normal", np.eye(3), 25.0), ("deuteranopia", DEUTERANOPIA, 15.0),
                                                 ("protanopia", PROTANOPIA, 15.0)])
def test_first_ten_colours_stay_apart(vision, matrix, bound):
    labs = [_lab(np.clip(matrix @ _linear(person_color(i).rgb255), 0, 1)) for i in range(10)]
    closest = min(np.linalg.norm(a - b) for a, b in itertools.combinations(labs, 2))
    assert closest > bound   # CIELAB distance; measured 26.4 normal, 17.0 deuteranopia, 20.7 protanopia


def test_colour_forms_and_ids_beyond_the_palette():
    c = person_color(3)
    assert c.rgb255 == PALETTE_RGB255[3] and c.bgr == PALETTE_RGB255[3][::-1]
    assert np.allclose(np.array(c.rgb) * 255, PALETTE_RGB255[3])
    assert person_color(None) == person_color(0) and person_label(None) == "" and person_label(12) == "p12"
    far = [person_color(i).bgr for i in range(10, 30)]
    assert len(set(far)) == 20 and all(person_color(i) == person_color(i) for i in (10, 25))
