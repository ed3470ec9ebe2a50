"""What a 2D detector run on every camera would give for a :class:`~capture3d.synthetic.crowd.Crowd`:
per camera and frame a list of person detections in shuffled slots, with occlusions, misses,
ghosts, noise and outliers, plus the ground truth of which person fills each slot.

Order of the corruption (each from its own seeded stream, so that turning one off leaves the
others' draws unchanged):

1. exact projections (the camera model, distortion included); joints outside the image or
   behind the camera are absent;
2. occlusion: a joint is hidden when the line of sight to it crosses another person's body
   (capsules around torso, head and limbs,
   see :data:`capture3d.synthetic.occlusion.CAPSULES`) in front of it; a hidden joint
   is absent, or with probability ``hidden_guess`` kept as a detector's guess (score 0.15-0.45,
   ``guess_px`` more error);
3. a person is absent from a view in the frames of a miss span, or when fewer than
   ``min_joints`` of its joints are visible there;
4. ghosts: with probability ``ghosts`` per camera and frame, one more detection: a person who
   is not there, projected into that camera only;
5. scores (0.6-1.0, lower far from the camera and at wrists and ankles); slots shuffled;
6. :func:`capture3d.synthetic.corrupt_keypoints` adds the pixel noise and the outlier joints.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ..errors import InputShapeError
from .motion import body_along_path
from .observe import corrupt_keypoints
from .occlusion import capsules, occluders


@dataclass(frozen=True)
class CrowdNoise:
    """How the synthetic detector errs (the options of :func:`observe_crowd`)."""

    noise_px: float = 2.0            # std of the Gaussian noise per pixel coordinate, pixels
    outliers: float = 0.03           # share of joints moved by outlier_px
    outlier_px: tuple = (100.0, 300.0)  # outlier displacement range, pixels (random direction)
    ghosts: float = 0.05             # probability of a ghost detection per camera and frame
    misses: float = 0.02             # share of each person's frames each camera misses, in spans
    miss_frames: tuple = (5, 30)     # length range of a random miss span, frames
    miss_spans: tuple = ()           # explicit misses: (camera index or name, person, start, stop)
    occlusion: bool = True           # hide joints covered by a nearer person
    hidden_guess: float = 0.3        # share of hidden joints kept as a low-score guess
    guess_px: float = 15.0           # extra error std of a guessed joint, pixels
    min_joints: int = 6              # fewer visible joints in a view: the person is not detected
    slots: int | None = None         # person slots per camera-frame; None: as many as needed

    def __post_init__(self):
        for name in ("noise_px", "guess_px"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("outliers", "ghosts", "misses", "hidden_guess"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in 0..1, got {getattr(self, name)}")
        if not (len(self.outlier_px) == 2 and 0 <= self.outlier_px[0] <= self.outlier_px[1]):
            raise ValueError(f"outlier_px must be (low, high) pixels, got {self.outlier_px}")
        if not (len(self.miss_frames) == 2 and 1 <= self.miss_frames[0] <= self.miss_frames[1]):
            raise ValueError(f"miss_frames must be (shortest, longest) >= 1 frames, got {self.miss_frames}")
        if self.min_joints < 1 or (self.slots is not None and self.slots < 1):
            raise ValueError(f"min_joints and slots must be >= 1, got {self.min_joints} and {self.slots}")


@dataclass(frozen=True)
class CrowdObservation:
    """A crowd as seen by a synthetic 2D detector in every camera.

    Attributes
    ----------
    candidates : (C, F, S, J, 3) float64
        Pixels x, y (distorted, as the camera model projects) and score per camera, frame, person
        slot and joint; NaN where absent, whole NaN rows for empty slots. Detections fill the
        first slots of each camera-frame in random order (the layout that
        :func:`capture3d.io.stack_pose2d_files` returns for pose2d files).
    slot_person : (C, F, S) int64
        The true person (index into the crowd) in each slot; -1 for a ghost or an empty slot.
    ghost : (C, F, S) bool
        Slots holding a ghost detection.
    projected : (C, F, P, J, 3) float64
        Exact projections of every person (pixels, score 1), NaN outside the image or while away.
    hidden : (C, F, P, J) bool
        Joints inside the image covered by another person in that view.
    occluder : (C, F, P, J) int64
        The person covering a hidden joint (the nearest one along the line of sight), else -1.
    detected : (C, F, P) bool
        Whether the person has a slot in that view.
    camera_names, joint_names : tuple of str
    image_sizes : tuple of (width, height)
    fps : float
    """

    candidates: np.ndarray
    slot_person: np.ndarray
    ghost: np.ndarray
    projected: np.ndarray
    hidden: np.ndarray
    occluder: np.ndarray
    detected: np.ndarray
    camera_names: tuple
    joint_names: tuple
    image_sizes: tuple
    fps: float

    def by_person(self) -> np.ndarray:
        """The detections in true person order, ``(C, F, P, J, 3)``; NaN where undetected."""
        C, F, S, J, _ = self.candidates.shape
        P = self.projected.shape[2]
        out = np.full((C, F, P + 1, J, 3), np.nan)
        c, f, s = np.nonzero(self.slot_person >= 0)
        out[c, f, self.slot_person[c, f, s]] = self.candidates[c, f, s]
        return out[:, :, :P]

    @property
    def ghosts_per_view(self) -> np.ndarray:
        """``(C, F)`` int: ghost detections per camera and frame."""
        return self.ghost.sum(axis=2)

    def save_pose2d(self, folder, *, detector: str = "synthetic", fps: float | None = None) -> dict:
        """Write ``folder/<camera>.npz`` pose2d files (float32, as a detector would; ``fps`` the frame
        rate they record, frames per second, None: none, as an imported file); returns
        ``{camera: path}``, which :func:`capture3d.io.stack_pose2d_files` reads back."""
        from ..io import save_pose2d

        return {name: save_pose2d(Path(folder) / f"{name}.npz", self.candidates[c], joint_names=self.joint_names,
                                  image_size=self.image_sizes[c], detector=detector, fps=fps)
                for c, name in enumerate(self.camera_names)}

    def save_openpose_json(self, folder, *, suffix: str = "_json") -> dict:
        """Write OpenPose per-frame JSON (BODY_25) per camera, ``folder/<camera><suffix>/
        <camera>_<frame:012d>_keypoints.json`` (Pose2Sim's ``pose/`` layout); returns
        ``{camera: folder}``. Detections fill the first slots, so the i-th person of a file is
        slot i (``slot_person[c, f, i]``)."""
        from ..formats.openpose_json import write_openpose_json

        return {name: write_openpose_json(Path(folder) / f"{name}{suffix}", self.candidates[c], self.joint_names,
                                          stem=name)
                for c, name in enumerate(self.camera_names)}


def _field_radius(cam) -> float:
    """Largest undistorted normalised radius of the image corners."""
    w, h = cam.size
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], float)
    return float(np.nanmax(np.linalg.norm(cam.pixels_to_normalized(corners), axis=1)))


def _in_image(cameras, field_radius, cam_points, pixels) -> np.ndarray:
    """Where ``pixels (C, ..., 2)`` of ``cam_points (C, ..., 3)`` are a real view: in the image,
    in front of the camera, and not folded back in by the distortion polynomial far off axis
    (beyond 1.2 x the ``field_radius (C,)`` of the image corners)."""
    ok = np.isfinite(pixels).all(-1) & (cam_points[..., 2] > 0.1)
    for c, (cam, r_max) in enumerate(zip(cameras, field_radius)):
        w, h = cam.size
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.linalg.norm(cam_points[c, ..., :2] / cam_points[c, ..., 2:], axis=-1)
        px = pixels[c]
        ok[c] &= (px[..., 0] >= 0) & (px[..., 0] <= w - 1) & (px[..., 1] >= 0) & (px[..., 1] <= h - 1) \
            & (r < 1.2 * r_max)
    return ok


def _scores(depth, hidden_guess, joint_names, rng) -> np.ndarray:
    """Detector-like confidences: 0.6-1.0, lower with distance (-0.2 from 2.5 m to 10 m) and at
    the limb ends; guesses of hidden joints 0.15-0.45."""
    ends = np.array([n.endswith(("wrist", "ankle", "heel", "foot_index")) for n in joint_names])
    far = 0.2 * np.clip((np.nan_to_num(depth, nan=0.0) - 2.5) / 7.5, 0.0, 1.0)
    s = 0.98 - far - 0.04 * ends - np.abs(rng.normal(0.0, 0.04, depth.shape))
    s = np.clip(s, 0.6, 1.0)
    return np.where(hidden_guess, rng.uniform(0.15, 0.45, depth.shape), s)


def _miss_mask(opt, rig, C, F, P, rng) -> np.ndarray:
    """``(C, F, P)`` bool: frames where a camera misses a person entirely."""
    miss = np.zeros((C, F, P), bool)
    lo, hi = opt.miss_frames
    expected = opt.misses * F / ((lo + hi) / 2)
    for c in range(C):
        for p in range(P):
            for _ in range(rng.poisson(expected) if opt.misses > 0 else 0):
                length = int(rng.integers(lo, hi + 1))
                start = int(rng.integers(0, max(1, F - length + 1)))
                miss[c, start:start + length, p] = True
    for cam, p, start, stop in opt.miss_spans:
        c = rig.names.index(cam) if isinstance(cam, str) else int(cam)
        if not (0 <= c < C and 0 <= p < P and 0 <= start < stop <= F):
            raise ValueError(f"miss_spans: ({cam}, {p}, {start}, {stop}) is outside {C} cameras, "
                             f"{P} people, {F} frames")
        miss[c, start:stop, p] = True
    return miss


def _ghosts(crowd, rig, field_radius, opt, F, rng) -> tuple[np.ndarray, np.ndarray]:
    """``(ghost_present (C, F) bool, keypoints (C, F, J, 3))``: people who are not there, each
    projected into one camera only, somewhere in or around the area (1 m beyond it)."""
    C, J = len(rig), len(crowd.joint_names)
    kp = np.full((C, F, J, 3), np.nan)
    want = rng.random((C, F)) < opt.ghosts
    c_idx, f_idx = np.nonzero(want)
    tries = 8
    n = len(c_idx) * tries
    x0, y0, x1, y1 = crowd.area_m
    xy = np.stack([rng.uniform(x0 - 1, x1 + 1, n), rng.uniform(y0 - 1, y1 + 1, n)], axis=1)
    body = body_along_path(xy, rng.uniform(-np.pi, np.pi, n), rng.uniform(0, 2 * np.pi, n),
                           rng.uniform(0, 1, n), feet=len(crowd.joint_names) > 17)
    foot = np.concatenate([xy, np.zeros((n, 1))], axis=1)[:, None]
    body = foot + rng.uniform(0.85, 1.1, n)[:, None, None] * (body - foot)
    body = body.reshape(len(c_idx), tries, J, 3)
    found = np.zeros(len(c_idx), bool)
    for c, cam in enumerate(rig):
        mine = np.flatnonzero(c_idx == c)
        if not len(mine):
            continue
        pts = body[mine]
        px = cam.project(pts)[None]
        vis = _in_image([cam], field_radius[c:c + 1], cam.world_to_camera(pts)[None], px)[0]
        good = vis.sum(-1) >= opt.min_joints
        first = np.argmax(good, axis=1)
        ok = good[np.arange(len(mine)), first]
        pick = np.arange(len(mine))[ok], first[ok]
        depth = cam.world_to_camera(pts[pick])[..., 2]
        xy_px = np.where(vis[pick][..., None], px[0][pick], np.nan)
        score = np.where(vis[pick], _scores(depth, np.zeros_like(depth, bool), crowd.joint_names, rng), np.nan)
        kp[c, f_idx[mine[ok]]] = np.concatenate([xy_px, score[..., None]], axis=-1)
        found[mine[ok]] = True
    present = np.zeros((C, F), bool)
    present[c_idx[found], f_idx[found]] = True
    return present, kp


def observe_crowd(crowd, rig, options: CrowdNoise | None = None, *, seed: int = 0, **overrides) -> CrowdObservation:
    """What a 2D detector would report of ``crowd`` in every camera of ``rig``.

    Parameters
    ----------
    crowd : Crowd
        From :func:`capture3d.synthetic.make_crowd` (``points (P, F, J, 3)`` world meters).
    rig : Rig
    options : CrowdNoise, optional
        The errors to model; keyword ``overrides`` replace its fields
        (``observe_crowd(crowd, rig, ghosts=0, noise_px=0)``).
    seed : int

    Returns
    -------
    CrowdObservation
        ``candidates (C, F, S, J, 3)`` and the truth behind them; see the module docstring
        for what is modelled, in which order.

    Examples
    --------
    >>> from capture3d.synthetic import make_crowd, make_rig
    >>> seen = observe_crowd(make_crowd(3, 20), make_rig(4), ghosts=0.0, misses=0.0)
    >>> seen.candidates.shape[:2], sorted(set(seen.slot_person[0, 0].tolist()) - {-1})
    ((4, 20), [0, 1, 2])
    """
    opt = options or CrowdNoise()
    unknown = set(overrides) - {f.name for f in fields(CrowdNoise)}
    if unknown:
        raise TypeError(f"observe_crowd: unknown options {sorted(unknown)}")
    if overrides:
        opt = CrowdNoise(**{**{f.name: getattr(opt, f.name) for f in fields(CrowdNoise)}, **overrides})
    pts = np.asarray(crowd.points, float)
    if pts.ndim != 4 or pts.shape[-1] != 3:
        raise InputShapeError(f"crowd.points: expected shape (P, F, J, 3), got {pts.shape}")
    P, F, J, _ = pts.shape
    C = len(rig)
    guess_rng, miss_rng, ghost_rng, score_rng, slot_rng, noise_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6))

    # 1. exact projections, camera-major (C, F, P, J, .)
    world = pts.transpose(1, 0, 2, 3)
    cam_pts = np.stack([cam.world_to_camera(world) for cam in rig])
    pixels = np.stack([cam.project(world) for cam in rig])
    field_radius = [_field_radius(cam) for cam in rig]
    in_image = _in_image(list(rig), field_radius, cam_pts, pixels)
    projected = np.concatenate([pixels, np.ones(pixels.shape[:-1] + (1,))], axis=-1)
    projected[~in_image] = np.nan

    # 2. occlusion by other people
    if opt.occlusion and P > 1:
        occ = occluders(cam_pts.reshape(C * F, P, J, 3), *capsules(cam_pts.reshape(C * F, P, J, 3),
                        crowd.joint_names, np.asarray(crowd.scale, float))).reshape(C, F, P, J)
        occ[~in_image] = -1
    else:
        occ = np.full((C, F, P, J), -1, np.int64)
    hidden = occ >= 0
    guessed = hidden & (guess_rng.random(hidden.shape) < opt.hidden_guess)
    visible = in_image & ~hidden

    # 3. whole-person misses
    detected = (visible.sum(-1) >= opt.min_joints) & ~_miss_mask(opt, rig, C, F, P, miss_rng)

    # 4. ghosts; 5. scores and shuffled slots
    ghost_here, ghost_kp = _ghosts(crowd, rig, field_radius, opt, F, ghost_rng)
    score = _scores(cam_pts[..., 2], guessed, crowd.joint_names, score_rng)
    person_kp = np.concatenate([pixels, score[..., None]], axis=-1)
    person_kp[..., :2] += np.where(guessed[..., None], guess_rng.normal(0.0, opt.guess_px, pixels.shape), 0.0)
    person_kp[~(visible | guessed)] = np.nan
    person_kp[~detected] = np.nan
    entries = np.concatenate([person_kp, ghost_kp[:, :, None]], axis=2)          # (C, F, P + 1, J, 3)
    filled = np.concatenate([detected, ghost_here[..., None]], axis=2)
    who = np.broadcast_to(np.append(np.arange(P), -1), filled.shape)
    key = np.where(filled, slot_rng.random(filled.shape), np.inf)
    order = np.argsort(key, axis=2, kind="stable")
    counts = filled.sum(axis=2)
    S = opt.slots or max(1, int(counts.max(initial=0)))
    order = order[:, :, :S] if order.shape[2] >= S else np.concatenate(
        [order, np.full(order.shape[:2] + (S - order.shape[2],), P)], axis=2)
    used = np.arange(S) < np.minimum(counts, S)[..., None]                         # (C, F, S)
    safe = np.minimum(order, P)
    cand = np.take_along_axis(entries, safe[..., None, None], axis=2)
    cand[~used] = np.nan
    slot_person = np.where(used, np.take_along_axis(who, safe, axis=2), -1).astype(np.int64)
    ghost = used & (safe == P)
    kept = np.zeros((C, F, P + 1), bool)
    cc, ff, ss = np.nonzero(used)
    kept[cc, ff, safe[cc, ff, ss]] = True

    # 6. noise and outliers (NaN stays NaN; scores kept, as a detector's would be)
    cand = corrupt_keypoints(cand.reshape(C, F * S, J, 3), noise_px=opt.noise_px, outliers=opt.outliers,
                             outlier_px=opt.outlier_px, seed=int(noise_rng.integers(2**32))).reshape(C, F, S, J, 3)
    return CrowdObservation(cand, slot_person, ghost, projected, hidden, occ, kept[:, :, :P],
                            tuple(rig.names), tuple(crowd.joint_names), tuple(tuple(c.size) for c in rig),
                            float(crowd.fps))
