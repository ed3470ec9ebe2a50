"""``capture3d plan``: predict a layout's accuracy, optionally add cameras, write the picture and
``plan.json`` (CONVENTIONS.md, "Batch and planning outputs")."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..rig import Rig
from .layout import Layout
from .picture import draw_plan
from .predict import PlanOptions, Prediction, grid_points, predict, summarize
from .search import add_cameras

log = logging.getLogger("capture3d.plan")

MAX_GRID_POINTS = 2_000_000     # beyond this plan.json alone runs to hundreds of MB


@dataclass
class PlanResult:
    """A plan of ``layout``.

    Attributes
    ----------
    layout : Layout
    prediction : Prediction
        Over the grid of ``grid_shape`` ``(nz, ny, nx)`` (x fastest).
    summary : dict
        :func:`capture3d.plan.predict.summarize` of ``prediction``.
    added : Rig or None
        Cameras ``--add`` placed, with ``prediction_added`` / ``summary_added`` of the whole.
    """

    layout: Layout
    options: PlanOptions
    prediction: Prediction
    grid_shape: tuple
    summary: dict
    added: Rig | None = None
    prediction_added: Prediction | None = None
    summary_added: dict = field(default_factory=dict)


def check_layout(layout: Layout, prediction: Prediction) -> None:
    """Refuse a camera that sees no point of the volume (it looks away, or the volume is outside
    its field of view): FileFormatError naming it."""
    seen = prediction.visible.any(axis=1)
    for cam, ok in zip(layout.rig, seen):
        if not ok:
            d = layout.volume.center - cam.center
            angle = np.degrees(np.arccos(np.clip(cam.rotation[2] @ d / np.linalg.norm(d), -1, 1)))
            raise FileFormatError(layout.source, "sees no point of the capture volume "
                                  f"{layout.volume.as_list()} (its optical axis is {angle:.0f} degrees "
                                  "away from the volume's centre)", camera=cam.name)


def plan(layout: Layout, *, options: PlanOptions | None = None, add: int = 0, progress=None) -> PlanResult:
    """Predict the accuracy of ``layout`` over a grid of its volume; with ``add``, place that
    many more cameras greedily (:func:`capture3d.plan.search.add_cameras`) and predict again.

    Parameters
    ----------
    layout : Layout
        From :func:`capture3d.plan.load_layout`.
    options : PlanOptions, optional
    add : int
        Cameras to add, >= 0.
    progress : callable(done, total), optional
        Called as the added cameras are chosen.
    """
    opts = options or PlanOptions()
    n = int(np.prod([round((hi - lo) / opts.grid_step_m) + 1 for lo, hi in zip(layout.volume.lo, layout.volume.hi)]))
    if n > MAX_GRID_POINTS:
        raise ValueError(f"grid_step_m (--grid) {opts.grid_step_m} m gives {n:,} points over the volume "
                         f"{layout.volume.as_list()}; at most {MAX_GRID_POINTS:,}: take a coarser grid")
    points, shape = grid_points(layout.volume, opts.grid_step_m)
    log.info("plan: %d cameras, %d grid points %s", len(layout.rig), len(points), shape)
    pred = predict(layout.rig, points, options=opts)
    check_layout(layout, pred)
    result = PlanResult(layout, opts, pred, shape, summarize(pred, opts.pixel_noise_px))
    if add:
        result.added = add_cameras(layout, add, options=opts, progress=progress)
        whole = Rig(layout.rig.cameras + result.added.cameras, dict(layout.rig.metadata))
        result.prediction_added = predict(whole, points, options=opts)
        result.summary_added = summarize(result.prediction_added, opts.pixel_noise_px)
    return result


def _nullable(a):
    """Array -> nested lists with None where not finite (JSON has no inf or NaN)."""
    a = np.asarray(a, float)
    out = np.round(a, 6).astype(object)
    out[~np.isfinite(a)] = None
    return out.tolist()


def _cameras_json(rig: Rig) -> list:
    return [{"name": c.name, "position": np.round(c.center, 4).tolist(),
             "optical_axis": np.round(c.rotation[2], 5).tolist(), "size": list(c.size),
             "focal_px": float(c.matrix[0, 0]), "rvec": c.rvec.tolist(), "tvec": c.tvec.tolist()}
            for c in rig]


def write_plan(result: PlanResult, out) -> dict:
    """Write ``OUT/plan.png`` (``plan_added.png`` too with ``--add``) and ``OUT/plan.json``.

    ``plan.json``: ``pixel_noise_px``; ``points`` (N, 3) m; ``views`` (N,); ``error_mm`` (N,)
    (null below 2 views); ``worst_axis`` (N, 3) (null rows below 2 views); ``ray_angle_deg``
    (N,); ``grid_shape`` ``[nz, ny, nx]`` (x fastest); ``volume`` / ``room``
    ``[x0, y0, z0, x1, y1, z1]`` m; ``cameras``; ``options``; ``summary``; with ``--add`` also
    ``added`` (the cameras), ``views_added``, ``error_mm_added`` and ``summary_added``.
    Returns the paths written by name.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lay, pred = result.layout, result.prediction
    paths = {"plan.png": draw_plan(out / "plan.png", pred.points, result.grid_shape, pred.views,
                                   pred.error_mm, lay.rig, lay.volume, lay.room,
                                   title=f"{Path(lay.source).name}: {_summary_line(result.summary)}")}
    doc = {"pixel_noise_px": result.options.pixel_noise_px, "points": _nullable(pred.points),
           "views": pred.views.tolist(), "error_mm": _nullable(pred.error_mm),
           "worst_axis": _nullable(pred.worst_axis), "ray_angle_deg": _nullable(pred.ray_angle_deg),
           "grid_shape": list(result.grid_shape), "volume": lay.volume.as_list(), "room": lay.room.as_list(),
           "source": lay.source, "cameras": _cameras_json(lay.rig),
           "options": {k: getattr(result.options, k) for k in result.options.__dataclass_fields__},
           "summary": result.summary}
    if result.added is not None:
        pa = result.prediction_added
        paths["plan_added.png"] = draw_plan(out / "plan_added.png", pa.points, result.grid_shape, pa.views,
                                            pa.error_mm, lay.rig, lay.volume, lay.room, added=result.added,
                                            title=f"with {len(result.added)} added: "
                                                  f"{_summary_line(result.summary_added)}")
        doc.update(added=_cameras_json(result.added), views_added=pa.views.tolist(),
                   error_mm_added=_nullable(pa.error_mm), summary_added=result.summary_added)
    (out / "plan.json").write_text(json.dumps(doc))
    paths["plan.json"] = out / "plan.json"
    return paths


