"""A calibration board moved through the capture volume and rendered into every camera.

Rendering is exact ray casting, so lens distortion is in the images as a real lens puts it:
every camera pixel is undistorted to a ray (once per camera), the ray meets the board plane
(a plane homography per frame), and the board image is sampled there (``cv2.remap``). Then lighting gain and offset, blur and sensor noise.
The first frames show the board lying still on the floor at the world origin, with the board
axes on the world's (x = X, y = -Y, z = -Z), so a calibration that takes its world frame from the
floor board lands in the synthetic world frame itself.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..calibrate.boards import Board
from ..calibrate.geometry import FLOOR_FROM_BOARD, pose
from ..camera import Camera
from ..camera.camera import rotation_from_rodrigues
from .observe import project_keypoints

def board_trajectory(n_frames: int, board: Board, *, floor_frames: int = 8, center=(0.0, 0.0, 1.1),
                     turns: float = 2.0, seed: int = 0) -> np.ndarray:
    """``world_from_board`` poses ``(F, 4, 4)`` (meters): floor frames, then a sweep through the volume.

    The board's printed side turns ``turns`` times around the vertical so that every camera of a
    ring sees it, tilting by up to 30 degrees and wandering within +-0.6 m of ``center``.
    """
    rng = np.random.default_rng(seed)
    w, h = board.size_m
    poses = np.empty((n_frames, 4, 4))
    # On the floor, the board's corner at the origin, as a user lays it.
    for f in range(min(floor_frames, n_frames)):
        poses[f] = FLOOR_FROM_BOARD
    moving = n_frames - floor_frames
    if moving <= 0:
        return poses
    s = np.linspace(0, 1, moving)
    phase = rng.uniform(0, 2 * np.pi, 6)
    azimuth = 2 * np.pi * turns * s + phase[0]
    tilt = np.radians(30) * np.sin(2 * np.pi * 3.1 * s + phase[1])
    roll = np.radians(20) * np.sin(2 * np.pi * 2.3 * s + phase[2])
    offset = 0.6 * np.stack([np.sin(2 * np.pi * 1.3 * s + phase[3]), np.sin(2 * np.pi * 1.7 * s + phase[4]),
                             0.5 * np.sin(2 * np.pi * 1.1 * s + phase[5])], axis=1)
    up = np.array([0.0, 0.0, 1.0])
    for k in range(moving):
        facing = np.array([np.cos(azimuth[k]) * np.cos(tilt[k]), np.sin(azimuth[k]) * np.cos(tilt[k]),
                           np.sin(tilt[k])])
        z = -facing                                  # board z points away from the cameras it faces
        x = np.cross(z, up)
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.stack([x, y, z], axis=1)              # columns: board axes in the world
        c, sn = np.cos(roll[k]), np.sin(roll[k])
        R = R @ np.array([[c, -sn, 0], [sn, c, 0], [0, 0, 1]])
        middle = np.asarray(center) + offset[k]
        poses[floor_frames + k] = pose(R, middle - R @ np.array([w / 2, h / 2, 0.0]))
    return poses


class BoardRenderer:
    """Renders one board into one camera; the per-pixel rays are computed once."""

    def __init__(self, board: Board, camera: Camera, *, px_per_square: int = 48, seed: int = 0):
        self.board, self.camera = board, camera
        margin = px_per_square // 2  # a white border, as printed boards have
        self.texture = board.image(px_per_square, margin_px=margin).astype(np.float32)
        self.px_per_m = px_per_square / board.square_length_m
        self.margin = margin
        w, h = camera.size
        v, u = np.mgrid[0:h, 0:w].astype(np.float64)
        xy = camera.pixels_to_normalized(np.stack([u, v], axis=-1))
        # undistorted ray directions (x, y, 1) of every pixel, float32 for the per-frame pass
        self.ray_x, self.ray_y = xy[..., 0].astype(np.float32), xy[..., 1].astype(np.float32)
        rng = np.random.default_rng(seed)
        low = cv2.resize(rng.uniform(60, 160, (h // 40 + 2, w // 40 + 2)).astype(np.float32), (w, h),
                         interpolation=cv2.INTER_CUBIC)
        self.background = np.clip(low + rng.normal(0, 6, (h, w)), 0, 255).astype(np.float32)
        self._noise_key, self._noise_image = None, None    # the fixed noise of renders without rng

    def _board_window(self, world_from_board) -> tuple[slice, slice]:
        """Rows and columns of the image that can show the board (its printed outline, margin
        included, sampled along the edges and projected, plus 3 pixels); the whole image when
        part of the board is behind the camera or the lens model cannot project it."""
        h_px, w_px = self.texture.shape[:2]
        t = np.linspace(0.0, 1.0, 25)
        u = np.concatenate([t * w_px, np.full_like(t, w_px), (1 - t) * w_px, np.zeros_like(t)])
        v = np.concatenate([np.zeros_like(t), t * h_px, np.full_like(t, h_px), (1 - t) * h_px])
        edge = np.stack([(u - self.margin) / self.px_per_m, (v - self.margin) / self.px_per_m,
                         np.zeros_like(u), np.ones_like(u)], axis=1) @ world_from_board.T
        W, H = self.camera.size
        whole = slice(0, H), slice(0, W)
        depth = (edge[:, :3] @ rotation_from_rodrigues(self.camera.rvec).T + self.camera.tvec)[:, 2]
        if not (depth > 0.05).all():
            return whole
        px = self.camera.project(edge[:, :3])
        if not np.isfinite(px).all():
            return whole
        (x0, y0), (x1, y1) = np.floor(px.min(0)) - 3, np.ceil(px.max(0)) + 4
        x0, y0, x1, y1 = int(max(x0, 0)), int(max(y0, 0)), int(min(x1, W)), int(min(y1, H))
        if x1 <= x0 or y1 <= y0:
            return slice(0, 0), slice(0, 0)
        return slice(y0, y1), slice(x0, x1)

    def render(self, world_from_board: np.ndarray, *, gain: float = 1.0, offset: float = 0.0,
               blur_px: float = 0.8, noise_std: float = 2.0, rng=None) -> np.ndarray:
        """Grayscale ``uint8 (H, W)`` image of the board at ``world_from_board (4, 4)``.

        ``gain`` and ``offset`` are grey levels applied to the image, ``blur_px`` a Gaussian sigma
        in pixels, ``noise_std`` the sensor noise sigma in grey levels, drawn from ``rng``; without
        an ``rng`` every frame gets the same noise (``default_rng(0)``'s)."""
        R_cw = rotation_from_rodrigues(self.camera.rvec)
        R = R_cw @ world_from_board[:3, :3]
        t = R_cw @ world_from_board[:3, 3] + self.camera.tvec
        img = self.background.copy()
        # Seen from behind (or edge-on), a real board shows its blank back.
        if R[:, 2] @ t > 0:
            # A ray (x, y, 1) meets the board plane at s * ray, board coordinates (bx, by):
            # s * ray = [r1 r2 t] (bx, by, 1), so the texture pixel is H (x, y, 1) up to scale,
            # with third component 1 / s, which is negative where the plane is behind the camera.
            board_from_ray = np.linalg.inv(np.column_stack([R[:, 0], R[:, 1], t]))
            H = (np.array([[self.px_per_m, 0, self.margin - 0.5], [0, self.px_per_m, self.margin - 0.5],
                           [0, 0, 1]]) @ board_from_ray).astype(np.float32)
            # only the pixels around the board's outline need the per-pixel maps (the board fills
            # a tenth of a view or so: 40 -> 30 ms CPU an image at 1280 x 720, the same image)
            rows, cols = self._board_window(world_from_board)
            x, y = self.ray_x[rows, cols], self.ray_y[rows, cols]
            inv_s = H[2, 0] * x + H[2, 1] * y + H[2, 2]
            with np.errstate(divide="ignore", invalid="ignore"):
                map_x = (H[0, 0] * x + H[0, 1] * y + H[0, 2]) / inv_s
                map_y = (H[1, 0] * x + H[1, 1] * y + H[1, 2]) / inv_s
            map_x[~(inv_s > 0)] = -1e6
            window = img[rows, cols]
            cv2.remap(self.texture, map_x, map_y, cv2.INTER_LINEAR,
                      dst=window, borderMode=cv2.BORDER_TRANSPARENT)
        if gain != 1.0 or offset != 0.0:
            img = img * gain + offset
        if blur_px > 0:
            img = cv2.GaussianBlur(img, (0, 0), blur_px)
        img += self._noise(noise_std, img.shape) if rng is None else \
            rng.normal(0, noise_std, img.shape).astype(np.float32)
        return np.clip(img, 0, 255).astype(np.uint8)

    def _noise(self, noise_std: float, shape: tuple[int, int]) -> np.ndarray:
        """The sensor noise drawn when no ``rng`` is given: ``default_rng(0)``'s, the same in every
        frame, so it is drawn once per renderer (a third of a render's time at 1280 x 720)."""
        key = (float(noise_std), tuple(shape))
        if self._noise_key != key:
            self._noise_key = key
            self._noise_image = np.random.default_rng(0).normal(0, noise_std, shape).astype(np.float32)
        return self._noise_image


def intrinsic_board_poses(camera: Camera, board: Board, n_frames: int = 30, *, tilt_deg=(20.0, 45.0),
                          distance=(0.9, 1.6), seed: int = 0) -> np.ndarray:
    """``world_from_board (F, 4, 4)`` for an intrinsics recording: the board held in front of
    ``camera``, tilted, its centre spread over the whole field of view.

    Parameters
    ----------
    tilt_deg : (low, high), degrees
        Tilt about the board's x or y axis (alternating), either sign.
    distance : (low, high)
        Distance of the board centre in units of (long side / 0.84): at 1.0 the board spans
        about three quarters of a 60-degree camera's image width; well below 1 it runs off
        the image edges (partial views, which ChArUco boards allow).
    """
    rng = np.random.default_rng(seed)
    w, h = board.size_m
    K = camera.matrix
    W, H = camera.size
    R_cw = rotation_from_rodrigues(camera.rvec)
    world_from_cam = np.eye(4)
    world_from_cam[:3, :3], world_from_cam[:3, 3] = R_cw.T, camera.center
    grid = np.stack(np.meshgrid(np.linspace(0.2, 0.8, 5), np.linspace(0.25, 0.75, 3)), -1).reshape(-1, 2)
    out = np.empty((n_frames, 4, 4))
    for k in range(n_frames):
        u, v = grid[k % len(grid)] * [W, H] + rng.uniform(-0.05, 0.05, 2) * [W, H]
        depth = rng.uniform(*distance) * max(w, h) / 0.84
        centre = depth * np.array([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], 1.0])
        # strong tilts about x or y are what pin the focal length and principal point down
        tilt = rng.uniform(*tilt_deg) * rng.choice([-1, 1])
        other = rng.uniform(-15, 15)
        ax, ay = (tilt, other) if k % 2 else (other, tilt)
        ax, ay, az = np.radians([ax, ay, rng.uniform(-20, 20)])
        Rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
        Ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
        Rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
        R = Rz @ Ry @ Rx  # cam_from_board: board axes near the camera's, so it faces the camera
        cam_from_board = pose(R, centre - R @ np.array([w / 2, h / 2, 0.0]))
        out[k] = world_from_cam @ cam_from_board
    return out


