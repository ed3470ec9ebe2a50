"""Plain checkerboards: find the inner corners with two detectors, and put them in one order.

Two OpenCV detectors see different boards. ``findChessboardCornersSB`` (a localised Radon
transform) is the more precise and is tried first; the classic ``findChessboardCorners``
(adaptive threshold, normalised image, quads grown into a grid) followed by ``cornerSubPix``
finds boards the first one misses: on rendered phone photos (1088 x 1920, a 5 x 8 board of 60 mm
tilted by 55-72 degrees, uneven light, JPEG) SB found 11 of 14 and the classic detector 14 of 14.

A plain checkerboard has no marked origin, and either detector may hand back one view's corners
mirrored or turned by 180 degrees against another's. One camera's intrinsics do not mind (a
plane's corners reversed or mirrored are the board turned or seen from behind: measured, the
same RMS and matrix), but views shared between cameras do: extrinsics, and the floor board that
sets the world axes. :func:`canonical_order` puts every detection in the board's own order:
corner ``k`` is corner ``k`` of :meth:`~capture3d.calibrate.boards.Board.object_points`, so the
first inner square (between corners 0, 1, nx and nx + 1) is the black one, as
:meth:`Board.image` prints it. A grid that SB lays on background texture (seen on a board tilted
by about 70 degrees) is no board at all: :func:`pattern_vote` rejects it.
"""
from __future__ import annotations

import logging

import cv2
import numpy as np

log = logging.getLogger("capture3d.calibrate")

SB_FLAGS = cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY
# no CALIB_CB_FAST_CHECK: its quick test rejects small, strongly tilted boards before the search
CLASSIC_FLAGS = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE


# a real board's neighbouring squares alternate dark / bright nearly everywhere (votes of
# 0.95-1.0 measured on the rendered photos); a detection on background texture scores near 0
MIN_PATTERN_VOTE = 0.7


def find_checkerboard(gray: np.ndarray, inner_corners: tuple[int, int]) -> tuple[np.ndarray | None, str]:
    """The inner corners of a checkerboard in a grayscale ``uint8 (H, W)`` image.

    ``findChessboardCornersSB`` first, then the classic detector with ``cornerSubPix``. A
    detection whose squares do not alternate dark and bright (:func:`pattern_vote` below
    ``MIN_PATTERN_VOTE``: a grid laid on background texture, seen from SB on strongly tilted
    boards) is not a board, and the next detector is tried.

    Parameters
    ----------
    inner_corners : (nx, ny)
        Inner corners along the board's x (columns) and y (rows).

    Returns
    -------
    corners : (nx * ny, 2) float64 or None
        Pixels, row by row in :func:`canonical_order`; None when neither detector found it.
    method : str
        ``"sb"`` or ``"classic"`` (which detector found it), ``""`` when none did.
    """
    for method in ("sb", "classic"):
        if method == "sb":
            found, corners = cv2.findChessboardCornersSB(gray, inner_corners, SB_FLAGS)
        else:
            found, corners = cv2.findChessboardCorners(gray, inner_corners, CLASSIC_FLAGS)
            if found:
                corners = _refine(gray, corners.reshape(-1, 2), inner_corners)
        if not found:
            continue
        corners = np.asarray(corners, np.float64).reshape(-1, 2)
        vote = abs(pattern_vote(gray, corners, inner_corners))
        if vote < MIN_PATTERN_VOTE:
            log.debug("checkerboard from %s rejected: squares do not alternate (vote %.2f)", method, vote)
            continue
        return canonical_order(corners, gray, inner_corners), method
    return None, ""


def _refine(gray, corners, inner_corners) -> np.ndarray:
    """Sub-pixel corners from ``cornerSubPix``, its window a quarter of the smallest square
    side (so that it never reaches the next corner), 2 to 11 pixels."""
    nx, ny = inner_corners
    grid = corners.reshape(ny, nx, 2)
    sides = np.concatenate([np.linalg.norm(np.diff(grid, axis=1), axis=2).ravel(),
                            np.linalg.norm(np.diff(grid, axis=0), axis=2).ravel()])
    half = int(np.clip(0.25 * sides.min(), 2, 11))
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 0.01)
    return cv2.cornerSubPix(gray, corners.astype(np.float32).reshape(-1, 1, 2), (half, half), (-1, -1),
                            criteria).reshape(-1, 2)