def _summary_line(s: dict) -> str:
    return (f">= 2 cameras {s['share_2_views']:.0%}, >= 3 {s['share_3_views']:.0%}; under 5 / 10 / 20 mm "
            f"{s['share_under_5_mm']:.0%} / {s['share_under_10_mm']:.0%} / {s['share_under_20_mm']:.0%}")


def format_summary(result: PlanResult) -> str:
    """The lines ``capture3d plan`` prints."""
    s, lay = result.summary, result.layout
    lines = [f"{len(lay.rig)} cameras, volume {lay.volume.as_list()} m, {s['points']} grid points "
             f"every {result.options.grid_step_m} m, pixel noise {s['pixel_noise_px']} px (1 sigma)",
             f"share of the volume seen by >= 2 cameras {s['share_2_views']:.1%}, >= 3 {s['share_3_views']:.1%}; "
             f"with every ray pair within 5 degrees {s['share_ray_angle_under_5_deg']:.1%}",
             f"share under 5 / 10 / 20 mm: {s['share_under_5_mm']:.1%} / {s['share_under_10_mm']:.1%} / "
             f"{s['share_under_20_mm']:.1%}; median {s['median_error_mm']:.1f} mm, 95th percentile "
             f"{s['p95_error_mm']:.1f} mm"]
    if result.added is not None:
        a = result.summary_added
        for cam in result.added:
            lines.append(f"add {cam.name}: at {np.round(cam.center, 2).tolist()} m, looking along "
                         f"{np.round(cam.rotation[2], 2).tolist()}")
        lines.append(f"with {len(result.added)} added: >= 2 cameras {a['share_2_views']:.1%}, >= 3 "
                     f"{a['share_3_views']:.1%}; under 5 / 10 / 20 mm {a['share_under_5_mm']:.1%} / "
                     f"{a['share_under_10_mm']:.1%} / {a['share_under_20_mm']:.1%}; median "
                     f"{a['median_error_mm']:.1f} mm")
        lines.append(f"share under 10 mm: {s['share_under_10_mm']:.1%} -> {a['share_under_10_mm']:.1%} "
                     f"({(a['share_under_10_mm'] - s['share_under_10_mm']) * 100:+.1f} points)")
    return "\n".join(lines)
