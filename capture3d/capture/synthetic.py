"""Synthetic cameras: the synthetic scene (a board moving through the volume, a walking person, or
both) rendered into each camera of a synthetic rig, delivered at a set fps on a simulated hardware
clock, with configurable timestamp jitter, dropped frames and a camera that stalls.

Every image carries its device frame id as a barcode in the top-left corner
(:func:`stamp_frame_id`, :func:`read_frame_id`), so a recording can be checked frame by frame
against ``frames.csv``. Each image is rendered when a camera first needs it, then kept, and the
scene is played in a loop, so acquisition starts at once (rendering a whole 1280 x 720 scene
first took about 12 s). ``realtime`` paces delivery to the wall clock like real hardware (off:
as fast as asked), and then a host that falls more than ``buffers`` frames behind loses frames,
as a camera whose buffers overflow does. The time a camera spends rendering is the simulation's,
not the host's: it is taken out of that camera's clock of host time (the pacing, the lost-frame
rule and the host timestamps), so a first pass slower than real time loses no frame.

Camera options (``[cameras.options]`` in a rig file): ``drop_frames`` (device frame ids that
never arrive), ``drop_rate`` (random share of frames lost in transfer), ``stall_after`` (the
camera delivers nothing after this many frames), ``jitter_us`` (std of the device timestamp
noise), ``latency_ms`` (host receive delay), ``seed``. Synthetic cameras expose on their clock
whatever their ``trigger`` says: a shared clock when triggered (primary, secondary, external,
software), their own when free running; software trigger pulses are accepted and not needed.
"""
from __future__ import annotations

import threading
import time
import zlib

import numpy as np

from .. import synthetic
from ..calibrate.boards import Board
from .base import Camera, CameraError, CameraTimeout, Frame, register_backend

BARCODE_BITS = 24
BARCODE_CELL = 6   # pixels per bit: survives MJPEG compression


def stamp_frame_id(image: np.ndarray, frame_id: int) -> np.ndarray:
    """Write ``frame_id`` (< 2**24) as black/white cells along the top-left edge, in place."""
    c = BARCODE_CELL
    for bit in range(BARCODE_BITS):
        image[:c, bit * c:(bit + 1) * c] = 255 if (frame_id >> bit) & 1 else 0
    image[c:2 * c, :BARCODE_BITS * c] = 128   # a grey guard row under the code
    return image


def read_frame_id(image: np.ndarray) -> int:
    """The frame id :func:`stamp_frame_id` wrote (read back from a decoded video frame)."""
    c = BARCODE_CELL
    grey = image if image.ndim == 2 else image.mean(axis=2)
    cells = grey[1:c - 1, :BARCODE_BITS * c].reshape(c - 2, BARCODE_BITS, c)[:, :, 1:-1].mean(axis=(0, 2))
    return int(sum(1 << b for b in range(BARCODE_BITS) if cells[b] > 128))


