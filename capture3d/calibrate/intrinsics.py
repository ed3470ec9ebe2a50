"""Per-camera intrinsics and distortion from board detections.

OpenCV's calibration on a selection of views that covers the image (its cost grows with the cube
of the number of views), with iterative rejection of bad views; then a sparse bundle adjustment
of the same model over every usable view (cost linear in the views), so a long recording lowers
the uncertainty instead of being thrown away."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..camera import Camera
from .boards import Board
from .bundle import BoardBundleProblem, board_poses_pnp, camera_covariance, schur_levenberg_marquardt
from .detect import BoardObservations, stack_observations

log = logging.getLogger("capture3d.calibrate")


@dataclass(frozen=True)
class IntrinsicsOptions:
    model: str = "pinhole"          # "pinhole" (5 coefficients), or "fisheye" (4)
    rational: bool = False          # pinhole with 8 coefficients (wide lenses)
    max_views: int = 40             # views OpenCV calibrates on, chosen to cover the image
    refine_all_views: bool = True   # then adjust over every usable view (sparse, linear cost)
    min_corners: int = 8            # a view with fewer corners is skipped
    reject_factor: float = 3.0      # views with RMS > factor x median (and > 1 px) are dropped
    max_rms_px: float = 2.0         # a higher final RMS is a failed calibration, not a result
    # Fewer views than this fail. Two views of a plane already fix fx, fy, cx, cy (each gives
    # two constraints), but with the distortion they are fitted almost exactly (measured on
    # rendered phone photos: RMS 0.12 px from 2 views, 0.43-0.49 px from 3-6 of the same), so
    # the RMS check cannot tell a bad fit; from 3 views on the problem is over-determined.
    min_views: int = 3
    few_views: int = 10             # below this many views: calibrated, with a warning

    def __post_init__(self):
        if self.model not in ("pinhole", "fisheye"):
            raise ValueError(f"model must be 'pinhole' or 'fisheye', got {self.model!r}")
        if self.max_views < 3 or self.min_corners < 4:
            raise ValueError("max_views must be >= 3 and min_corners >= 4")
        if not 3 <= self.min_views <= self.max_views:
            raise ValueError(f"min_views must be between 3 and max_views, got {self.min_views}")


@dataclass
class IntrinsicsResult:
    """``ok`` with a camera, or not ok with a message saying why and what to record."""

    camera_name: str
    status: str
    message: str = ""
    camera: Camera | None = None
    rms_px: float = float("nan")
    view_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    view_rms_px: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coverage: float = 0.0           # share of a 10 x 10 grid over the image that has corners
    # 1-sigma of fx, fy, cx, cy (pixels) from the Jacobian at the solution (the bundle
    # adjustment's; without it OpenCV's, which fisheye calibration does not give: NaN)
    std_px: np.ndarray = field(default_factory=lambda: np.full(4, np.nan))
    warning: str = ""               # an ok result to use with care (few views), and why

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def pointing_std_deg(self) -> float:
        """1-sigma of where the camera points, degrees, from the principal point's uncertainty.

        A principal point off by ``d`` pixels and a camera turned by ``d / f`` radians project a
        scene almost identically, so no extrinsic calibration can tell them apart: this is the
        floor under the error of every camera rotation that uses these intrinsics. Record more
        views close to the camera, strongly tilted, with more corners, to lower it."""
        if self.camera is None:
            return float("nan")
        K = self.camera.matrix
        return float(np.degrees(np.hypot(self.std_px[2] / K[0, 0], self.std_px[3] / K[1, 1])))


def select_views(obs: BoardObservations, max_views: int, min_corners: int) -> list[int]:
    """Indices of views spread over the image: farthest-point sampling on corner centroid,
    spread and tilt, so that the selection covers the sensor instead of taking the first N."""
    w, h = obs.image_size
    cand = [k for k, ids in enumerate(obs.ids) if len(ids) >= min_corners]
    if len(cand) <= max_views:
        return cand
    feats = []
    for k in cand:
        c = obs.corners[k]
        mean = c.mean(0) / [w, h]
        spread = c.std(0) / [w, h]
        feats.append([mean[0], mean[1], 2 * spread[0], 2 * spread[1]])
    feats = np.array(feats)
    chosen = [int(np.argmax(feats[:, 2] * feats[:, 3]))]  # start from the largest view
    dist = np.linalg.norm(feats - feats[chosen[0]], axis=1)
    while len(chosen) < max_views:
        k = int(np.argmax(dist))
        chosen.append(k)
        dist = np.minimum(dist, np.linalg.norm(feats - feats[k], axis=1))
    return sorted(cand[k] for k in chosen)


def coverage_grid(obs: BoardObservations, views) -> np.ndarray:
    """Which cells of a 10 x 10 grid over the image hold a corner of the views ``views``
    (indices into ``obs``): ``(10, 10)`` bool, row = image y."""
    w, h = obs.image_size
    grid = np.zeros((10, 10), bool)
    for k in views:
        c = obs.corners[k]
        gx = np.clip((c[:, 0] / w * 10).astype(int), 0, 9)
        gy = np.clip((c[:, 1] / h * 10).astype(int), 0, 9)
        grid[gy, gx] = True
    return grid


def _calibrate(obj, img, size, opts):
    if opts.model == "fisheye":
        flags = cv2.fisheye.CALIB_RECOMPUTE_EXTRINSIC | cv2.fisheye.CALIB_FIX_SKEW
        K = np.zeros((3, 3))
        D = np.zeros(4)
        crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-10)
        rms, K, D, rvecs, tvecs = cv2.fisheye.calibrate(
            [o.reshape(1, -1, 3) for o in obj], [i.reshape(1, -1, 2) for i in img], size, K, D,
            flags=flags, criteria=crit)
        std = np.full(4, np.nan)
    else:
        flags = cv2.CALIB_RATIONAL_MODEL if opts.rational else cv2.CALIB_FIX_K3
        rms, K, D, rvecs, tvecs, std_intrinsics, _std_extrinsics, _per_view = cv2.calibrateCameraExtended(
            [o.astype(np.float32) for o in obj], [i.astype(np.float32) for i in img], size, None, None,
            flags=flags)
        std = std_intrinsics.ravel()[:4].astype(float)
        # OpenCV hands back 14 coefficients when asked for the rational model; the last six
        # (thin prism, tilt) are not enabled by these flags and stay zero
        D = np.asarray(D, float).ravel()[:8 if opts.rational else 5]
    return rms, K, np.asarray(D, float).ravel(), rvecs, tvecs, std


def calibrate_intrinsics(obs: BoardObservations, board: Board, *,
                         options: IntrinsicsOptions | None = None) -> IntrinsicsResult:
    """Intrinsics of one camera from its board detections.

    Returns
    -------
    IntrinsicsResult
        Status ``ok``, or ``failed`` with a message (too few views, no convergence, RMS above
        ``max_rms_px``), never an exception for bad data.
    """
    opts = options or IntrinsicsOptions()
    name = obs.camera
    views = select_views(obs, opts.max_views, opts.min_corners)
    if len(views) < opts.min_views:
        return IntrinsicsResult(name, "failed", f"camera {name}: the board was found in {len(views)} "
                                f"usable frames of {obs.frames_read}, and {opts.min_views} are needed; "
                                f"record the board filling the image at several tilts (>= {opts.few_views} views)")
    objp = board.object_points()
    rms = np.inf
    for _round in range(3):
        obj = [objp[obs.ids[k]] for k in views]
        img = [obs.corners[k] for k in views]
        try:
            rms, K, D, rvecs, tvecs, std = _calibrate(obj, img, obs.image_size, opts)
        except cv2.error as exc:
            return IntrinsicsResult(name, "failed", f"camera {name}: OpenCV calibration did not converge "
                                    f"({exc.err.strip()}); record views spread over the whole image")
        per_view = []
        for o, i, r, t in zip(obj, img, rvecs, tvecs):
            if opts.model == "fisheye":
                p = cv2.fisheye.projectPoints(o.reshape(1, -1, 3), r, t, K, D)[0].reshape(-1, 2)
            else:
                p = cv2.projectPoints(o, r, t, K, D)[0].reshape(-1, 2)
            per_view.append(np.sqrt(np.mean(np.sum((p - i) ** 2, axis=1))))
        per_view = np.array(per_view)
        bad = per_view > max(opts.reject_factor * np.median(per_view), 1.0)
        if not bad.any() or len(views) - bad.sum() < opts.min_views:
            break
        views = [v for v, b in zip(views, bad) if not b]
    cam = Camera(name, obs.image_size, K, D, model=opts.model)
    frames = obs.frames[views]
    if opts.refine_all_views and len(views) < len(obs.frames):
        refined = refine_intrinsics_all_views(obs, board, cam, opts)
        if refined is not None:
            cam, rms, frames, per_view, std = refined
            views = list(np.flatnonzero(np.isin(obs.frames, frames)))
    res = IntrinsicsResult(name, "ok", "", cam, float(rms), frames, per_view,
                           float(coverage_grid(obs, views).mean()), std)
    if not np.isfinite(rms) or rms > opts.max_rms_px:
        res.status = "failed"
        res.camera = None
        res.message = (f"camera {name}: RMS {rms:.2f} px is above {opts.max_rms_px} px: the calibration "
                       f"is not trustworthy (blurred views, wrong board size, or a checkerboard seen in "
                       f"inconsistent orientations)")
    elif len(frames) < opts.few_views:
        sfx, sfy, scx, scy = res.std_px
        known = (f"f known to +- {max(sfx, sfy):.1f} px and the principal point to +- ({scx:.1f}, {scy:.1f}) px "
                 f"(1 sigma)" if np.isfinite(res.std_px).all() else "its uncertainty not estimated (fisheye)")
        res.warning = (f"camera {name}: calibrated from only {len(frames)} views (of {obs.frames_read} frames), "
                       f"{known}; record >= {opts.few_views} views, tilted, over the whole image, for a "
                       f"calibration to rely on")
        log.warning("%s", res.warning)
    return res


def refine_intrinsics_all_views(obs: BoardObservations, board: Board, camera: Camera,
                                opts: IntrinsicsOptions):
    """Bundle adjustment of ``camera``'s intrinsics and distortion over every usable view.

    Board poses start from PnP through ``camera`` (OpenCV's result on the selected views); the
    camera sits at the origin; its ``fx, fy, cx, cy`` and the distortion coefficients OpenCV
    fits are adjusted with one 6-parameter board pose per view by
    :func:`~capture3d.calibrate.bundle.schur_levenberg_marquardt` (exact steps, cost linear in
    the views). Views with RMS above ``reject_factor`` x median (and 1 px) are dropped once and
    the problem solved again.

    Returns ``(camera, rms_px, view_frames (V,), view_rms_px (V,), std_px (4,))``, or None when
    fewer than 3 views have a PnP pose (the OpenCV result then stands).
    """
    start = board_poses_pnp(obs, camera, board, min_corners=opts.min_corners,
                            max_rms_px=max(3.0, 3 * opts.max_rms_px))
    if len(start) < 3:
        return None
    at_origin = camera.with_pose(np.zeros(3), np.zeros(3))
    use = set(start)
    for attempt in range(2):
        frames, obs_cam, obs_frame, corner_id, px = stack_observations([obs], use=lambda c, f: f in use)
        prob = BoardBundleProblem([at_origin], [0], frames, obs_cam, obs_frame,
                                  board.object_points()[corner_id], px, True)
        x, fun, _iterations = schur_levenberg_marquardt(prob, prob.pack([np.eye(4)], [start[f] for f in frames]))
        err2 = np.sum(fun.reshape(-1, 2) ** 2, axis=1)
        per_view = np.sqrt(np.bincount(obs_frame, err2, len(frames)) / np.bincount(obs_frame, minlength=len(frames)))
        bad = per_view > max(opts.reject_factor * np.median(per_view), 1.0)
        if not bad.any() or attempt == 1:
            break
        use -= {f for f, b in zip(frames, bad) if b}
        cams, poses = prob.unpack(x)
        start = dict(zip(frames, poses))
        at_origin = cams[0]
    cams, _poses = prob.unpack(x)
    cov = camera_covariance(prob.jacobian(x), fun, prob)
    std = np.sqrt(np.clip(np.diag(cov)[6:10], 0, None))
    rms = float(np.sqrt(np.mean(err2)))
    refined = cams[0].with_pose(np.zeros(3), np.zeros(3))
    return refined, rms, np.asarray(frames, np.int64), per_view, std
