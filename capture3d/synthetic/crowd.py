"""Several people walking through a capture area: the multi-person 3D ground truth.

People of different sizes and proportions walk from way-point to way-point across the area, so
that their paths cross its middle again and again; they steer around each other (a small
social-force model: people keep about 0.35-0.6 m between pelvises and pass on the right), which
is what makes them occlude each other in some views. Some may stand still, and some may leave
the area for a while (through a "door" 1 m outside it) and come back. Bodies are built by
:func:`capture3d.synthetic.motion.body_along_path`, so every bone keeps its length.

What cameras see of a crowd, with occlusions, misses and ghosts, is
:func:`capture3d.synthetic.observe_crowd`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..skeleton import COCO17, FEET
from .motion import ADULT, body_along_path

#: The default capture area ``(x_min, y_min, x_max, y_max)``, world meters on the floor. It suits
#: both the 4-camera Qualisys rig of ``pose2sim_multiperson`` (its cameras look at about
#: (-0.9, 0.0); a standing person is seen whole by all 4 cameras over x -1.9..0.2, y -0.8..0.6
#: and by 3 over x -2.4..0.5, y -0.9..1.0) and the rings of :func:`make_rig` (radius 4 m, seen
#: whole by all 4 cameras over about x -1.2..0.9, y -1.1..1.2, by 3 over +-1.9 m). For another
#: rig use :func:`capture_area`.
DEFAULT_AREA_M = (-1.9, -0.9, 0.7, 0.9)

# The walking model, tuned so that 4 people in the default area pass each other 0.45-0.6 m
# apart (pelvis to pelvis) at about 0.5 m/s median: way-points lie across the middle, up to
# GOAL_SPREAD radians off the straight line and GOAL_R..1 of the way to the area's edge; the
# repulsion is FORCE_A m/s^2 at FORCE_R m, decaying over FORCE_B m, with FORCE_SIDE of it as a
# step to the right; speeds relax to the wanted one in FORCE_TAU s.
GOAL_SPREAD, GOAL_R = 0.6, 0.75
FORCE_A, FORCE_R, FORCE_B, FORCE_SIDE, FORCE_TAU = 2.0, 0.5, 0.2, 1.0, 0.4

#: Body dimensions jittered per person on top of the overall scale (+-3 %), so that people also
#: differ in proportions, as bone-length re-identification expects.
_PROPORTIONS = ("thigh", "shin", "upper_arm", "forearm", "torso", "hip_half_width", "shoulder_half_width")


@dataclass(frozen=True)
class Crowd:
    """Ground truth of a multi-person scene.

    Attributes
    ----------
    points : (P, F, J, 3) float64
        Joints per person and frame, world meters, Z up; NaN while a person is out of the area.
    joint_names : tuple of str
        COCO-17, plus the feet joints when made with ``feet=True``.
    fps : float
    person_id : (P,) int64
        Stable ids (0..P-1).
    scale : (P,) float64
        Overall body size relative to make_motion's 1.75 m adult.
    lengths : tuple of dict
        Per person, the body dimensions (:data:`capture3d.synthetic.motion.ADULT`'s keys), meters.
    present : (P, F) bool
        False while the person is away (see ``exits``).
    standing : (P,) bool
        People who stand still (turning slowly on the spot).
    area_m : (x_min, y_min, x_max, y_max) float, meters
    """

    points: np.ndarray
    joint_names: tuple
    fps: float
    person_id: np.ndarray
    scale: np.ndarray
    lengths: tuple
    present: np.ndarray
    standing: np.ndarray
    area_m: tuple

    @property
    def time_s(self) -> np.ndarray:
        """``(F,)`` seconds."""
        return np.arange(self.points.shape[1]) / self.fps

    @property
    def pelvis(self) -> np.ndarray:
        """``(P, F, 3)`` mid-hip, world meters (NaN while away)."""
        i, k = self.joint_names.index("left_hip"), self.joint_names.index("right_hip")
        return 0.5 * (self.points[:, :, i] + self.points[:, :, k])


def _spans(spec, n_people, n_frames, movers, rng) -> list[tuple[int, int, int]]:
    """``exits`` as a list of (person, start, stop): given, or ``spec`` random spans of 1.5-3 s."""
    if np.ndim(spec) == 0:
        count = int(spec)
        if count < 0 or count > len(movers):
            raise ValueError(f"exits must be 0..{len(movers)} (the walking people), got {count}")
        out = []
        for p in rng.choice(movers, count, replace=False):
            length = int(rng.integers(int(n_frames * 0.15), int(n_frames * 0.3) + 1))
            start = int(rng.integers(int(n_frames * 0.3), max(int(n_frames * 0.3) + 1, n_frames - length - 2)))
            out.append((int(p), start, min(n_frames, start + length)))
        return out
    out = [tuple(int(v) for v in s) for s in spec]
    people = [p for p, _, _ in out]
    if len(set(people)) < len(people):
        raise ValueError(f"exits: one span per person, got {out}")
    for p, start, stop in out:
        if not (0 <= p < n_people and 0 <= start < stop <= n_frames):
            raise ValueError(f"exits: ({p}, {start}, {stop}) needs 0 <= person < {n_people} and "
                             f"0 <= start < stop <= {n_frames}")
    return out


def _start_positions(n, lo, hi, rng) -> np.ndarray:
    """``n`` floor points in the box ``lo..hi`` kept apart (0.8 m, less when the box is crowded)."""
    pts = []
    gap = 0.8
    while len(pts) < n:
        for _ in range(200):
            c = rng.uniform(lo, hi)
            if all(np.hypot(*(c - q)) >= gap for q in pts):
                pts.append(c)
                break
        else:
            gap *= 0.85
    return np.array(pts).reshape(n, 2)


def _next_goal(pos, centre, half, rng) -> np.ndarray:
    """A way-point across the area from ``pos``: through the middle, some way off straight."""
    d = (pos - centre) / half
    a = np.arctan2(d[1], d[0]) + np.pi + rng.uniform(-GOAL_SPREAD, GOAL_SPREAD)
    r = rng.uniform(GOAL_R, 1.0)
    return centre + half * r * np.array([np.cos(a), np.sin(a)])


def _walk(start, goals0, speed, standing, away, doors, exit_start, centre, half, fps, rng):
    """Simulate the pelvis paths ``(P, F, 2)``: each walker heads for its way-point, repelled by the
    others (exponential force, stronger ahead, with a step to the right), and a hard 0.32 m
    minimum between pelvises; people due to leave head for their door in time."""
    P, F = away.shape
    dt = 1.0 / fps
    pos, vel, goal = start.copy(), np.zeros((P, 2)), goals0.copy()
    out = np.empty((P, F, 2))
    eye = np.eye(P, dtype=bool)
    for k in range(F):
        here = ~away[:, k]
        for p in np.flatnonzero(here & ~standing):
            to_goal = goal[p] - pos[p]
            leaving = exit_start[p] >= 0 and exit_start[p] > k and \
                (exit_start[p] - k) * dt * speed[p] < np.hypot(*(doors[p] - pos[p])) * 1.1 + 0.3
            if leaving:
                goal[p] = doors[p]
            elif np.hypot(*to_goal) < 0.4 or (exit_start[p] >= 0 and k >= exit_start[p] and
                                              np.array_equal(goal[p], doors[p])):   # back in
                goal[p] = _next_goal(pos[p], centre, half, rng)
        to_goal = goal - pos
        dist = np.linalg.norm(to_goal, axis=1, keepdims=True)
        v_des = speed[:, None] * to_goal / np.maximum(dist, 1e-9) * np.minimum(1.0, dist / 0.15)
        diff = pos[:, None] - pos[None]                                   # (P, P, 2) from j to i
        r = np.linalg.norm(diff, axis=2)
        n = diff / np.where(eye, 1.0, np.maximum(r, 1e-9))[..., None]
        pair = here[:, None] & here[None] & ~eye & (r < 2.0)
        heading = vel / np.maximum(np.linalg.norm(vel, axis=1, keepdims=True), 1e-9)
        ahead = np.einsum("ic,ijc->ij", heading, -n)                      # cos of j's bearing from i
        strength = np.where(pair, FORCE_A * np.exp((FORCE_R - r) / FORCE_B) * (0.3 + 0.7 * (1 + ahead) / 2), 0.0)
        right = np.stack([heading[:, 1], -heading[:, 0]], axis=1)
        force = (strength[..., None] * n).sum(1) + FORCE_SIDE * (strength * (ahead > 0)).sum(1)[:, None] * right
        vel = vel + dt * ((v_des - vel) / FORCE_TAU + force)
        vmax = 1.3 * speed[:, None]
        vel *= np.minimum(1.0, vmax / np.maximum(np.linalg.norm(vel, axis=1, keepdims=True), 1e-9))
        vel[standing | ~here] = 0.0
        pos = pos + vel * dt
        for _ in range(2):   # keep bodies apart: walkers give way to standers
            diff = pos[:, None] - pos[None]
            r = np.linalg.norm(diff, axis=2)
            close = here[:, None] & here[None] & ~eye & (r < 0.32)
            if not close.any():
                break
            push = np.where(close, (0.32 - r) / 2, 0.0)
            share = np.where(standing[None], 2.0, np.where(standing[:, None], 0.0, 1.0))
            move = ((push * share)[..., None] * diff / np.maximum(r, 1e-9)[..., None]).sum(1)
            pos = pos + np.where(standing[:, None], 0.0, move)
        for p in np.flatnonzero(away[:, k]):
            pos[p] = doors[p]
        out[:, k] = pos
    return out


def make_crowd(n_people: int, n_frames: int, *, fps: float = 30.0, seed: int = 0,
               area_m=DEFAULT_AREA_M, scale_range=(0.85, 1.1), speed_m_s=(0.9, 1.3),
               standing=0, exits=0, feet: bool = False) -> Crowd:
    """People walking across a capture area, their paths crossing, for ``n_frames`` at ``fps``.

    Parameters
    ----------
    n_people : int
        1-10 (more work, but the area gets crowded).
    n_frames : int
    fps : float
    seed : int
        Everything is drawn from it.
    area_m : (x_min, y_min, x_max, y_max) float
        Where people walk, world meters (way-points keep 0.3 m inside it). Default
        :data:`DEFAULT_AREA_M`, which suits the pose2sim_multiperson Qualisys rig and the
        :func:`make_rig` rings; :func:`capture_area` finds one for any rig. It holds 4 people
        walking at a comfortable density (2 x 1.2 m of way-points); give 8-10 people more room
        (e.g. ``capture_area(rig, min_views=3)`` of a larger rig) or they mostly wait for each other.
    scale_range : (2,) float
        Body sizes relative to make_motion's 1.75 m adult, drawn uniformly per person.
    speed_m_s : (2,) float
        Walking speeds, meters per second, drawn uniformly per person (times the scale).
    standing : int or sequence of int
        How many people stand still (the last ones), or which.
    exits : int or sequence of (person, start_frame, stop_frame)
        People who leave the area (walk to a door 1 m outside it, then are absent: NaN in
        ``points``, ``present`` false, in no camera) for frames start..stop-1 and come back
        through the same door; an int draws that many spans of 15-30 % of the frames.
    feet : bool
        Append heels and foot tips after COCO-17.

    Returns
    -------
    Crowd

    Examples
    --------
    >>> crowd = make_crowd(3, 60, seed=1, exits=[(0, 20, 40)])
    >>> crowd.points.shape, int(crowd.present.sum())
    ((3, 60, 17, 3), 160)
    """
    if not 1 <= int(n_people) <= 64:
        raise ValueError(f"n_people must be 1..64, got {n_people}")
    if int(n_frames) < 1 or not fps > 0:
        raise ValueError(f"n_frames must be >= 1 and fps > 0, got {n_frames} and {fps}")
    x0, y0, x1, y1 = (float(v) for v in area_m)
    if not (x1 - x0 >= 1.0 and y1 - y0 >= 1.0):
        raise ValueError(f"area_m must be (x_min, y_min, x_max, y_max) at least 1 m each way, got {area_m}")
    P, F = int(n_people), int(n_frames)
    body_rng, path_rng, event_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))

    scale = body_rng.uniform(*scale_range, P)
    lengths = []
    for p in range(P):
        dims = {k: v * scale[p] for k, v in ADULT.items()}
        for k in _PROPORTIONS:
            dims[k] *= body_rng.uniform(0.97, 1.03)
        lengths.append(dims)
    speed = body_rng.uniform(*speed_m_s, P) * np.sqrt(scale)

    still = np.zeros(P, bool)
    if np.ndim(standing) == 0:
        if not 0 <= int(standing) <= P:
            raise ValueError(f"standing must be 0..{P}, got {standing}")
        still[P - int(standing):] = int(standing) > 0
    else:
        still[np.asarray(standing, int)] = True
    spans = _spans(exits, P, F, np.flatnonzero(~still), event_rng)
    away = np.zeros((P, F), bool)
    exit_start = np.full(P, -1)
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    half = np.array([(x1 - x0) / 2, (y1 - y0) / 2]) - 0.3
    doors = np.zeros((P, 2))
    for p, start, stop in spans:
        if still[p]:
            raise ValueError(f"exits: person {p} is standing still and cannot leave")
        away[p, start:stop] = True
        exit_start[p] = start
        side = event_rng.integers(4)
        along = event_rng.uniform(-0.5, 0.5)
        doors[p] = centre + [(half[0] + 1.3, along * half[1] * 2), (-half[0] - 1.3, along * half[1] * 2),
                             (along * half[0] * 2, half[1] + 1.3), (along * half[0] * 2, -half[1] - 1.3)][side]

    # Standing people are placed near the middle, where the walkers pass them.
    start = _start_positions(P, centre - half, centre + half, path_rng)
    near_middle = np.argsort(np.linalg.norm((start - centre) / half, axis=1), kind="stable")
    start = start[near_middle[np.argsort(np.argsort(~still, kind="stable"), kind="stable")]]
    goals = np.array([_next_goal(start[p], centre, half, path_rng) for p in range(P)])
    xy = _walk(start, goals, speed, still, away, doors, exit_start, centre, half, fps, path_rng)

    # Smooth the simulated paths (the forces jitter), then face the way one walks.
    xy = gaussian_filter1d(xy, 0.15 * fps, axis=1, mode="nearest") if F > 1 else xy
    vel = np.gradient(xy, axis=1) * fps if F > 1 else np.zeros_like(xy)
    speed_now = np.linalg.norm(vel, axis=2)
    t = np.arange(F) / fps
    names = COCO17 + (FEET if feet else ())
    points = np.empty((P, F, len(names), 3))
    for p in range(P):
        h0 = path_rng.uniform(-np.pi, np.pi)
        if still[p]:
            heading = h0 + 0.5 * np.sin(2 * np.pi * t / 7.0 + path_rng.uniform(0, 2 * np.pi))
        else:
            moving = speed_now[p] > 0.15
            raw = np.arctan2(vel[p, :, 1], vel[p, :, 0])
            idx = np.where(moving, np.arange(F), -1)
            idx = np.maximum.accumulate(idx)                              # last moving frame so far
            first = np.argmax(moving) if moving.any() else 0
            heading = np.where(idx >= 0, raw[np.maximum(idx, first)], raw[first] if moving.any() else h0)
            heading = np.unwrap(heading)
            heading = gaussian_filter1d(heading, 0.1 * fps, mode="nearest") if F > 1 else heading
        # make_motion's stride (0.9 Hz at 1 m/s); slower walkers take shorter, slower strides.
        walk = np.clip(speed_now[p] / 0.8, 0.0, 1.0)
        cadence = 0.9 * np.sqrt(np.clip(speed_now[p], 0.0, None) / scale[p])
        gait = 2 * np.pi * np.cumsum(cadence) / fps + path_rng.uniform(0, 2 * np.pi)
        points[p] = body_along_path(xy[p], heading, gait, walk, lengths=lengths[p], feet=feet)
    points[away] = np.nan
    return Crowd(points, names, float(fps), np.arange(P, dtype=np.int64), scale, tuple(lengths),
                 ~away, still, (x0, y0, x1, y1))


def capture_area(rig, *, min_views: int = 3, step_m: float = 0.1, extent_m: float = 8.0) -> tuple:
    """The largest floor rectangle where a standing person is seen whole by ``min_views`` cameras.

    A person counts as seen when its feet, head (1.8 m) and sides (0.25 m off at 1 m height) all
    project into the image. Grid of ``step_m`` over ``extent_m`` around the point nearest all
    optical axes.

    Returns
    -------
    (x_min, y_min, x_max, y_max) float
        World meters, for ``make_crowd(area_m=...)``.
    """
    middle = rig.axes_meeting_point()
    xs = middle[0] + np.arange(-extent_m / 2, extent_m / 2 + 1e-9, step_m)
    ys = middle[1] + np.arange(-extent_m / 2, extent_m / 2 + 1e-9, step_m)
    X, Y = np.meshgrid(xs, ys)
    body = np.array([[0, 0, 0.02], [0, 0, 1.8], [0.25, 0, 1.0], [-0.25, 0, 1.0], [0, 0.25, 1.0], [0, -0.25, 1.0]])
    pts = np.stack([X, Y, np.zeros_like(X)], -1)[:, :, None, :] + body
    px = rig.project(pts)
    sizes = np.array([c.size for c in rig], float)[:, None, None, None, :]
    seen = ((px >= 0) & (px <= sizes - 1)).all(-1).all(-1).sum(0) >= min_views      # (ny, nx)
    if not seen.any():
        raise ValueError(f"no floor point within {extent_m} m is seen whole by {min_views} cameras")
    # Largest all-true rectangle: a histogram of column heights per row, then a stack.
    best, heights = (0, 0, 0, 0, 0), np.zeros(seen.shape[1], int)
    for row in range(seen.shape[0]):
        heights = np.where(seen[row], heights + 1, 0)
        stack = []
        for col in range(len(heights) + 1):
            h = heights[col] if col < len(heights) else 0
            while stack and heights[stack[-1]] >= h:
                top = stack.pop()
                left = stack[-1] + 1 if stack else 0
                area = heights[top] * (col - left)
                if area > best[0]:
                    best = (area, row - heights[top] + 1, row, left, col - 1)
            stack.append(col)
    _, r0, r1, c0, c1 = best
    return (float(xs[c0]), float(ys[r0]), float(xs[c1]), float(ys[r1]))
