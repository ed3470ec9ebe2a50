"""What a batch remembers between runs: ``OUT/<session>/batch.json``.

It records, for every camera's detection and for the session's reconstruction, the stamps of
the inputs the work read (size and modification time of each file, in nanoseconds) and the
options it ran with, and the code: capture3d's version and, for detection, the model manifest
(the sha256 of every model file). A re-run redoes a piece of work only when one of these
changed, its output is gone, or it did not succeed last time. A development checkout keeps
one version number across commits: after changing the code itself, pass ``--force``. Stamps rather than hashes: hashing every video of a
large batch would take longer than checking it; a file rewritten with the same size within the
same nanosecond would be missed, which no recorder does.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path

STATE_FILE = "batch.json"
#: Session files, besides the videos and the calibration, that the reconstruction reads.
SESSION_FILES = ("frames.csv", "timestamps.csv", "sync.toml", "session.toml")


def file_stamp(path) -> list | None:
    """``[size_bytes, mtime_ns]`` of a file; a folder: the stamps of its files; None if absent."""
    path = Path(path)
    if path.is_dir():
        return [[p.name, file_stamp(p)] for p in sorted(path.iterdir()) if p.is_file()]
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def options_key(options) -> str:
    """A stable text of an options dataclass (nested ones included), for comparison. The number
    of detection processes is left out: it does not change a result."""
    value = asdict(options) if is_dataclass(options) else options
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "workers"}
        if isinstance(value.get("detect"), dict):
            value["detect"] = {k: v for k, v in value["detect"].items() if k != "workers"}
    return json.dumps(value, sort_keys=True, default=str)


def code_key(*, models: bool) -> dict:
    """The code a result came from: ``{"capture3d": version}``, with ``models`` also the first
    16 hex digits of the sha256 of ``models/manifest.toml`` (which holds every model file's
    sha256, so another model release changes it); None where the manifest cannot be read."""
    from .. import __version__

    key = {"capture3d": __version__}
    if models:
        from ..detect.manifest import models_dir

        manifest = models_dir() / "manifest.toml"
        key["models"] = _file_digest(str(manifest), tuple(file_stamp(manifest) or ()))
    return key


@functools.lru_cache(maxsize=8)
def _file_digest(path: str, stamp: tuple) -> str | None:
    """First 16 hex digits of a file's sha256, read once per ``stamp`` (a batch stamps every
    camera); None where the file cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def detection_stamp(video, options) -> dict:
    """What a camera's detection depends on: its video, the detection options, the code and the
    model files (:func:`code_key`)."""
    return {"video": str(video), "stamp": file_stamp(video), "options": options_key(options),
            "code": code_key(models=True)}


def reconstruction_stamp(session, calibration, videos: dict, options) -> dict:
    """What a session's reconstruction depends on: every video, the calibration, the session's
    frame and sync files, and the processing options."""
    session = Path(session)
    return {"videos": {cam: file_stamp(v) for cam, v in videos.items()},
            "calibration": [str(calibration), file_stamp(calibration)],
            "session_files": {name: file_stamp(session / name) for name in SESSION_FILES},
            "options": options_key(options), "code": code_key(models=False)}


def load_state(out) -> dict:
    """The recorded state of a session's output folder (empty when none or unreadable)."""
    path = Path(out) / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def save_state(out, state: dict) -> Path:
    """Write ``state`` to ``out/batch.json`` atomically (a killed run leaves the old one)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, default=str))
    os.replace(tmp, out / STATE_FILE)
    return out / STATE_FILE


__all__ = ["code_key", "file_stamp", "detection_stamp", "reconstruction_stamp", "load_state", "save_state", "STATE_FILE"]
