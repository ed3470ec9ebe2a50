"""Live 3D from the newest frames of every camera: 2D detection, online tracking, triangulation.

Detection (:meth:`LiveReconstructor.detect`) and reconstruction (:meth:`LiveReconstructor.reconstruct`)
are separate steps, so that the live thread (:class:`capture3d.live.runner.LiveRunner`) keeps
``detect_workers`` cameras in detection at once and makes a 3D update as soon as enough of them
are done: cameras are interleaved, and the update rate follows the detection throughput the
machine has left (each camera's detection costs what BlazePose costs: about 32 ms CPU a person
at 1280 x 720). More fresh cameras per update give better 3D (their views are of one instant:
on the two-walker session at 15 detections a second, before :data:`BLAZEPOSE_LIVE`, the true
people were found in 49 % of the person-updates with one fresh camera, 57 % with two and 63 %
with four), fewer give more updates: the runner takes as many as keep ``target_rate_hz``, at
least one. One update:

1. a camera's newest frame gets a fresh 2D detection (BlazePose follows each person in its crop
   from frame to frame; a person the other views triangulate but this camera does not follow is
   handed to it as a crop from the 3D (:mod:`capture3d.live.guide`); the full-frame person
   detector runs only while a slot is free, every ``redetect_every`` calls);
2. every other camera's last detection is carried forward along its own 2D motion to the time of
   the fresh frame (at most ``max_extrapolation_ms``), so that interleaved cameras still agree
   on where a moving person is;
3. the online :class:`capture3d.reconstruct.tracking.PeopleTracker` assigns the views' people to
   tracks with stable ids (the same tracker ``process`` runs, without its offline stitching);
4. each confirmed person is triangulated (:func:`capture3d.triangulate`) from its views.

:meth:`LiveReconstructor.update` does all of it for several cameras at once (tests, scripts).
The input resolution is not a lever here: BlazePose warps a 256 px crop out of the image whatever
its size (measured: 32 ms at 1280x720 against 28-34 ms at 640x360 per frame).
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future

import numpy as np

from ..reconstruct.matching import detection_rays
from ..reconstruct.tracking import PeopleTracker
from .options import BLAZEPOSE_LIVE, LiveOptions, LiveUpdate, lower_priority

log = logging.getLogger("capture3d.live")


class _NoEmptyFrameWarnings(logging.Filter):
    """Live updates are one frame each: triangulate's "no joint reconstructed" warning would
    print several times a second (the live statistics say how many people were drawn)."""

    def filter(self, record):
        return not (record.threadName.startswith("live-")
                    and str(record.msg).startswith("%d of %d frames have no joint"))


logging.getLogger("capture3d.reconstruct").addFilter(_NoEmptyFrameWarnings())


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


HELD_FLOOR = 0.3     # a held joint's weight never falls below this: still above triangulate's min_score
#                      with a good score, so it is down-weighted, not dropped (dropping lost whole people)


def _held_weight(history, t_ns, sigma_px) -> np.ndarray | None:
    """``(S, J)`` weights of a camera's held joints at time ``t_ns``: from 1 down to
    :data:`HELD_FLOOR` as ``1 / (1 + (e / sigma_px)^2)``, ``e`` pixels the distance the joint
    moved, at its last speed, since it was detected (a fresh view 1, a still joint 1, a swinging
    foot held 100 ms far less); None: all 1."""
    if len(history) < 2 or sigma_px <= 0:
        return None
    (t0, kp0), (t1, kp1) = history[-2], history[-1]
    if t_ns <= t1 or t1 <= t0:
        return None
    moved = np.linalg.norm(kp1[..., :2] - kp0[..., :2], axis=-1) * (t_ns - t1) / (t1 - t0)
    return HELD_FLOOR + (1.0 - HELD_FLOOR) / (1.0 + np.square(np.nan_to_num(moved) / sigma_px))


class LiveReconstructor:
    """Detection, tracking and triangulation for one rig, update by update.

    :meth:`detect` may run for several cameras at once on other threads (one call per camera at
    a time); :meth:`reconstruct` runs on one thread.

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
            # BlazePose's ROI smoother runs at the rate each camera is detected
            more = options.detector_options
            if options.detector != "blazepose":
                detectors = {name: make_detector(options.detector, **(more or {})) for name in rig.names}
            else:
                extra = dict(max_persons=options.max_persons, redetect_every=options.redetect_every,
                             tracking_fps=max(1.0, options.target_rate_hz * 2 / max(len(rig), 2)),
                             **(BLAZEPOSE_LIVE if more is None else more))
                if options.guided:
                    from .guide import GuidedBlazePose
                    detectors = {name: GuidedBlazePose(**extra) for name in rig.names}
                else:
                    detectors = {name: make_detector("blazepose", **extra) for name in rig.names}
        self.detectors = detectors
        first = detectors[rig.names[0]]
        self.joint_names, self._index = canonical_index(first.joint_names)
        self.slots_per_camera = max(d.max_persons for d in detectors.values())
        self.tracker = PeopleTracker(rig.centers, self.joint_names, self.fps, options.tracking)
        self.history = {name: [] for name in rig.names}      # [(arrival_ns, (S, J, 3))], last two
        self.max_hold_ns = 4 * options.max_extrapolation_ms * 1e6   # older held views are not used
        self.last_detected_ns = {name: -1 for name in rig.names}
        self.guided = {name: 0 for name in rig.names}        # crops from the 3D taken, per camera
        self._lock = threading.Lock()    # history and the last 3D, shared with the detection threads
        self._last_persons: dict = {}    # {person id: (J, 3)} of the last update
        self._last_slots: dict = {}      # {person id: (C,) int}
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

    def submit(self, job) -> Future:
        """Run ``job()`` on a detection thread (at once, on this thread, without them); its future."""
        if self._pool is not None:
            return self._pool.submit(job)
        done = Future()
        try:
            done.set_result(job())
        except Exception as exc:  # noqa: BLE001  (handed over as a thread's would be)
            done.set_exception(exc)
        return done

    def cameras_to_detect(self, fresh, k: int | None = None) -> list[str]:
        """The cameras of ``fresh`` detected longest ago first, at most ``k`` of them."""
        return sorted(fresh, key=lambda n: self.last_detected_ns[n])[:k]

    def _guide(self, camera: str, detector) -> list:
        """Hand ``detector`` the crops of the people the last update triangulated without this
        camera; ``[(person id, slot)]`` of the crops it took."""
        if not hasattr(detector, "follow"):
            return []
        from .guide import person_rois

        c = self.rig.names.index(camera)
        with self._lock:
            persons, slots = self._last_persons, self._last_slots
        unseen = [pid for pid, s in slots.items() if s[c] < 0]
        taken = []
        for pid, roi in person_rois(self.rig[camera], persons, unseen, self.joint_names):
            slot = detector.follow(roi)
            if slot is not None:
                taken.append((pid, slot))
        return taken

    def detect(self, camera: str, image, arrival_ns: int) -> np.ndarray:
        """Detect on one camera's image ``(H, W, 3)`` uint8 BGR; keep and return ``(S, J, 3)``
        (pixels and score, canonical joints)."""
        detector = self.detectors[camera]
        taken = self._guide(camera, detector)
        kp = np.asarray(detector(image), float)[:, self._index]
        self.guided[camera] += sum(detector.following(slot) for _, slot in taken)
        with self._lock:
            hist = self.history[camera]
            hist.append((arrival_ns, kp))
            del hist[:-2]
            self.last_detected_ns[camera] = arrival_ns
        return kp

    def update(self, frames: dict, arrivals: dict) -> LiveUpdate:
        """Detect the ``cameras_per_update`` cameras detected longest ago among ``frames`` (0:
        all), then track and triangulate.

        Parameters
        ----------
        frames : dict
            ``{camera: (H, W, 3) uint8 BGR}`` newest unused image of the cameras that have one.
        arrivals : dict
            ``{camera: int}`` ``time.monotonic_ns()`` when each of those frames reached the host.
        """
        chosen = self.cameras_to_detect(list(frames), self.options.cameras_per_update or None)
        if self._pool is not None and len(chosen) > 1:
            list(self._pool.map(lambda n: self.detect(n, frames[n], arrivals[n]), chosen))
        else:
            for name in chosen:
                self.detect(name, frames[name], arrivals[name])
        return self.reconstruct(chosen, max(arrivals[n] for n in chosen), min(arrivals[n] for n in chosen))

    def reconstruct(self, detected, t_ref: int, arrival_ns: int) -> LiveUpdate:
        """Track and triangulate every camera's latest 2D carried forward to ``t_ref`` (ns).

        Parameters
        ----------
        detected : list of str
            The cameras detected afresh since the last update.
        t_ref : int
            ``time.monotonic_ns()`` the update stands for (the newest fresh frame's arrival).
        arrival_ns : int
            The oldest fresh frame's arrival (the update's latency is counted from it).
        """
        from .. import triangulate

        if self._t_last is not None:
            t_ref = max(t_ref, self._t_last)      # updates may finish out of order: time never runs back
        max_ns = self.options.max_extrapolation_ms * 1e6
        J = len(self.joint_names)
        keypoints = np.full((len(self.rig), self.slots_per_camera, J, 3), np.nan)
        weight = np.ones(keypoints.shape[:3])          # of each joint's score in the triangulation
        with self._lock:
            history = {name: list(h) for name, h in self.history.items()}
        for c, name in enumerate(self.rig.names):
            kp = _carry_forward(history[name], t_ref, max_ns)
            if kp is not None and t_ref - history[name][-1][0] <= self.max_hold_ns:
                keypoints[c, :len(kp)] = kp
                held = _held_weight(history[name], t_ref, self.options.held_sigma_px)
                if held is not None:
                    weight[c, :len(kp)] = held
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
                views[seen, p, :, 2] *= weight[np.nonzero(seen)[0], slots[pid][seen]]
            points = triangulate(views, self.rig).points
            persons = {pid: points[p] for p, pid in enumerate(ids)}
        with self._lock:
            self._last_persons, self._last_slots = persons, slots
        return LiveUpdate(self._frame, arrival_ns, persons, keypoints, slots, list(detected))
