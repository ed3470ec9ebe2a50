"""Live 3D from the newest frames of every camera: 2D detection, online tracking, triangulation.

One update (:meth:`LiveReconstructor.update`):

1. the cameras whose detection is oldest, among those with a frame not yet used, get a fresh 2D
   detection on their newest frame (BlazePose follows each person in its crop from frame to
   frame, so the full-frame person detector runs only when someone is lost or new);
2. every other camera's last detection is carried forward along its own 2D motion to the time of
   the fresh frames (at most ``max_extrapolation_ms``), so that interleaved cameras still agree
   on where a moving person is;
3. the online :class:`capture3d.reconstruct.tracking.PeopleTracker` assigns the views' people to
   tracks with stable ids (the same tracker ``process`` runs, without its offline stitching);
4. each confirmed person is triangulated (:func:`capture3d.triangulate`) from its views.

How many cameras are detected per update follows what detection costs on this machine now
(measured wall time, so other load counts): as many as keep ``target_rate_hz``, never fewer
than two; and all of them when going round every camera takes longer than a held view may be
used (4 x ``max_extrapolation_ms``): there interleaving would triangulate views of different
instants. The input resolution is not a lever here: BlazePose warps a 256 px crop out of the
image whatever its size (measured: 32 ms at 1280x720 against 28-34 ms at 640x360 per frame).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from ..reconstruct.matching import detection_rays
from ..reconstruct.tracking import PeopleTracker, TrackingOptions

log = logging.getLogger("capture3d.live")


class _NoEmptyFrameWarnings(logging.Filter):
    """Live updates are one frame each: triangulate's "no joint reconstructed" warning would
    print several times a second (the live statistics say how many people were drawn)."""

    def filter(self, record):
        return not (record.threadName.startswith("live-")
                    and str(record.msg).startswith("%d of %d frames have no joint"))


logging.getLogger("capture3d.reconstruct").addFilter(_NoEmptyFrameWarnings())


@dataclass(frozen=True)
class LiveOptions:
    """Options of live 3D (:class:`LiveReconstructor`, :class:`capture3d.live.runner.LiveRunner`)."""

    detector: str = "blazepose"
    max_persons: int = 2            # person slots of each camera's detector
    cameras_per_update: int = 0     # cameras detected per update; 0: as many as keep target_rate_hz (>= 2)
    target_rate_hz: float = 15.0    # updates per second aimed at
    max_extrapolation_ms: float = 150.0   # a held 2D detection is carried forward at most this far, ms
    trail_frames: int = 30          # updates of wrist and ankle trails drawn
    niceness: int = 5               # added to the live thread's Linux niceness: recording goes first
    detect_workers: int = 2         # cameras detected at once (TFLite lets go of the GIL while it runs)
    redetect_every: int = 3         # BlazePose: calls between looks for newcomers while a slot is free (each
    #                                 camera is detected a few times a second live, not 30)
    tracking: TrackingOptions = field(default_factory=lambda: TrackingOptions(confirm_frames=2))   # a person after 2 updates

    def __post_init__(self):
        if self.max_persons < 1 or self.cameras_per_update < 0 or self.trail_frames < 0 or self.detect_workers < 1:
            raise ValueError("max_persons and detect_workers must be >= 1, cameras_per_update and trail_frames >= 0")
        if self.target_rate_hz <= 0 or self.max_extrapolation_ms < 0:
            raise ValueError("target_rate_hz must be > 0 and max_extrapolation_ms >= 0")


@dataclass
class LiveUpdate:
    """One live 3D result.

    Attributes
    ----------
    frame : int
        Update number (the tracker's frame).
    arrival_ns : int
        ``time.monotonic_ns()`` when the oldest fresh frame of this update reached the host.
    persons : dict
        ``{person id: (J, 3) float}`` meters, world frame; NaN joints not triangulated.
    keypoints : (C, S, J, 3) float
        The 2D used, per camera (rig order) and slot: pixels x, y and score; NaN when empty.
    slots : dict
        ``{person id: (C,) int}`` slot of each camera (-1: not seen there).
    detected : list of str
        Cameras detected afresh in this update.
    """

    frame: int
    arrival_ns: int
    persons: dict
    keypoints: np.ndarray
    slots: dict
    detected: list


def lower_priority(niceness: int) -> None:
    """Add ``niceness`` to the calling thread's Linux niceness (a no-op elsewhere or if refused)."""
    if niceness <= 0:
        return
    try:
        import os
        import threading
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + niceness)
    except (AttributeError, OSError):
        pass


