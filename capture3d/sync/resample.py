"""2D data of unsynchronised cameras, interpolated in time to common instants.

The common instants are the reference camera's frame times: its frame ``k`` is instant ``k``,
so the other stages keep numbering frames as before. Every other camera's 2D data are linearly
interpolated between its two frames around each instant; NaN outside its span, where either
neighbour is NaN, and across gaps (neighbours further apart than ``max_gap_frames`` of its own
frame periods, e.g. dropped frames). Scores take the lower of the two neighbours'.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputShapeError, check_array
from .clock import SyncResult
from .slots import link_person_slots


#: Share of a frame period within which an instant counts as falling on a frame.
ON_FRAME = 1e-6


def _tangents(tc, vc):
    """Central-difference slopes of ``vc (F, ...)`` at ``tc (F,)``; NaN at the ends and next to NaN."""
    m = np.full(vc.shape, np.nan)
    if len(tc) > 2:
        dt = (tc[2:] - tc[:-2]).reshape((-1,) + (1,) * (vc.ndim - 1))
        m[1:-1] = (vc[2:] - vc[:-2]) / dt
    return m


def resample(values, times_s, target_s, *, score_last: bool = True, max_gap_frames: float = 1.5,
             cubic: bool = False, exact: bool = True, on_frame: float = 0.0) -> np.ndarray:
    """Interpolate per-camera data to common instants.

    Parameters
    ----------
    values : (C, F, ...) float
        Per camera and frame (padded with NaN beyond a camera's own frames), e.g. keypoints
        ``(C, F, P, J, 3)`` pixels + score, or board corners ``(C, F, N, 2)`` pixels.
    times_s : (C, F) float
        Common-clock time of every frame, seconds (NaN for padding), increasing per camera.
    target_s : (T,) float
        The instants, seconds on the common clock.
    score_last : bool
        The last channel is a score: the lower neighbour's is taken instead of interpolating.
    cubic : bool
        Cubic Hermite interpolation (slopes from the neighbours' neighbours) instead of linear:
        errors of order (frame period)^4 instead of ^2 on smooth motion.
    exact : bool
        An instant that falls on a frame takes that frame alone (False: both neighbours are
        needed there too, so that which points exist does not depend on the phase).
    on_frame : float
        An instant within this share of a frame period of a frame counts as on it. The stages that
        bring 2D data to common instants use ``ON_FRAME``: ``start + i / fps`` rounds differently
        from ``k / fps``, and at a weight of 1e-15 the neighbour's NaN and lower score would count.
        The offset search keeps 0: with ``ON_FRAME`` in its coarse search, the coarse starts of
        the re-cut pose2sim take (detected without ROI smoothing) moved by under 0.06 frame, and
        its fine rounds then drifted two cameras 4-11 frames off together (README, issue 18).

    Returns
    -------
    (C, T, ...) float64
        NaN outside a camera's span and across gaps.
    """
    v = np.asarray(values, float)
    t = check_array(times_s, "times_s", (None, None))
    target = check_array(target_s, "target_s", (None,))
    if v.shape[:2] != t.shape:
        raise InputShapeError(f"times_s: expected shape {v.shape[:2]} (cameras, frames of values), got {t.shape}")
    out = np.full((v.shape[0], len(target)) + v.shape[2:], np.nan)
    for c in range(v.shape[0]):
        ok = np.isfinite(t[c])
        tc, vc = t[c][ok], v[c][ok]
        if len(tc) < 2:
            continue
        period = np.median(np.diff(tc))
        right = np.searchsorted(tc, target, side="right")
        inside = (right > 0) & (right < len(tc)) | (target == tc[-1])
        right = np.clip(right, 1, len(tc) - 1)
        left = right - 1
        gap = (tc[right] - tc[left]) > max_gap_frames * period
        w = ((target - tc[left]) / (tc[right] - tc[left]))
        # on a frame (the reference camera's own instants, or whole-frame starts), that frame alone counts
        if on_frame > 0:
            w = np.where(w < on_frame, 0.0, np.where(w > 1 - on_frame, 1.0, w))
        w = w.reshape((-1,) + (1,) * (v.ndim - 2))
        blend = (1 - w) * vc[left] + w * vc[right]
        if cubic:   # cubic Hermite with central slopes (secant where a neighbour is missing)
            h = (tc[right] - tc[left]).reshape(w.shape)
            secant = (vc[right] - vc[left]) / h
            slopes = _tangents(tc, vc)
            m0 = np.where(np.isfinite(slopes[left]), slopes[left], secant)
            m1 = np.where(np.isfinite(slopes[right]), slopes[right], secant)
            blend = blend + w * (1 - w) * h * ((1 - w) * (m0 - secant) - w * (m1 - secant))
        res = np.where(w <= 0, vc[left], np.where(w >= 1, vc[right], blend)) if exact else blend
        if score_last and v.ndim > 2:
            lo = np.minimum(vc[left][..., -1], vc[right][..., -1])
            w1 = w[..., 0]
            res[..., -1] = np.where(w1 <= 0, vc[left][..., -1], np.where(w1 >= 1, vc[right][..., -1], lo))
        res[~inside | gap] = np.nan
        out[c] = res
    return out


def camera_times(sync: SyncResult, cameras, frame_counts, container_times=None) -> np.ndarray:
    """``(C, F)`` common-clock times of every frame of ``cameras`` (NaN beyond a camera's
    ``frame_counts[c]`` frames, F = the largest); ``container_times[name]`` for container clocks."""
    F = int(max(frame_counts))
    out = np.full((len(cameras), F), np.nan)
    for c, (name, n) in enumerate(zip(cameras, frame_counts)):
        clock = sync.cameras[name]
        tau = None if container_times is None else container_times.get(name)
        out[c, :n] = clock.frame_times(n, container_times_s=tau)[:n]
    return out


def reference_instants(sync: SyncResult, n_frames: int) -> np.ndarray:
    """The common instants: the reference camera's ``n_frames`` frame times, ``(T,)`` seconds."""
    return sync.cameras[sync.reference].frame_times(n_frames)


def resample_keypoints(keypoints, frame_index, sync: SyncResult, cameras, *, n_instants: int | None = None,
                       container_times=None) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints stacked by :func:`capture3d.io.stack_pose2d_files` (frames = video frame numbers)
    moved to the common instants.

    Parameters
    ----------
    keypoints : (C, F, P, J, 3) float
        Pixels + score; frame ``k`` of every camera is its video frame ``frame_index[k]``.
    frame_index : (F,) int
    sync : SyncResult
        From :func:`read_sync`; every camera of ``cameras`` must have a clock.
    cameras : list of str
        The names of the C cameras, in array order.
    n_instants : int, optional
        Instants kept (default: the reference camera's frames, ``frame_index.max() + 1``).

    Returns
    -------
    keypoints : (C, T, P, J, 3) float64
        At instant ``k`` = reference frame ``k``.
    time_s : (T,) float64
        Common-clock seconds of the instants.
    """
    kp = check_array(keypoints, "keypoints", (None, None, None, None, 3))
    frames = np.asarray(frame_index, np.int64)
    missing = [n for n in cameras if n not in sync.cameras]
    if missing:
        raise InputShapeError(f"sync: no clock for cameras {missing}")
    n = int(frames.max()) + 1 if len(frames) else 0
    dense = np.full((kp.shape[0], n) + kp.shape[2:], np.nan)
    dense[:, frames] = kp
    # interpolation between a camera's frames blends slot p with slot p: the same person only
    # where the detector keeps its slots in order
    dense = np.stack([link_person_slots(camera) for camera in dense]) if len(dense) else dense
    times = camera_times(sync, cameras, [n] * len(cameras), container_times)
    target = reference_instants(sync, n_instants or n)
    return resample(dense, times, target, on_frame=ON_FRAME), target


def resample_board(observations: dict, sync: SyncResult, *, every: int = 1, n_instants: int | None = None,
                   container_times=None) -> dict:
    """Board detections of unsynchronised cameras moved to the common instants.

    ``observations``: ``{camera: BoardObservations}`` with ``frames`` = video frame numbers
    (every ``every``-th frame read, as :func:`capture3d.calibrate.detect.detect_board` does).
    Returns new ``BoardObservations`` whose ``frames`` are instants (reference frames, every
    ``every``-th) and whose corners are interpolated there; a corner is kept only where both
    neighbouring frames read saw it.
    """
    from ..calibrate.detect import BoardObservations

    names = list(observations)
    missing = [n for n in names if n not in sync.cameras]
    if missing:
        raise InputShapeError(f"sync: no clock for cameras {missing}")
    n_ids = 1 + max((int(i.max()) for o in observations.values() for i in o.ids if len(i)), default=-1)
    counts = [max(o.frames_read * every, int(o.frames.max()) + 1 if len(o.frames) else 0)
              for o in observations.values()]
    read = [np.arange(0, n, every) for n in counts]                      # the frames read, per camera
    dense = np.full((len(names), max(len(r) for r in read), n_ids, 2), np.nan)
    for c, o in enumerate(observations.values()):
        for f, ids, corners in zip(o.frames, o.ids, o.corners):
            dense[c, f // every, ids] = corners
    all_times = camera_times(sync, names, counts, container_times)
    times = np.full(dense.shape[:2], np.nan)
    for c, r in enumerate(read):
        times[c, :len(r)] = all_times[c, r]
    ref = names.index(sync.reference) if sync.reference in names else 0
    instants = np.arange(0, n_instants or counts[ref], every)
    target = reference_instants(sync, int(instants[-1]) + 1 if len(instants) else 0)[instants]
    moved = resample(dense, times, target, score_last=False, on_frame=ON_FRAME)
    out = {}
    for c, (name, o) in enumerate(observations.items()):
        seen = np.isfinite(moved[c, ..., 0])
        rows = np.flatnonzero(seen.any(axis=1))
        ids = [np.flatnonzero(seen[k]).astype(np.int64) for k in rows]
        corners = [moved[c, k, i] for k, i in zip(rows, ids)]
        out[name] = BoardObservations(name, o.image_size, instants[rows].astype(np.int64), ids, corners, o.frames_read,
                                      o.rejected_blurred, o.rejected_small)
    return out


def resample_pose2d_files(files: dict, sync: SyncResult, *, videos: dict | None = None):
    """``pose2d/<camera>.npz`` files of unsynchronised cameras, read and moved to the common
    instants in one call (what ``triangulate`` / ``process`` do with a ``sync.toml``).

    Parameters
    ----------
    files : {camera: path}
        In the order wanted (rig order); frames are the videos' own frame numbers.
    sync : SyncResult
        From :func:`capture3d.sync.find_sync`; a clock for every camera of ``files``.
    videos : {camera: path}, optional
        Needed only for cameras whose clock uses container timestamps (variable frame rate).

    Returns
    -------
    keypoints : (C, T, P, J, 3) float64
        Pixels + score at instant ``k`` = the reference camera's frame ``k``; NaN outside a
        camera's span, across gaps, and where it saw nothing.
    frame_index : (T,) int64
        The instants' numbers (reference frames).
    time_s : (T,) float64
        Their common-clock times, seconds (``points3d.npz``'s ``time_s``).
    joint_names, image_sizes
        As :func:`capture3d.io.stack_pose2d_files` returns them.
    """
    from ..io import stack_pose2d_files
    from .signals import video_frame_times

    names = list(files)
    missing = [n for n in names if n not in sync.cameras]
    if missing:
        raise InputShapeError(f"sync: no clock for cameras {missing} (it has {sorted(sync.cameras)})")
    kp, frames, joint_names, sizes = stack_pose2d_files(files)
    container = {n: video_frame_times(videos[n]) for n in names
                 if sync.cameras[n].timestamps == "container" and videos and n in videos}
    need = [n for n in names if sync.cameras[n].timestamps == "container" and n not in container]
    if need:
        raise InputShapeError(f"sync: cameras {need} are timed by their container timestamps: pass their videos")
    # the instants: the reference camera's frames (as many as the estimate saw, else as the files hold)
    moved, time_s = resample_keypoints(kp, frames, sync, names, n_instants=sync.cameras[sync.reference].frames,
                                       container_times=container or None)
    return moved, np.arange(len(time_s), dtype=np.int64), time_s, joint_names, sizes


def nearest_frames(sync: SyncResult, camera: str, time_s, n_frames: int, *, container_times_s=None) -> np.ndarray:
    """The video frame of ``camera`` nearest to each common-clock instant ``time_s (T,)``
    seconds, ``(T,)`` int64, -1 where the camera was not recording (more than half a frame
    outside its span): what ``overlay`` draws under instant ``k`` of ``points3d.npz``."""
    clock = sync.cameras[camera]
    t = np.asarray(time_s, float)
    own = clock.frame_times(n_frames, container_times_s=container_times_s)
    k = np.clip(np.searchsorted(own, t), 1, max(len(own) - 1, 1))
    k = np.where(np.abs(own[k - 1] - t) <= np.abs(own[np.minimum(k, len(own) - 1)] - t), k - 1, k)
    half = 0.5 / clock.fps
    return np.where((t >= own[0] - half) & (t <= own[-1] + half), k, -1).astype(np.int64)
