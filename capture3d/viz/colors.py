"""One colour per person, the same in every picture (render, viewer, overlays, plots).

The first ten are colour-blind-aware: Okabe and Ito's seven colours (no black) and three of Paul
Tol's (wine, indigo) and a brown, ordered so that the first few people get the most distinct
ones. Their smallest CIELAB distance between two of them is 26 with normal vision, 17 under
deuteranopia and 21 under protanopia (Machado et al. 2009 simulation; the test recomputes it).
Ids from 10 on take hues spread by the golden angle (distinct from their neighbours, not
guaranteed colour-blind-safe): the ``p<id>`` label drawn beside every person carries the identity
anyway. A single-person file (``person_id`` None) takes the first colour, the orange-red of
every earlier picture.
"""
from __future__ import annotations

import colorsys
from typing import NamedTuple

import numpy as np

#: RGB 0..255 of the first ten person ids.
PALETTE_RGB255 = (
    (213, 94, 0),      # vermillion (Okabe-Ito)
    (86, 180, 233),    # sky blue
    (0, 158, 115),     # bluish green
    (204, 121, 167),   # reddish purple
    (0, 114, 178),     # blue
    (230, 159, 0),     # orange
    (136, 34, 85),     # wine (Tol)
    (240, 228, 66),    # yellow
    (51, 34, 136),     # indigo (Tol)
    (120, 70, 20),     # brown
)


class PersonColor(NamedTuple):
    """A person's colour: ``rgb`` floats 0..1 (Open3D, matplotlib), ``bgr`` ints 0..255 (OpenCV)."""

    rgb: tuple[float, float, float]
    bgr: tuple[int, int, int]

    @property
    def rgb255(self) -> tuple[int, int, int]:
        return self.bgr[::-1]


def person_color(person_id: int | None) -> PersonColor:
    """The colour of ``person_id`` (None: a single-person file, the first colour).

    >>> person_color(1).bgr, person_color(None) == person_color(0)
    ((233, 180, 86), True)
    """
    k = 0 if person_id is None else int(person_id)
    if 0 <= k < len(PALETTE_RGB255):
        rgb255 = PALETTE_RGB255[k]
    else:
        hue = (k * 0.618033988749895) % 1.0
        rgb255 = tuple(int(round(255 * v)) for v in colorsys.hsv_to_rgb(hue, 0.8, 0.85))
    return PersonColor(tuple(v / 255.0 for v in rgb255), tuple(int(v) for v in rgb255[::-1]))


def person_label(person_id: int | None) -> str:
    """``"p<id>"``, the name every picture and export gives a person; ``""`` for None."""
    return "" if person_id is None else f"p{int(person_id)}"


def draw_person_labels(image, tops, person_ids, *, bgr: bool = True, scale: float = 0.6):
    """Write ``p<id>`` in each person's colour (dark outline) centred 14 px above ``tops (P, 2)``
    pixels (each person's topmost joint; NaN: not drawn) onto ``image (H, W, 3) uint8`` in place,
    an OpenCV BGR image (``bgr=False``: RGB). A label that would cover an earlier one moves up."""
    import cv2

    taken = []
    for (x, y), pid in zip(np.asarray(tops, float), person_ids):
        if pid is None or not np.isfinite([x, y]).all():
            continue
        text = person_label(pid)
        (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
        left, base = int(round(x - w / 2)), int(round(y - 14))
        while any(left < r and left + w > lft and base - h - 2 < b and base + 2 > t for lft, t, r, b in taken):
            base -= h + 6
        taken.append((left, base - h - 2, left + w, base + 2))
        color = person_color(pid)
        cv2.putText(image, text, (left, base), cv2.FONT_HERSHEY_SIMPLEX, scale, (30, 30, 30), 4, cv2.LINE_AA)
        cv2.putText(image, text, (left, base), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    color.bgr if bgr else color.rgb255, 2, cv2.LINE_AA)
    return image


def topmost(xy) -> np.ndarray:
    """The point of ``xy (J, 2)`` pixels highest in the image (smallest y); NaN if none."""
    xy = np.asarray(xy, float)
    ok = np.isfinite(xy).all(1)
    return xy[ok][np.argmin(xy[ok, 1])] if ok.any() else np.full(2, np.nan)
