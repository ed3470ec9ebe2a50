"""Synchronized recording into a session folder (CONVENTIONS.md):

```
SESSION/
  session.toml       rig, cameras (name, serial, backend, size, fps, trigger), start, status
  videos/<cam>.avi   MJPEG (frames JPEG-encoded by the writer threads, the AVI written by an
                     ffmpeg child process: see writer.py)
  frames.csv         camera, frame_index, device_frame_id, device_timestamp_ns, host_timestamp_ns
  sync_report.json   per camera: frames, drops (from device frame ids), stall; skew between cameras
```

Per camera, an **acquisition thread** grabs frames and puts them on a bounded queue without ever
waiting (a full queue drops the frame and the drop is counted), and a **writer thread** takes them
off, hands each to the encoder and then appends its row to ``frames.csv`` (flushed per row), so
the rows never run ahead of the video. Ctrl-C, a crash or ``kill -9`` leave every video readable
up to its last row.

A camera that delivers nothing for ``stall_timeout_s`` or disconnects, an encoder that stops (disk
full), or free disk space below ``min_free_mb`` end the recording for every camera, cleanly, with
the reason in ``session.toml`` and in the returned result: what was recorded is kept.

Drops are counted from the device frame ids: a camera's frames are numbered by its own counter,
so a missing id is a frame lost (in transfer, incomplete, or dropped by a full queue). Cameras on
one trigger stop after the same trigger: at a stop (duration, ``stop``, Ctrl-C) the newest device
frame id any camera has grabbed is the last trigger of the take, and every camera keeps grabbing,
for up to ``drain_timeout_s``, until it has delivered that frame; frames past it are not written.
Frame ``i`` of every camera is then trigger ``i`` and, without drops, the counts are equal (the
cameras' acquisition threads otherwise stop wherever each happens to be, a few frames apart). A
camera that never delivers a trigger of the take, at its start or its end, shows it as a drop.
Frames are matched across cameras as :func:`capture3d.sources.session_frame_numbers` matches them
for the stages downstream: by device frame id when the triggers are synchronised, else by nearest
host time.
"""
from __future__ import annotations

import csv
import datetime
import json
import logging
import queue
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..sources import session_frame_numbers
from .base import CameraDisconnected, CameraError, CameraTimeout, SourceFinished, triggers_synchronised
from .rigfile import RigConfig
from .writer import VideoPipe, VideoPipeError

log = logging.getLogger("capture3d.record")

FRAMES_HEADER = ("camera", "frame_index", "device_frame_id", "device_timestamp_ns", "host_timestamp_ns")


