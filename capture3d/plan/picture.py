"""``plan.png``: predicted error and camera count maps at a few heights, and the layout in 3D."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..rig import Rig
from .layout import Box

MAX_LEVELS = 4          # heights drawn; the grid holds more
CONTOURS_MM = (5, 10, 20)  # the summary's thresholds, drawn on the error maps


def _box_edges(box: Box):
    lo, hi = np.asarray(box.lo), np.asarray(box.hi)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    for i in range(8):
        for j in range(i + 1, 8):
            if np.sum(corners[i] != corners[j]) == 1:
                yield corners[[i, j]]


def draw_plan(path, points, grid_shape, views, error_mm, rig: Rig, volume: Box, room: Box, *,
              title: str = "", added: Rig | None = None) -> Path:
    """Write the plan picture.

    Parameters
    ----------
    path : path of the PNG
    points : (N, 3) float, meters, from :func:`capture3d.plan.predict.grid_points` (x fastest)
    grid_shape : (nz, ny, nx) int
    views : (N,) int
    error_mm : (N,) float, inf below 2 views
    rig : Rig
        Cameras of the layout; ``added`` ones (``--add``) are drawn in red.
    volume, room : Box
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nz, ny, nx = grid_shape
    levels = np.unique(np.linspace(0, nz - 1, min(MAX_LEVELS, nz)).round().astype(int))
    z_axis = points[:: nx * ny, 2]
    extent = (volume.lo[0], volume.hi[0], volume.lo[1], volume.hi[1])
    n_cams = len(rig) + (len(added) if added is not None else 0)
    # fixed margins: constrained layout took half the drawing time
    fig = plt.figure(figsize=(3.3 * len(levels) + 5.0, 6.4))
    grid = fig.add_gridspec(2, len(levels) + 2, width_ratios=[1] * len(levels) + [0.08, 1.6],
                            left=0.04, right=0.99, bottom=0.08, top=0.9, wspace=0.3, hspace=0.35)
    err = np.where(np.isfinite(error_mm), error_mm, np.nan).reshape(nz, ny, nx)
    finite = err[np.isfinite(err)]
    vmax = 5.0 * np.ceil(np.percentile(finite, 98) / 5.0) if finite.size else 20.0
    cnt = views.reshape(nz, ny, nx)
    cmap_err = plt.get_cmap("viridis").with_extremes(bad="lightgray")
    for col, k in enumerate(levels):
        ax = fig.add_subplot(grid[0, col])
        im_e = ax.imshow(err[k], origin="lower", extent=extent, cmap=cmap_err, vmin=0, vmax=vmax)
        x, y = points[: nx * ny, 0].reshape(ny, nx), points[: nx * ny, 1].reshape(ny, nx)
        if np.isfinite(err[k]).sum() > 3:
            lines = ax.contour(x, y, np.nan_to_num(err[k], nan=1e9), levels=CONTOURS_MM, colors="white",
                               linewidths=0.7)
            ax.clabel(lines, fmt="%g mm", fontsize=6)
        ax.set_title(f"error at z = {z_axis[k]:.2f} m", fontsize=9)
        ax.set_xlabel("x (m)", fontsize=8)
        if col == 0:
            ax.set_ylabel("y (m)", fontsize=8)
        ax2 = fig.add_subplot(grid[1, col])
        im_c = ax2.imshow(cnt[k], origin="lower", extent=extent, cmap="magma", vmin=0, vmax=max(n_cams, 2))
        ax2.set_title(f"cameras seeing, z = {z_axis[k]:.2f} m", fontsize=9)
        ax2.set_xlabel("x (m)", fontsize=8)
        if col == 0:
            ax2.set_ylabel("y (m)", fontsize=8)
        for a in (ax, ax2):
            a.tick_params(labelsize=7)
    fig.colorbar(im_e, cax=fig.add_subplot(grid[0, len(levels)])).set_label(
        "RMS 3D error, mm (1 sigma; gray: < 2 cameras)", fontsize=8)
    fig.colorbar(im_c, cax=fig.add_subplot(grid[1, len(levels)])).set_label("cameras", fontsize=8)
    ax3 = fig.add_subplot(grid[:, len(levels) + 1], projection="3d")
    for edge in _box_edges(volume):
        ax3.plot(*edge.T, color="tab:blue", lw=1.2)
    for edge in _box_edges(room):
        ax3.plot(*edge.T, color="gray", lw=0.6, ls=":")
    scale = 0.12 * float(np.max(room.size))
    for group, colour in ((rig, "black"), (added, "tab:red")):
        if group is None:
            continue
        for cam in group:
            c, axis = cam.center, cam.rotation[2]
            ax3.scatter(*c, color=colour, s=14)
            ax3.plot(*np.stack([c, c + scale * axis]).T, color=colour, lw=1.0)
            ax3.text(*c, cam.name, fontsize=6, color=colour)
    lo, hi = np.asarray(room.lo), np.asarray(room.hi)
    mid, half = (lo + hi) / 2, float(np.max(hi - lo)) / 2
    ax3.set_xlim(mid[0] - half, mid[0] + half)
    ax3.set_ylim(mid[1] - half, mid[1] + half)
    ax3.set_zlim(max(0.0, mid[2] - half), mid[2] + half)
    ax3.set_xlabel("x (m)", fontsize=8)
    ax3.set_ylabel("y (m)", fontsize=8)
    ax3.set_zlabel("z (m)", fontsize=8)
    ax3.tick_params(labelsize=7)
    ax3.set_title("cameras (black; red: --add), volume (blue), room (dotted)", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
