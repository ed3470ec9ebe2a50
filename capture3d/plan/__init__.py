"""Rig planning: the 3D accuracy a camera layout will give, before a camera is mounted.

Read a layout (a planning TOML or a calibration file: :func:`load_layout`), predict over a grid
of the capture volume how many cameras see each point and the triangulation error that a given
2D keypoint noise gives there (:func:`predict`), place more cameras greedily (:func:`add_cameras`),
and write the picture and ``plan.json`` (:func:`plan`, :func:`write_plan`).

>>> import capture3d
>>> from capture3d.plan import Box, predict, grid_points
>>> rig = capture3d.synthetic.make_rig(4)
>>> pts, shape = grid_points(Box((-1, -1, 0.5), (1, 1, 1.5)), 0.5)
>>> pred = predict(rig, pts)
>>> shape, int(pred.views.min()), bool(pred.error_mm.max() < 100)
((3, 5, 5), 4, True)
"""
from .layout import Box, Layout, load_layout, parse_box, read_planning_toml
from .predict import (BLAZEPOSE_PIXEL_NOISE_PX, PlanOptions, Prediction, default_volume, grid_points,
                      predict, summarize)
from .run import PlanResult, format_summary, plan, write_plan
from .search import add_cameras

__all__ = ["Box", "Layout", "load_layout", "parse_box", "read_planning_toml", "PlanOptions",
           "Prediction", "predict", "grid_points", "summarize", "default_volume",
           "BLAZEPOSE_PIXEL_NOISE_PX", "plan", "write_plan", "format_summary", "PlanResult",
           "add_cameras"]
