"""The recorder's live view: the newest frames of every camera and, with a calibration, live 3D
of every person (:mod:`capture3d.live`).

:class:`LiveView` is what :func:`capture3d.capture.record` feeds: ``update(camera, frame)`` is
called by the acquisition threads and only replaces a reference, so the recording is never held
up: frames are skipped, never queued. Without a calibration it shows a mosaic of the newest
frames (``SESSION/preview.jpg`` headless, or a window); with one it runs a
:class:`capture3d.live.LiveRunner` drawing ``SESSION/live.png`` (and ``live.mp4`` when asked).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger("capture3d.record")

TILE_WIDTH = 480


def mosaic(frames: dict, cameras) -> np.ndarray:
    """``{camera: Frame}`` as one BGR picture, four tiles ``TILE_WIDTH`` wide per row."""
    tiles = []
    for cam in cameras:
        f = frames[cam]
        image = f.image if f.image.ndim == 3 else cv2.cvtColor(f.image, cv2.COLOR_GRAY2BGR)
        scale = TILE_WIDTH / image.shape[1]
        tile = cv2.resize(image, (TILE_WIDTH, int(round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        cv2.putText(tile, f"{cam}  #{f.device_frame_id if f.device_frame_id is not None else '-'}",
                    (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 255), 2, cv2.LINE_AA)
        tiles.append(tile)
    cols = min(4, len(tiles))
    rows = -(-len(tiles) // cols)
    h = max(t.shape[0] for t in tiles)
    canvas = np.zeros((rows * h, cols * TILE_WIDTH, 3), np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        canvas[r * h:r * h + t.shape[0], c * TILE_WIDTH:(c + 1) * TILE_WIDTH] = t
    return canvas


class LiveView:
    """The live view of one recording.

    Parameters
    ----------
    session : Path
        The session folder (pictures go there).
    cameras : list of str
    rig : Rig, optional
        The calibration of ``cameras``, already checked (:func:`capture3d.live.check_calibration`):
        live 3D. None: the mosaic only.
    fps : float
        The cameras' frame rate, Hz.
    options : capture3d.live.LiveOptions, optional
    video : bool
        Also write ``SESSION/live.mp4`` of what was shown (live 3D only).
    """

    def __init__(self, session, cameras, rig=None, *, fps: float = 30.0, options=None, video: bool = False,
                 window: bool | None = None):
        self.session, self.cameras = Path(session), list(cameras)
        self.window = bool(os.environ.get("DISPLAY")) if window is None else window
        self.runner = None
        self.latest: dict = {}
        self.updates = 0
        if rig is not None:
            from ..live import LiveOptions, LiveRunner
            from ..live.view import LivePicture

            options = options or LiveOptions()
            self.runner = LiveRunner(rig, fps, options)
            self.runner.picture = LivePicture(rig, self.runner.recon.joint_names, out_png=self.session / "live.png",
                                              out_video=self.session / "live.mp4" if video else None,
                                              window=self.window, fps=options.display_fps,
                                              trail_frames=options.trail_frames)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="live-view", daemon=True)

    def update(self, camera, frame):
        if self.runner is not None:
            self.runner.update(camera, frame)
        else:
            self.latest[camera] = frame

    def hold_while(self, behind) -> None:
        """Start no live detection while ``behind()`` is True: the recorder says so when a
        camera's writer falls behind, so that the recording, not the live view, gets the CPU."""
        if self.runner is not None:
            self.runner.hold = behind

    def start(self):
        (self.runner.start() if self.runner is not None else self.thread.start())

    def close(self):
        if self.runner is not None:
            self.runner.close()
            self.updates = len(self.runner.stats.latency_ms)
            log.info("%s", self.runner.stats.line())
            return
        self.stop.set()
        self.thread.join()
        if self.window:
            cv2.destroyAllWindows()

    def summary(self) -> dict:
        """``sync_report.json``'s ``live`` entry: ``{updates, updates_per_s, latency_ms_median, latency_ms_p95, ...}``."""
        if self.runner is not None:
            return {**self.runner.stats.summary(), "held_for_writers": self.runner.held}
        return {"updates": self.updates, "mosaic_only": True}

    def _run(self):
        while not self.stop.is_set():
            frames = dict(self.latest)
            if len(frames) < len(self.cameras):
                time.sleep(0.05)
                continue
            try:
                picture = mosaic(frames, self.cameras)
            except Exception:  # noqa: BLE001  (a live view must never stop the recording)
                log.exception("live view failed; recording goes on")
                return
            self.updates += 1
            if self.window:
                cv2.imshow("capture3d", picture)
                cv2.waitKey(1)
            else:
                tmp = self.session / "preview.tmp.jpg"
                cv2.imwrite(str(tmp), picture)
                tmp.replace(self.session / "preview.jpg")
            time.sleep(0.1)
