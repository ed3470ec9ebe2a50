"""What live 3D shows: the Open3D scene of ``capture3d view`` (floor, cameras, every person in its
colour with its id and trails) beside a mosaic of the cameras' newest frames with their 2D
people in the same colours.

The picture is drawn at a display rate of its own, never more often than ``fps`` pictures a
second (a window and the MP4) or every ``picture_interval_s`` (headless: ``SESSION/live.png``, replaced
atomically, so an image viewer can watch the file), however fast the 3D updates come: the 3D
rate is what detection allows, the picture's what an eye needs. A picture measured 43 ms under
cProfile, 37 ms of it the Open3D scene of :mod:`capture3d.live.scene` (the scene of two people
alone, in a bare loop: 11.5 ms CPU); the mosaic is the rest.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import cv2
import numpy as np

from ..viz.colors import person_color

log = logging.getLogger("capture3d.live")

GREY = (150, 150, 150)      # 2D people no live person took (BGR)


def capture_volume(rig, height_m: float = 2.0, *, centre=None) -> np.ndarray:
    """``(8, 3)`` corners of a box the people are expected in: the middle third of the cameras'
    floor footprint (at least 1.5 m across), from the floor to ``height_m`` (meters, world frame,
    Z up), around ``centre (2,)`` (x, y) when given. The view frames this box, so people are
    drawn large; cameras may fall outside."""
    xy = np.asarray(rig.centers, float)[:, :2]
    mid = xy.mean(0) if centre is None else np.asarray(centre, float)
    half = np.maximum(0.18 * np.ptp(xy, axis=0), 0.75)
    return np.array([[mid[0] + sx * half[0], mid[1] + sy * half[1], z]
                     for sx in (-1, 1) for sy in (-1, 1) for z in (0.0, height_m)])


def fit_tile(image, size):
    """``image`` scaled into a ``size = (w, h)`` tile, letterboxed on black: the tile ``(h, w, 3)``
    uint8 BGR, the scale and the ``(x, y)`` pixel offset of the image in it."""
    w, h = size
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    scale = min(w / image.shape[1], h / image.shape[0])
    small = cv2.resize(image, (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale))),
                       interpolation=cv2.INTER_NEAREST)     # 4-8x cheaper than INTER_AREA, fine for a preview
    tile = np.zeros((h, w, 3), np.uint8)
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    tile[y:y + small.shape[0], x:x + small.shape[1]] = small
    return tile, scale, (x, y)


class LivePicture:
    """Draws live updates: the 3D scene (``size_3d``) left, a 2 x 2 (or wider) mosaic right.

    Parameters
    ----------
    rig : Rig
    joint_names : sequence of str
    out_png : Path, optional
        Refreshed picture (headless view); None writes none.
    out_video : Path, optional
        MP4 of every picture shown.
    window : bool, optional
        Show a window (default: when ``DISPLAY`` is set).
    fps : float
        Pictures per second at most in the window and the MP4 (the MP4's frame rate).
    picture_interval_s : float
        Seconds between two ``out_png`` pictures.
    """

    def __init__(self, rig, joint_names, *, out_png=None, out_video=None, window: bool | None = None,
                 size_3d=(960, 540), fps: float = 10.0, picture_interval_s: float = 0.5,
                 trail_frames: int = 30):
        from ..viz.render import view_camera
        from .scene import LiveScene

        if not fps > 0 or not picture_interval_s > 0:
            raise ValueError(f"fps and picture_interval_s must be > 0, got {fps}, {picture_interval_s}")

        self.rig, self.joint_names = rig, list(joint_names)
        self.window = bool(os.environ.get("DISPLAY")) if window is None else window
        self.out_png = Path(out_png) if out_png is not None else None
        if self.out_png is not None:   # made now, as every command makes its outputs' folders
            self.out_png.parent.mkdir(parents=True, exist_ok=True)
        self.picture_interval_s, self.trail_frames = picture_interval_s, trail_frames
        self.view = view_camera(capture_volume(rig), size=size_3d)
        self._aimed = False      # re-aimed once at the first people seen (a world origin need not be the middle)
        self._view_for = lambda centre: view_camera(capture_volume(rig, centre=centre), size=size_3d)
        self.renderer = None     # made by the thread that draws (an OpenGL context belongs to one thread)
        self._make_renderer = lambda: LiveScene(self.view, rig, self.joint_names)
        self.display_interval_s = 1.0 / fps
        self._next_draw = 0.0
        cols = 2 if len(rig) <= 4 else -(-len(rig) // 2)
        rows = -(-len(rig) // cols)
        self.tile = (size_3d[0] // cols, size_3d[1] // rows)
        self.grid = (cols, rows)
        self.video = None        # opened at the first picture: nothing is written before the view runs
        self._open_video = None
        if out_video is not None:
            from ..video import VideoWriter
            self._open_video = lambda: VideoWriter(out_video, fps, (size_3d[0] + cols * self.tile[0], size_3d[1]))
        self.history: list[tuple[int, dict]] = []       # (frame, {pid: (J, 3)}) of recent updates
        self.shown = 0
        self.draw_s: list[float] = []
        self._next_png = 0.0
        self.last = None                                  # the last picture drawn, BGR

    def warm_up(self) -> None:
        """Make the renderer and draw once (call from the thread that will draw)."""
        if self.renderer is None:
            self.renderer = self._make_renderer()
        self.renderer.render(np.zeros((0, len(self.joint_names), 3)), [])

    def due(self) -> bool:
        """Whether :meth:`show` would draw now (the display rate's next picture, or the PNG's)."""
        now = time.monotonic()
        shown = self.window or self._open_video is not None
        return (shown and now >= self._next_draw) or (self.out_png is not None and now >= self._next_png)

    def add(self, update) -> None:
        """Keep ``update``'s people for the trails (cheap; call for every update)."""
        self.history.append((update.frame, update.persons))
        del self.history[:-max(1, self.trail_frames + 1)]

    def points(self):
        """``(P, T, J, 3)`` recent points of the people of the newest update, and their ids ``(P,)``."""
        ids = sorted(self.history[-1][1]) if self.history else []
        T, J = len(self.history), len(self.joint_names)
        pts = np.full((len(ids), max(T, 1), J, 3), np.nan)
        for t, (_, persons) in enumerate(self.history):
            for p, pid in enumerate(ids):
                if pid in persons:
                    pts[p, t] = persons[pid]
        return pts, np.asarray(ids, np.int64)

    def draw(self, update, images: dict) -> np.ndarray:
        """The whole picture ``(H, W, 3)`` BGR for ``update`` and ``{camera: image}``."""
        start = time.perf_counter()
        if self.renderer is None:
            self.renderer = self._make_renderer()
        pts, ids = self.points()
        if len(ids) and not self._aimed:
            joints = pts[:, -1][np.isfinite(pts[:, -1]).all(-1)]
            if len(joints) >= 12:       # a whole person, not a few stray joints
                self.view = self._view_for(np.median(joints, axis=0)[:2])
                self.renderer.view = self.view
                self._aimed = True
        rgb = self.renderer.render(pts[:, -1], ids, pts)
        scene = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        owner = {}
        for pid, s in update.slots.items():
            for c, slot in enumerate(s):
                if slot >= 0:
                    owner[c, int(slot)] = pid
        cols, rows = self.grid
        mosaic = np.zeros((scene.shape[0], cols * self.tile[0], 3), np.uint8)
        for c, name in enumerate(self.rig.names):
            if name not in images:
                continue
            tile, scale, (x0, y0) = fit_tile(images[name], self.tile)
            for s, kp in enumerate(update.keypoints[c]):
                ok = np.isfinite(kp[:, 0]) & (np.nan_to_num(kp[:, 2]) > 0.3)
                pid = owner.get((c, s))
                colour = person_color(pid).bgr if pid is not None else GREY
                for x, y in kp[ok, :2] * scale + (x0, y0):
                    cv2.circle(tile, (int(x), int(y)), 3, colour, -1, cv2.LINE_AA)
            mark = "*" if name in update.detected else ""
            cv2.putText(tile, name + mark, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 255), 1, cv2.LINE_AA)
            r, k = divmod(c, cols)
            mosaic[r * self.tile[1]:(r + 1) * self.tile[1], k * self.tile[0]:(k + 1) * self.tile[0]] = tile
        picture = np.hstack([scene, mosaic])
        self.draw_s.append(time.perf_counter() - start)
        self.last = picture
        return picture

    def show(self, update, images: dict) -> bool:
        """Draw and show ``update`` if something wants it now; True when drawn."""
        self.add(update)
        if not self.due():
            return False
        picture = self.draw(update, images)
        self.shown += 1
        self._next_draw = max(self._next_draw + self.display_interval_s, time.monotonic() - self.display_interval_s)
        if self._open_video is not None:
            if self.video is None:
                self.video = self._open_video()
            self.video.write(picture)
        if self.window:
            cv2.imshow("capture3d live", picture)
            cv2.waitKey(1)
        if self.out_png is not None and time.monotonic() >= self._next_png:
            self.write_png(picture)
        return True

    def write_png(self, picture=None) -> None:
        picture = self.last if picture is None else picture
        if picture is None or self.out_png is None:
            return
        tmp = self.out_png.with_name(self.out_png.stem + ".tmp.png")
        if not cv2.imwrite(str(tmp), picture, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            raise OSError(f"cannot write {tmp}")
        tmp.replace(self.out_png)
        self._next_png = time.monotonic() + self.picture_interval_s

    def close(self) -> None:
        self.write_png()
        if self.video is not None:
            self.video.close()
        if self.renderer is not None:
            self.renderer.close()
        if self.window:
            cv2.destroyAllWindows()