@dataclass(frozen=True)
class RecordOptions:
    """Options of :func:`record`."""

    duration_s: float | None = None     # stop after this long (None: until stopped)
    max_frames: int | None = None       # or after this many frames per camera
    queue_frames: int = 120             # frames buffered per camera between grabbing and writing
    grab_timeout_s: float = 0.5
    stall_timeout_s: float = 2.0        # a camera silent this long ends the recording
    min_free_mb: float = 200.0          # stop before the disk is full
    jpeg_quality: int = 90              # JPEG quality of the MJPEG frames: 1 .. 100 (best)
    drain_timeout_s: float = 2.0        # at a stop, how long triggered cameras may take to deliver
                                        # every frame up to the last trigger of the take

    def __post_init__(self):
        for name in ("grab_timeout_s", "stall_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"RecordOptions.{name} must be > 0 s, got {getattr(self, name)}")
        if not self.drain_timeout_s >= 0:
            raise ValueError(f"RecordOptions.drain_timeout_s must be >= 0 s, got {self.drain_timeout_s}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"RecordOptions.jpeg_quality must be 1..100, got {self.jpeg_quality}")
        if self.queue_frames < 1:
            raise ValueError(f"RecordOptions.queue_frames must be >= 1, got {self.queue_frames}")


@dataclass
class CameraLedger:
    """What happened to one camera's frames."""

    name: str
    written: int = 0
    incomplete: int = 0
    queue_drops: int = 0
    ids: list = field(default_factory=list)           # device frame id of each written frame
    host_ns: list = field(default_factory=list)
    last_grabbed_id: int | None = None                # device frame id of the newest frame grabbed
    stalled: bool = False
    error: str = ""


@dataclass
class RecordResult:
    """The session folder, the sync report (as written) and why the recording ended."""

    session: Path
    report: dict
    stopped_by: str


class _Run:
    """One recording's shared state."""

    def __init__(self, session: Path, names, options: RecordOptions):
        self.session, self.options = session, options
        self.stop = threading.Event()
        self.reason = ""
        self.lock = threading.Lock()
        self.ledgers = {n: CameraLedger(n) for n in names}
        # a frame is queued and its id noted under grab_lock, so that the last trigger chosen at a
        # stop is at least every id already queued
        self.grab_lock = threading.Lock()
        self.drain_to: int | None = None     # device frame id every camera is drained to at the stop
        self.drain_until = 0.0               # time.monotonic() at which draining gives up
        self.csv_file = open(session / "frames.csv", "w", newline="")
        self.csv = csv.writer(self.csv_file)
        self.csv.writerow(FRAMES_HEADER)
        self.csv_file.flush()

    def end(self, reason: str):
        with self.lock:
            if not self.reason:
                self.reason = reason
                log.warning("recording ends: %s", reason)
        self.stop.set()

    def drain_to_last_trigger(self, timeout_s: float) -> int | None:
        """Choose the last trigger of the take, the newest device frame id any camera has grabbed,
        for the acquisition threads to deliver up to once :attr:`stop` is set. None (no drain)
        unless every camera has grabbed a frame with a device frame id."""
        with self.grab_lock:
            ids = [L.last_grabbed_id for L in self.ledgers.values()]
            if ids and all(i is not None for i in ids):
                self.drain_to = max(ids)
                self.drain_until = time.monotonic() + timeout_s
        return self.drain_to

    def owes_frames(self, ledger: CameraLedger) -> bool:
        """Whether a stopped camera has still to deliver frames up to the last trigger."""
        return (self.drain_to is not None and not self.reason and time.monotonic() < self.drain_until
                and (ledger.last_grabbed_id is None or ledger.last_grabbed_id < self.drain_to))

    def row(self, camera, index, frame):
        with self.lock:
            self.csv.writerow((camera, index, "" if frame.device_frame_id is None else frame.device_frame_id,
                               "" if frame.device_timestamp_ns is None else frame.device_timestamp_ns,
                               frame.host_timestamp_ns))
            self.csv_file.flush()


def _acquire(cam, q: queue.Queue, run: _Run, ledger: CameraLedger, live=None):
    try:
        _acquire_loop(cam, q, run, ledger, live)
    except Exception as exc:  # noqa: BLE001  (anything unexpected ends the recording, cleanly)
        log.exception("%s: acquisition failed", cam.name)
        ledger.error = f"{type(exc).__name__}: {exc}"
        run.end(f"camera {cam.name}: {ledger.error}")
    finally:
        q.put(None)   # the writer's end marker (it is draining, so this does not block for long)


def _acquire_loop(cam, q: queue.Queue, run: _Run, ledger: CameraLedger, live):
    last = time.monotonic()
    count = 0
    opts = run.options
    while not run.stop.is_set() or run.owes_frames(ledger):
        timeout = opts.grab_timeout_s
        if run.stop.is_set():                   # draining: no longer than the drain may last
            timeout = max(0.01, min(timeout, run.drain_until - time.monotonic()))
        try:
            frame = cam.grab(timeout)
        except CameraTimeout:
            if time.monotonic() - last > opts.stall_timeout_s:
                ledger.stalled = True
                run.end(f"camera {cam.name} delivered no frame for {opts.stall_timeout_s:.1f} s")
            continue
        except SourceFinished:
            break                               # a played-back video ended: this camera is done
        except (CameraDisconnected, CameraError) as exc:
            ledger.error = str(exc)
            run.end(f"camera {cam.name}: {exc}")
            break
        last = time.monotonic()
        if frame.incomplete:
            ledger.incomplete += 1
            continue
        with run.grab_lock:
            if run.drain_to is not None and (frame.device_frame_id is None or frame.device_frame_id > run.drain_to):
                break                           # after the last trigger of the take: not recorded
            ledger.last_grabbed_id = frame.device_frame_id
            try:
                q.put_nowait(frame)             # never wait: acquisition must keep up
            except queue.Full:
                ledger.queue_drops += 1
                continue
        if live is not None:
            live.update(cam.name, frame)        # the newest frame only: never queued
        count += 1
        if opts.max_frames and count >= opts.max_frames:
            break


def _write(cam_name, q: queue.Queue, run: _Run, ledger: CameraLedger, video_path: Path, fps: float):
    writer = None
    try:
        while True:
            frame = q.get()
            if frame is None:
                break
            if writer is None:
                h, w = frame.image.shape[:2]
                writer = VideoPipe(video_path, fps, (w, h), jpeg_quality=run.options.jpeg_quality)
            writer.write(frame.image)
            run.row(cam_name, ledger.written, frame)      # the row follows its frame
            ledger.written += 1
            ledger.ids.append(frame.device_frame_id)
            ledger.host_ns.append(frame.host_timestamp_ns)
    except Exception as exc:  # noqa: BLE001  (disk full, encoder gone, a bad frame: end cleanly)
        ledger.error = f"{type(exc).__name__}: {exc}"
        run.end(f"writing {video_path.name} failed: {exc}")
        while q.get() is not None:                         # let acquisition finish
            pass
    finally:
        if writer is not None:
            try:
                writer.close()
            except VideoPipeError as exc:
                ledger.error = ledger.error or str(exc)


def _disk_guard(run: _Run):
    while not run.stop.wait(0.5):
        free_mb = shutil.disk_usage(run.session).free / 1e6
        if free_mb < run.options.min_free_mb:
            run.end(f"disk nearly full ({free_mb:.0f} MB free in {run.session})")


def _software_trigger(cams, fps, run: _Run):
    period = 1.0 / fps
    t = time.monotonic()
    while not run.stop.is_set():
        for cam in cams:
            cam.trigger()
        t += period
        time.sleep(max(0.0, t - time.monotonic()))


def write_session_toml(path: Path, rig: RigConfig, applied: dict, start: str, status: str, frames=None):
    lines = [f'rig = "{rig.name}"', f'start = "{start}"', f'capture3d_version = "{__version__}"',
             f'status = "{status}"', ""]
    for s in rig.cameras:
        a = applied.get(s.name, {})
        size = a.get("size") or s.size
        fps = a.get("fps") or s.fps
        lines += ["[[cameras]]", f'name = "{s.name}"', f'backend = "{s.backend}"',
                  f'serial = "{s.serial or ""}"', f'trigger = "{s.trigger}"']
        if size:
            lines.append(f"size = [{int(size[0])}, {int(size[1])}]")
        if fps:
            lines.append(f"fps = {float(fps)}")
        if frames is not None:
            lines.append(f"frames = {frames.get(s.name, 0)}")
        lines.append("")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)


def sync_report(ledgers: dict[str, CameraLedger], hardware_synced: bool, last_trigger: int | None = None) -> dict:
    """Per camera: frames written, drops (missing device frame ids, with the ids), incomplete
    frames, queue drops, stall; across cameras (frames matched as
    :func:`capture3d.sources.session_frame_numbers` matches them downstream): frames present in
    every camera and the largest skew between the cameras' host timestamps of the same frame.

    When the frames are matched by device frame id, a camera's drops count every trigger of the
    take it lacks: from the first id of any camera to ``last_trigger`` (the id the cameras were
    drained to at the stop, see :func:`record`; None: to the camera's own last id)."""
    cams = {}
    columns = {}
    for name, L in ledgers.items():
        columns[name] = (np.array([-1 if i is None else i for i in L.ids], np.int64), np.asarray(L.host_ns, np.int64))
    by_device_id = hardware_synced and all((ids >= 0).all() for ids, _ in columns.values())
    take_first = min((int(ids[0]) for ids, _ in columns.values() if len(ids)), default=0)
    for name, L in ledgers.items():
        ids = columns[name][0]
        entry = {"frames": L.written, "incomplete": L.incomplete, "queue_drops": L.queue_drops,
                 "stalled": L.stalled, "error": L.error}
        if len(ids) and (ids >= 0).all():
            first, last = int(ids[0]), int(ids[-1])
            start, end = (take_first, last if last_trigger is None else max(last, last_trigger)) if by_device_id else (first, last)
            missing = sorted(set(range(start, end + 1)) - set(ids.tolist()))
            entry.update(first_device_frame_id=first, last_device_frame_id=last,
                         drops=len(missing), dropped_device_frame_ids=missing[:1000])
        else:
            entry.update(drops=None, dropped_device_frame_ids=[],
                         note="no device frame ids: drops are not countable")
        cams[name] = entry
    report = {"cameras": cams, "hardware_synced": hardware_synced,
              "frames_matched_by": "device frame id" if by_device_id else "nearest host time",
              "drained_to_device_frame_id": last_trigger}
    if not ledgers:
        return report
    numbers = session_frame_numbers(columns, by_device_id=by_device_id)
    common = np.array(sorted(set.intersection(*(set(v.tolist()) for v in numbers.values()))), np.int64)
    report["frames_in_all_cameras"] = len(common)
    if len(common):
        stamps = []
        for name, (_, host) in columns.items():
            values, first_of = np.unique(numbers[name], return_index=True)
            stamps.append(host[first_of[np.searchsorted(values, common)]])
        stamps = np.stack(stamps)
        report["max_skew_ms"] = float((stamps.max(axis=0) - stamps.min(axis=0)).max() / 1e6)
    return report


def record(rig: RigConfig, session, options: RecordOptions = RecordOptions(), *, stop: threading.Event | None = None,
           progress=None, cameras=None, live_view: bool = False, live_calibration=None, live_options=None,
           live_video: bool = False) -> RecordResult:
    """Record every camera of ``rig`` into the folder ``session`` until ``options`` or ``stop``
    say so, or Ctrl-C, or a failure (see the module docstring).

    ``progress(seconds, {camera: frames written})`` is called twice a second. ``cameras``: the
    backend objects to use instead of ``rig.make_cameras()`` (tests inject fakes this way).
    ``live_view``: show the newest frames while recording (:mod:`capture3d.capture.live`);
    ``live_calibration`` (a calibration file, a Rig, or ``"rig"``: a synthetic rig's own, also
    saved as ``SESSION/calibration.toml``) adds live 3D of every person (:mod:`capture3d.live`,
    ``live_options``; ``live_video``: ``SESSION/live.mp4``); its statistics go into
    ``sync_report.json`` as ``live``.
    Raises :class:`CameraError` when a camera cannot be opened or configured, and
    :class:`capture3d.errors.FileFormatError` when the live calibration's cameras or image sizes
    differ from the cameras' (nothing is recorded then, and no session folder is left behind).
    """
    session = Path(session)
    if (session / "frames.csv").exists():
        raise CameraError(f"{session}: already holds a recording; choose a new folder")
    cams = cameras if cameras is not None else rig.make_cameras()
    applied = {}
    opened = []
    try:
        for cam in cams:
            cam.open()
            opened.append(cam)
            applied[cam.name] = cam.configure()
        live_rig = None
        if live_calibration is not None:     # checked before any file is written
            from ..live import check_calibration, load_calibration
            live_rig, source = load_calibration(live_calibration, rig)
            live_rig = check_calibration(live_rig, {c.name: applied[c.name].get("size") for c in cams}, source=source)
        live = None
        if live_view or live_rig is not None:     # made here: a detector that cannot load leaves no folder
            from .live import LiveView
            fps = next((a["fps"] for a in applied.values() if a.get("fps")), 30.0)
            live = LiveView(session, [c.name for c in cams], live_rig, fps=fps, options=live_options, video=live_video)
    except Exception:
        for cam in opened:
            cam.close()
        raise
    session.mkdir(parents=True, exist_ok=True)
    (session / "videos").mkdir(exist_ok=True)
    start = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    write_session_toml(session / "session.toml", rig, applied, start, "recording")
    run = _Run(session, [c.name for c in cams], options)
    queues = {c.name: queue.Queue(maxsize=options.queue_frames) for c in cams}
    writers = [threading.Thread(target=_write, name=f"write-{c.name}", daemon=True,
                                args=(c.name, queues[c.name], run, run.ledgers[c.name],
                                      session / "videos" / f"{c.name}.avi", applied[c.name].get("fps") or 30.0))
               for c in cams]
    if live is not None:
        if isinstance(live_calibration, str) and live_calibration == "rig":
            live_rig.save(session / "calibration.toml")
        # a writer queue half full: the encoder is falling behind, and live detection waits
        # (under load from other jobs, live 3D had made the recorder drop 8-76 of 1200 frames)
        live.hold_while(lambda: any(q.qsize() > q.maxsize // 2 for q in queues.values()))
        live.start()
    grabbers = [threading.Thread(target=_acquire, name=f"grab-{c.name}", daemon=True,
                                 args=(c, queues[c.name], run, run.ledgers[c.name], live)) for c in cams]
    helpers = [threading.Thread(target=_disk_guard, args=(run,), daemon=True)]
    for t in writers:
        t.start()
    # triggered cameras first, the primary (whose pulses start everything) last
    for cam in sorted(cams, key=lambda c: c.settings.trigger == "primary"):
        cam.start()
    soft = [c for c in cams if c.settings.trigger == "software"]
    if soft:
        helpers.append(threading.Thread(target=_software_trigger, args=(soft, soft[0].settings.fps or 30.0, run),
                                        daemon=True))
    for t in grabbers + helpers:
        t.start()
    t0 = time.monotonic()
    on_one_trigger = triggers_synchronised(c.settings.trigger for c in cams)
    stopped_by = ""
    try:
        while any(t.is_alive() for t in grabbers):
            if stop is not None and stop.is_set():
                stopped_by = "stopped"
                break
            if options.duration_s is not None and time.monotonic() - t0 >= options.duration_s:
                stopped_by = f"duration {options.duration_s:g} s reached"
                break
            if run.stop.wait(0.5 if progress else 0.05):
                break
            if progress:
                progress(time.monotonic() - t0, {n: L.written for n, L in run.ledgers.items()})
    except KeyboardInterrupt:
        stopped_by = "Ctrl-C"
    if on_one_trigger and stopped_by and not run.reason:   # a stop asked for drains; a failure stops at once
        run.drain_to_last_trigger(options.drain_timeout_s)
    run.stop.set()
    for t in grabbers:
        t.join()
    for t in writers:
        t.join()
    for cam in cams:
        try:
            cam.stop()
            cam.close()
        except Exception as exc:  # noqa: BLE001  (closing must not lose the report)
            log.warning("%s: closing failed: %s", cam.name, exc)
    run.csv_file.close()
    if live is not None:
        live.close()
    stopped_by = run.reason or stopped_by or ("max_frames reached" if options.max_frames else "cameras ended")
    report = sync_report(run.ledgers, rig.hardware_synced, run.drain_to)
    report.update(duration_s=round(time.monotonic() - t0, 3), stopped_by=stopped_by, start=start)
    if live is not None:
        report["live_view_updates"] = live.updates
        report["live"] = live.summary()
    (session / "sync_report.json").write_text(json.dumps(report, indent=2))
    write_session_toml(session / "session.toml", rig, applied, start, f"complete ({stopped_by})",
                       frames={n: L.written for n, L in run.ledgers.items()})
    return RecordResult(session, report, stopped_by)


def read_frames_csv(session) -> dict[str, dict[str, np.ndarray]]:
    """``frames.csv`` as ``{camera: {column: int64 array}}`` (-1 for empty cells)."""
    path = Path(session) / "frames.csv"
    out: dict[str, dict[str, list]] = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if tuple(header or ()) != FRAMES_HEADER:
            from ..errors import FileFormatError
            raise FileFormatError(path, f"expected the columns {','.join(FRAMES_HEADER)}")
        for line, row in enumerate(reader, start=2):
            if len(row) != len(FRAMES_HEADER):
                continue   # a row cut short by a crash
            try:
                values = [int(v) if v else -1 for v in row[1:]]
            except ValueError:
                from ..errors import FileFormatError
                raise FileFormatError(path, f"line {line}: {','.join(row)!r} is not a row of integers") from None
            cols = out.setdefault(row[0], {k: [] for k in FRAMES_HEADER[1:]})
            for k, v in zip(FRAMES_HEADER[1:], values):
                cols[k].append(v)
    return {cam: {k: np.asarray(v, np.int64) for k, v in cols.items()} for cam, cols in out.items()}
