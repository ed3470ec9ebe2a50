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


@dataclass
class BoardObservations:
    """Every detection of one camera: ``frames (n,)`` with per-frame ``ids`` and ``corners``."""

    camera: str
    image_size: tuple[int, int]
    frames: np.ndarray
    ids: list
    corners: list
    frames_read: int = 0

    def __len__(self):
        return len(self.frames)

    def save(self, path):
        np.savez_compressed(path, camera=self.camera, image_size=np.array(self.image_size),
                            frames=self.frames, frames_read=self.frames_read,
                            counts=np.array([len(i) for i in self.ids], np.int64),
                            ids=np.concatenate(self.ids) if self.ids else np.zeros(0, np.int64),
                            corners=np.concatenate(self.corners) if self.corners else np.zeros((0, 2)))

    @classmethod
    def load(cls, path) -> "BoardObservations":
        z = np.load(path)
        splits = np.cumsum(z["counts"])[:-1]
        return cls(str(z["camera"]), tuple(int(v) for v in z["image_size"]), z["frames"],
                   list(np.split(z["ids"], splits)) if len(z["counts"]) else [],
                   list(np.split(z["corners"], splits)) if len(z["counts"]) else [],
                   int(z["frames_read"]))


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
                 max_frames: int | None = None, cache_dir=None,
                 progress: Callable[[int], None] | None = None) -> BoardObservations:
    """Detect ``board`` in every ``every``-th frame of ``source`` (video, folder or image list).

    With ``cache_dir``, detections are stored there keyed by the source, its size and time, the
    board and ``every``, and re-used on the next call.
    """
    name = camera or (Path(source).stem if not isinstance(source, (list, tuple)) else "camera")
    cache = None
    if cache_dir is not None and not isinstance(source, (list, tuple)):
        st = Path(source).stat()
        key = json.dumps([str(Path(source).resolve()), st.st_size, st.st_mtime_ns, asdict(board), every,
                          max_frames], sort_keys=True)
        cache = Path(cache_dir) / f"{name}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.corners.npz"
        if cache.is_file():
            return BoardObservations.load(cache)
    frames, ids, corners = [], [], []
    size = None
    n = 0
    for f, img in iter_frames(source, every=every, max_frames=max_frames):
        size = (img.shape[1], img.shape[0])
        det = board.detect(img)
        n += 1
        if det.ok:
            frames.append(f)
            ids.append(det.ids)
            corners.append(det.corners)
        if progress is not None:
            progress(1)
    obs = BoardObservations(name, size or (0, 0), np.array(frames, np.int64), ids, corners, n)
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