def _orders(nx: int, ny: int) -> list[np.ndarray]:
    """Every re-indexing of an ``nx`` x ``ny`` grid that is still a grid of that shape: the
    mirrors about either axis and the half turn (and the quarter turns of a square grid)."""
    g = np.arange(nx * ny).reshape(ny, nx)
    out = [g, g[:, ::-1], g[::-1, :], g[::-1, ::-1]]
    if nx == ny:
        out += [g.T, g.T[:, ::-1], g.T[::-1, :], g.T[::-1, ::-1]]
    return [o.ravel() for o in out]


def _handedness(grid: np.ndarray) -> float:
    """Sign of the turn from the board's x axis to its y axis in the image (``grid (ny, nx, 2)``):
    positive when the printed side faces the camera, as on paper (x right, y down)."""
    along_x = (grid[:, -1] - grid[:, 0]).mean(axis=0)
    along_y = (grid[-1, :] - grid[0, :]).mean(axis=0)
    return float(along_x[0] * along_y[1] - along_x[1] * along_y[0])


def pattern_vote(gray: np.ndarray, corners: np.ndarray, inner_corners: tuple[int, int]) -> float:
    """How strongly the image says the first inner square of ``corners`` (``(nx * ny, 2)``
    pixels, row by row) is black: the mean sign of the brightness step between neighbouring
    inner squares along x and y, signed so that +1 is the board's own pattern (square (0, 0)
    black, then alternating), -1 the pattern the other way round, near 0 no checkerboard at
    all. Neighbour pairs, not one threshold, so that uneven light across a board does not
    matter."""
    nx, ny = inner_corners
    grid = np.asarray(corners, float).reshape(ny, nx, 2)
    centres = (grid[:-1, :-1] + grid[:-1, 1:] + grid[1:, :-1] + grid[1:, 1:]) / 4     # (ny-1, nx-1, 2)
    sides = np.concatenate([np.linalg.norm(np.diff(grid, axis=1), axis=2).ravel(),
                            np.linalg.norm(np.diff(grid, axis=0), axis=2).ravel()])
    side = max(1, int(sides.min() / 4)) * 2 + 1      # a box well inside the smallest square
    smooth = cv2.blur(gray, (side, side))
    h, w = gray.shape
    xy = np.rint(centres).astype(int)
    xy[..., 0] = np.clip(xy[..., 0], 0, w - 1)
    xy[..., 1] = np.clip(xy[..., 1], 0, h - 1)
    value = smooth[xy[..., 1], xy[..., 0]].astype(float)
    # inner square (row j, column i) is board square (i + 1, j + 1): white when i + j is odd
    white = np.where(np.add.outer(np.arange(value.shape[0]), np.arange(value.shape[1])) % 2, 1.0, -1.0)
    # a step to a square that should be white should get brighter, and darker to a black one
    votes = np.concatenate([(np.diff(value, axis=1) * white[:, 1:]).ravel(),
                            (np.diff(value, axis=0) * white[1:, :]).ravel()])
    return float(np.mean(np.sign(votes))) if len(votes) else 0.0


def canonical_order(corners: np.ndarray, gray: np.ndarray | None, inner_corners: tuple[int, int]) -> np.ndarray:
    """Checkerboard corners ``(nx * ny, 2)`` (pixels, as a detector returned them) re-indexed
    so that corner ``k`` is the board's corner ``k``.

    The order must turn from the board's x axis to its y axis the way paper does (a
    detection of the printed side is never mirrored); of the orders left, the one whose first
    inner square is dark in ``gray`` (the board's pattern tells a half turn apart when
    ``nx + ny`` is odd, i.e. squares_x + squares_y is odd: a 5 x 8 board, not a 6 x 8 one).
    Where the pattern cannot tell (both even or both odd, or no image), the order whose first
    corner is nearer the image's top-left: right for any view turned by less than 90 degrees.
    """
    nx, ny = inner_corners
    corners = np.asarray(corners, np.float64).reshape(-1, 2)
    orders = _orders(nx, ny)
    upright = [o for o in orders if _handedness(corners[o].reshape(ny, nx, 2)) > 0]
    best, best_key = corners, None
    for order in upright or orders:     # none upright: a degenerate (collinear) grid
        c = corners[order]
        colour = pattern_vote(gray, c, inner_corners) if gray is not None and (nx + ny) % 2 else 0.0
        # rank: the pattern's vote first, then the corner nearest the image's top-left
        key = (round(colour, 6), -(c[0, 0] + c[0, 1]))
        if best_key is None or key > best_key:
            best, best_key = c, key
    if best_key is not None and gray is not None and (nx + ny) % 2 and best_key[0] < 0.5:
        log.info("checkerboard order: the squares' colours disagree (vote %.2f)", best_key[0])
    return best.copy()
