"""CSV export, anipose-compatible columns: ``fnum, time_s``, then per joint ``<j>_x, <j>_y, <j>_z``
(meters), ``<j>_error`` (px), ``<j>_ncams``, ``<j>_score``. Missing values are empty cells."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def write_csv(path, data: dict) -> Path:
    """Write a points3d dict (as :func:`capture3d.io.load_points3d` returns) to ``path``."""
    pts, names = data["points"], data["joint_names"]
    F = len(pts)
    header = ["fnum", "time_s"]
    for j in names:
        header += [f"{j}_x", f"{j}_y", f"{j}_z", f"{j}_error", f"{j}_ncams", f"{j}_score"]
    fmt = lambda v: "" if not np.isfinite(v) else f"{v:.6f}"  # noqa: E731
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for f in range(F):
            row = [int(data["frame_index"][f]), f"{float(data['time_s'][f]):.6f}"]
            for j in range(len(names)):
                ok = np.isfinite(pts[f, j]).all()
                row += [fmt(v) for v in pts[f, j]]
                row += [fmt(data["reprojection_error_px"][f, j]),
                        int(data["n_views"][f, j]) if ok else "", fmt(data["score"][f, j])]
            w.writerow(row)
    return path
