"""The stage files of CONVENTIONS.md: ``pose2d/<camera>.npz`` and ``points3d.npz``."""
from __future__ import annotations

import os
import tomllib
import zipfile
from pathlib import Path

import numpy as np

from .errors import FileFormatError, InputShapeError, check_array


def load_toml(path, what: str = "file") -> dict:
    """A TOML file as a dict; a :class:`FileFormatError` naming the file when it is missing
    (``"<what> not found"``), unreadable or not valid TOML."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise FileFormatError(path, f"{what} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise FileFormatError(path, f"not valid TOML ({exc})") from None
    except OSError as exc:
        raise FileFormatError(path, f"cannot be read ({exc.strerror})") from None


def file_in_folder(output, name: str) -> Path:
    """``output`` itself, or ``output/name`` when ``output`` names a folder: one that exists, or
    any path written with a trailing slash (``-o out/``)."""
    path = Path(output)
    return path / name if path.is_dir() or str(output).endswith(("/", os.sep)) else path


def _save_npz_atomic(path, **arrays) -> Path:
    """Write ``path`` through a temporary file, so that a crash never leaves half a file under
    the real name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.npz")
    try:
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
    except BaseException as exc:   # a full disk, Ctrl-C: no half file, under either name
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return path


def save_pose2d(path, keypoints, *, joint_names, image_size, detector: str, frame_index=None,
                fps: float | None = None) -> Path:
    """Write one camera's 2D keypoints.

    Parameters
    ----------
    keypoints : (F, P, J, 3) float
        Pixels x, y and score per frame, person and joint; NaN where absent.
    fps : float, optional
        The video's frame rate, frames per second, when known: ``triangulate`` then needs no
        ``--fps`` (stored as ``fps``; files without it are read as before).
    """
    kp = check_array(keypoints, "keypoints", (None, None, None, 3)).astype(np.float32)
    F = kp.shape[0]
    frame_index = np.arange(F) if frame_index is None else np.asarray(frame_index, np.int64)
    if len(joint_names) != kp.shape[2] or len(frame_index) != F:
        raise ValueError(f"joint_names ({len(joint_names)}) and frame_index ({len(frame_index)}) must match "
                         f"keypoints {kp.shape}")
    extra = {"fps": np.float64(fps)} if fps is not None and np.isfinite(fps) and fps > 0 else {}
    return _save_npz_atomic(path, keypoints=kp, frame_index=frame_index, joint_names=np.array(joint_names),
                            image_size=np.array(image_size, np.int64), detector=np.array(detector), **extra)


def _npz_reason(exc) -> str:
    """What ``np.load`` of an ``.npz`` failing with ``exc`` means, for a one-line error."""
    if isinstance(exc, ValueError) and "contains pickled" in str(exc):
        return "not a NumPy .npz archive"   # np.load's guess that a non-archive is pickled data misleads
    if isinstance(exc, ValueError) and "Object arrays" in str(exc):
        return "it holds object (pickled) arrays, which are not loaded"
    if isinstance(exc, TypeError):          # np.load gave an array: `with` cannot open it
        return "a NumPy .npy array, not an .npz archive"
    if isinstance(exc, (zipfile.BadZipFile, EOFError)):
        return f"a damaged or truncated .npz archive: {exc}"
    if isinstance(exc, KeyError):   # NpzFile's "<key> is not a file in the archive"
        return f"no {str(exc.args[0] if exc.args else exc).split(' is not a file')[0]!r} array"
    return str(exc)


def _read_npz(path: Path, what: str, keys, optional=()) -> dict:
    """The arrays ``keys`` (and ``optional`` ones, None when absent) of the ``.npz`` at ``path``;
    a :class:`FileFormatError` "not a capture3d ``what`` file (reason)" when it cannot be read."""
    if not path.exists():
        raise FileFormatError(path, "file not found")
    if path.is_dir():
        raise FileFormatError(path, f"a folder, not a capture3d {what} file")
    try:
        with open(path, "rb") as fh, np.load(fh) as z:   # (closed even when the archive is broken)
            return {**{k: z[k] for k in keys}, **{k: z[k] if k in z.files else None for k in optional}}
    except (OSError, ValueError, KeyError, EOFError, AttributeError, TypeError, zipfile.BadZipFile) as exc:
        raise FileFormatError(path, f"not a capture3d {what} file ({_npz_reason(exc)})") from None


