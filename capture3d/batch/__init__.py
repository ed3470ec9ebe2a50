"""Many sessions at once: ``capture3d batch`` on Dask distributed (:mod:`capture3d.batch.run`).

>>> from capture3d.batch import run_batch, BatchOptions              # doctest: +SKIP
>>> result = run_batch("trials/", "out/", BatchOptions(workers=2))   # doctest: +SKIP
>>> [row["status"] for row in result.rows]                           # doctest: +SKIP
['ok', 'ok', 'failed']
"""
from .run import BatchOptions, BatchResult, run_batch
from .sessions import BatchSession, discover_sessions, find_calibration
from .summary import COLUMNS, format_table, read_summary, write_summary

__all__ = ["BatchOptions", "BatchResult", "run_batch", "BatchSession", "discover_sessions", "find_calibration",
           "COLUMNS", "format_table", "read_summary", "write_summary"]
