"""Which 2D people of different cameras are the same person, in one frame, by geometry alone.

Every detected 2D person becomes a bundle of viewing rays, one per confident joint, undistorted
through its camera's lens model. Two detections of different cameras are the same person when
their rays meet: the affinity of a pair is the median, over the joints both have, of the
closest distance between the two rays (meters, so it does not depend on the image size or the
lens). The grouping is an agglomerative clustering under two constraints: a group holds at most
one detection per camera, and two groups merge only while the *average* distance over all their
cross pairs stays under the threshold (average linkage: a chain of small steps cannot join two
people). The result is a partition of the detections, so it is cycle-consistent by
construction (if a~b and b~c then a, b, c are one group), as the multi-way matching of Dong et al.
(2019) requires; it costs ``O(N^2 log N)`` for ``N`` detections of one frame, never a search over
combinations. Groups of two or more views are then triangulated (least-squares ray midpoint)
and a view whose rays miss the group's 3D point is sent back as a detection of its own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MatchingOptions:
    """Options of :func:`group_detections` (distances in meters)."""

    min_score: float = 0.3          # joints below this detector score are not used, [0, 1]
    min_joints: int = 5             # a detection needs this many confident joints to take part
    min_common_joints: int = 3      # two detections are compared on at least this many joints
    max_ray_distance_m: float = 0.15   # average-linkage threshold on the median ray-to-ray distance
    max_view_error_m: float = 0.12  # a view whose rays pass farther (median) from the group's 3D joints leaves it

    def __post_init__(self):
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")
        if self.min_joints < 1 or self.min_common_joints < 1:
            raise ValueError("min_joints and min_common_joints must be >= 1")
        if self.max_ray_distance_m <= 0 or self.max_view_error_m <= 0:
            raise ValueError("max_ray_distance_m and max_view_error_m must be > 0 meters")


@dataclass
class Rays:
    """Viewing rays of every detected joint of a sequence.

    Attributes
    ----------
    origin : (C, 3) float64
        Camera centres, world meters.
    direction : (C, F, S, J, 3) float64
        Unit directions, world frame; NaN where the joint is missing or below ``min_score``.
    usable : (C, F, S) bool
        Slots with at least ``min_joints`` confident joints.
    """

    origin: np.ndarray
    direction: np.ndarray
    usable: np.ndarray


def detection_rays(candidates, rig, options: MatchingOptions) -> Rays:
    """Rays of ``candidates (C, F, S, J, 3)`` (pixels x, y as detected, i.e. distorted, and score;
    NaN rows for empty slots), undistorted through each camera of ``rig`` (rig order)."""
    C, F, S, J, _ = candidates.shape
    direction = np.full((C, F, S, J, 3), np.nan)
    for c, cam in enumerate(rig.cameras):
        kp = candidates[c]
        ok = np.isfinite(kp[..., :2]).all(-1) & (np.nan_to_num(kp[..., 2], nan=0.0) >= options.min_score)
        if ok.any():
            direction[c][ok] = cam.rays(kp[..., :2][ok])
    usable = np.isfinite(direction[..., 0]).sum(-1) >= options.min_joints
    return Rays(np.asarray(rig.centers, float), direction, usable)


def ray_distances(o1, d1, o2, d2) -> np.ndarray:
    """Closest distance between rays ``o1 + s d1`` and ``o2 + t d2`` (meters), broadcast over the
    leading axes of ``d1, d2 (..., 3)`` (unit); ``o1, o2 (3,)``. ``inf`` where the closest points
    lie behind either camera or the rays are parallel (they do not meet in front of both, so they
    cannot see one point); NaN where a ray is NaN."""
    w = o2 - o1
    b = np.einsum("...k,...k->...", d1, d2)
    d1w = d1 @ w
    d2w = d2 @ w
    denom = 1.0 - b * b
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (d1w - b * d2w) / denom
        t = (b * d1w - d2w) / denom
        gap = (o1 + s[..., None] * d1) - (o2 + t[..., None] * d2)
        dist = np.linalg.norm(gap, axis=-1)
    far = (denom < 1e-9) | (s <= 0) | (t <= 0)      # NaN compares False: NaN rays stay NaN
    return np.where(far, np.inf, dist)


def midpoint_triangulate(origins, directions, weights=None) -> np.ndarray:
    """Least-squares meeting point of rays, per joint.

    Parameters
    ----------
    origins : (V, 3) float
        Ray origins (camera centres), meters.
    directions : (V, ..., 3) float
        Unit directions; NaN rays are left out.
    weights : (V, ...) float, optional
        Per-ray weights (0 leaves a ray out).

    Returns
    -------
    (..., 3) float64
        The point minimising the summed squared distance to the rays; NaN with fewer than two
        rays or (near-)parallel ones.
    """
    d = np.asarray(directions, float)
    ok = np.isfinite(d[..., 0])
    w = ok.astype(float) if weights is None else np.where(ok, weights, 0.0)
    d = np.where(ok[..., None], d, 0.0)
    o = np.asarray(origins, float).reshape((len(origins),) + (1,) * (d.ndim - 2) + (3,))
    eye = np.eye(3)
    P = eye - d[..., :, None] * d[..., None, :]                     # (V, ..., 3, 3) projectors
    A = np.einsum("v...,v...ij->...ij", w, P)
    b = np.einsum("v...,v...ij,v...j->...i", w, P, np.broadcast_to(o, d.shape))
    n = (w > 0).sum(0)
    det = np.linalg.det(A)
    good = (n >= 2) & (np.abs(det) > 1e-12)
    out = np.full(A.shape[:-1], np.nan)
    if good.any():
        out[good] = np.linalg.solve(A[good], b[good][..., None])[..., 0]
    return out


def nan_median(values, *, min_count: int = 1) -> np.ndarray:
    """Median over the last axis ignoring NaN (``inf`` counts as a value); ``inf`` where fewer than
    ``min_count`` values. numpy's ``nanmedian`` goes through masked arrays and costs ~50 us a
    call, which the per-frame matching makes thousands of times.

    >>> nan_median(np.array([[1.0, np.nan, 3.0, 2.0], [np.nan] * 4]))
    array([ 2., inf])
    """
    v = np.sort(values, axis=-1)                    # NaN sorts last
    n = (~np.isnan(v)).sum(-1)
    lo = np.take_along_axis(v, np.maximum((n - 1) // 2, 0)[..., None], -1)[..., 0]
    hi = np.take_along_axis(v, np.maximum(n // 2, 0)[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore"):
        mid = np.where(lo == hi, lo, (lo + hi) / 2)     # inf + inf stays inf
    return np.where(n >= max(min_count, 1), mid, np.inf)


def point_ray_distances(origin, directions, points) -> np.ndarray:
    """Distance (meters) of ``points (..., 3)`` from the rays ``origin (3,) + t directions (..., 3)``;
    ``inf`` for points behind the camera, NaN where either is NaN."""
    v = points - origin
    along = np.einsum("...k,...k->...", v, directions)
    perp = v - along[..., None] * directions
    dist = np.linalg.norm(perp, axis=-1)
    return np.where(along > 0, dist, np.where(np.isfinite(along), np.inf, np.nan))


def pair_costs(origin, directions, cameras, options: MatchingOptions) -> np.ndarray:
    """``(N, N)`` affinities of detections: the median ray-to-ray distance over the joints two
    detections share (meters); ``inf`` for the same camera or too few shared joints. The NumPy
    reference of the numba ``tracking_kernels.pair_costs_kernel`` that :func:`group_detections` uses.

    Parameters
    ----------
    origin : (C, 3) float
    directions : (N, J, 3) float
        The detections' rays (NaN where a joint is not used).
    cameras : (N,) int
        Each detection's camera.
    """
    N = len(cameras)
    cost = np.full((N, N), np.inf)
    for a in np.unique(cameras):
        ia = np.flatnonzero(cameras == a)
        for b in np.unique(cameras[cameras > a]):
            ib = np.flatnonzero(cameras == b)
            d = ray_distances(origin[a], directions[ia][:, None], origin[b], directions[ib][None])
            med = nan_median(d, min_count=options.min_common_joints)
            cost[np.ix_(ia, ib)] = med
            cost[np.ix_(ib, ia)] = med.T
    return cost


def cluster(cost, cameras, threshold: float) -> list[list[int]]:
    """Average-linkage agglomerative grouping of ``N`` detections under a one-per-camera rule.

    Parameters
    ----------
    cost : (N, N) float
        Symmetric pair costs; ``inf`` never joins.
    cameras : (N,) int
    threshold : float
        Two groups merge while the mean of their finite cross costs is below it, every cross pair
        is comparable (finite) for at least half of them, and they share no camera.

    Returns
    -------
    list of list of int
        The groups (every detection in exactly one), largest first.
    """
    N = len(cameras)
    groups = {i: [i] for i in range(N)}
    owner = np.arange(N)
    iu, ju = np.triu_indices(N, 1)
    c = cost[iu, ju]
    keep = c < threshold
    for k in np.argsort(c[keep], kind="stable"):
        i, j = owner[iu[keep][k]], owner[ju[keep][k]]
        if i == j:
            continue
        A, B = groups[i], groups[j]
        if set(cameras[A]) & set(cameras[B]):
            continue
        cross = cost[np.ix_(A, B)]
        finite = np.isfinite(cross)
        if finite.mean() < 0.5 or cross[finite].mean() >= threshold:
            continue
        groups[i] = A + B
        owner[B] = i
        del groups[j]
    return sorted(groups.values(), key=len, reverse=True)


def group_detections(origin, directions, cameras, options: MatchingOptions) -> list[tuple[list[int], np.ndarray]]:
    """Group one frame's detections into people and triangulate each group.

    Parameters
    ----------
    origin : (C, 3) float
        Camera centres.
    directions : (N, J, 3) float
        Rays of the ``N`` detections (NaN where a joint is not used).
    cameras : (N,) int
        Each detection's camera.

    Returns
    -------
    list of (members, points)
        ``members`` the detection indices of one person (two or more cameras, after the views
        whose rays miss the group's point were removed), ``points (J, 3)`` its midpoint joints.
    """
    cameras = np.asarray(cameras)
    if len(cameras) < 2:
        return []
    from .tracking_kernels import pair_costs_kernel   # (numba; pair_costs is its NumPy reference)

    cost = pair_costs_kernel(np.asarray(origin, float), np.ascontiguousarray(directions, dtype=float),
                             np.asarray(cameras, np.int64), options.min_common_joints)
    people = []
    for members in cluster(cost, cameras, options.max_ray_distance_m):
        members = list(members)
        while len(members) >= 2:
            X = midpoint_triangulate(origin[cameras[members]], directions[members])
            err = view_misses(origin[cameras[members]], directions[members], X)
            worst = int(np.nanargmax(np.where(np.isfinite(err), err, 1e9)))
            if not (err[worst] > options.max_view_error_m):
                people.append((members, X))
                break
            members.pop(worst)
    return people


def view_misses(origins, directions, points) -> np.ndarray:
    """``(V,)`` median distance (meters) of each view's rays ``directions (V, J, 3)`` from
    ``points (J, 3)``; ``origins (V, 3)``; inf for a view with nothing to compare."""
    return nan_median(point_ray_distances(origins[:, None], directions, points[None]))


__all__ = ["MatchingOptions", "Rays", "detection_rays", "ray_distances", "midpoint_triangulate",
           "point_ray_distances", "view_misses", "nan_median", "pair_costs", "cluster", "group_detections"]