def load_pose2d(path) -> dict:
    path = Path(path)
    out = _read_npz(path, "pose2d", ("keypoints", "frame_index", "joint_names", "image_size", "detector"),
                    optional=("fps",))
    out["fps"] = _frame_rate(out["fps"], path)
    if out["keypoints"].ndim != 4 or out["keypoints"].shape[-1] != 3:
        raise FileFormatError(path, f"keypoints must be (frames, persons, joints, 3), got {out['keypoints'].shape}",
                              key="keypoints")
    out["joint_names"] = [str(n) for n in out["joint_names"]]
    out["detector"] = str(out["detector"])
    return out


def stack_pose2d(folder, rig, *, person: int = 0):
    """Read ``folder/<camera>.npz`` for every camera of ``rig`` into ``(C, F, J, 3)``, frames
    aligned by ``frame_index`` (missing frames NaN).

    Returns ``(keypoints, frame_index (F,), joint_names)``.
    """
    folder = Path(folder)
    files = {p.stem: p for p in folder.glob("*.npz")}
    unknown = sorted(set(files) - set(rig.names))
    missing = [n for n in rig.names if n not in files]
    if missing:
        raise FileFormatError(folder, f"no 2D keypoints for cameras {missing} of the calibration "
                              f"(found {sorted(files)})")
    if unknown:
        raise FileFormatError(folder, f"cameras {unknown} are not in the calibration ({rig.names})")
    persons, frames, names, _ = stack_pose2d_files({n: files[n] for n in rig.names})
    if person >= persons.shape[2]:
        return np.full(persons.shape[:2] + persons.shape[3:], np.nan), frames, names
    return persons[:, :, person], frames, names


def stack_pose2d_files(files: dict, frame_map: dict | None = None) -> tuple:
    """Read the pose2d files ``{camera: path}`` (in that order) into ``(C, F, P, J, 3)`` float64,
    frames aligned by ``frame_index`` (their union; NaN where a camera lacks a frame) and person
    slots padded with NaN to the most any camera has. ``frame_map[camera]`` (from
    :func:`capture3d.sources.session_frame_map`) first turns each camera's video frame numbers
    into the session's common ones.

    Returns ``(keypoints, frame_index (F,), joint_names, image_sizes {camera: (w, h)})``.
    """
    data = {n: load_pose2d(path) for n, path in files.items()}
    for n, d in data.items():
        if frame_map is not None and n in frame_map:
            if d["frame_index"].max(initial=-1) >= len(frame_map[n]):
                raise FileFormatError(files[n], f"has frames beyond the {len(frame_map[n])} that frames.csv lists",
                                      camera=n)
            d["frame_index"] = frame_map[n][d["frame_index"]]
    cameras = list(data)
    names = data[cameras[0]]["joint_names"]
    for n in cameras:
        if data[n]["joint_names"] != names:
            raise FileFormatError(files[n], "joint names differ from the other cameras'", camera=n)
    frames = np.unique(np.concatenate([data[n]["frame_index"] for n in cameras]))
    pos = {f: k for k, f in enumerate(frames)}
    P = max(data[n]["keypoints"].shape[1] for n in cameras)
    out = np.full((len(cameras), len(frames), P, len(names), 3), np.nan)
    for c, n in enumerate(cameras):
        kp = data[n]["keypoints"]
        out[c, [pos[f] for f in data[n]["frame_index"]], :kp.shape[1]] = kp
    sizes = {n: tuple(int(v) for v in data[n]["image_size"]) for n in cameras}
    return out, frames, names, sizes


def _frame_rate(value, path) -> float | None:
    """A pose2d file's ``fps`` array as frames per second (None when absent); a FileFormatError
    when it is not one finite number > 0."""
    if value is None:
        return None
    v = np.asarray(value)
    if v.shape != () or not np.issubdtype(v.dtype, np.number) or not (np.isfinite(v) and v > 0):
        raise FileFormatError(path, f"fps must be one number > 0 (frames per second), got {value!r}", key="fps")
    return float(v)


def pose2d_frame_rates(files: dict) -> dict:
    """``{camera: frames per second}`` of the pose2d files ``{camera: path}`` that record their
    video's frame rate (``detect`` writes it since 2026-12-04; older and imported files do not)."""
    rates = {}
    for n, path in files.items():
        fps = _frame_rate(_read_npz(Path(path), "pose2d", (), optional=("fps",))["fps"], path)
        if fps is not None:
            rates[n] = fps
    return rates


