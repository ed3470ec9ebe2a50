"""Where more cameras would help most: a greedy search over places on the room's walls and ceiling.

Candidates stand 0.1 m inside the room's walls every ``spacing_m`` at two heights (0.3 m under the
ceiling and 1.5 m) and on the ceiling every 1 m, each aimed at the volume's centre or at one of
four points half-way from it to the volume's side centres (the search picks the aim too). Every
round adds the candidate that raises the score most; the score is the mean over the grid of
``min(1, 10 mm / error)`` (0 where fewer than 2 cameras see), so a camera earns credit for
pulling points towards 10 mm as well as for taking them below it.
"""
from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from ..rig import Rig
from ..synthetic.rig import look_at
from .layout import Layout
from .predict import PlanOptions, body_visible, camera_jacobians, facings_of, grid_points

log = logging.getLogger("capture3d.plan")

TARGET_MM = 10.0


def candidate_poses(layout: Layout, *, spacing_m: float = 0.5) -> list[tuple[np.ndarray, np.ndarray]]:
    """(position (3,), aim point (3,)) pairs, meters, on the walls and ceiling of ``layout.room``."""
    lo, hi = np.asarray(layout.room.lo) + 0.1, np.asarray(layout.room.hi) - 0.1
    top = hi[2] - 0.2
    heights = sorted({round(float(top), 3), round(float(min(1.5, top)), 3)})
    positions = []
    for z in heights:
        for x in np.linspace(lo[0], hi[0], max(2, int(round((hi[0] - lo[0]) / spacing_m)) + 1)):
            positions += [(x, lo[1], z), (x, hi[1], z)]
        for y in np.linspace(lo[1], hi[1], max(2, int(round((hi[1] - lo[1]) / spacing_m)) + 1))[1:-1]:
            positions += [(lo[0], y, z), (hi[0], y, z)]
    for x in np.linspace(lo[0], hi[0], max(2, int(round((hi[0] - lo[0]) / 1.0)) + 1)):
        for y in np.linspace(lo[1], hi[1], max(2, int(round((hi[1] - lo[1]) / 1.0)) + 1)):
            positions.append((x, y, hi[2]))
    centre, half = layout.volume.center, layout.volume.size / 4
    aims = [centre] + [centre + s * half * e for e in (np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
                       for s in (-1, 1)]
    existing = layout.rig.centers
    out = []
    for p in map(np.asarray, positions):
        if len(existing) and np.min(np.linalg.norm(existing - p, axis=1)) < 0.3:
            continue    # a camera is already mounted there
        out += [(p, a) for a in aims]
    return out


def _score(error_mm: np.ndarray) -> float:
    with np.errstate(divide="ignore"):
        return float(np.mean(np.minimum(1.0, TARGET_MM / error_mm)))


class _Terms:
    """Per facing: the information matrices ``(N, 3, 3)`` and view counts ``(N,)`` of a camera set."""

    def __init__(self, n, n_facings):
        self.info = np.zeros((n_facings, n, 3, 3))
        self.views = np.zeros((n_facings, n), np.int64)

    def error_mm(self, sigma_px, info_add=None, views_add=None):
        info = self.info if info_add is None else self.info + info_add
        views = self.views if views_add is None else self.views + views_add
        err = sigma_px * np.sqrt(_trace_of_inverse(info)) * 1000
        return np.where(views >= 2, err, np.inf).max(axis=0)  # worst facing


def _trace_of_inverse(a):
    """``trace(inv(a))`` of symmetric ``(..., 3, 3)`` matrices in closed form (cofactors over the
    determinant; 10x faster than eigvalsh here), inf where singular."""
    c0 = a[..., 1, 1] * a[..., 2, 2] - a[..., 1, 2] ** 2
    c1 = a[..., 0, 0] * a[..., 2, 2] - a[..., 0, 2] ** 2
    c2 = a[..., 0, 0] * a[..., 1, 1] - a[..., 0, 1] ** 2
    det = (a[..., 0, 0] * c0 - a[..., 0, 1] * (a[..., 0, 1] * a[..., 2, 2] - a[..., 1, 2] * a[..., 0, 2])
           + a[..., 0, 2] * (a[..., 0, 1] * a[..., 1, 2] - a[..., 1, 1] * a[..., 0, 2]))
    scale = np.trace(a, axis1=-2, axis2=-1) ** 3
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(det > 1e-12 * scale, (c0 + c1 + c2) / det, np.inf)


def _camera_terms(cam, points, facings):
    vis, jac = camera_jacobians(cam, points)
    jtj = np.einsum("nki,nkj->nij", jac, jac)
    per_facing = [vis if f is None else vis & body_visible(points, cam.center[None], f)[0] for f in facings]
    return jtj, np.array(per_facing)


def _add(jtj, vis):
    """Per-facing information ``(F, N, 3, 3)`` and views ``(F, N)`` of one camera."""
    return vis[..., None, None] * jtj[None], vis.astype(np.int64)


def add_cameras(layout: Layout, k: int, *, options: PlanOptions | None = None,
                grid_step_m: float = 0.25, spacing_m: float = 0.5, progress=None) -> Rig:
    """The ``k`` cameras (lens ``layout.lens``) that most improve the plan of ``layout``, greedily.

    Parameters
    ----------
    layout : Layout
    k : int
        Cameras to add, >= 1.
    options : PlanOptions, optional
        Pixel noise and body model; the search uses its own coarser grid ``grid_step_m`` (m).
    spacing_m : float
        Spacing of the candidate places along the walls, meters.
    progress : callable(done, total), optional

    Returns
    -------
    Rig
        The added cameras only, named ``add01``..., in the order they were chosen.
    """
    if k < 1:
        raise ValueError(f"--add: the number of cameras to add must be >= 1, got {k}")
    opts = options or PlanOptions()
    points, _ = grid_points(layout.volume, max(grid_step_m, opts.grid_step_m))
    facings = facings_of(opts)
    base = _Terms(len(points), len(facings))
    for cam in layout.rig:
        info, views = _add(*_camera_terms(cam, points, facings))
        base.info += info
        base.views += views
    candidates = []
    for pos, aim in candidate_poses(layout, spacing_m=spacing_m):
        rvec, tvec = look_at(pos, aim)
        cam = layout.lens.with_pose(rvec, tvec)
        jtj, vis = _camera_terms(cam, points, facings)
        if vis.any():
            candidates.append((cam, jtj, vis))
    if not candidates:
        raise ValueError(f"--add: no place on the walls or ceiling of the room {layout.room.as_list()} "
                         "sees the capture volume")
    chosen = []
    score = _score(base.error_mm(opts.pixel_noise_px))
    for i in range(k):
        scores = [_score(base.error_mm(opts.pixel_noise_px, *_add(jtj, vis))) for _, jtj, vis in candidates]
        best = int(np.argmax(scores))
        cam, jtj, vis = candidates.pop(best)
        info, views = _add(jtj, vis)
        log.info("add %d: camera at %s, score %.4f -> %.4f", i + 1, np.round(cam.center, 2), score, scores[best])
        score = scores[best]
        base.info += info
        base.views += views
        chosen.append(replace(cam, name=f"add{i + 1:02d}"))
        candidates = [c for c in candidates if np.linalg.norm(c[0].center - cam.center) > 0.3]
        if progress is not None:
            progress(i + 1, k)
        if not candidates:
            break
    return Rig(chosen, {"source": "capture3d plan --add"})