def observe_board(rig, board: Board, poses: np.ndarray, *, noise_px: float = 0.0, min_view_cos: float = 0.26,
                  seed: int = 0) -> dict:
    """What an ideal corner detector reports of ``board`` at ``poses (F, 4, 4)`` (world_from_board,
    meters) in every camera of ``rig``, without rendering: ``{camera name: BoardObservations}``.

    A camera reports a frame when every corner projects inside its image and it sees the printed
    side at least ``min_view_cos`` face-on (cosine between the board normal and the viewing ray;
    0.26 is 75 degrees from face-on). Corners get Gaussian noise of ``noise_px`` per axis, pixels.
    Fast enough for benchmarks of hundreds of frames and many cameras; the tests that need real
    detection render with :class:`BoardRenderer` instead.
    """
    from ..calibrate.detect import BoardObservations

    rng = np.random.default_rng(seed)
    obj = board.object_points()
    poses = np.asarray(poses, float)
    world = np.einsum("fij,nj->fni", poses[:, :3, :3], obj) + poses[:, None, :3, 3]     # (F, n, 3)
    middle = world.mean(axis=1)                                                          # (F, 3)
    printed_normal = -poses[:, :3, 2]            # board z points away from the printed side
    projected = project_keypoints(world, rig)[..., :2]     # (C, F, n, 2), NaN outside an image
    out = {}
    for cam, px in zip(rig, projected):
        inside = np.isfinite(px[..., 0])
        ray = cam.center - middle
        facing = np.einsum("fi,fi->f", printed_normal, ray) / np.linalg.norm(ray, axis=1)
        seen = np.flatnonzero(inside.all(axis=1) & (facing >= min_view_cos))
        ids = [np.arange(len(obj)) for _ in seen]
        corners = [px[f] + rng.normal(0, noise_px, px[f].shape) if noise_px else px[f].copy() for f in seen]
        out[cam.name] = BoardObservations(cam.name, tuple(cam.size), seen.astype(np.int64), ids, corners,
                                          len(poses))
    return out
