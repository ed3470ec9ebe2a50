"""``capture3d batch``: every session below a root, on Dask, resumable, with a summary.

The unit of work is one camera's detection (:func:`capture3d.batch.tasks.detect_camera`), then,
once a session's cameras are done, its reconstruction (:func:`capture3d.batch.tasks.reconstruct`),
so the cameras of one long session spread over many workers too. By default the work runs on an
in-process ``LocalCluster`` of one single-threaded worker process per core (BlazePose, OpenCV and
numba each keep to one thread there); ``scheduler`` joins an existing cluster instead (the
workers must see the same paths). A worker lost mid-task is replaced by Dask re-running its task
elsewhere. What each session's work read and ran with is recorded in ``OUT/<session>/batch.json``
(:mod:`capture3d.batch.resume`), so a re-run only redoes what changed or failed.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FileFormatError
from ..process import ProcessOptions
from . import resume, tasks
from .sessions import BatchSession, discover_sessions
from .summary import write_summary

log = logging.getLogger("capture3d.batch")


@dataclass(frozen=True)
class BatchOptions:
    """Options of :func:`run_batch`."""

    process: ProcessOptions = field(default_factory=ProcessOptions)   # every session's processing
    scheduler: str | None = None    # address of a running Dask scheduler; None: a LocalCluster
    workers: int | None = None      # LocalCluster worker processes; default one per core
    serial: bool = False            # no Dask: one task after another in this process, its threads as they are
    force: bool = False             # redo everything, even what is up to date

    def __post_init__(self):
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.serial and self.scheduler:
            raise ValueError("serial and scheduler exclude each other")


@dataclass
class BatchResult:
    """One summary row per session (:mod:`capture3d.batch.summary`), where they were written,
    the dashboard's address (None without Dask) and the wall time."""

    rows: list[dict]
    summary_csv: Path
    dashboard: str | None
    seconds: float
    cluster_seconds: float = 0.0    # starting (or joining) the cluster, included in seconds

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == "failed"]


@dataclass
class _Plan:
    """A session's work: detections still to run, detections already done, its reconstruction."""

    session: BatchSession
    videos: dict
    stamp: dict
    todo: dict = field(default_factory=dict)     # camera -> (video, npz)
    done: dict = field(default_factory=dict)     # camera -> detect_camera's dict


def _plan(s: BatchSession, options: BatchOptions):
    """A failed row, a skipped row, or a :class:`_Plan` for session ``s``."""
    from ..process import session_rig
    from ..sources import session_frame_map

    if s.problem:
        return {"session": s.label, "status": "failed", "error": s.problem}
    try:
        _rig, videos = session_rig(s.path, s.calibration)
        session_frame_map(s.path)       # a broken frames.csv fails here, before any detection
    except tasks.EXPECTED as exc:
        return {"session": s.label, "status": "failed", "error": str(exc)}
    state = {} if options.force else resume.load_state(s.out)
    stamp = resume.reconstruction_stamp(s.path, s.calibration, videos, options.process)
    last = state.get("reconstruction", {})
    if last.get("stamp") == stamp and last.get("row", {}).get("status") == "ok" and \
            (last["row"].get("persons") == 0 or (s.out / "points3d.npz").is_file()):
        return {**last["row"], "session": s.label, "status": "skipped"}
    plan = _Plan(s, videos, stamp)
    for cam, video in videos.items():
        npz = s.out / "pose2d" / f"{cam}.npz"
        record = state.get("detections", {}).get(cam, {})
        wanted = resume.detection_stamp(video, options.process.detect)
        if {k: record.get(k) for k in wanted} == wanted and npz.is_file():
            plan.done[cam] = {"camera": cam, "path": str(npz), "seconds": record.get("seconds", 0.0)}
        else:
            plan.todo[cam] = (video, npz)
    return plan


def _short(error: str | None, s: BatchSession) -> str:
    """``error`` with the session's folder left out of the paths it names (the row says which)."""
    return (error or "").replace(f"{s.path}{os.sep}", "").replace(str(s.path), ".")