POINT_DIAGNOSTICS = ("reprojection_error_px", "n_views", "score")


def save_points3d(path, points, *, joint_names, person_id=None, frame_index=None, time_s=None,
                  reprojection_error_px=None, n_views=None, score=None) -> Path:
    """Write ``points3d.npz`` (CONVENTIONS.md), one person or several.

    Parameters
    ----------
    points : (F, J, 3) or (P, F, J, 3) float
        Meters, world frame; NaN where a joint (or a person, in a frame) is absent.
    joint_names : sequence of str, length J
    person_id : (P,) int, optional
        Required with ``(P, F, J, 3)`` points (distinct ids, stable over the session), and
        refused with ``(F, J, 3)`` points: a single-person file has no ``person_id`` key.
    frame_index : (F,) int, optional
        Session frame numbers (default 0..F-1).
    time_s : (F,) float, optional
        Seconds from the session start (default frames / 30).
    reprojection_error_px, score : float arrays shaped like ``points[..., 0]``, optional
        Pixels / 0..1; NaN when not given.
    n_views : int array shaped like ``points[..., 0]``, optional
        Views used per point; 0 when not given.
    """
    pts = check_array(points, "points", (..., None, None, 3))
    if pts.ndim not in (3, 4):
        raise InputShapeError(f"points: expected shape (F, J, 3) or (P, F, J, 3), got {pts.shape}")
    point_shape, (F, J) = pts.shape[:-1], pts.shape[-3:-1]
    if len(joint_names) != J:
        raise InputShapeError(f"joint_names: {len(joint_names)} names for {J} joints of points {pts.shape}")
    extra = {}
    if pts.ndim == 4:
        if person_id is None:
            raise InputShapeError(f"person_id: required with several people (points {pts.shape})")
        ids = np.asarray(person_id)
        if ids.shape != (pts.shape[0],) or not np.issubdtype(ids.dtype, np.integer):
            raise InputShapeError(f"person_id: expected {pts.shape[0]} integers, got {ids.dtype} {ids.shape}")
        if len(np.unique(ids)) != len(ids):
            raise InputShapeError(f"person_id: ids must be distinct, got {ids.tolist()}")
        extra["person_id"] = ids.astype(np.int64)
    elif person_id is not None:
        raise InputShapeError(f"person_id: given for single-person points {pts.shape}; use (1, F, J, 3) points")
    given = {"reprojection_error_px": reprojection_error_px, "n_views": n_views, "score": score}
    defaults = {"reprojection_error_px": np.full(point_shape, np.nan), "n_views": np.zeros(point_shape, np.int16),
                "score": np.full(point_shape, np.nan)}
    diagnostics = {}
    for key, value in given.items():
        arr = defaults[key] if value is None else np.asarray(value)
        if arr.shape != point_shape:
            raise InputShapeError(f"{key}: expected shape {point_shape} (points[..., 0]), got {arr.shape}")
        diagnostics[key] = arr
    frame_index = np.arange(F) if frame_index is None else np.asarray(frame_index)
    time_s = np.arange(F) / 30.0 if time_s is None else np.asarray(time_s, float)
    for key, value in (("frame_index", frame_index), ("time_s", time_s)):
        if value.shape != (F,):
            raise InputShapeError(f"{key}: expected shape ({F},), got {value.shape}")
    return _save_npz_atomic(path, points=pts, **diagnostics, joint_names=np.array(joint_names),
                            frame_index=frame_index, time_s=time_s, **extra)


def frame_rate(time_s, default: float = 30.0) -> float:
    """Frames per second of a ``time_s (F,)`` column (the median step), ``default`` for one frame.

    >>> frame_rate([0.0, 0.02, 0.04])
    50.0
    """
    t = np.asarray(time_s, float)
    return float(1.0 / np.median(np.diff(t))) if len(t) > 1 else default


