"""The live thread: frames in from the cameras (or a replayed session), 3D and pictures out.

Producers call :meth:`LiveRunner.update` with each camera's newest frame; it only replaces a
reference, so a producer never waits and nothing is queued: a frame the live thread had no time
for is simply never looked at. The thread lowers its own scheduling priority (Linux niceness)
so that grabbing and writing frames win whenever the machine is short of CPU. Detection runs
on ``detect_workers`` threads, always busy with the cameras detected longest ago that have a new
frame; an update is made as soon as :meth:`LiveRunner.cameras_per_update` of them are done.

Latency is counted from a frame's arrival on the host (:meth:`update`) to the end of the update
that used it (3D triangulated, and drawn when something showed it).
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field

import numpy as np

from .engine import LiveOptions, LiveReconstructor, lower_priority

log = logging.getLogger("capture3d.live")


@dataclass
class LiveStats:
    """What the live thread achieved."""

    latency_ms: list = field(default_factory=list)      # per update
    cameras_detected: list = field(default_factory=list)
    persons: list = field(default_factory=list)          # people drawn per update
    started: float = 0.0                                 # time.monotonic() of the first update
    ended: float = 0.0
    cpu_s: float = 0.0                                   # CPU time of the live thread
    detect_cpu_s: list = field(default_factory=list)     # CPU time of each detection (its thread's), s
    failed: str = ""

    def summary(self) -> dict:
        """``{updates, updates_per_s, latency_ms_median, latency_ms_p95, ...}`` (sync_report.json's ``live``)."""
        n = len(self.latency_ms)
        span = self.ended - self.started
        lat = np.asarray(self.latency_ms, float)
        out = {"updates": n,
               "updates_per_s": round((n - 1) / span, 2) if n > 1 and span > 0 else 0.0,
               "latency_ms_median": round(float(np.median(lat)), 1) if n else None,
               "latency_ms_p95": round(float(np.percentile(lat, 95)), 1) if n else None,
               "cameras_detected_per_update": round(float(np.mean(self.cameras_detected)), 2) if n else None,
               "persons_median": float(np.median(self.persons)) if n else None,
               "live_thread_cpu_s": round(self.cpu_s, 2), "detection_cpu_s": round(float(np.sum(self.detect_cpu_s)), 2),
               "seconds": round(span, 2)}
        if self.failed:
            out["failed"] = self.failed
        return out

    def line(self) -> str:
        s = self.summary()
        if not s["updates"]:
            return "live 3D: no update" + (f" ({self.failed})" if self.failed else "")
        return (f"live 3D: {s['updates']} updates, {s['updates_per_s']:.1f} per second, latency median "
                f"{s['latency_ms_median']:.0f} ms, 95th percentile {s['latency_ms_p95']:.0f} ms "
                f"({s['cameras_detected_per_update']:.1f} cameras detected per update)")


class LiveRunner:
    """Live 3D on its own thread.

    Parameters
    ----------
    rig : Rig
        The calibration, checked against the cameras (:func:`capture3d.live.check_calibration`).
    fps : float
        The cameras' frame rate, Hz.
    options : LiveOptions
    picture : LivePicture, optional
        Where updates are drawn (None: 3D only, as the benchmark's bare rate).
    reconstructor : LiveReconstructor, optional
        Instead of one made from ``options`` (tests).
    """

    def __init__(self, rig, fps: float, options: LiveOptions = LiveOptions(), *, picture=None, reconstructor=None):
        self.rig, self.options = rig, options
        self.recon = reconstructor or LiveReconstructor(rig, fps, options)
        self.picture = picture
        self.latest: dict = {}          # camera -> (Frame, arrival_ns, sequence number)
        self._seq = 0
        self._used = {name: -1 for name in rig.names}
        self._running: dict = {}        # camera -> (future, Frame, arrival_ns) of its detection under way
        self._fresh: list = []          # (camera, Frame, arrival_ns) detected, not in an update yet
        self._finished = collections.deque(maxlen=120)   # time.monotonic() of the last detections finished
        self.images: dict = {}          # camera -> the image its last detection saw (the mosaic shows it)
        self.stats = LiveStats()
        self.last_update = None
        self.pull = None                # optional () -> {camera: Frame} asked at each update (a replay)
        self.hold = None                # optional () -> bool: while True no detection is started (a recorder
        #                                 whose writers fall behind says so: the recording goes first)
        self.held = 0                   # steps that started nothing because of hold
        self.keep_results = False       # keep (device frame id of the newest frame detected, persons) per update
        self.results: list = []
        self.stop = threading.Event()
        self._ready = threading.Event()     # the thread has made its picture's renderer
        self.thread = threading.Thread(target=self._run, name="live-3d", daemon=True)

    def update(self, camera: str, frame) -> None:
        """A camera's newest frame (a :class:`capture3d.capture.base.Frame`); never blocks."""
        self._seq += 1
        self.latest[camera] = (frame, time.monotonic_ns(), self._seq)

    def start(self, *, warm_up: bool = True) -> "LiveRunner":
        """Start the thread; ``warm_up`` first runs every stage once here (about 1-3 s), so that
        the first update is on time."""
        if warm_up:
            self.recon.warm_up()
        self.thread.start()
        self._ready.wait()
        return self

    def close(self) -> LiveStats:
        """Stop the thread (after its current update) and close the picture."""
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
        self.recon.close()
        if self.picture is not None:
            self.picture.close()
        return self.stats

    def step(self) -> bool:
        """Start detecting the cameras with an unused frame (those detected longest ago first,
        ``detect_workers`` at once) and make a 3D update once :meth:`cameras_per_update` of them
        have finished; False when there was nothing to do."""
        if self.pull is not None:
            for name, frame in self.pull().items():
                self.update(name, frame)
        latest = dict(self.latest)
        if len(latest) < min(2, len(self.rig)):
            return False
        waiting = {n for n, _, _ in self._fresh}
        fresh = [n for n, v in latest.items()
                 if n in self._used and v[2] != self._used[n] and n not in self._running and n not in waiting]
        free = self.options.detect_workers - len(self._running)
        if self.hold is not None and fresh and free > 0 and self.hold():
            self.held += 1
            free = 0
        for name in self.recon.cameras_to_detect(fresh, max(free, 0)):
            frame, arrival, seq = latest[name]
            self._used[name] = seq
            self._running[name] = (self.recon.submit(lambda n=name, f=frame, t=arrival: self._detect(n, f, t)),
                                   frame, arrival)
        if not self._running:
            if self._fresh:                       # no other camera has a new frame: do not wait for one
                self._reconstruct(self._fresh)
                self._fresh = []
                return True
            return False
        done, _ = wait([v[0] for v in self._running.values()], timeout=0.005, return_when=FIRST_COMPLETED)
        for name in [n for n, v in self._running.items() if v[0] in done]:
            job, frame, arrival = self._running.pop(name)
            job.result()                          # a detection's error ends the live view
            self._finished.append(time.monotonic())
            self._fresh.append((name, frame, arrival))
        if len(self._fresh) >= self.cameras_per_update():
            self._reconstruct(self._fresh)
            self._fresh = []
        return True

    def cameras_per_update(self) -> int:
        """Fresh cameras an update waits for: the option, or as many as the detections finished
        in the last second (or fewer) allow at ``target_rate_hz``, at least one."""
        if self.options.cameras_per_update:
            return min(self.options.cameras_per_update, len(self.rig))
        times = [t for t in self._finished if t >= self._finished[-1] - 1.0] if self._finished else []
        if len(times) < 4 or times[-1] <= times[0]:
            return 1
        throughput = (len(times) - 1) / (times[-1] - times[0])          # cameras detected per second
        return int(min(max(1, throughput // self.options.target_rate_hz), len(self.rig)))

    def _detect(self, name, frame, arrival):
        """A detection thread's job: the image (decoded here when it is a replay's), its 2D."""
        cpu = time.thread_time()
        image = frame.image if frame.image.ndim == 3 else np.repeat(frame.image[..., None], 3, 2)
        self.recon.detect(name, image, arrival)
        self.images[name] = image
        self.stats.detect_cpu_s.append(time.thread_time() - cpu)     # list.append: safe from several threads

    def _reconstruct(self, fresh):
        """One update from ``fresh = [(camera, Frame, arrival_ns)]``, the detections finished since the last."""
        arrivals = [a for _, _, a in fresh]
        update = self.recon.reconstruct([n for n, _, _ in fresh], max(arrivals), min(arrivals))
        if self.picture is not None:
            self.picture.show(update, self.images)
        now = time.monotonic()
        if not self.stats.latency_ms:
            self.stats.started = now
        self.stats.ended = now
        self.stats.latency_ms.append((time.monotonic_ns() - update.arrival_ns) / 1e6)
        self.stats.cameras_detected.append(len(update.detected))
        self.stats.persons.append(len(update.persons))
        self.last_update = update
        if self.keep_results:
            newest = max(fresh, key=lambda f: f[2])[1]
            self.results.append((newest.device_frame_id, update.persons))

    def _run(self):
        lower_priority(self.options.niceness)
        cpu0 = time.thread_time()
        try:
            if self.picture is not None:
                try:
                    self.picture.warm_up()        # Open3D's import and window: seconds, before the clock runs
                finally:
                    self._ready.set()
            self._ready.set()
            cpu0 = time.thread_time()             # the updates' CPU, not the warm-up's
            while not self.stop.is_set():
                if not self.step():
                    time.sleep(0.002)
        except Exception as exc:  # noqa: BLE001  (live 3D must never stop a recording)
            log.exception("live 3D failed; recording goes on")
            self.stats.failed = f"{type(exc).__name__}: {exc}"
        finally:
            self.stats.cpu_s = time.thread_time() - cpu0
