"""Exports of ``points3d`` data; every writer takes ``(path, data)`` with ``data`` as
:func:`capture3d.io.load_points3d` returns it."""
from .bvh import Bvh, read_bvh, write_bvh
from .csv import write_csv
from .mocap import write_c3d, write_trc

EXPORTERS = {"bvh": write_bvh, "csv": write_csv, "trc": write_trc, "c3d": write_c3d}

__all__ = ["EXPORTERS", "Bvh", "read_bvh", "write_bvh", "write_csv", "write_trc", "write_c3d"]