def _carry_forward(history, t_ns, max_ns) -> np.ndarray | None:
    """A camera's last detection ``(S, J, 3)`` moved to time ``t_ns`` along the motion between its
    last two detections (slot by slot; a slot that appeared or vanished is not moved)."""
    if not history:
        return None
    t1, kp1 = history[-1]
    if len(history) < 2 or t_ns <= t1:
        return kp1
    t0, kp0 = history[-2]
    if t1 <= t0:
        return kp1
    ahead = min(t_ns - t1, max_ns) / (t1 - t0)
    out = kp1.copy()
    moved = kp1[..., :2] + ahead * (kp1[..., :2] - kp0[..., :2])
    ok = np.isfinite(moved).all(-1)
    out[..., :2][ok] = moved[ok]
    return out


class LiveReconstructor:
    """Detection, tracking and triangulation for one rig, update by update.

    Parameters
    ----------
    rig : Rig
        Calibrated cameras, in the order frames are given.
    fps : float
        The cameras' frame rate, Hz (the tracker's rate until updates have been timed).
    options : LiveOptions
    detectors : dict, optional
        ``{camera: Detector}`` instead of ``options.detector`` (tests pass stand-ins).
    """

    def __init__(self, rig, fps: float, options: LiveOptions = LiveOptions(), *, detectors=None):
        from ..detect import make_detector
        from ..skeleton import canonical_index

        self.rig, self.fps, self.options = rig, float(fps), options
        if detectors is None:
            extra = {}
            if options.detector == "blazepose":     # its ROI smoother runs at the rate each camera is detected
                extra = dict(max_persons=options.max_persons, redetect_every=options.redetect_every,
                             tracking_fps=max(1.0, options.target_rate_hz * 2 / max(len(rig), 2)))
            detectors = {name: make_detector(options.detector, **extra) for name in rig.names}
        self.detectors = detectors
        first = detectors[rig.names[0]]
        self.joint_names, self._index = canonical_index(first.joint_names)
        self.tracker = PeopleTracker(rig.centers, self.joint_names, self.fps, options.tracking)
        self.history = {name: [] for name in rig.names}      # [(arrival_ns, (S, J, 3))], last two
        self.max_hold_ns = 4 * options.max_extrapolation_ms * 1e6   # older held views are not used
        self.last_detected_ns = {name: -1 for name in rig.names}
        self.detection_s = None          # smoothed wall time of detection per camera detected, s
        self._pool = None
        if options.detect_workers > 1 and len(rig) > 1:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(options.detect_workers, thread_name_prefix="live-detect",
                                            initializer=lower_priority, initargs=(options.niceness,))
        self._t_last = None
        self._interval_s = None        # smoothed time between updates, s
        self._frame = -1

    def warm_up(self) -> None:
        """Run every stage once on stand-in data (TFLite's first runs, numba's compiled kernels)
        so that the first live update is not minutes late; the detectors forget it afterwards."""
        from .. import triangulate
        from ..synthetic import make_motion

        for name, det in self.detectors.items():
            w, h = self.rig[name].size
            with np.errstate(over="ignore"):      # a blank image: BlazePose's scores overflow to 0
                det(np.zeros((int(h), int(w), 3), np.uint8))
            det.reset()
        J = len(self.joint_names)
        walk = np.full((3, J, 3), np.nan)
        walk[:, :17] = make_motion(3, fps=self.fps).points[:, :17]
        pixels = np.asarray(self.rig.project(walk))                       # (C, 3, J, 2)
        kp = np.concatenate([pixels, np.ones(pixels.shape[:-1] + (1,))], axis=-1)
        triangulate(kp[:, :1], self.rig)
        tracker = PeopleTracker(self.rig.centers, self.joint_names, self.fps, self.options.tracking)
        rays = detection_rays(kp[:, :, None], self.rig, self.options.tracking.matching)
        for f in range(3):
            tracker.step(f, rays.direction[:, f], rays.usable[:, f])

    def close(self) -> None:
        """Let the detection threads go."""
        if self._pool is not None:
            self._pool.shutdown()

    def cameras_to_detect(self, fresh) -> list[str]:
        """Which of the cameras with an unused frame (``fresh``) to detect now: those detected
        longest ago first, as many as the options or the measured detection time allow."""
        k = self.options.cameras_per_update
        C = len(self.rig)
        if k == 0:
            k = C if self.detection_s is None else int(1.0 / (self.options.target_rate_hz * self.detection_s))
            # interleaving pays only while every camera comes round again before its held view is
            # too old to carry forward; slower than that, all cameras each update (right 3D, lower rate)
            if self.detection_s is not None and C * self.detection_s > self.max_hold_ns * 1e-9:
                k = C
        k = max(min(2, C), min(k, C))
        return sorted(fresh, key=lambda n: self.last_detected_ns[n])[:k]

    def detect(self, camera: str, image, arrival_ns: int) -> np.ndarray:
        """Detect on one camera's image ``(H, W, 3)`` uint8 BGR; keep and return ``(S, J, 3)``."""
        kp = np.asarray(self.detectors[camera](image), float)[:, self._index]
        hist = self.history[camera]
        hist.append((arrival_ns, kp))
        del hist[:-2]
        self.last_detected_ns[camera] = arrival_ns
        return kp

    def update(self, frames: dict, arrivals: dict) -> LiveUpdate:
        """Detect the cameras :meth:`cameras_to_detect` picks among ``frames``, then track and triangulate.

        Parameters
        ----------
        frames : dict
            ``{camera: (H, W, 3) uint8 BGR}`` newest unused image of the cameras that have one.
        arrivals : dict
            ``{camera: int}`` ``time.monotonic_ns()`` when each of those frames reached the host.
        """
        from .. import triangulate

        chosen = self.cameras_to_detect(list(frames))
        start = time.perf_counter()
        if self._pool is not None and len(chosen) > 1:
            list(self._pool.map(lambda n: self.detect(n, frames[n], arrivals[n]), chosen))
        else:
            for name in chosen:
                self.detect(name, frames[name], arrivals[name])
        took = (time.perf_counter() - start) / len(chosen)
        self.detection_s = took if self.detection_s is None else 0.8 * self.detection_s + 0.2 * took
        t_ref = max(arrivals[n] for n in chosen)
        max_ns = self.options.max_extrapolation_ms * 1e6
        S = max(d.max_persons for d in self.detectors.values())
        J = len(self.joint_names)
        keypoints = np.full((len(self.rig), S, J, 3), np.nan)
        for c, name in enumerate(self.rig.names):
            kp = _carry_forward(self.history[name], t_ref, max_ns)
            if kp is not None and t_ref - self.history[name][-1][0] <= self.max_hold_ns:
                keypoints[c, :len(kp)] = kp
        # the tracker's clock is the updates (a tentative person must be seen in consecutive
        # updates, however far apart), its rate the measured update rate (speeds, pauses)
        if self._t_last is not None and t_ref > self._t_last:
            gap = (t_ref - self._t_last) * 1e-9
            self._interval_s = gap if self._interval_s is None else 0.8 * self._interval_s + 0.2 * gap
            self.tracker.fps = 1.0 / self._interval_s
        self._t_last = t_ref
        self._frame += 1
        rays = detection_rays(keypoints[:, None], self.rig, self.options.tracking.matching)
        slots = self.tracker.step(self._frame, rays.direction[:, 0], rays.usable[:, 0])
        persons = {}
        if slots:                    # every person in one call, as the frames of one sequence
            ids = sorted(slots)
            views = np.full((len(self.rig), len(ids), J, 3), np.nan)
            for p, pid in enumerate(ids):
                seen = slots[pid] >= 0
                views[seen, p] = keypoints[np.nonzero(seen)[0], slots[pid][seen]]
            points = triangulate(views, self.rig).points
            persons = {pid: points[p] for p, pid in enumerate(ids)}
        return LiveUpdate(self._frame, min(arrivals[n] for n in chosen), persons, keypoints, slots, chosen)
