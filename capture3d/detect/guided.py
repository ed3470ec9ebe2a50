"""3D-guided crops: a second BlazePose landmark pass where the views' 3D says a person is.

A view whose detector lost a person, or never found them, still sees them: the person's 3D
joints from the other views project onto the image. Each such view-frame gets a region of
interest built from that projection (centred on the projected mid-hip, sized to hold every
projected joint, turned so that the projected body points up, as the landmark model was trained)
and the landmark model runs there. A pose the model accepts (presence) and that lies where the
projection says (median distance under ``max_px``) becomes one more candidate slot of that view;
the association then takes it like any other detection.

A crop can find the wrong thing, or a view can disagree with the others about a person: on
``pose2sim_multiperson`` cam03's person detector never finds the woman (she stands behind the man
there; her face, about 58 px wide, is 7 px at the detector's 224 px input of the whole 1920 px
image; run on 725 px tiles the detector finds her, score 0.93); crops cut where her 3D projects find her
in 99 of 99 frames, on her body, but 28 px (median, the given calibration) to one side of where
the other three views put her, where the man in the same part of cam03's image is 7.5 px off; no
change of the rig (rotations, centres and focal lengths all free) takes both away. With her
crops her 3D moved so that cam01, held out, landed 34.5 -> 66.7 px from it. So after the second
reconstruction :func:`drop_unhelpful_views` takes each person-view that got crops out again when
the *other* views' held-out error (see :mod:`capture3d.reconstruct.view_agreement`) is lower
without them: there it kept the man's crops in cam01 and cam02 (frames with all 17 joints 64 ->
78 %, held-out 20.9 -> 20.2 px) and dropped the woman's in cam03.
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


def _frames_needed(position, rows) -> dict:
    """``{video frame: [(row, weight), ...]}`` for the ``rows`` to look at, each at its
    ``position (F,)`` in the video (frames, NaN: none): one frame of weight 1 on a frame, else
    the two around it, weighted as a linear interpolation."""
    from ..sync.resample import ON_FRAME

    needs: dict[int, list] = {}
    for f in rows:
        v = position[f]
        if not np.isfinite(v) or v < -ON_FRAME:
            continue
        lo = int(np.floor(v + ON_FRAME))
        w = v - lo
        parts = [(lo, 1.0)] if w <= ON_FRAME else [(lo, 1.0 - w), (lo + 1, w)]
        for frame, weight in parts:
            needs.setdefault(frame, []).append((int(f), float(weight)))
    return needs


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
    frame_index : (F,) int, or {camera: (F,) float}
        The video frame of each row, the same in every camera; or per camera, the position of
        each row in that camera's video in frames (NaN: none), as a ``frames.csv`` or a
        ``sync.toml`` gives it. A position between two frames (cameras with no shared clock)
        is cropped in both and the landmarks interpolated, as the detections were; a row is
        taken only where both crops were accepted. Positions within 1e-6 frame of a frame take
        that frame alone (:data:`capture3d.sync.resample.ON_FRAME`).

    Returns
    -------
    extra : {camera: (F, P, J, 3) float}
        Candidate slots, canonical layout, NaN where nothing was accepted.
    counts : {camera: (tried, accepted)}
        Person-frames a crop was made for, and those found (every crop accepted).
    """
    det = detector or BlazePose(BlazePoseOptions())
    names, index = canonical_index(det.joint_names)
    if list(names) != list(joint_names):
        raise ValueError(f"guided crops give {list(names)}, the candidates have {list(joint_names)}")
    extra, counts = {}, {}
    for cam, video in videos.items():
        uv, todo = projected[cam], wanted[cam]
        P, F = todo.shape
        position = np.asarray(frame_index[cam] if isinstance(frame_index, dict) else frame_index, float)
        if position.shape != (F,):
            raise ValueError(f"{cam}: {position.shape[0]} frame positions for {F} rows")
        needs = _frames_needed(position, np.flatnonzero(todo.any(axis=0)))   # {video frame: [(row, weight)]}
        total = np.zeros((F, P, len(names), 3))
        weight = np.zeros((F, P))
        tried = np.zeros((F, P), bool)
        cap = cv2.VideoCapture(str(video))
        k = 0
        while needs:
            ok, image = cap.read()
            if not ok:
                break
            uses = needs.pop(k, ())
            k += 1
            for f, w in uses:
                for p in np.flatnonzero(todo[:, f]):
                    roi = guided_roi(uv[p, f], names, options)
                    if roi is None:
                        continue
                    tried[f, p] = True
                    presence, lm = det.landmarks(image, roi)
                    if presence < det.options.min_presence:
                        continue
                    pose = lm[:33][index]
                    target = uv[p, f]
                    seen = np.isfinite(target[:, 0])
                    size = np.hypot(*(np.nanmax(target[seen], 0) - np.nanmin(target[seen], 0)))
                    miss = np.median(np.linalg.norm(pose[seen, :2] - target[seen], axis=1))
                    if miss <= options.max_share * size:
                        total[f, p] += w * pose
                        weight[f, p] += w
        cap.release()
        whole = weight > 1 - 1e-9                   # every crop the row needed was accepted
        out = np.where(whole[..., None, None], total, np.nan)
        extra[cam], counts[cam] = out, (int(tried.sum()), int(whole.sum()))
        if progress is not None:
            progress(cam, *counts[cam])
    return extra, counts


