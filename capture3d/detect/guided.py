"""3D-guided crops: a second BlazePose landmark pass where the views' 3D says a person is.

A view whose detector lost a person, or never found them, still sees them: the person's 3D
joints from the other views project onto the image. Each such view-frame gets a region of
interest built from that projection (centred on the projected mid-hip, sized to hold every
projected joint, turned so that the projected body points up, as the landmark model was trained)
and the landmark model runs there. A pose the model accepts (presence) and that lies where the
projection says (median distance under ``max_px``) becomes one more candidate slot of that view;
the association then takes it like any other detection.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from ..skeleton import canonical_index
from .blazepose import BlazePose, BlazePoseOptions, roi_from_points

log = logging.getLogger("capture3d.detect")


@dataclass(frozen=True)
class GuidedOptions:
    """Options of :func:`guided_candidates`."""

    min_joints: int = 8             # projected joints in the image needed to build a crop
    size_margin: float = 1.1        # the crop's half side, in units of the farthest projected joint from mid-hip
    #                                 (on pose2sim_multiperson 1.1 did better than 1.5, though 1.5 lands closer to
    #                                 mediapipe's own landmarks when they are the "projection": 7.0 against 15.5 px)
    max_share: float = 0.25         # accept a pose whose median distance to the projection is below this share
    #                                 of the projected body's size (its box diagonal)

    def __post_init__(self):
        if self.min_joints < 3 or self.size_margin <= 0 or not 0 < self.max_share < 1:
            raise ValueError("min_joints >= 3, size_margin > 0 and max_share in (0, 1) required")


def guided_roi(uv, joint_names, options: GuidedOptions = GuidedOptions()):
    """The landmark crop for projected joints ``uv (J, 2)`` pixels (canonical layout), or None."""
    index = {n: i for i, n in enumerate(joint_names)}
    ok = np.isfinite(uv[:, 0])
    hips = [index["left_hip"], index["right_hip"]]
    shoulders = [index["left_shoulder"], index["right_shoulder"]]
    if ok.sum() < options.min_joints or not ok[hips + shoulders].all():
        return None
    centre = uv[hips].mean(0)
    up = uv[shoulders].mean(0) - centre
    if not np.hypot(*up) > 0:
        return None
    reach = np.max(np.linalg.norm(uv[ok] - centre, axis=1)) * options.size_margin
    # roi_from_points makes the side 2 * ROI_SCALE * |scale - centre|: put the scale point along the body's
    # up direction at the distance that gives a half side of ``reach``
    from .blazepose import ROI_SCALE
    scale_point = centre + up / np.hypot(*up) * reach / ROI_SCALE
    return roi_from_points(centre, scale_point)


def guided_candidates(videos: dict, projected: dict, wanted: dict, frame_index, *, joint_names,
                      detector: BlazePose | None = None, options: GuidedOptions = GuidedOptions(),
                      progress=None) -> tuple[dict, dict]:
    """Landmarks in the crops the 3D points to.

    Parameters
    ----------
    videos : {camera: path}
    projected : {camera: (P, F, J, 2) float}
        Each person's 3D projected into the camera, distorted pixels, canonical layout (NaN where
        unknown).
    wanted : {camera: (P, F) bool}
        The person-frames to look at (e.g. no detection of the person in that view).
    frame_index : (F,) int
        The video frame of each row (video frames are read in order).

    Returns
    -------
    extra : {camera: (F, P, J, 3) float}
        Candidate slots, canonical layout, NaN where nothing was accepted.
    counts : {camera: (tried, accepted)}
    """
    det = detector or BlazePose(BlazePoseOptions())
    names, index = canonical_index(det.joint_names)
    if list(names) != list(joint_names):
        raise ValueError(f"guided crops give {list(names)}, the candidates have {list(joint_names)}")
    frame_index = np.asarray(frame_index)
    extra, counts = {}, {}
    for cam, video in videos.items():
        uv, todo = projected[cam], wanted[cam]
        P, F = todo.shape
        out = np.full((F, P, len(names), 3), np.nan)
        rows = {int(frame_index[f]): f for f in np.flatnonzero(todo.any(axis=0))}
        tried = accepted = 0
        cap = cv2.VideoCapture(str(video))
        k = 0
        while rows:
            ok, image = cap.read()
            if not ok:
                break
            f = rows.pop(k, None)
            k += 1
            if f is None:
                continue
            for p in np.flatnonzero(todo[:, f]):
                roi = guided_roi(uv[p, f], names, options)
                if roi is None:
                    continue
                tried += 1
                presence, lm = det.landmarks(image, roi)
                if presence < det.options.min_presence:
                    continue
                pose = lm[:33][index]
                target = uv[p, f]
                seen = np.isfinite(target[:, 0])
                size = np.hypot(*(np.nanmax(target[seen], 0) - np.nanmin(target[seen], 0)))
                miss = np.median(np.linalg.norm(pose[seen, :2] - target[seen], axis=1))
                if miss <= options.max_share * size:
                    out[f, p] = pose
                    accepted += 1
        cap.release()
        extra[cam], counts[cam] = out, (tried, accepted)
        if progress is not None:
            progress(cam, tried, accepted)
    return extra, counts


def guided_pass(videos: dict, rig, points, assignment, candidates, frame_index, *, joint_names,
                options: GuidedOptions = GuidedOptions(), detector: BlazePose | None = None):
    """The second pass of ``process``: every person-frame a view did not detect, looked for again
    where the person's 3D projects.

    Parameters
    ----------
    videos : {camera: path}
        In rig order; their frame ``k`` is row ``k`` of ``frame_index``'s numbering.
    rig : Rig
    points : (P, F, J, 3) float
        The people's 3D (after gap filling, so short gaps get crops too), meters.
    assignment : (P, C, F) int
        The candidate slot of each person per view (-1: not detected there).
    candidates : (C, F, S, J, 3) float
    frame_index : (F,) int

    Returns
    -------
    candidates : (C, F, S + P, J, 3)
        With one more slot per person holding what the crops found.
    counts : {camera: (tried, accepted)}
    """
    projected, wanted = {}, {}
    for c, cam in enumerate(rig.cameras):
        uv = cam.project(points)                                          # (P, F, J, 2)
        w, h = cam.size
        inside = (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
        projected[cam.name] = np.where(inside[..., None], uv, np.nan)
        wanted[cam.name] = (assignment[:, c] < 0) & (inside.sum(-1) >= options.min_joints)
    extra, counts = guided_candidates({n: videos[n] for n in rig.names}, projected, wanted, frame_index,
                                      joint_names=joint_names, detector=detector, options=options)
    return np.concatenate([candidates, np.stack([extra[n] for n in rig.names])], axis=2), counts


__all__ = ["GuidedOptions", "guided_roi", "guided_candidates", "guided_pass"]
