"""What ``capture3d demo`` measures against its ground truth, stage by stage: the calibration
against the true rig, the 2D detections against the true projections, the people found against
the true people, and the 3D joints against the true joints.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from . import io
from .calibrate.geometry import rotation_angle_deg
from .rig import Rig
from .skeleton import COCO17, FEET

#: Joint groups of the 2D and 3D errors (COCO-17 + feet names).
JOINT_GROUPS = {"head": COCO17[:5], "arms": COCO17[5:11], "legs": COCO17[11:17], "feet": FEET}
#: A detection slot is a true person's when its median joint is this close (share of the image
#: diagonal); farther, it is a miss of that person (or a ghost).
MATCH_SHARE = 0.05


def calibration_errors(calibrated: Rig, truth: Rig) -> dict:
    """Worst camera's focal length error (%), centre error (mm) and rotation error (degrees) of
    ``calibrated`` against ``truth`` (cameras by name)."""
    pairs = [(calibrated[n], truth[n]) for n in calibrated.names]
    return {"focal_error_pct_max": max(abs(c.matrix[0, 0] / t.matrix[0, 0] - 1) * 100 for c, t in pairs),
            "center_error_mm_max": max(np.linalg.norm(c.center - t.center) * 1000 for c, t in pairs),
            "rotation_error_deg_max": max(rotation_angle_deg(c.rotation, t.rotation) for c, t in pairs)}


def detection_errors(pose2d: dict, truth_rig: Rig, truth_points, truth_frames: dict) -> dict:
    """BlazePose's 2D keypoints against the true projections of every person.

    Parameters
    ----------
    pose2d : {camera: path}
        pose2d npz files (COCO-17 then feet joints, ``(F, S, 3)`` slots per frame).
    truth_rig : Rig
        The true cameras.
    truth_points : (P, T, J, 3) float
        True joints, world meters (COCO-17 + FEET), NaN while a person is away.
    truth_frames : {camera: (F,) int}
        Frame of ``truth_points`` shown by each video frame of the camera.

    Returns
    -------
    dict
        ``median_px`` (all joints), ``groups {group: median px}``, ``views_found`` (share of the
        person-views whose true joints all lie in the image that a slot matched) and
        ``errors_px`` (every matched joint's error, for the test's percentiles).
    """
    names = COCO17 + FEET
    per_group = {g: [] for g in JOINT_GROUPS}
    seen = found = 0
    for cam_name, path in pose2d.items():
        d = io.load_pose2d(path)
        cam = truth_rig[cam_name]
        index = [d["joint_names"].index(n) for n in names]
        kp = d["keypoints"][:, :, index]                                 # (F, S, J, 3)
        frames = truth_frames[cam_name][d["frame_index"]]
        uv = cam.project(truth_points[:, frames])                       # (P, F, J, 2)
        w, h = cam.size
        inside = np.isfinite(uv).all(-1) & (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
        gate = MATCH_SHARE * np.hypot(w, h)
        for f in range(len(frames)):
            with np.errstate(invalid="ignore"):
                dist = np.linalg.norm(kp[f, :, None, :, :2] - uv[None, :, f], axis=-1)   # (S, P, J)
            cost = np.full(dist.shape[:2], 1e6)
            some = np.isfinite(dist).any(-1)
            cost[some] = np.nanmedian(dist[some], axis=-1)
            slots, people = linear_sum_assignment(cost)
            whole = inside[:, f].all(-1)
            seen += int(whole.sum())
            for s, p in zip(slots, people):
                if cost[s, p] > gate:
                    continue
                found += int(whole[p])
                for g, joints in JOINT_GROUPS.items():
                    e = dist[s, p, [names.index(j) for j in joints]]
                    per_group[g].append(e[np.isfinite(e) & inside[p, f, [names.index(j) for j in joints]]])
    groups = {g: np.concatenate(v) if v else np.empty(0) for g, v in per_group.items()}
    every = np.concatenate(list(groups.values()))
    return {"median_px": float(np.median(every)) if every.size else float("nan"),
            "groups": {g: float(np.median(v)) if v.size else float("nan") for g, v in groups.items()},
            "views_found": found / max(seen, 1), "errors_px": every}


def matched_joint_errors(estimated, truth, joint_names, match_m: float = 0.3) -> dict:
    """Joint errors of the estimated people ``(E, F, J, 3)`` (``joint_names``) against the true
    ones ``(P, F, J', 3)`` (COCO-17 + FEET), matched frame by frame as
    :func:`capture3d.reconstruct.evaluation.score_people` matches them (median joint within
    ``match_m`` meters); millimetres out: ``median_mm``, ``groups {group: median mm}``,
    ``reconstructed`` (share of the true joints of present people that have an estimate)."""
    names = COCO17 + FEET
    est = np.asarray(estimated, float)
    cols = [list(joint_names).index(n) if n in joint_names else None for n in names]
    est = np.stack([est[..., c, :] if c is not None else np.full(est.shape[:-2] + (3,), np.nan) for c in cols], -2)
    tru = np.asarray(truth, float)
    errs = np.full(tru.shape[:-1], np.nan)                                  # (P, F, J) mm
    for f in range(tru.shape[1]):
        with np.errstate(invalid="ignore"):
            d = np.linalg.norm(est[:, None, f] - tru[None, :, f], axis=-1) * 1000   # (E, P, J)
        cost = np.full(d.shape[:2], 1e9)
        some = np.isfinite(d).any(-1)
        cost[some] = np.nanmedian(d[some], axis=-1)
        for e, p in zip(*linear_sum_assignment(cost)):
            if cost[e, p] <= match_m * 1000:
                errs[p, f] = d[e, p]
    present = np.isfinite(tru).all(-1)
    groups = {g: errs[..., [names.index(j) for j in js]] for g, js in JOINT_GROUPS.items()}
    return {"median_mm": float(np.nanmedian(errs)),
            "groups": {g: float(np.nanmedian(v)) for g, v in groups.items()},
            "reconstructed": float(np.isfinite(errs)[present].mean())}


__all__ = ["JOINT_GROUPS", "calibration_errors", "detection_errors", "matched_joint_errors"]
