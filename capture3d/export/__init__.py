"""Exports of ``points3d`` data.

:data:`EXPORTERS` holds the per-format writers of ONE person: ``writer(path, data)`` with
``data`` a single-person dict as :func:`capture3d.io.load_points3d` returns it.
:func:`export_points` is the entry point for any file, one person or several:

- single-person data: exactly the writer's file at ``path``;
- several people: BVH, CSV and TRC write one file per person next to ``path``, named
  ``<stem>_p<id><suffix>`` with the id as stored (``skeleton_p3.bvh``; no zero padding); C3D writes
  one file at ``path`` whose points are labelled ``p<id>_<joint>`` (``p3_left_knee``), people in
  file order.

A person who cannot be written (no finite point; BVH without hips and shoulders...) is skipped
with the reason while the others are written.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import file_in_the_way
from ..io import POINT_DIAGNOSTICS, file_in_folder, persons
from .bvh import Bvh, read_bvh, write_bvh
from .csv import write_csv
from .mocap import write_c3d, write_trc

EXPORTERS = {"bvh": write_bvh, "csv": write_csv, "trc": write_trc, "c3d": write_c3d}

#: Formats that hold several people in one file (labels prefixed by person); the others get a file each.
ONE_FILE_FORMATS = ("c3d",)


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_points` wrote: ``written`` the files, ``skipped`` ``(person_id, reason)``
    for every person left out (``person_id`` None for a single-person file). False when nothing
    was written."""

    format: str
    written: tuple[Path, ...]
    skipped: tuple[tuple[int | None, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.written)


def person_path(path, person_id: int) -> Path:
    """``<stem>_p<id><suffix>`` next to ``path``: the file of one person.

    >>> person_path("out/skeleton.bvh", 3).as_posix()
    'out/skeleton_p3.bvh'
    """
    path = Path(path)
    return path.with_name(f"{path.stem}_p{int(person_id)}{path.suffix}")


def export_path(fmt: str, path) -> Path:
    """Where :func:`export_points` writes format ``fmt`` given ``path``: a folder (one that exists,
    or a path with a trailing slash) gets ``skeleton.<fmt>`` in it; a name without the format's
    own suffix gets it added (``take1.2`` -> ``take1.2.bvh``: a file of no type helps nobody).

    >>> [export_path("bvh", p).as_posix() for p in ("out/skel", "take1.2", "a.BVH", "b.csv")]
    ['out/skel.bvh', 'take1.2.bvh', 'a.BVH', 'b.csv.bvh']
    """
    path = file_in_folder(path, f"skeleton.{fmt}")
    return path if path.suffix.lower() == f".{fmt}" else path.with_name(f"{path.name}.{fmt}")


def export_points(fmt: str, path, data: dict) -> ExportResult:
    """Write ``data`` (as :func:`capture3d.io.load_points3d` returns it, one person or several) in
    format ``fmt`` (a key of :data:`EXPORTERS`) at :func:`export_path` of ``path``; see the module's
    docstring for the file names. Data the format cannot hold come back in ``skipped``, never as an exception."""
    if fmt not in EXPORTERS:
        raise ValueError(f"unknown export format {fmt!r} (known: {sorted(EXPORTERS)})")
    path = export_path(fmt, path)
    writer = _atomic(EXPORTERS[fmt])
    people = persons(data)
    if people[0][0] is None:  # one person: the writer's own file
        try:
            return ExportResult(fmt, (writer(path, data),))
        except ValueError as exc:
            return ExportResult(fmt, (), ((None, str(exc)),))
    written, skipped, kept = [], [], []
    for pid, one in people:
        if not np.isfinite(one["points"]).all(-1).any():
            skipped.append((pid, "no reconstructed point"))
        elif fmt in ONE_FILE_FORMATS:
            kept.append((pid, one))
        else:
            try:
                written.append(writer(person_path(path, pid), one))
            except ValueError as exc:
                skipped.append((pid, str(exc)))
    if kept:
        written.append(writer(path, _side_by_side(kept)))
    return ExportResult(fmt, tuple(written), tuple(skipped))


def _atomic(writer):
    """``writer`` through a temporary file renamed into place: a full disk or a Ctrl-C never
    leaves half a file under the real name (nor the temporary one)."""
    def write(path, data):
        path = Path(path)
        folder = path.parent / f".{path.name}.part"      # the file keeps its name: TRC writes it into its header
        tmp = folder / path.name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            writer(tmp, data)
            tmp.replace(path)
        except OSError as exc:   # the error names the file asked for, never the temporary one
            blocker = file_in_the_way(path.parent)
            reason = f"{blocker} is a file, where a folder is needed" if blocker else exc.strerror or exc
            raise OSError(exc.errno, f"cannot write {path}: {reason}") from None
        finally:
            if folder.is_dir():
                tmp.unlink(missing_ok=True)
                folder.rmdir()
        return path
    return write


def _side_by_side(people) -> dict:
    """Several single-person dicts as one with joints ``p<id>_<joint>``: ``(F, P * J, 3)``."""
    first = people[0][1]
    out = {k: v for k, v in first.items() if k not in ("points", "joint_names", *POINT_DIAGNOSTICS)}
    out["joint_names"] = [f"p{pid}_{j}" for pid, _ in people for j in first["joint_names"]]
    for key in ("points", *POINT_DIAGNOSTICS):
        if key in first:
            out[key] = np.concatenate([np.asarray(one[key]) for _, one in people], axis=1)
    return out


__all__ = ["EXPORTERS", "ExportResult", "export_points", "export_path", "person_path", "Bvh", "read_bvh", "write_bvh",
           "write_csv", "write_trc", "write_c3d"]
