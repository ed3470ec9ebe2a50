"""``capture3d live SESSION -c CAL``: a recorded session played through the live path at its own
frame rate, as if its cameras were recording now (to test, demo and tune live 3D without
cameras).

Each camera's video runs on the wall clock; when the :class:`~capture3d.live.runner.LiveRunner`
looks for new frames it gets the frame of each camera due at that moment (frames it never looks
at are skipped, as a camera's newer frames replace older ones). Where the codec allows (MJPEG,
what ``record`` writes) a frame is decoded only when a detection thread takes it, never when it
is skipped or replaced before that.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from ..capture.base import Frame
from ..sources import session_videos
from .calibration import check_calibration, load_calibration
from .engine import LiveOptions
from .runner import LiveRunner, LiveStats

log = logging.getLogger("capture3d.live")


@dataclass
class ReplayResult:
    """What a replay achieved: the live statistics, frames played and skipped per camera, and
    the pictures written."""

    stats: LiveStats
    played: dict
    skipped: dict
    picture: Path | None
    video: Path | None
    last_update: object = None
    results: list = None
    joint_names: tuple = ()


def _video_sizes(videos) -> tuple[dict, float]:
    sizes, fps = {}, None
    for name, path in videos.items():
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            from ..errors import FileFormatError
            raise FileFormatError(path, f"camera {name}: cannot open this video")
        sizes[name] = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        fps = fps or cap.get(cv2.CAP_PROP_FPS) or 30.0
        cap.release()
    return sizes, float(fps)


class _PacketFrame(Frame):
    """A replayed MJPEG frame decoded when its image is first asked for (on the detection
    thread that takes it): the live thread never decodes the frames it skips (4.5-6 ms CPU a
    1280 x 720 frame, measured)."""

    def __init__(self, packet, *clocks):
        super().__init__(None, *clocks)
        self._packet = packet

    @property
    def image(self):
        if self._image is None:
            self._image = cv2.imdecode(self._packet.reshape(-1), cv2.IMREAD_COLOR)
            if self._image is None:
                from ..errors import FileFormatError
                raise FileFormatError("video", f"frame {self.device_frame_id}: not a JPEG image")
        return self._image

    @image.setter
    def image(self, value):
        self._image = value


class _Player:
    """One camera's video on the wall clock: :meth:`due` hands out the frame due now, once.
    MJPEG frames are read as packets and decoded only when looked at (about 0.01 ms against
    5 ms a 720p frame); other codecs decode every frame (no colour conversion when skipped)."""

    def __init__(self, name, path, fps, t0, max_frames=None, speed=1.0):
        self.name, self.fps, self.t0, self.speed = name, fps, t0, speed
        self.cap = cv2.VideoCapture(str(path))
        fourcc = int(self.cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("latin-1").upper()
        self.packets = fourcc in ("MJPG", "MJPEG") and self.cap.set(cv2.CAP_PROP_FORMAT, -1)
        count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.n_frames = min(count or 1 << 30, max_frames or 1 << 30)
        self.next = 0            # the index cap.read() would return
        self.last = -1           # the index last handed out
        self.played = self.skipped = 0
        self.finished = False

    def due(self) -> Frame | None:
        """The frame due now if it was not handed out yet, else None."""
        index = min(int((time.monotonic() - self.t0) * self.fps * self.speed), self.n_frames)
        if index >= self.n_frames:
            self.finished = True
            return None
        if index <= self.last:
            return None
        while self.next < index and self.cap.grab():
            self.next += 1
        self.skipped += index - self.last - 1
        ok, image = self.cap.read()
        if not ok:
            self.finished = True
            return None
        self.next = index + 1
        self.last = index
        self.played += 1
        clocks = (index, int(index * 1e9 / self.fps), time.monotonic_ns())
        return _PacketFrame(image.copy(), *clocks) if self.packets else Frame(image, *clocks)

    def close(self):
        self.cap.release()


def replay(session, calibration, options: LiveOptions = LiveOptions(), *, picture: bool = True, out_png=None,
           out_video=None, window: bool | None = False, seconds: float | None = None, progress=None,
           keep_results: bool = False, speed: float = 1.0) -> ReplayResult:
    """Play ``session``'s videos through live 3D at their frame rate.

    Parameters
    ----------
    session : path
        A session folder (``videos/<camera>.*``) or a folder of videos named after the cameras.
    calibration : path or Rig
        Checked against the videos' cameras and image sizes before anything is written.
    options : LiveOptions
    picture : bool
        Draw the live picture (False: 3D only, for the bare rate).
    out_png, out_video : path, optional
        Refreshed picture (default ``SESSION/live.png``) and an MP4 of every picture shown.
    seconds : float, optional
        Play at most this long (default: the whole session).
    progress : callable(seconds, LiveStats), optional
        Called twice a second.
    speed : float
        Play this many times faster than recorded (0.25: a short take slowed down to look at).
    keep_results : bool
        Keep every update's people with the video frame they come from (``ReplayResult.results``:
        ``[(frame index, {person id: (J, 3) meters})]``), to compare with ``process``.
    """
    videos = session_videos(session)
    sizes, fps = _video_sizes(videos)
    rig, source = load_calibration(calibration)
    rig = check_calibration(rig, sizes, source=source)
    view = None
    out_png = Path(out_png) if out_png is not None else Path(session) / "live.png"
    # no recording to give way to: the live thread keeps its priority
    if not speed > 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    # held 2D is carried forward in wall time: slowed down, the scene moves less per second
    runner = LiveRunner(rig, fps, dataclasses.replace(options, niceness=0,
                                                      max_extrapolation_ms=options.max_extrapolation_ms / speed))
    runner.keep_results = keep_results
    if picture:
        from .view import LivePicture
        view = LivePicture(rig, runner.recon.joint_names, out_png=out_png, out_video=out_video, window=window,
                           fps=options.display_fps, trail_frames=options.trail_frames)
        runner.picture = view
    max_frames = None if seconds is None else int(seconds * fps)
    runner.start()
    t0 = time.monotonic() + 0.2
    players = [_Player(n, p, fps, t0, max_frames, speed) for n, p in videos.items() if n in rig.names]

    def pull():
        if all(p.finished for p in players):
            runner.stop.set()
        return {p.name: f for p in players if (f := p.due()) is not None}
    runner.pull = pull
    try:
        while runner.thread.is_alive():
            runner.thread.join(0.5)
            if progress is not None:
                progress(time.monotonic() - t0, runner.stats)
    finally:
        stats = runner.close()
        for p in players:
            p.close()
    played = {p.name: p.played for p in players}
    skipped = {p.name: p.skipped for p in players}
    log.info("%s", stats.line())
    return ReplayResult(stats, played, skipped, out_png if picture else None,
                        Path(out_video) if out_video is not None else None, runner.last_update, runner.results,
                        runner.recon.joint_names)