def _free_port(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _client(options: BatchOptions):
    """A Dask client: on ``options.scheduler``, or on a new LocalCluster sized to the machine."""
    from distributed import Client, LocalCluster

    if not log.isEnabledFor(logging.INFO):      # Dask's own INFO lines only with -v
        logging.getLogger("distributed").setLevel(logging.WARNING)
    # Local workers inherit this environment; remote ones get the numba cache folder from the plugin
    # (compile once for all workers), and Dask sets OMP/MKL/OpenBLAS to 1 thread before they start.
    env = {"NUMBA_CACHE_DIR": os.environ["NUMBA_CACHE_DIR"]} if os.environ.get("NUMBA_CACHE_DIR") else {}
    if options.scheduler:
        client = Client(options.scheduler, timeout="30s")
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        cluster = LocalCluster(n_workers=options.workers or cores, threads_per_worker=1, processes=True,
                               dashboard_address=":8787" if _free_port(8787) else ":0")
        client = Client(cluster)
    client.register_plugin(tasks.thread_limits_plugin(env=env))
    return client


def _unexpected(plan, kind, cam, exc) -> dict:
    """The result of a task that raised (a bug, or a worker lost too often): this session fails."""
    log.error("%s of %s failed", kind, plan.session.label, exc_info=exc)
    message = f"{type(exc).__name__}: {exc}"
    return {"camera": cam, "error": message} if kind == "detect" else \
        {"status": "failed", "cameras": len(plan.videos), "error": message}


def _run_serial(plans, on_detected, on_reconstructed, popts):
    for plan in plans:
        s, results = plan.session, dict(plan.done)
        for cam, (video, npz) in plan.todo.items():
            try:
                results[cam] = tasks.detect_camera(cam, video, npz, popts.detect, limit=False)
            except Exception as exc:    # as on Dask: this session only
                results[cam] = _unexpected(plan, "detect", cam, exc)
            on_detected(plan, results[cam])
        detections = [results[c] for c in plan.videos]
        try:
            result = tasks.reconstruct(s.path, s.calibration, s.out, popts, detections, limit=False)
        except Exception as exc:
            result = _unexpected(plan, "reconstruct", None, exc)
        on_reconstructed(plan, result)


def _run_dask(client, plans, on_detected, on_reconstructed, popts):
    from distributed import as_completed

    owner = {}
    for plan in plans:
        s, inputs = plan.session, []
        for cam in plan.videos:
            if cam in plan.done:
                inputs.append(plan.done[cam])
                continue
            video, npz = plan.todo[cam]
            fut = client.submit(tasks.detect_camera, cam, video, npz, popts.detect, pure=False,
                                key=f"detect {s.label}/{cam}-{os.urandom(4).hex()}")
            owner[fut] = (plan, "detect", cam)
            inputs.append(fut)
        fut = client.submit(tasks.reconstruct, s.path, s.calibration, s.out, popts, inputs, pure=False,
                            key=f"reconstruct {s.label}-{os.urandom(4).hex()}")
        owner[fut] = (plan, "reconstruct", None)
    for fut in as_completed(list(owner)):
        plan, kind, cam = owner[fut]
        try:
            result = fut.result()
        except Exception as exc:    # a lost worker too often, or a bug: this session only
            result = _unexpected(plan, kind, cam, exc)
        (on_detected if kind == "detect" else on_reconstructed)(plan, result)


def run_batch(root, out, options: BatchOptions = BatchOptions(), *, calibration=None, echo=print,
              progress: bool = True) -> BatchResult:
    """Process every session below ``root`` into ``out`` (see the module docstring).

    Parameters
    ----------
    root, out : path
        Where sessions are found (:func:`capture3d.batch.sessions.discover_sessions`) and where
        ``<session>/`` folders and ``summary.csv`` go.
    calibration : path, optional
        One calibration for every session; default: each session's own.
    echo : callable
        Prints a line (cluster, dashboard).
    progress : bool
        tqdm bars over cameras and sessions (on a terminal).

    Returns :class:`BatchResult`; a failed session is a row, never an exception.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    sessions = discover_sessions(root, out, calibration=calibration)
    if not sessions:
        raise FileFormatError(root, "no session below this folder (a folder of videos, or one with videos/)")
    rows, plans = {}, []
    for s in sessions:
        planned = _plan(s, options)
        if isinstance(planned, _Plan):
            plans.append(planned)
        else:
            rows[s.label] = {**planned, "error": _short(planned.get("error"), s)}
    bars = [tqdm(total=sum(len(p.todo) for p in plans), desc="cameras", unit="camera", disable=not progress or None,
                 position=0), tqdm(total=len(sessions), desc="sessions", unit="session",
                                   disable=not progress or None, position=1, initial=len(rows))]

    def on_detected(plan, result):
        cam = result["camera"]
        if not result.get("error"):
            plan.done[cam] = result
            state = resume.load_state(plan.session.out)
            state.setdefault("detections", {})[cam] = {
                **resume.detection_stamp(plan.videos[cam], options.process.detect), "seconds": result["seconds"]}
            resume.save_state(plan.session.out, state)
        bars[0].update(1)

    def on_reconstructed(plan, result):
        row = {**result, "session": plan.session.label, "error": _short(result.get("error"), plan.session)}
        rows[plan.session.label] = row
        state = resume.load_state(plan.session.out)
        state["reconstruction"] = {"stamp": plan.stamp, "row": row}
        resume.save_state(plan.session.out, state)
        bars[1].update(1)

    dashboard, cluster_s = None, 0.0
    if plans and options.serial:
        _run_serial(plans, on_detected, on_reconstructed, options.process)
    elif plans:
        t = time.perf_counter()
        client = _client(options)
        cluster_s = time.perf_counter() - t
        try:
            dashboard = client.dashboard_link
            echo(f"Dask: {len(client.scheduler_info()['workers'])} workers at {client.scheduler.address} "
                 f"({cluster_s:.1f} s to start), dashboard {dashboard}")
            _run_dask(client, plans, on_detected, on_reconstructed, options.process)
        finally:
            cluster = client.cluster if not options.scheduler else None
            client.close()
            if cluster is not None:
                cluster.close()
    for bar in bars:
        bar.close()
    ordered = [rows[s.label] for s in sessions]
    csv_path = write_summary(ordered, Path(out) / "summary.csv")
    return BatchResult(ordered, csv_path, dashboard, time.perf_counter() - t0, cluster_s)


__all__ = ["BatchOptions", "BatchResult", "run_batch"]
