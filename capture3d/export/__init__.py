"""Exports of ``points3d`` data; every writer takes ``(path, data)`` with ``data`` as
:func:`capture3d.io.load_points3d` returns it."""
from .csv import write_csv

EXPORTERS = {"csv": write_csv}

__all__ = ["EXPORTERS", "write_csv"]