def load_points3d(path) -> dict:
    """Read ``points3d.npz`` as stored: ``points`` is ``(F, J, 3)`` (one person) or
    ``(P, F, J, 3)`` (several), the per-point arrays shaped like ``points[..., 0]``.

    Returns a dict with ``points``, ``reprojection_error_px``, ``n_views``, ``score``,
    ``joint_names`` (list of str), ``frame_index (F,)``, ``time_s (F,)`` and ``person_id``:
    ``(P,)`` int64 for a several-person file, None for a single-person one. Shapes that do not
    fit raise :class:`FileFormatError` naming the file and key. :func:`persons` splits it.
    """
    path = Path(path)
    out = _read_npz(path, "points3d", ("points", *POINT_DIAGNOSTICS, "joint_names", "frame_index", "time_s"),
                    optional=("person_id",))
    pts = out["points"]
    if pts.ndim not in (3, 4) or pts.shape[-1] != 3:
        raise FileFormatError(path, f"points must be (frames, joints, 3) or (persons, frames, joints, 3), "
                              f"got {pts.shape}", key="points")
    if pts.ndim == 4:
        ids = out["person_id"]
        if ids is None:
            raise FileFormatError(path, f"points {pts.shape} hold several people but there is no person_id",
                                  key="person_id")
        if ids.shape != (pts.shape[0],) or not np.issubdtype(ids.dtype, np.integer):
            raise FileFormatError(path, f"expected {pts.shape[0]} integer ids, got {ids.dtype} {ids.shape}",
                                  key="person_id")
        out["person_id"] = ids.astype(np.int64)
    elif out["person_id"] is not None:
        raise FileFormatError(path, f"person_id given for single-person points {pts.shape}", key="person_id")
    for key in POINT_DIAGNOSTICS:
        if out[key].shape != pts.shape[:-1]:
            raise FileFormatError(path, f"expected shape {pts.shape[:-1]} like points, got {out[key].shape}", key=key)
    F, J = pts.shape[-3:-1]
    for key, n in (("joint_names", J), ("frame_index", F), ("time_s", F)):
        if out[key].shape != (n,):
            raise FileFormatError(path, f"expected shape ({n},), got {out[key].shape}", key=key)
    out["joint_names"] = [str(n) for n in out["joint_names"]]
    return out


def as_persons(points, person_id=None) -> tuple[np.ndarray, list]:
    """Points of one person or several as ``(P, F, J, 3)`` and their ids.

    Parameters
    ----------
    points : (F, J, 3) or (P, F, J, 3) float
        Meters.
    person_id : (P,) int, optional
        With 4-D points; None (default) numbers them 0..P-1. Ignored for 3-D points.

    Returns
    -------
    points : (P, F, J, 3) float64
        P = 1 for 3-D input.
    ids : list of int, or ``[None]``
        ``[None]`` for single-person input (it has no id).

    >>> pts, ids = as_persons(np.zeros((5, 17, 3)))
    >>> pts.shape, ids
    ((1, 5, 17, 3), [None])
    """
    pts = check_array(points, "points", (..., None, None, 3))
    if pts.ndim == 3:
        return pts[None], [None]
    if pts.ndim != 4:
        raise InputShapeError(f"points: expected shape (F, J, 3) or (P, F, J, 3), got {pts.shape}")
    ids = list(range(len(pts))) if person_id is None else [int(i) for i in np.asarray(person_id).ravel()]
    if len(ids) != len(pts):
        raise InputShapeError(f"person_id: {len(ids)} ids for {len(pts)} people")
    return pts, ids


def persons(data: dict) -> list[tuple[int | None, dict]]:
    """Split points3d data (as :func:`load_points3d` returns it) into one dict per person.

    Returns ``[(person_id, person_data), ...]``: for a single-person file one pair
    ``(None, data)``; for a several-person file one pair per person in file order, each
    ``person_data`` a single-person dict (``points (F, J, 3)``, diagnostics ``(F, J)``, the shared
    ``joint_names``, ``frame_index``, ``time_s``; ``person_id`` None) that every single-person
    writer and view accepts.
    """
    pts = np.asarray(data["points"])
    if pts.ndim == 3:
        return [(None, data)]
    ids = data.get("person_id")
    if ids is None or len(ids) != len(pts):
        raise InputShapeError(f"person_id: expected {len(pts)} ids for points {pts.shape}, got {ids}")
    shared = {k: v for k, v in data.items() if k not in ("points", "person_id", *POINT_DIAGNOSTICS)}
    return [(int(pid), {**shared, "points": pts[p], **{k: np.asarray(data[k])[p] for k in POINT_DIAGNOSTICS
                                                       if k in data}, "person_id": None})
            for p, pid in enumerate(ids)]
