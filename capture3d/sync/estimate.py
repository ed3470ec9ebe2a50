"""``capture3d sync``: a session's camera clocks from its recordings, and the picture."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from .align import SyncOptions, align_keypoints
from .clock import SyncResult, to_whole_frames
from .events import align_audio, align_flash
from .signals import board_keypoints, mean_brightness, read_audio, video_frame_times

log = logging.getLogger("capture3d.sync")
AUTO_ORDER = ("motion", "board", "audio", "flash")


def _pose2d_folder(session: Path, pose2d) -> Path | None:
    folder = Path(pose2d) if pose2d is not None else session / "pose2d"
    return folder if folder.is_dir() and any(folder.glob("*.npz")) else None


def estimate_sync(session, *, calibration=None, method: str = "auto", options: SyncOptions | None = None,
                  pose2d=None, board=None, make_bar=None) -> SyncResult:
    """Every camera's clock from the session's own recordings (cameras with no shared clock).

    Parameters
    ----------
    session : path
        A session folder (``videos/`` inside) or a plain folder of videos named after the cameras.
    calibration : path or Rig, optional
        With it, motion and board offsets are refined to a fraction of a frame, and rates
        measured, by reprojection error.
    method : {"auto", "motion", "board", "audio", "flash"}
        ``auto``: motion when 2D keypoints are there (``pose2d`` or ``SESSION/pose2d/``), else
        board when a ``board`` is given, else audio when every video has sound, else flash.
    pose2d : path, optional
        Folder of ``<camera>.npz`` from ``capture3d detect`` (frames = video frame numbers).
    board : path or Board, optional
        The calibration board (method "board"); detections are cached in ``SESSION/.capture3d_cache``.
    make_bar : callable(label, total), optional
        A progress bar per camera for the board detection (``update(n)``, ``close()``).

    Returns
    -------
    SyncResult
        Check ``ok``; ``failed`` names each camera that could not be synchronised and why. With
        ``options.whole_frames``, starts in whole frames (:func:`~capture3d.sync.clock.to_whole_frames`).
    """
    from ..rig import Rig
    from ..sources import session_videos

    opts = options or SyncOptions()
    if opts.whole_frames:
        from dataclasses import replace
        res = estimate_sync(session, calibration=calibration, method=method,
                            options=replace(opts, whole_frames=False), pose2d=pose2d, board=board, make_bar=make_bar)
        return to_whole_frames(res)
    session = Path(session)
    videos = session_videos(session)
    if method not in ("auto",) + AUTO_ORDER:
        raise ValueError(f"method must be auto, {', '.join(AUTO_ORDER)}; got {method!r}")
    if method == "auto":
        if _pose2d_folder(session, pose2d) is not None:
            method = "motion"
        elif board is not None:
            method = "board"
        elif all(read_audio(p, 8000) is not None for p in videos.values()):
            method = "audio"
        else:
            method = "flash"
        log.info("sync method: %s", method)
    times = {n: video_frame_times(p) for n, p in videos.items()}
    rig = calibration if calibration is None or isinstance(calibration, Rig) else Rig.load(calibration)
    if rig is not None:
        unknown = [n for n in videos if n not in rig.names]
        if unknown:
            raise FileFormatError(calibration if not isinstance(calibration, Rig) else session,
                                  f"has no camera {unknown} of the session ({sorted(videos)})", camera=unknown[0])
    if method == "motion":
        folder = _pose2d_folder(session, pose2d)
        if folder is None:
            raise FileFormatError(Path(pose2d) if pose2d else session / "pose2d",
                                  "no pose2d/<camera>.npz: run capture3d detect SESSION -o SESSION/pose2d first")
        return _motion(folder, videos, times, rig, opts)
    if method == "board":
        if board is None:
            raise ValueError("method board needs the board (--board B.toml)")
        return _board(session, videos, times, board, rig, opts, make_bar)
    if method == "audio":
        tracks = {n: read_audio(p, opts.audio_rate_hz) for n, p in videos.items()}
        return align_audio(tracks, times, rate_hz=opts.audio_rate_hz, options=opts)
    return align_flash({n: mean_brightness(p) for n, p in videos.items()}, times, options=opts)


def _motion(folder, videos, times, rig, opts) -> SyncResult:
    from ..io import load_pose2d

    keypoints, own, failed = {}, {}, {}
    for n in videos:
        path = folder / f"{n}.npz"
        if not path.is_file():
            failed[n] = f"no 2D keypoints ({path} missing)"
            continue
        d = load_pose2d(path)
        frames = np.asarray(d["frame_index"], np.int64)
        if len(frames) and frames.max() >= len(times[n]):
            raise FileFormatError(path, f"has frame {frames.max()} but the video has {len(times[n])}", camera=n)
        keypoints[n] = d["keypoints"].astype(float)
        own[n] = times[n][frames]
    extra = sorted(p.stem for p in folder.glob("*.npz") if p.stem not in videos)
    if extra:
        log.warning("%s: pose2d files of cameras with no video ignored: %s", folder, extra)
    res = align_keypoints(keypoints, own, rig=rig, options=opts, method="motion") if keypoints else \
        SyncResult("motion", next(iter(videos)))
    res.failed.update(failed)
    return res


def _board(session, videos, times, board, rig, opts, make_bar=None) -> SyncResult:
    from ..calibrate.boards import Board
    from ..calibrate.detect import detect_board

    board = board if isinstance(board, Board) else Board.load(board)
    keypoints, own = {}, {}
    for n, path in videos.items():
        bar = make_bar(f"board {n}", len(times[n])) if make_bar is not None else None
        obs = detect_board(path, board, camera=n, cache_dir=Path(session) / ".capture3d_cache",
                           progress=bar.update if bar is not None else None)
        if bar is not None:
            bar.close()
        kp = board_keypoints(obs, len(times[n]))
        keypoints[n], own[n] = kp, times[n][: len(kp)]
    width = max(k.shape[2] for k in keypoints.values())   # corner ids seen differ per camera
    for n, kp in keypoints.items():
        if kp.shape[2] < width:
            keypoints[n] = np.concatenate([kp, np.full(kp.shape[:2] + (width - kp.shape[2], 3), np.nan)], axis=2)
    return align_keypoints(keypoints, own, rig=rig, options=opts, method="board")


def plot_sync(result: SyncResult, path) -> Path:
    """The signals of every camera on the common clock, one row each (PNG): the motion, board,
    sound or brightness signal the estimate lined up."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    names = list(result.signals) or [result.reference]
    fig, axes = plt.subplots(len(names), 1, figsize=(10, 1.3 + 1.1 * len(names)), sharex=True, squeeze=False)
    for ax, n in zip(axes[:, 0], names):
        if n in result.signals:
            t, v = result.signals[n]
            v = np.asarray(v, float)
            scale = np.nanmax(np.abs(v)) if np.isfinite(v).any() and np.nanmax(np.abs(v)) > 0 else 1.0
            ax.plot(t, v / scale, lw=0.8)
        clock = result.cameras.get(n)
        label = f"{n}\nstart {clock.start_s * 1000:+.1f} ms\n{clock.fps:.3f} fps" if clock else n
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        ax.set_yticks([])
    axes[-1, 0].set_xlabel("common clock, s")
    fig.suptitle(f"capture3d sync: {result.method}, reference {result.reference}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def find_sync(session, path=None, *, cameras=None) -> SyncResult | None:
    """The session's clocks: ``path`` when given, else ``SESSION/sync.toml`` when it exists, else
    None (the cameras share a clock). ``cameras`` (default: the session's videos, when
    ``session`` is a folder of them) are checked against the file: a camera it names that they
    lack, or one of theirs it lacks, is a :class:`FileFormatError` naming the file and camera."""
    from ..sources import session_videos
    from .clock import read_sync

    if path is None:
        path = Path(session) / "sync.toml"
        if not path.is_file():
            return None
    if cameras is None and session is not None and Path(session).is_dir():
        try:
            cameras = list(session_videos(session))
        except FileFormatError:   # a pose2d folder, say: nothing to check against
            cameras = None
    return read_sync(path, cameras=cameras)


def pose2d_frame_counts(files: dict) -> dict:
    """``{camera: frames recorded}`` of ``files {camera: pose2d npz path}``: each file's last frame
    number + 1 (0 for a file without frames)."""
    from ..io import load_pose2d

    counts = {}
    for name, path in files.items():
        frames = np.asarray(load_pose2d(path)["frame_index"])
        counts[name] = int(frames.max()) + 1 if len(frames) else 0
    return counts


def unequal_lengths_hint(files: dict, *, counts: dict | None = None) -> str | None:
    """A line for a folder of pose2d files taken as one clock (no ``sync.toml``, no ``frames.csv``)
    whose cameras recorded different numbers of frames, as cameras started by hand do: frame
    ``i`` is then taken as the same instant everywhere, silently wrong by the difference. None
    when the counts agree within 1 % (a dropped frame or two).

    ``files``: ``{camera: pose2d npz path}``; ``counts``: their :func:`pose2d_frame_counts`, when
    the caller has them already."""
    counts = pose2d_frame_counts(files) if counts is None else counts
    lo, hi = min(counts.values(), default=0), max(counts.values(), default=0)
    if hi - lo <= max(1, 0.01 * hi):
        return None
    listed = ", ".join(f"{n} {c}" for n, c in counts.items())
    return (f"the cameras recorded different numbers of frames ({listed}) and there is no sync.toml: frame i "
            "is taken as one instant in every camera; if they share no clock (phones, webcams started by "
            "hand), run capture3d sync first; if one camera's file is from another session, replace it")


def synced_board_observations(session, board, sync: SyncResult, *, every: int = 1, make_bar=None) -> dict:
    """Board detections of every camera of ``session`` (cached in ``SESSION/.capture3d_cache``)
    moved to the common instants of ``sync`` (:func:`capture3d.sync.resample_board`): frame ``k``
    is the reference camera's frame ``k`` in every camera, corners interpolated in time; what
    ``calibrate extrinsics`` uses when the session has a ``sync.toml``."""
    from ..calibrate.sessions import detect_session_boards
    from ..sources import session_videos
    from .resample import resample_board

    videos = session_videos(session)
    missing = [n for n in videos if n not in sync.cameras]
    if missing:
        raise FileFormatError(Path(session) / "sync.toml", f"has no clock for cameras {missing}", camera=missing[0])
    observations = detect_session_boards(session, videos, board, every=every, make_bar=make_bar)
    times = {n: video_frame_times(p) for n, p in videos.items() if sync.cameras[n].timestamps == "container"}
    return resample_board(observations, sync, every=every, container_times=times or None)
