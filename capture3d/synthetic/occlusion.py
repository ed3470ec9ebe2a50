"""Which joints another person's body hides from a camera.

Bodies are approximated by capsules (a segment with a radius) around the torso, neck, head and
limbs, between joints or mid-points of joints. A joint is hidden in a view when the line of
sight from the camera centre to it (stopping 5 cm short of the joint) passes within a capsule's
radius of another person's capsule. The numba kernel :func:`occluders` does the work; the plain
NumPy :func:`occluders_reference` is its test oracle.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: (first end, second end, radius in meters for make_motion's 1.75 m adult): each end is the
#: mean of the named joints; equal ends make a sphere.
CAPSULES = (
    (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder"), 0.12),         # torso
    (("left_shoulder",), ("left_hip",), 0.07), (("right_shoulder",), ("right_hip",), 0.07),
    (("left_shoulder", "right_shoulder"), ("left_ear", "right_ear"), 0.05),          # neck
    (("left_ear", "right_ear"), ("left_ear", "right_ear"), 0.11),                    # head
    (("left_shoulder",), ("left_elbow",), 0.05), (("right_shoulder",), ("right_elbow",), 0.05),
    (("left_elbow",), ("left_wrist",), 0.04), (("right_elbow",), ("right_wrist",), 0.04),
    (("left_hip",), ("left_knee",), 0.08), (("right_hip",), ("right_knee",), 0.08),
    (("left_knee",), ("left_ankle",), 0.055), (("right_knee",), ("right_ankle",), 0.055),
)

#: The line of sight stops this far short of the joint (meters), so that the joint's own
#: neighbourhood in another body it touches does not count twice.
SIGHT_MARGIN_M = 0.05


def capsules(points, joint_names, scale):
    """The capsules of every person.

    Parameters
    ----------
    points : (N, P, J, 3) float
        Joints per view-frame and person, camera frame meters (NaN for an absent person).
    joint_names : sequence of str
    scale : (P,) float
        Body size per person; radii are scaled by it.

    Returns
    -------
    a, b : (N, P, K, 3) float64
        Capsule ends, camera frame meters.
    radius : (P, K) float64
        Meters.
    bound_a, bound_b : (N, P, 3) float64
        Axis of one capsule that holds all of a person's capsules (ankles' mid-point to ears'
        mid-point), camera frame meters.
    reach : (N, P) float64
        That capsule's radius, meters; -1 for an absent person.
    """
    index = {n: i for i, n in enumerate(joint_names)}
    end_a = [[index[n] for n in a] for a, _, _ in CAPSULES]
    end_b = [[index[n] for n in b] for _, b, _ in CAPSULES]
    mean = lambda ends: np.stack([points[..., e, :].mean(axis=-2) for e in ends], axis=-2)  # noqa: E731
    a, b = mean(end_a), mean(end_b)
    radius = np.asarray(scale, float)[:, None] * np.array([r for _, _, r in CAPSULES])
    ends = np.concatenate([a, b], axis=-2)                                  # (N, P, 2K, 3)
    low = points[..., [index["left_ankle"], index["right_ankle"]], :].mean(axis=-2)
    high = points[..., [index["left_ear"], index["right_ear"]], :].mean(axis=-2)
    axis = high - low
    t = np.clip(((ends - low[..., None, :]) * axis[..., None, :]).sum(-1)
                / np.maximum((axis * axis).sum(-1), 1e-12)[..., None], 0.0, 1.0)
    off = ends - (low[..., None, :] + t[..., None] * axis[..., None, :])
    reach = np.linalg.norm(off, axis=-1).max(axis=-1) + radius.max(axis=1)
    reach = np.where(np.isfinite(reach), reach, -1.0)
    return a, b, radius, np.nan_to_num(low), np.nan_to_num(high), reach


@njit(cache=True)
def _segment_distance2(dx, dy, dz, ax, ay, az, bx, by, bz):
    """Squared distance and parameter s on the first segment (0 -> d) of the closest points of
    segments 0 -> d and a -> b (Ericson, Real-Time Collision Detection, 5.1.9)."""
    ex, ey, ez = bx - ax, by - ay, bz - az
    rx, ry, rz = -ax, -ay, -az
    aa = dx * dx + dy * dy + dz * dz
    ee = ex * ex + ey * ey + ez * ez
    f = ex * rx + ey * ry + ez * rz
    c = dx * rx + dy * ry + dz * rz
    if ee <= 1e-12:
        t = 0.0
        s = min(max(-c / aa, 0.0), 1.0)
    else:
        b = dx * ex + dy * ey + dz * ez
        denom = aa * ee - b * b
        s = min(max((b * f - c * ee) / denom, 0.0), 1.0) if denom > 1e-12 else 0.0
        t = (b * s + f) / ee
        if t < 0.0:
            t = 0.0
            s = min(max(-c / aa, 0.0), 1.0)
        elif t > 1.0:
            t = 1.0
            s = min(max((b - c) / aa, 0.0), 1.0)
    qx, qy, qz = dx * s - (ax + ex * t), dy * s - (ay + ey * t), dz * s - (az + ez * t)
    return qx * qx + qy * qy + qz * qz, s


@njit(cache=True)
def occluders(points, a, b, radius, bound_a, bound_b, reach):
    """For each joint, the person whose body hides it from the camera, else -1.

    Parameters
    ----------
    points : (N, P, J, 3) float64
        Joints, camera frame meters (the camera centre is the origin); NaN where absent.
    a, b, radius, bound_a, bound_b, reach
        From :func:`capsules` on the same points.

    Returns
    -------
    (N, P, J) int64
        The occluding person nearest the camera along the line of sight, -1 where none.
    """
    N, P, J = points.shape[0], points.shape[1], points.shape[2]
    K = a.shape[2]
    out = np.full((N, P, J), -1, np.int64)
    for n in range(N):
        for p in range(P):
            for j in range(J):
                x, y, z = points[n, p, j, 0], points[n, p, j, 1], points[n, p, j, 2]
                if not z > 0.0:
                    continue
                length = np.sqrt(x * x + y * y + z * z)
                keep = 1.0 - SIGHT_MARGIN_M / length
                if keep <= 0.0:
                    continue
                dx, dy, dz = x * keep, y * keep, z * keep
                best = 2.0
                for q in range(P):
                    if q == p or reach[n, q] < 0.0:
                        continue
                    lx, ly, lz = bound_a[n, q, 0], bound_a[n, q, 1], bound_a[n, q, 2]
                    hx, hy, hz = bound_b[n, q, 0], bound_b[n, q, 1], bound_b[n, q, 2]
                    ux, uy, uz = hx - lx, hy - ly, hz - lz
                    uu = ux * ux + uy * uy + uz * uz
                    t = min(max(-(lx * ux + ly * uy + lz * uz) / uu, 0.0), 1.0) if uu > 1e-12 else 0.0
                    cx, cy, cz = lx + t * ux, ly + t * uy, lz + t * uz    # axis point nearest the camera
                    if np.sqrt(cx * cx + cy * cy + cz * cz) - reach[n, q] > length:
                        continue                       # q is wholly behind the joint
                    d2, s = _segment_distance2(dx, dy, dz, lx, ly, lz, hx, hy, hz)
                    if d2 > reach[n, q] * reach[n, q]:
                        continue                       # the sight line misses q's whole body
                    for k in range(K):
                        d2, s = _segment_distance2(dx, dy, dz, a[n, q, k, 0], a[n, q, k, 1], a[n, q, k, 2],
                                                   b[n, q, k, 0], b[n, q, k, 1], b[n, q, k, 2])
                        if d2 < radius[q, k] * radius[q, k] and s < best:
                            best = s
                            out[n, p, j] = q
    return out


def occluders_reference(points, a, b, radius, *bounds) -> np.ndarray:
    """Plain NumPy :func:`occluders` (every joint against every capsule; no bounding capsules),
    for tests on small inputs."""
    X = np.asarray(points, float)
    N, P, J, _ = X.shape
    length = np.linalg.norm(X, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = X * (1.0 - SIGHT_MARGIN_M / length)
    valid = (X[..., 2] > 0) & (length[..., 0] > SIGHT_MARGIN_M)
    d = d[:, :, :, None, None, :]                          # (N, P, J, 1, 1, 3)
    A, B = a[:, None, None], b[:, None, None]              # (N, 1, 1, Q, K, 3)
    e = B - A
    r = -A
    aa = (d * d).sum(-1)
    ee = (e * e).sum(-1)
    f = (e * r).sum(-1)
    c = (d * r).sum(-1)
    bb = (d * e).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = aa * ee - bb * bb
        s = np.where(denom > 1e-12, np.clip((bb * f - c * ee) / denom, 0, 1), 0.0)
        s = np.where(ee <= 1e-12, np.clip(-c / aa, 0, 1), s)
        t = np.where(ee <= 1e-12, 0.0, (bb * s + f) / ee)
        s = np.where(t < 0, np.clip(-c / aa, 0, 1), np.where(t > 1, np.clip((bb - c) / aa, 0, 1), s))
        t = np.clip(t, 0, 1)
    gap = d * s[..., None] - (A + e * t[..., None])
    hit = ((gap * gap).sum(-1) < radius[None, None, None] ** 2) & valid[..., None, None]
    hit &= ~np.eye(P, dtype=bool)[None, :, None, :, None]
    s_hit = np.where(hit, s, np.inf).min(axis=-1)          # (N, P, J, Q)
    q = np.argmin(s_hit, axis=-1)
    return np.where(np.isfinite(s_hit.min(axis=-1)), q, -1).astype(np.int64)
