"""The batch's summary: ``OUT/summary.csv`` and the table the command prints, one row per session.

Columns (CONVENTIONS.md): ``session`` (path relative to the root, "." for the root itself),
``status`` (ok | failed | skipped: up to date from an earlier run, figures from then), ``cameras``,
``frames``, ``persons`` (0: nobody found, an ok row), ``frames_with_person`` (share 0..1),
``median_reprojection_error_px``, ``bone_length_cv`` (median over bones and people),
``seconds`` (the session's work: detection of every camera plus reconstruction, summed over
workers, not wall time), ``error`` (why it failed, or "no person found"). Empty cells where a
figure does not exist.
"""
from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ("session", "status", "cameras", "frames", "persons", "frames_with_person",
           "median_reprojection_error_px", "bone_length_cv", "seconds", "error")
#: How each float column is written.
FORMATS = {"frames_with_person": "{:.3f}", "median_reprojection_error_px": "{:.3f}", "bone_length_cv": "{:.4f}",
           "seconds": "{:.1f}"}


def _cell(column: str, value) -> str:
    if value is None or value == "":
        return ""
    if column in FORMATS:
        return FORMATS[column].format(float(value))
    return str(value)


def write_summary(rows: list[dict], path) -> Path:
    """Write ``rows`` (dicts with :data:`COLUMNS` keys; missing ones empty) as CSV to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([_cell(c, row.get(c)) for c in COLUMNS])
    return path


def read_summary(path) -> list[dict]:
    """The rows of a ``summary.csv`` as dicts of strings (empty string where empty)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def format_table(rows: list[dict], *, max_error: int = 90) -> str:
    """``rows`` as an aligned text table (errors cut to ``max_error`` characters)."""
    cells = [list(COLUMNS)]
    for row in rows:
        line = [_cell(c, row.get(c)) for c in COLUMNS]
        if len(line[-1]) > max_error:
            line[-1] = line[-1][:max_error - 3] + "..."
        cells.append(line)
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells)


__all__ = ["COLUMNS", "write_summary", "read_summary", "format_table"]
