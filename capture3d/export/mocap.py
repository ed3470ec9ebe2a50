"""TRC (OpenSim: Y up, meters, units in the header) and C3D (Z up, millimeters, through ezc3d)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import frame_rate

# World (Z up) -> Y up: a -90 degree turn about X, (x, y, z) -> (x, z, -y); right-handed.
Y_UP_FROM_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def write_trc(path, data: dict) -> Path:
    """OpenSim TRC: tab-separated, ``PathFileType 4``, Y up, meters; missing markers empty."""
    path = Path(path)
    pts = np.asarray(data["points"], float) @ Y_UP_FROM_Z_UP.T
    names = data["joint_names"]
    F, J, _ = pts.shape
    rate = frame_rate(data["time_s"])
    lines = [f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
             "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
             f"{rate:.6g}\t{rate:.6g}\t{F}\t{J}\tm\t{rate:.6g}\t1\t{F}",
             "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t",
             "\t\t" + "\t".join(f"X{k}\tY{k}\tZ{k}" for k in range(1, J + 1)),
             ""]
    for f in range(F):
        vals = ["" if not np.isfinite(v) else f"{v:.6f}" for v in pts[f].ravel()]
        lines.append(f"{f + 1}\t{float(data['time_s'][f]):.6f}\t" + "\t".join(vals))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_c3d(path, data: dict) -> Path:
    """C3D with ezc3d: Z up, millimeters, one point per joint; missing points are NaN (invalid)."""
    import ezc3d

    path = Path(path)
    pts = np.asarray(data["points"], float) * 1000.0
    F, J, _ = pts.shape
    c = ezc3d.c3d()
    c["parameters"]["POINT"]["RATE"]["value"] = [frame_rate(data["time_s"])]
    c["parameters"]["POINT"]["LABELS"]["value"] = tuple(data["joint_names"])
    c["parameters"]["POINT"]["UNITS"]["value"] = ["mm"]
    block = np.ones((4, J, F))
    block[:3] = pts.transpose(2, 1, 0)
    c["data"]["points"] = block
    path.parent.mkdir(parents=True, exist_ok=True)
    c.write(str(path))
    return path
