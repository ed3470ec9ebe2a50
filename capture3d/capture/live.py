"""Live view while recording: a mosaic of every camera's newest frame and, with a calibration,
live 3D (2D detection in each view, triangulation, the skeleton drawn from above and from the
side).

It runs on its own thread at whatever rate the machine allows and always takes the newest frame
of each camera: frames are skipped, never queued, so the recording is never held up by it. With a
display the picture is shown in a window (``cv2.imshow``); headless, it is written to
``SESSION/preview.jpg`` (replaced atomically, so an image viewer can watch the file).
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


class LiveView:
    """Shows the newest frames; ``calibration`` (a path or a :class:`capture3d.Rig`) adds live
    3D. ``update(camera, frame)`` is called by the recorder's acquisition threads (cheap: it only
    replaces a reference)."""

    def __init__(self, session, cameras, calibration=None, *, detector: str = "blazepose", window: bool | None = None):
        self.session, self.cameras = Path(session), list(cameras)
        self.latest: dict = {}
        self.rig = None
        if calibration is not None:
            from ..rig import Rig
            rig = calibration if isinstance(calibration, Rig) else Rig.load(calibration)
            missing = [c for c in self.cameras if c not in rig.names]
            if missing:
                raise ValueError(f"live 3D: the calibration does not know cameras {missing}")
            self.rig = rig.subset(self.cameras)
            from ..detect import make_detector
            self.detectors = {c: make_detector(detector) for c in self.cameras}
        self.window = bool(os.environ.get("DISPLAY")) if window is None else window
        self.updates = 0
        self.points3d = None            # the newest live 3D skeleton (J, 3), meters
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="live-view", daemon=True)

    def update(self, camera, frame):
        self.latest[camera] = frame

    def start(self):
        self.thread.start()

    def close(self):
        self.stop.set()
        self.thread.join()
        if self.window:
            cv2.destroyAllWindows()

    def _run(self):
        while not self.stop.is_set():
            frames = dict(self.latest)
            if len(frames) < len(self.cameras):
                time.sleep(0.05)
                continue
            try:
                picture = self.render(frames)
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

    def render(self, frames) -> np.ndarray:
        """The mosaic (and the 3D panels) for ``{camera: Frame}``."""
        tiles = []
        keypoints = []
        for cam in self.cameras:
            f = frames[cam]
            image = f.image if f.image.ndim == 3 else cv2.cvtColor(f.image, cv2.COLOR_GRAY2BGR)
            if self.rig is not None:
                from ..detect import to_canonical
                kp, _ = to_canonical(self.detectors[cam](image)[:1], self.detectors[cam].joint_names)
                keypoints.append(kp[0, :17])
                image = image.copy()                  # the frame belongs to the recorder
                for x, y, s in kp[0, :17]:
                    if np.isfinite(x) and s > 0.3:
                        cv2.circle(image, (int(x), int(y)), max(3, image.shape[1] // 200), (0, 200, 0), -1)
            scale = TILE_WIDTH / image.shape[1]
            tile = cv2.resize(image, (TILE_WIDTH, int(round(image.shape[0] * scale))))
            cv2.putText(tile, f"{cam}  #{f.device_frame_id if f.device_frame_id is not None else '-'}",
                        (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 255), 2, cv2.LINE_AA)
            tiles.append(tile)
        if self.rig is not None:
            tiles += self._skeleton_panels(np.stack(keypoints), tiles[0].shape[0])
        cols = min(4, len(tiles))
        rows = -(-len(tiles) // cols)
        h = max(t.shape[0] for t in tiles)
        canvas = np.zeros((rows * h, cols * TILE_WIDTH, 3), np.uint8)
        for k, t in enumerate(tiles):
            r, c = divmod(k, cols)
            canvas[r * h:r * h + t.shape[0], c * TILE_WIDTH:(c + 1) * TILE_WIDTH] = t
        return canvas

    def _skeleton_panels(self, keypoints, height):
        from .. import triangulate
        from ..skeleton import BONES, COCO17

        res = triangulate(keypoints[:, None].astype(np.float64), self.rig)
        points = res.points[0]
        self.points3d = points
        panels = []
        index = {n: i for i, n in enumerate(COCO17)}
        # top view: 4 m across, centred on the world origin; side view: 2.2 m high, floor at the bottom
        for title, axes, metres, floor in (("top view (x, y)", (0, 1), 4.0, 0.5), ("side view (x, z)", (0, 2), 2.2, 0.92)):
            panel = np.full((height, TILE_WIDTH, 3), 30, np.uint8)
            cv2.putText(panel, title, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (200, 200, 200), 1, cv2.LINE_AA)
            scale = height / metres
            centre = np.array([TILE_WIDTH / 2, height * floor])

            def to_px(p):
                q = np.array([p[axes[0]], -p[axes[1]]]) * scale + centre
                return int(q[0]), int(q[1])
            for a, b in BONES:
                if a in index and b in index and np.isfinite(points[[index[a], index[b]]]).all():
                    cv2.line(panel, to_px(points[index[a]]), to_px(points[index[b]]), (255, 160, 60), 2, cv2.LINE_AA)
            panels.append(panel)
        return panels