def guided_pass(videos: dict, rig, points, assignment, candidates, frame_index, *, joint_names,
                options: GuidedOptions = GuidedOptions(), detector: BlazePose | None = None, offsets=None):
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
    frame_index : (F,) int, or {camera: (F,) float}
        The video frame of each row, or per camera its position in the video
        (:func:`guided_candidates`; :func:`video_positions` makes them).
    offsets : (C, 2) float, optional
        Pixels the candidates were moved by (:func:`capture3d.reconstruct.view_agreement.apply_view_offsets`):
        the crops are cut at projection + offset in the video, what they find is moved like the candidates.

    Returns
    -------
    candidates : (C, F, S + P, J, 3)
        With one more slot per person holding what the crops found.
    counts : {camera: (tried, accepted)}
    """
    projected, wanted = {}, {}
    shift = np.zeros((len(rig), 2)) if offsets is None else np.asarray(offsets, float).reshape(len(rig), 2)
    for c, cam in enumerate(rig.cameras):
        uv = cam.project(points) + shift[c]                               # (P, F, J, 2) video pixels
        w, h = cam.size
        inside = (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
        projected[cam.name] = np.where(inside[..., None], uv, np.nan)
        wanted[cam.name] = (assignment[:, c] < 0) & (inside.sum(-1) >= options.min_joints)
    extra, counts = guided_candidates({n: videos[n] for n in rig.names}, projected, wanted, frame_index,
                                      joint_names=joint_names, detector=detector, options=options)
    found = np.stack([extra[n] for n in rig.names])                     # (C, F, P, J, 3)
    found[..., :2] -= shift[:, None, None, None, :]
    return np.concatenate([candidates, found], axis=2), counts


def drop_unhelpful_views(candidates, keypoints, assignment, first_guided_slot: int, rig, *,
                         triangulation=None, tolerance: float = 0.02) -> tuple[np.ndarray, list]:
    """Take out a person's crops in a view when the other views agree better without them.

    Parameters
    ----------
    candidates : (C, F, S, J, 3) float
        After :func:`guided_pass` (slots from ``first_guided_slot`` on hold crops).
    keypoints : (P, C, F, J, 3) float
        The people's keypoints of the reconstruction from ``candidates``.
    assignment : (P, C, F) int
        The slot each person took per view and frame (-1: none).
    first_guided_slot : int
        ``S`` before :func:`guided_pass`.
    rig : Rig
    triangulation : TriangulationOptions, optional
        Of the held-out triangulations.
    tolerance : float
        A person-view keeps its crops unless the other views' median held-out error is more than
        this share lower without them.

    Returns
    -------
    candidates : (C, F, S, J, 3)
        A copy without the dropped crops.
    judged : list of dict
        Per person-view with crops: ``person`` (row), ``camera``, ``frames``, ``with_px``,
        ``without_px``, ``kept``.
    """
    from ..reconstruct.view_agreement import held_out_residuals

    out = np.array(candidates, float, copy=True)
    kp = np.asarray(keypoints, float)
    assignment = np.asarray(assignment)
    from_crops = assignment >= first_guided_slot                         # (P, C, F)
    judged = []

    def others_error(k, c):
        r = held_out_residuals(k[None], rig, triangulation=triangulation)[0]   # (C, F, J, 2)
        d = np.hypot(r[..., 0], r[..., 1])
        d[c] = np.nan
        d = d[np.isfinite(d)]
        return float(np.median(d)) if d.size else np.nan

    for p, c in zip(*np.nonzero(from_crops.any(axis=2))):
        frames = np.flatnonzero(from_crops[p, c])
        without = kp[p].copy()
        without[c, frames] = np.nan
        a, b = others_error(kp[p], c), others_error(without, c)
        kept = not (np.isfinite(a) and np.isfinite(b) and a > b * (1 + tolerance))
        if not kept:
            out[c, frames, assignment[p, c, frames]] = np.nan
        judged.append({"person": int(p), "camera": rig.names[c], "frames": int(len(frames)),
                       "with_px": round(a, 2), "without_px": round(b, 2), "kept": bool(kept)})
        log.info("guided crops of person %d in %s (%d frames): other views held out %.2f px with them, "
                 "%.2f without: %s", p, rig.names[c], len(frames), a, b, "kept" if kept else "dropped")
    return out, judged


__all__ = ["GuidedOptions", "guided_roi", "guided_candidates", "guided_pass", "drop_unhelpful_views"]