class SyntheticScene:
    """What the synthetic cameras see: ``kind`` = ``"board"``, ``"person"`` or
    ``"board+person"``, ``n_frames`` long (played in a loop), on a synthetic rig (the ground
    truth: ``rig``). Images are rendered on first use and kept; ``rendered`` counts them."""

    def __init__(self, n_cameras: int = 4, *, kind: str = "board", n_frames: int = 90, fps: float = 30.0,
                 size=(640, 480), board: Board | None = None, seed: int = 0, people: int = 1,
                 radius_m: float = 3.5):
        if kind not in ("board", "person", "board+person"):
            raise ValueError(f"synthetic scene must be board, person or board+person, got {kind!r}")
        from ..demo import DEMO_BOARD
        self.kind, self.n_frames, self.fps = kind, int(n_frames), float(fps)
        self.rig = synthetic.make_rig(n_cameras, radius_m=float(radius_m), height_m=2.2, size=tuple(size), seed=seed)
        self.board = board or DEMO_BOARD
        self.motion = synthetic.make_motion(self.n_frames, fps=self.fps, kind="walk", seed=seed, feet=True)
        # (P, F, J, 3) meters, COCO-17 + feet: one walker, or several crossing paths where half
        # the cameras see them whole (live 3D's several-person tests, capture3d demo; on 4
        # cameras the area where 3 do is 1.6 m wide, and there 2 people walk mostly side by side)
        self.people_points = self.motion.points[None] if people == 1 else synthetic.make_crowd(
            int(people), self.n_frames, fps=self.fps, seed=seed, feet=True,
            area_m=synthetic.capture_area(self.rig, min_views=max(2, n_cameras // 2))).points
        self.seed = seed
        self.rendered = 0
        self._images: dict[tuple[int, int], np.ndarray] = {}
        self._renderers: dict[int, object] = {}
        # one lock per camera: the cameras' grab threads render in parallel
        self._locks = [threading.Lock() for _ in range(len(self.rig))]
        self._count_lock = threading.Lock()
        self._poses = None

    def image(self, camera_index: int, k: int) -> np.ndarray:
        """BGR image ``(H, W, 3)`` uint8 of frame ``k`` (modulo ``n_frames``) in one camera,
        rendered on the first request. The same for every order of requests: the sensor noise
        of each frame has its own seed."""
        k %= self.n_frames
        self.prepare(camera_index)
        with self._locks[camera_index]:
            image = self._images.get((camera_index, k))
            if image is None:
                image = self._images[camera_index, k] = self._render(camera_index, k)
                with self._count_lock:
                    self.rendered += 1
            return image

    def frames(self, camera_index: int) -> list[np.ndarray]:
        """The ``n_frames`` BGR images of one camera (renders those not rendered yet)."""
        return [self.image(camera_index, k) for k in range(self.n_frames)]

    def prepare(self, camera_index: int) -> None:
        """Make what every image of one camera needs (its board renderer's rays: about 0.3 s at
        1280 x 720), so that the first images do not wait for it; :meth:`image` does it too."""
        from ..synthetic.boards import BoardRenderer, board_trajectory

        with self._locks[camera_index]:
            if "board" in self.kind and camera_index not in self._renderers:
                self._renderers[camera_index] = BoardRenderer(self.board, self.rig[camera_index],
                                                              seed=self.seed + camera_index)
                if self._poses is None:
                    self._poses = board_trajectory(self.n_frames, self.board, seed=self.seed)

    def _render(self, c: int, k: int) -> np.ndarray:
        import cv2

        cam = self.rig[c]
        image = None
        if "board" in self.kind:
            rng = np.random.default_rng([self.seed, c, k])
            image = cv2.cvtColor(self._renderers[c].render(self._poses[k], rng=rng), cv2.COLOR_GRAY2BGR)
        if "person" in self.kind:
            people = self.people_points[:, k]
            far_first = np.argsort(-np.linalg.norm(np.nanmean(people, axis=1) - cam.center, axis=1))
            for p in far_first:
                if np.isfinite(people[p]).all():
                    image = synthetic.render_person(cam, people[p], image, style=int(p))
        return synthetic.person.background(cam.size) if image is None else image


class SyntheticClock:
    """Trigger times shared by hardware-synchronised synthetic cameras: frame ``i`` is exposed at
    ``start_ns + i * period``, counted from the first camera's ``start()`` plus ``offset_ns``.
    Free-running cameras each get their own clock."""

    def __init__(self, fps: float, offset_ns: int = 0):
        self.period_ns = int(round(1e9 / fps))
        self.offset_ns = offset_ns
        self.start_ns = None
        self._lock = threading.Lock()

    def start(self):
        with self._lock:
            if self.start_ns is None:
                self.start_ns = time.monotonic_ns() + self.offset_ns

    def time_of(self, i: int) -> int:
        return self.start_ns + i * self.period_ns


@register_backend("synthetic")
class SyntheticCamera(Camera):
    """A camera of a :class:`SyntheticScene`: ``settings.device`` is its index in the scene's rig."""

    def __init__(self, settings, *, scene: SyntheticScene | None = None, clock: SyntheticClock | None = None,
                 realtime: bool = True):
        super().__init__(settings)
        self.scene = scene
        self.clock = clock
        self.realtime = realtime
        o = settings.options
        self.drop_frames = set(int(i) for i in o.get("drop_frames", ()))
        self.drop_rate = float(o.get("drop_rate", 0.0))
        self.stall_after = o.get("stall_after")
        self.jitter_ns = float(o.get("jitter_us", 0.0)) * 1e3
        self.latency_ns = int(float(o.get("latency_ms", 2.0)) * 1e6)
        self._rng = np.random.default_rng([int(o.get("seed", 0)), zlib.crc32(settings.name.encode())])
        self._next = 0
        self._delivered = 0
        self._running = False
        self._render_ns = 0      # time spent rendering, taken out of this camera's host clock

    @classmethod
    def enumerate(cls) -> list[dict]:
        return [{"id": "synthetic", "model": "synthetic camera (any index of the scene's rig)"}]

    def open(self):
        if self.scene is None:
            raise CameraError(f"{self.name}: a synthetic camera needs its scene (the rig file's [synthetic] table)")
        index = int(self.settings.device or 0)
        if not 0 <= index < len(self.scene.rig):
            raise CameraError(f"{self.name}: device {index} is not a camera of the synthetic rig "
                              f"(it has {len(self.scene.rig)})")
        self.index = index

    def configure(self) -> dict:
        w, h = self.scene.rig[self.index].size
        if self.settings.size and tuple(self.settings.size) != (w, h):
            raise CameraError(f"{self.name}: the synthetic scene renders {w}x{h}, the rig file asks for "
                              f"{self.settings.size[0]}x{self.settings.size[1]}")
        fps = self.settings.fps or self.scene.fps
        if self.clock is None:
            self.clock = SyntheticClock(fps)
        self.scene.prepare(self.index)     # the images themselves are rendered as grab() asks
        return {"size": (w, h), "fps": fps, "trigger": self.settings.trigger}

    def start(self):
        self.clock.start()
        self._running = True

    def grab(self, timeout_s: float = 1.0) -> Frame:
        if not self._running:
            raise CameraError(f"{self.name}: grab() before start()")
        if self.stall_after is not None and self._delivered >= int(self.stall_after):
            time.sleep(timeout_s)
            raise CameraTimeout(f"{self.name}: no frame within {timeout_s:.1f} s")
        i = self._next
        if self.realtime:
            # the device holds `buffers` frames: a host further behind loses the oldest ones, as
            # a real camera's full buffer does (the ids show the gap)
            behind = (self._host_now() - self.clock.time_of(i)) // self.clock.period_ns
            if behind > self.settings.buffers:
                i += int(behind - self.settings.buffers)
        while i in self.drop_frames or (self.drop_rate and self._rng.random() < self.drop_rate):
            i += 1                                       # lost in transfer: the id counter moved on
        self._next = i + 1
        exposure = self.clock.time_of(i)
        before = time.monotonic_ns()
        image = self.scene.image(self.index, i)
        self._render_ns += time.monotonic_ns() - before
        if self.realtime:
            wait = (exposure + self.latency_ns - self._host_now()) / 1e9
            if wait > timeout_s:
                time.sleep(timeout_s)
                self._next = i                           # not yet: try again next call
                raise CameraTimeout(f"{self.name}: no frame within {timeout_s:.1f} s")
            if wait > 0:
                time.sleep(wait)
        image = stamp_frame_id(image.copy(), i)
        self._delivered += 1
        jitter = int(self._rng.normal(0, self.jitter_ns)) if self.jitter_ns else 0
        return Frame(image, i, exposure + jitter, self._host_now())

    def _host_now(self) -> int:
        """The host's clock as this camera sees it, ns: monotonic time less the time spent
        rendering (the simulation's cost, which real hardware does not have)."""
        return time.monotonic_ns() - self._render_ns

    def stop(self):
        self._running = False

    def close(self):
        self._running = False


