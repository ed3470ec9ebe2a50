"""Small rigid-transform helpers: 4x4 poses named ``target_from_source`` and batched Rodrigues."""
from __future__ import annotations

import cv2
import numpy as np


def pose(R, t) -> np.ndarray:
    """4x4 pose from a rotation ``(3, 3)`` or Rodrigues ``(3,)`` and translation ``(3,)``."""
    R = np.asarray(R, float)
    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(R.reshape(3, 1))[0] if R.shape == (3,) else R
    T[:3, 3] = np.asarray(t, float).ravel()
    return T


def invert(T) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = T[:3, :3].T
    out[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return out


def rvec_tvec(T) -> tuple[np.ndarray, np.ndarray]:
    return cv2.Rodrigues(T[:3, :3])[0].ravel(), T[:3, 3].copy()


def rodrigues_batch(rvecs) -> np.ndarray:
    """``(N, 3)`` Rodrigues vectors -> ``(N, 3, 3)`` rotation matrices (vectorised)."""
    r = np.asarray(rvecs, float)
    theta = np.linalg.norm(r, axis=1)
    small = theta < 1e-12
    Kx = _skew(r / np.where(small, 1.0, theta)[:, None])
    s, c = np.sin(theta)[:, None, None], np.cos(theta)[:, None, None]
    R = np.eye(3) + s * Kx + (1 - c) * (Kx @ Kx)
    R[small] = np.eye(3)
    return R


def rotation_angle_deg(Ra, Rb) -> float:
    """Angle of ``Ra^T Rb`` in degrees."""
    c = (np.trace(Ra.T @ Rb) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(c, -1, 1))))


def average_poses(poses) -> np.ndarray:
    """Robust mean of several estimates of one pose ``(N, 4, 4)``: the medoid by rotation angle,
    then the mean of the estimates within 2 degrees of it (chordal mean, re-orthonormalised)."""
    poses = np.asarray(poses)
    n = len(poses)
    if n == 1:
        return poses[0]
    ang = np.array([[rotation_angle_deg(poses[a, :3, :3], poses[b, :3, :3]) for b in range(n)]
                    for a in range(n)])
    med = int(np.argmin(np.median(ang, axis=1)))
    keep = ang[med] < 2.0
    tmed = np.median(poses[keep, :3, 3], axis=0)
    keep &= np.linalg.norm(poses[:, :3, 3] - tmed, axis=1) < 0.05 + 3 * np.median(
        np.linalg.norm(poses[keep, :3, 3] - tmed, axis=1))
    U, _, Vt = np.linalg.svd(poses[keep, :3, :3].sum(0))
    R = U @ np.diag([1, 1, np.linalg.det(U @ Vt)]) @ Vt
    return pose(R, poses[keep, :3, 3].mean(0))


#: ``world_from_board`` of a board lying on the floor at the origin: board x = world X, board y = -Y,
#: board z = -Z (the board's z points into it, away from the cameras above).
FLOOR_FROM_BOARD = pose(np.diag([1.0, -1.0, -1.0]), np.zeros(3))


def rodrigues_derivatives(rvecs) -> np.ndarray:
    """``dR/dr_i`` of every Rodrigues vector: ``(N, 3, 3, 3)``, index ``[n, i]`` the 3x3 derivative
    of ``R(r_n)`` by ``r_n[i]`` (Gallego and Yezzi 2015, eq. 9:
    ``dR/dr_i = (r_i [r]x + [r x (I - R) e_i]x) R / |r|^2``; ``[e_i]x`` at ``r = 0``)."""
    r = np.asarray(rvecs, float)
    R = rodrigues_batch(r)
    n2 = (r * r).sum(1)
    out = np.empty((len(r), 3, 3, 3))
    I = np.eye(3)
    for i in range(3):
        v = np.cross(r, (I - R)[:, :, i])                             # r x (I - R) e_i, (N, 3)
        out[:, i] = (r[:, i, None, None] * _skew(r) + _skew(v)) @ R / np.where(n2 > 1e-24, n2, 1.0)[:, None, None]
    small = n2 <= 1e-24
    if small.any():
        out[small] = _skew(I)[None]
    return out


def _skew(v) -> np.ndarray:
    """``[v]x`` of every row of ``v (N, 3)``: ``(N, 3, 3)``."""
    v = np.asarray(v, float)
    S = np.zeros(v.shape[:-1] + (3, 3))
    S[..., 0, 1], S[..., 0, 2] = -v[..., 2], v[..., 1]
    S[..., 1, 0], S[..., 1, 2] = v[..., 2], -v[..., 0]
    S[..., 2, 0], S[..., 2, 1] = -v[..., 1], v[..., 0]
    return S


def rigid_alignment(A, B) -> tuple[np.ndarray, np.ndarray]:
    """Rotation ``R (3, 3)`` and translation ``t (3,)`` minimising ``sum |R a + t - b|^2`` over the
    rows of ``A, B (n, 3)`` (Kabsch): to compare two camera layouts in different world frames."""
    A, B = np.asarray(A, float), np.asarray(B, float)
    ca, cb = A.mean(0), B.mean(0)
    U, _, Vt = np.linalg.svd((A - ca).T @ (B - cb))
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(Vt.T @ U.T))])
    R = Vt.T @ D @ U.T
    return R, cb - R @ ca
