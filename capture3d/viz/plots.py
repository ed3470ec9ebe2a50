"""Plots (PNG, matplotlib with the Agg backend): joint trajectories and reprojection error over time.

matplotlib is imported inside the functions, so that the rest of the package loads without it.
With several people (``(P, F, ...)`` arrays and ``person_ids``) every person is one colour
(:func:`~capture3d.viz.colors.person_color`) and one legend entry ``p<id>``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..skeleton import derived_joints
from .colors import person_color, person_label

DEFAULT_JOINTS = ("left_wrist", "right_wrist", "left_ankle", "right_ankle", "nose")


def _figure(rows, height=2.4):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, 1, figsize=(11, height * rows), sharex=True, squeeze=False)
    return plt, fig, axes[:, 0]


def _save(plt, fig, out) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_trajectories(points, joint_names, time_s, out, *, person_ids=None, joints=DEFAULT_JOINTS) -> Path:
    """x, y and z (meters, world frame) over time (seconds) of some joints; gaps show as breaks.

    Parameters
    ----------
    points : (F, J, 3) or (P, F, J, 3) float
        Meters, NaN where missing. With several people, each person's pelvis (mid-hip; its first
        joint without hips) is drawn in its colour instead of ``joints``.
    person_ids : (P,) int, optional
        The people's ids, default 0..P-1.
    """
    pts = np.asarray(points, float)
    if pts.ndim == 4:
        return _plot_people_paths(pts, list(joint_names), time_s, out,
                                  list(range(len(pts))) if person_ids is None else list(person_ids))
    chosen = [j for j in joints if j in joint_names] or list(joint_names[:5])
    plt, fig, axes = _figure(3)
    for axis, ax in zip("xyz", axes):
        for name in chosen:
            ax.plot(time_s, pts[:, list(joint_names).index(name), "xyz".index(axis)], lw=1.2, label=name)
        ax.set_ylabel(f"{axis} (m)")
        ax.grid(alpha=0.3)
    axes[0].legend(ncol=len(chosen), fontsize=8, loc="upper right")
    axes[0].set_title("joint trajectories")
    axes[-1].set_xlabel("time (s)")
    return _save(plt, fig, out)


def _plot_people_paths(pts, joint_names, time_s, out, ids) -> Path:
    plt, fig, axes = _figure(3)
    for p, pid in enumerate(ids):
        root = derived_joints(pts[p], joint_names).get("pelvis", pts[p][:, 0])
        for k, ax in enumerate(axes):
            ax.plot(time_s, root[:, k], lw=1.4, color=person_color(pid).rgb, label=person_label(pid))
    for axis, ax in zip("xyz", axes):
        ax.set_ylabel(f"{axis} (m)")
        ax.grid(alpha=0.3)
    axes[0].legend(ncol=min(len(ids), 10), fontsize=8, loc="upper right")
    axes[0].set_title("pelvis trajectory per person")
    axes[-1].set_xlabel("time (s)")
    return _save(plt, fig, out)


def plot_reprojection_error(error_px, joint_names, time_s, out, *, person_ids=None, n_views=None) -> Path:
    """Reprojection error over time: median and worst joint per frame, and every joint as a
    heat map (pixels); with ``n_views (F, J)`` the number of views used per frame below.

    With several people, ``error_px (P, F, J)`` (and ``n_views (P, F, J)``): per person in its
    colour, the median joint error per frame, the worst joint per frame, the views per joint.
    """
    err = np.asarray(error_px, float)
    if err.ndim == 3:
        return _plot_people_errors(err, time_s, out, list(range(len(err))) if person_ids is None else list(person_ids),
                                   n_views)
    plt, fig, axes = _figure(3 if n_views is not None else 2, height=3.0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames with no joint at all
        axes[0].plot(time_s, np.nanmedian(err, 1), lw=1.2, label="median joint")
        axes[0].plot(time_s, np.nanmax(err, 1), lw=0.8, alpha=0.7, label="worst joint")
    axes[0].set_ylabel("error (px)")
    axes[0].legend(fontsize=8, loc="upper right")
    axes[0].grid(alpha=0.3)
    axes[0].set_title("reprojection error")
    dt = float(np.median(np.diff(time_s))) if len(time_s) > 1 else 1.0
    extent = (time_s[0], time_s[-1] + dt, len(joint_names) - 0.5, -0.5)
    im = axes[1].imshow(err.T, aspect="auto", extent=extent, cmap="magma", interpolation="nearest",
                        vmin=0, vmax=max(1.0, float(np.nanpercentile(err, 99)) if np.isfinite(err).any() else 1.0))
    axes[1].set_yticks(range(len(joint_names)), joint_names, fontsize=6)
    fig.colorbar(im, ax=axes[1], label="px", pad=0.01)
    if n_views is not None:
        axes[2].plot(time_s, np.mean(np.asarray(n_views, float), 1), lw=1.2)
        axes[2].set_ylabel("views per joint")
        axes[2].grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    return _save(plt, fig, out)


def _plot_people_errors(err, time_s, out, ids, n_views) -> Path:
    import warnings

    plt, fig, axes = _figure(3 if n_views is not None else 2, height=3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames where a person is absent
        for p, pid in enumerate(ids):
            rgb, name = person_color(pid).rgb, person_label(pid)
            axes[0].plot(time_s, np.nanmedian(err[p], 1), lw=1.2, color=rgb, label=f"{name} (median "
                         f"{np.nanmedian(err[p]):.2f} px)" if np.isfinite(err[p]).any() else name)
            axes[1].plot(time_s, np.nanmax(err[p], 1), lw=0.9, color=rgb, label=name)
            if n_views is not None:
                views = np.where(np.isfinite(err[p]), np.asarray(n_views[p], float), np.nan)
                axes[2].plot(time_s, np.nanmean(views, 1), lw=1.2, color=rgb, label=name)
    for ax, what in zip(axes, ("median joint (px)", "worst joint (px)", "views per joint")):
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
    axes[0].legend(ncol=min(len(ids), 5), fontsize=8, loc="upper right")
    axes[0].set_title("reprojection error per person")
    axes[-1].set_xlabel("time (s)")
    return _save(plt, fig, out)
