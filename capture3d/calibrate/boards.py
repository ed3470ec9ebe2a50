"""Calibration targets: ChArUco and checkerboard definitions, their object points, images and
corner detection.

Board frame: x along the board's first axis (columns), y along its rows, z = 0 on the board,
meters; ``z`` points into the board, away from a camera that sees its printed side. Corner
``k`` of :meth:`Board.object_points` is the ``k``-th inner corner, row by row (OpenCV's order).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import tomli_w

from ..errors import FileFormatError
from ..io import load_toml
from .checkerboard import find_checkerboard

BOARD_TYPES = ("charuco", "checkerboard")


def _dictionary_size(name: str) -> int:
    """How many markers the predefined ArUco dictionary ``name`` holds."""
    return int(cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name)).bytesList.shape[0])


@dataclass(frozen=True)
class Board:
    """A planar calibration target (see ``calibration/boards/*.toml``)."""

    type: str = "charuco"
    squares_x: int = 5                 # squares along x (columns), not inner corners
    squares_y: int = 7                 # squares along y (rows)
    square_length_m: float = 0.08
    marker_length_m: float = 0.06      # charuco only
    dictionary: str = "DICT_4X4_50"    # charuco only: a cv2.aruco predefined dictionary
    legacy_pattern: bool = False       # charuco boards made by OpenCV < 4.6 (even rows)
    inverted: bool = False             # white markers on black
    see_through: bool = False          # printed on film or backlit: cameras behind it see it mirrored

    def __post_init__(self):
        if self.type not in BOARD_TYPES:
            raise ValueError(f"board type must be one of {BOARD_TYPES}, got {self.type!r}")
        if self.squares_x < 2 or self.squares_y < 2:
            raise ValueError(f"a board needs at least 2 x 2 squares, got {self.squares_x} x {self.squares_y}")
        if not self.square_length_m > 0:
            raise ValueError(f"square_length_m must be > 0, got {self.square_length_m}")
        if self.type == "charuco":
            if not 0 < self.marker_length_m < self.square_length_m:
                raise ValueError("marker_length_m must be > 0 and smaller than square_length_m")
            if not hasattr(cv2.aruco, self.dictionary):
                raise ValueError(f"unknown ArUco dictionary {self.dictionary!r}")
            needed, held = len(self.cv_board().getIds()), _dictionary_size(self.dictionary)
            if needed > held:
                bits = self.dictionary.split("_")[1]
                bigger = [f"DICT_{bits}_{n}" for n in (50, 100, 250, 1000) if n >= needed]
                raise ValueError(f"a {self.squares_x} x {self.squares_y} ChArUco board needs {needed} markers and "
                                 f"{self.dictionary} has {held}: use {bigger[0] if bigger else 'a larger dictionary'}"
                                 f" or fewer squares")

    # -- files -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path) -> "Board":
        path = Path(path)
        doc = load_toml(path, "board file")
        doc = doc.get("board", doc)
        if {"columns", "rows", "aruco_scale"} <= set(doc):
            return cls._from_caliscope(path, doc)
        known = set(cls.__dataclass_fields__)
        unknown = set(doc) - known
        if unknown:
            raise FileFormatError(path, f"unknown board keys {sorted(unknown)}; known: {sorted(known)}")
        try:
            return cls(**doc)
        except (TypeError, ValueError) as exc:
            raise FileFormatError(path, str(exc)) from None

    @classmethod
    def _from_caliscope(cls, path, doc) -> "Board":
        """caliscope's ``charuco.toml``: columns x rows squares, the square from
        ``square_size_override_cm`` (else the board width over the columns), markers
        ``aruco_scale`` of a square."""
        inch = 0.0254 if doc.get("units", "inch") == "inch" else 0.01
        try:
            square = (doc["square_size_override_cm"] / 100 if doc.get("square_size_override_cm")
                      else doc["board_width"] * inch / doc["columns"])
            return cls(type="charuco", squares_x=int(doc["columns"]), squares_y=int(doc["rows"]),
                       square_length_m=square, marker_length_m=square * float(doc["aruco_scale"]),
                       dictionary=doc.get("dictionary", "DICT_4X4_50"),
                       legacy_pattern=bool(doc.get("legacy_pattern", False)),
                       inverted=bool(doc.get("inverted", False)),
                       # caliscope looks for the mirrored board too (a camera behind the sheet)
                       see_through=True)
        except KeyError as exc:
            raise FileFormatError(path, f"caliscope board: no {exc.args[0]!r} (and no square_size_override_cm) "
                                  "to give the square size") from None
        except (TypeError, ValueError) as exc:
            raise FileFormatError(path, f"caliscope board: {exc}") from None

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        d = asdict(self)
        if self.type == "checkerboard":
            for k in ("marker_length_m", "dictionary", "legacy_pattern", "inverted", "see_through"):
                d.pop(k)
        path.write_bytes(tomli_w.dumps(d).encode())
        return path

    # -- geometry ----------------------------------------------------------------------------
    @property
    def inner_corners(self) -> tuple[int, int]:
        return self.squares_x - 1, self.squares_y - 1

    @property
    def n_corners(self) -> int:
        return (self.squares_x - 1) * (self.squares_y - 1)

    @property
    def size_m(self) -> tuple[float, float]:
        return self.squares_x * self.square_length_m, self.squares_y * self.square_length_m

    def object_points(self) -> np.ndarray:
        """Inner corners in the board frame, ``(n_corners, 3)`` meters, row by row."""
        nx, ny = self.inner_corners
        j, i = np.mgrid[1:ny + 1, 1:nx + 1]
        return np.stack([i.ravel(), j.ravel(), np.zeros(nx * ny)], axis=1) * self.square_length_m

    def cv_board(self):
        """The ``cv2.aruco.CharucoBoard`` (charuco only)."""
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        board = cv2.aruco.CharucoBoard((self.squares_x, self.squares_y), self.square_length_m,
                                       self.marker_length_m, dictionary)
        board.setLegacyPattern(self.legacy_pattern)
        return board

    def image(self, px_per_square: int = 100, margin_px: int = 0) -> np.ndarray:
        """The board as a grayscale ``uint8`` image, ``px_per_square`` pixels per square.

        ChArUco boards are drawn here, square by square, from the OpenCV board's own layout
        (which squares hold which marker), rather than by ``CharucoBoard.generateImage``: that
        fails an assertion for some sizes (OpenCV 4.14: 8 of 132 common square, marker and dpi
        choices, e.g. 20 mm squares with 16 mm markers at 200 dpi) and has drifted markers in
        other releases. Squares fall on whole pixels; each marker is centred in its square to
        half a pixel. Where generateImage works the two agree pixel for pixel, except that a
        marker that cannot be centred exactly may sit one pixel to the other side."""
        w, h = self.squares_x * px_per_square, self.squares_y * px_per_square
        if self.type == "charuco":
            img = self._charuco_image(px_per_square)
            if self.inverted:
                img = 255 - img
        else:
            j, i = np.mgrid[0:h, 0:w] // px_per_square
            img = np.where((i + j) % 2 == 0, 0, 255).astype(np.uint8)
        if margin_px:
            img = cv2.copyMakeBorder(img, margin_px, margin_px, margin_px, margin_px,
                                     cv2.BORDER_CONSTANT, value=255)
        return img

    def _charuco_image(self, px: int) -> np.ndarray:
        cv_board = self.cv_board()
        dictionary = cv_board.getDictionary()
        img = np.full((self.squares_y * px, self.squares_x * px), 255, np.uint8)
        corners = np.asarray(cv_board.getObjPoints())                 # (markers, 4, 3), meters
        ids = np.asarray(cv_board.getIds()).ravel()
        cells = np.floor(corners[:, :, :2].mean(axis=1) / self.square_length_m).astype(int)  # (col, row)
        white = np.zeros((self.squares_y, self.squares_x), bool)     # a white square holds a marker
        white[cells[:, 1], cells[:, 0]] = True
        for r, c in zip(*np.nonzero(~white)):
            img[r * px:(r + 1) * px, c * px:(c + 1) * px] = 0
        side = int(round(px * self.marker_length_m / self.square_length_m))
        offset = (px - side) // 2
        for (c, r), marker_id in zip(cells, ids):
            y, x = r * px + offset, c * px + offset
            img[y:y + side, x:x + side] = cv2.aruco.generateImageMarker(dictionary, int(marker_id), side, borderBits=1)
        return img

    def write_pdf(self, path, *, dpi: int = 300, note: str = "") -> Path:
        """A one-page PDF of the board at true scale: the page is the board plus a 15 mm white
        margin, and the margin says the board's dimensions so that a print can be checked with
        a ruler (print at 100 %, "actual size")."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        margin_in = 15 / 25.4
        w_in = self.squares_x * self.square_length_m / 0.0254
        h_in = self.squares_y * self.square_length_m / 0.0254
        page_w, page_h = w_in + 2 * margin_in, h_in + 2 * margin_in
        px = max(20, int(round(self.square_length_m / 0.0254 * dpi)))
        fig = plt.figure(figsize=(page_w, page_h))
        ax = fig.add_axes((margin_in / page_w, margin_in / page_h, w_in / page_w, h_in / page_h))
        ax.imshow(self.image(px), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_axis_off()
        text = (f"{self.type} {self.squares_x} x {self.squares_y} squares of {self.square_length_m * 1000:g} mm"
                + (f", markers {self.marker_length_m * 1000:g} mm, {self.dictionary}" if self.type == "charuco"
                   else "")
                + f"; board {self.squares_x * self.square_length_m * 1000:g} x "
                  f"{self.squares_y * self.square_length_m * 1000:g} mm. Print at 100 % and measure. {note}")
        fig.text(0.5, 0.35 * margin_in / page_h, text, ha="center", va="center", fontsize=7)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        return path

    # -- detection ---------------------------------------------------------------------------
    def detect(self, image, *, min_corners: int = 6, mirrored: bool | None = None) -> "Detection":
        """Find the board's inner corners in a BGR or grayscale image.

        ``mirrored`` (default: the board's ``see_through``) also looks for the board's mirror
        image when the board itself is not found: a see-through board filmed from behind, or a
        webcam in mirror mode. Its corners are flipped back, so that ids and pixels are those of
        the real image either way.

        Returns
        -------
        Detection
            ``ids (n,)`` corner indices into :meth:`object_points` and ``corners (n, 2)`` pixels,
            sub-pixel refined; empty (``ok`` false) when fewer than ``min_corners`` were found.
        """
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        found = self._detect_gray(gray, min_corners)
        if not found.ok and (self.see_through if mirrored is None else mirrored):
            found = self._detect_gray(np.ascontiguousarray(gray[:, ::-1]), min_corners)
            if found.ok:
                # column j of the flipped image is column W - 1 - j of the real one
                found.corners[:, 0] = gray.shape[1] - 1 - found.corners[:, 0]
                found.mirrored = True
        return found

    def _detect_gray(self, gray, min_corners: int) -> "Detection":
        if self.type == "charuco":
            if self.inverted:
                gray = 255 - gray
            detector = cv2.aruco.CharucoDetector(self.cv_board())
            corners, ids, _mc, _mi = detector.detectBoard(gray)
            if ids is None or len(ids) < min_corners:
                return Detection.empty()
            ids = ids.ravel().astype(np.int64)
            corners = corners.reshape(-1, 2).astype(np.float64)
        else:
            # two detectors, every view put in the board's own corner order (checkerboard.py)
            corners, method = find_checkerboard(gray, self.inner_corners)
            if corners is None:
                return Detection.empty()
            ids = np.arange(len(corners))
            return Detection(ids, corners, method=method)
        return Detection(ids, corners)

    def marker_ids_found(self, image, dictionary: str) -> int:
        """How many markers of ``dictionary`` are in ``image`` (to diagnose a wrong dictionary)."""
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        det = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary)))
        found = 0
        for g in (gray, 255 - gray):
            _c, ids, _r = det.detectMarkers(g)
            found = max(found, 0 if ids is None else len(ids))
        return found


@dataclass
class Detection:
    """Board corners found in one image: ``ids (n,)`` int and ``corners (n, 2)`` pixels."""

    ids: np.ndarray
    corners: np.ndarray
    mirrored: bool = False      # found in the mirror image (see :meth:`Board.detect`)
    method: str = ""            # checkerboards: the detector that found it, "sb" or "classic"

    @classmethod
    def empty(cls) -> "Detection":
        return cls(np.zeros(0, np.int64), np.zeros((0, 2)))

    @property
    def ok(self) -> bool:
        return len(self.ids) > 0


def printable_image(board: Board, *, dpi: int = 300) -> np.ndarray:
    """The board at true scale for printing at ``dpi``: ``(H, W)`` uint8, a white margin of half
    a square, and under it two lines saying what the board is and how to check the print (the
    largest font, up to a square / 250, at which both lines fit between the side margins)."""
    px = int(round(board.square_length_m / 0.0254 * dpi))      # pixels per square at this resolution
    img = board.image(px, margin_px=px // 2)
    square_mm = board.square_length_m * 1000
    lines = [f"{board.type} {board.squares_x}x{board.squares_y} squares of {square_mm:g} mm"
             + (f", markers {board.marker_length_m * 1000:g} mm, {board.dictionary}" if board.type == "charuco" else ""),
             f"print at {dpi} dpi, 100% scale; check a square measures {square_mm:g} mm"]
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, max(1, px // 120)
    widest = max(cv2.getTextSize(line, font, 1.0, thickness)[0][0] for line in lines)
    scale = min(px / 250, (img.shape[1] - px) / widest)
    line_h = int(cv2.getTextSize("Mg", font, scale, thickness)[0][1] * 1.8) + 1
    img = cv2.copyMakeBorder(img, 0, len(lines) * line_h + px // 4, 0, 0, cv2.BORDER_CONSTANT, value=255)
    for k, line in enumerate(lines):
        y = img.shape[0] - px // 4 - (len(lines) - 1 - k) * line_h
        cv2.putText(img, line, (px // 2, y), font, scale, 0, thickness, cv2.LINE_AA)
    return img


def write_printable(board: Board, path, *, dpi: int = 300) -> dict[str, Path]:
    """Save ``board`` to ``path`` (TOML) with its printable PNG (:func:`printable_image`) and a
    true-scale PDF (:meth:`Board.write_pdf`) beside it: ``{"toml", "png", "pdf"}`` -> path."""
    path = Path(path)
    board.save(path)
    png = path.with_suffix(".png")
    if not cv2.imwrite(str(png), printable_image(board, dpi=dpi)):
        raise FileFormatError(png, "cannot write this image")
    return {"toml": path, "png": png, "pdf": board.write_pdf(path.with_suffix(".pdf"), dpi=dpi)}
