"""The stage files of CONVENTIONS.md: ``pose2d/<camera>.npz`` and ``points3d.npz``."""
from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

from .errors import FileFormatError, check_array


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


def _save_npz_atomic(path, **arrays) -> Path:
    """Write ``path`` through a temporary file, so that a crash never leaves half a file under
    the real name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return path


def save_pose2d(path, keypoints, *, joint_names, image_size, detector: str, frame_index=None) -> Path:
    """Write one camera's 2D keypoints.

    Parameters
    ----------
    keypoints : (F, P, J, 3) float
        Pixels x, y and score per frame, person and joint; NaN where absent.
    """
    kp = check_array(keypoints, "keypoints", (None, None, None, 3)).astype(np.float32)
    F = kp.shape[0]
    frame_index = np.arange(F) if frame_index is None else np.asarray(frame_index, np.int64)
    if len(joint_names) != kp.shape[2] or len(frame_index) != F:
        raise ValueError(f"joint_names ({len(joint_names)}) and frame_index ({len(frame_index)}) must match "
                         f"keypoints {kp.shape}")
    return _save_npz_atomic(path, keypoints=kp, frame_index=frame_index, joint_names=np.array(joint_names),
                            image_size=np.array(image_size, np.int64), detector=np.array(detector))


def load_pose2d(path) -> dict:
    path = Path(path)
    try:
        z = np.load(path)
        out = {k: z[k] for k in ("keypoints", "frame_index", "joint_names", "image_size", "detector")}
    except (OSError, ValueError, KeyError) as exc:
        raise FileFormatError(path, f"not a capture3d pose2d file ({exc})") from None
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


def save_points3d(path, points, *, joint_names, frame_index=None, time_s=None, reprojection_error_px=None,
                  n_views=None, score=None) -> Path:
    """Write ``points3d.npz``: ``points (F, J, 3)`` meters plus per-point diagnostics."""
    pts = check_array(points, "points", (None, None, 3))
    F, J = pts.shape[:2]
    nan = np.full((F, J), np.nan)
    return _save_npz_atomic(path, points=pts,
                            reprojection_error_px=nan if reprojection_error_px is None else reprojection_error_px,
                            n_views=np.zeros((F, J), np.int16) if n_views is None else n_views,
                            score=nan if score is None else score, joint_names=np.array(joint_names),
                            frame_index=np.arange(F) if frame_index is None else np.asarray(frame_index),
                            time_s=np.arange(F) / 30.0 if time_s is None else np.asarray(time_s, float))


def frame_rate(time_s, default: float = 30.0) -> float:
    """Frames per second of a ``time_s (F,)`` column (the median step), ``default`` for one frame.

    >>> frame_rate([0.0, 0.02, 0.04])
    50.0
    """
    t = np.asarray(time_s, float)
    return float(1.0 / np.median(np.diff(t))) if len(t) > 1 else default


def load_points3d(path) -> dict:
    path = Path(path)
    try:
        z = np.load(path)
        out = {k: z[k] for k in ("points", "reprojection_error_px", "n_views", "score", "joint_names",
                                 "frame_index", "time_s")}
    except (OSError, ValueError, KeyError) as exc:
        raise FileFormatError(path, f"not a capture3d points3d file ({exc})") from None
    if out["points"].ndim != 3 or out["points"].shape[-1] != 3:
        raise FileFormatError(path, f"points must be (frames, joints, 3), got {out['points'].shape}", key="points")
    out["joint_names"] = [str(n) for n in out["joint_names"]]
    return out
