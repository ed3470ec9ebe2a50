"""Board corners from videos and image folders, cached so that a re-run reads no video again."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..errors import FileFormatError
from .boards import Board

log = logging.getLogger("capture3d.calibrate")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
# detect_board's quality gate: views with wider edges (blur) or smaller squares are dropped, pixels
MAX_BLUR_PX = 8.0
MIN_SQUARE_PX = 8.0
# part of the detection cache's key: a cache made by an older detector is not reused
# (2: checkerboards by two detectors, every view in the board's own corner order)
DETECTOR_VERSION = 2


@dataclass
class BoardObservations:
    """Every detection of one camera: ``frames (n,)`` with per-frame ``ids`` and ``corners``."""

    camera: str
    image_size: tuple[int, int]
    frames: np.ndarray
    ids: list
    corners: list
    frames_read: int = 0
    # views found but dropped by detect_board's quality gate
    rejected_blurred: int = 0
    rejected_small: int = 0

    def __len__(self):
        return len(self.frames)

    def save(self, path):
        np.savez_compressed(path, camera=self.camera, image_size=np.array(self.image_size),
                            frames=self.frames, frames_read=self.frames_read,
                            rejected=np.array([self.rejected_blurred, self.rejected_small]),
                            counts=np.array([len(i) for i in self.ids], np.int64),
                            ids=np.concatenate(self.ids) if self.ids else np.zeros(0, np.int64),
                            corners=np.concatenate(self.corners) if self.corners else np.zeros((0, 2)))

    @classmethod
    def load(cls, path) -> "BoardObservations":
        z = np.load(path)
        splits = np.cumsum(z["counts"])[:-1]
        rejected = z["rejected"] if "rejected" in z else np.zeros(2, np.int64)
        return cls(str(z["camera"]), tuple(int(v) for v in z["image_size"]), z["frames"],
                   list(np.split(z["ids"], splits)) if len(z["counts"]) else [],
                   list(np.split(z["corners"], splits)) if len(z["counts"]) else [],
                   int(z["frames_read"]), int(rejected[0]), int(rejected[1]))


def edge_width_px(gray: np.ndarray, corners: np.ndarray, square_px: float, *, max_corners: int = 24) -> float:
    """How blurred a board view is: the width of its edges, pixels, along the blurriest direction.

    Around each of up to ``max_corners`` corners (``(n, 2)`` pixels), the local contrast (5th to
    95th percentile of intensity) over the steepest gradient along x, y and both diagonals; the
    median over corners per direction, then the largest direction, so motion blur shows as well
    as defocus. Measured: about 2.5-3 px on sharp webcam frames (caliscope_4cam), 3.9 px on the
    synthetic renders (Gaussian blur 0.8 px), 8 px at Gaussian 2.5 px or a 7 px diagonal smear.
    """
    pick = corners[np.linspace(0, len(corners) - 1, min(len(corners), max_corners)).astype(int)]
    # the two edges cross at the corner: a window of 0.4 square (at most 20 px, wider than
    # any blur kept) holds both and no neighbouring corner
    r = int(min(max(3.0, square_px * 0.4), 20.0))
    H, W = gray.shape
    x0, y0 = np.maximum(np.floor(pick.min(0)).astype(int) - r - 1, 0)
    x1, y1 = np.minimum(np.ceil(pick.max(0)).astype(int) + r + 2, [W, H])
    g = gray[y0:y1, x0:x1].astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8
    slopes = np.abs(np.stack([gx, gy, (gx + gy) / np.sqrt(2), (gx - gy) / np.sqrt(2)]))
    widths = []
    for x, y in pick - [x0, y0]:
        a, b = int(max(0, y - r)), int(max(0, x - r))
        patch = g[a:int(y) + r + 1, b:int(x) + r + 1]
        if patch.size < 9:
            continue
        lo, hi = np.percentile(patch, [5, 95])
        steepest = np.percentile(slopes[:, a:int(y) + r + 1, b:int(x) + r + 1].reshape(4, -1), 99, axis=1)
        widths.append((hi - lo) / np.maximum(steepest, 1e-6))
    return float(np.max(np.median(widths, axis=0))) if widths else float("inf")


def square_size_px(board: Board, ids: np.ndarray, corners: np.ndarray) -> float:
    """Median image distance between detected corners one square apart (along a row or a
    column), pixels; NaN when no two such corners were found."""
    nx = board.inner_corners[0]
    where = dict(zip(ids.tolist(), range(len(ids))))
    d = [np.linalg.norm(corners[where[j]] - corners[k]) for i, k in where.items()
         for j in ((i + 1) if (i + 1) % nx else -1, i + nx) if j in where]
    return float(np.median(d)) if d else float("nan")


def stack_observations(per_camera: list, *, use: Callable[[int, int], bool] | None = None):
    """Every detected corner of several cameras as flat arrays, for solvers.

    ``per_camera``: one :class:`BoardObservations` (or None) per camera, in the solver's camera
    order; ``use(c, frame)`` keeps only some views. Returns ``frames`` (the sorted frame numbers
    kept), and per corner ``camera (M,)``, ``frame_index (M,)`` into ``frames``, ``corner_id (M,)``
    and ``pixel (M, 2)``.
    """
    views = [(c, int(f), ids, corners) for c, o in enumerate(per_camera) if o is not None
             for f, ids, corners in zip(o.frames, o.ids, o.corners) if use is None or use(c, int(f))]
    frames = sorted({f for _, f, _, _ in views})
    if not views:
        return frames, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2))
    fidx = {f: k for k, f in enumerate(frames)}
    return (frames, np.concatenate([np.full(len(ids), c) for c, _, ids, _ in views]),
            np.concatenate([np.full(len(ids), fidx[f]) for _, f, ids, _ in views]),
            np.concatenate([ids for _, _, ids, _ in views]).astype(np.int64),
            np.concatenate([corners for _, _, _, corners in views]))


def iter_frames(source, *, every: int = 1, max_frames: int | None = None):
    """Yield ``(frame_index, BGR image)`` from a video file, an image folder or a list of images."""
    if isinstance(source, (list, tuple)):
        paths = [Path(p) for p in source]
    else:
        source = Path(source)
        if source.is_dir():
            paths = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not paths:
                raise FileFormatError(source, "no images in this folder")
        else:
            paths = None
    if paths is not None:
        for k, p in enumerate(paths[::every][:max_frames]):
            img = cv2.imread(str(p))
            if img is None:
                raise FileFormatError(p, "not a readable image")
            yield k * every, img
        return
    if not source.is_file():
        raise FileFormatError(source, "file not found")
    cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        raise FileFormatError(source, "not a readable video")
    try:
        f = 0
        got = 0
        while max_frames is None or got < max_frames:
            if f % every == 0:
                ok, img = cap.read()
                if not ok:
                    break
                got += 1
                yield f, img
            elif not cap.grab():
                break
            f += 1
        if f == 0:
            raise FileFormatError(source, "no frame could be decoded")
    finally:
        cap.release()


def detect_board(source, board: Board, *, camera: str | None = None, every: int = 1,
                 max_frames: int | None = None, cache_dir=None, max_blur_px: float = MAX_BLUR_PX,
                 min_square_px: float = MIN_SQUARE_PX,
                 progress: Callable[[int], None] | None = None) -> BoardObservations:
    """Detect ``board`` in every ``every``-th frame of ``source`` (video, folder or image list).

    A view is dropped (and counted in ``rejected_blurred`` / ``rejected_small``) when its edges
    are wider than ``max_blur_px`` (:func:`edge_width_px`: motion blur or defocus, which smear
    where a corner is) or its squares are smaller than ``min_square_px`` in the image (too few
    pixels for a sub-pixel corner). With ``cache_dir``, detections are stored there keyed by the
    source, its size and time, the board, ``every`` and these limits, and re-used on the next call.
    """
    name = camera or (Path(source).stem if not isinstance(source, (list, tuple)) else "camera")
    cache = None
    if cache_dir is not None and not isinstance(source, (list, tuple)):
        st = Path(source).stat()
        key = json.dumps([str(Path(source).resolve()), st.st_size, st.st_mtime_ns, asdict(board), every,
                          max_frames, max_blur_px, min_square_px, DETECTOR_VERSION], sort_keys=True)
        cache = Path(cache_dir) / f"{name}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.corners.npz"
        if cache.is_file():
            return BoardObservations.load(cache)
    frames, ids, corners = [], [], []
    size = None
    n = blurred = small = 0
    for f, img in iter_frames(source, every=every, max_frames=max_frames):
        size = (img.shape[1], img.shape[0])
        gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        det = board.detect(gray)
        n += 1
        if det.ok:
            square = square_size_px(board, det.ids, det.corners)
            if square < min_square_px:
                small += 1
            elif edge_width_px(gray, det.corners, square if square == square else 10.0) > max_blur_px:
                blurred += 1
            else:
                frames.append(f)
                ids.append(det.ids)
                corners.append(det.corners)
        if progress is not None:
            progress(1)
    obs = BoardObservations(name, size or (0, 0), np.array(frames, np.int64), ids, corners, n, blurred, small)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            obs.save(cache)
        except OSError as exc:   # a read-only session: the detections are still returned
            log.warning("detections not cached (%s): %s", cache.parent, exc)
    return obs


def diagnose_no_board(source, board: Board, *, frames: int = 10) -> str:
    """Why no board was found: names the ArUco dictionary the video really holds, if any."""
    if board.type != "charuco":
        return "no checkerboard found: check squares_x / squares_y (squares, not inner corners)"
    images = [img for _, img in iter_frames(source, every=1, max_frames=frames * 5)][::5]
    # The board's own dictionary first: the small dictionaries share their first codes, so a tie
    # must not name another one.
    names = [board.dictionary] + [d for d in dir(cv2.aruco) if d.startswith("DICT_") and "APRILTAG" not in d
                                  and d != board.dictionary]
    best, best_n = None, 0
    for name in names:
        n = sum(board.marker_ids_found(img, name) for img in images)
        if n > best_n:
            best, best_n = name, n
    if not board.see_through and any(board.detect(img, mirrored=True).ok for img in images):
        return ("the board is there, but mirrored: filmed from behind a see-through board, or by a "
                "webcam in mirror mode; set see_through = true in the board file")
    if best is None:
        return "no ArUco marker of any dictionary was found: is the board in view and in focus?"
    if best.split("_")[1] == board.dictionary.split("_")[1] and best != board.dictionary:
        return (f"markers found with {best} but the board says {board.dictionary}: same marker size, "
                f"so check squares_x/squares_y and legacy_pattern too")
    if best != board.dictionary:
        return f"the video holds {best} markers, but the board file says {board.dictionary}"
    return ("markers of the board's dictionary are visible but no corners were interpolated: check "
            "squares_x/squares_y, legacy_pattern and inverted")
