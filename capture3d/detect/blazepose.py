"""BlazePose (MediaPipe Pose, full model) as our own pipeline on its two TFLite files.

mediapipe itself cannot live in our environment (its last wheel with models needs numpy < 2),
so the graph it runs is written out here, step by step as its ``.pbtxt`` files describe it:

1. **Person detector** (``pose_detection.tflite``, 224 x 224, RGB in [-1, 1]): the image is
   letterboxed into the input; 2254 SSD anchors are decoded into boxes and four keypoints each
   (hip centre, a point giving size and rotation, shoulder centre, ...); sigmoid scores above
   ``min_detection_score``; weighted non-max suppression at IoU 0.3.
2. **Region of interest**: a square centred on the hip centre, side twice the distance to the
   size point, turned so that the body points up, scaled by 1.25.
3. **Landmarks** (``pose_landmark_full.tflite``, 256 x 256, RGB in [0, 1]): the rotated ROI is
   warped into the input; 39 landmarks (33 body + 6 auxiliary) in crop pixels, refined from the
   64 x 64 heatmap around each landmark, turned back into image pixels; a pose flag below
   ``min_presence`` means "no person here".
4. **Tracking**: the next frame's ROI comes from this frame's auxiliary landmarks 33 (centre) and
   34 (size and rotation); the detector runs only when a track is lost (as mediapipe does), or
   every ``redetect_every`` frames while fewer than ``max_persons`` people are tracked.

Beyond mediapipe, several people are followed at once (``max_persons`` slots: mediapipe keeps
only the first detection), which ``capture3d process`` needs to pick the same person in every
view. Each person keeps its slot while tracked. For several people in a wide view, ``tiles`` runs
the person detector on three square tiles instead of the letterboxed image, and
``same_person_share`` tells two people's crops apart by their centres instead of their overlap.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import combinations

import cv2
import numpy as np
from numba import njit

from ..skeleton import LAYOUTS
from . import manifest
from .base import Detector, check_image, register

log = logging.getLogger("capture3d.detect")

DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
ROI_SCALE = 1.25            # margin around the body that the landmark model was trained with
NMS_IOU = 0.3               # mediapipe's NonMaxSuppressionCalculator threshold
HEATMAP_KERNEL = 7          # RefineLandmarksFromHeatmapCalculator kernel, heatmap pixels
HEATMAP_MIN_CONFIDENCE = 0.5


def _mirror_index(names) -> np.ndarray:
    """Index that exchanges every left joint with its right twin (``left_eye``, ``mouth_left``...)."""
    swap = {n: n.replace("left", "\0").replace("right", "left").replace("\0", "right") for n in names}
    return np.array([names.index(swap[n]) for n in names])


#: MediaPipe's 33 landmarks, left and right exchanged (the mirrored crop's labels).
MIRROR_33 = _mirror_index(list(LAYOUTS["mediapipe33"]))


@dataclass(frozen=True)
class BlazePoseOptions:
    """Options of :class:`BlazePose` (scores in [0, 1])."""

    max_persons: int = 1            # person slots; mediapipe's own graph has one
    min_detection_score: float = 0.5   # person detector (mediapipe's min_detection_confidence)
    min_presence: float = 0.5       # pose flag of the landmark model (min_tracking_confidence)
    track: bool = True              # False: run the person detector on every image (static mode)
    redetect_every: int = 10        # frames between detector runs while slots are free (tracking)
    same_person_iou: float = 0.5    # two ROIs overlapping this much hold the same person
    same_person_share: float | None = None   # instead of the IoU: two ROIs hold the same person when their
    #                                 centres (mid-hips) are closer than this share of their mean side. The
    #                                 ROIs are 1.5 body heights wide, so two people side by side overlap
    #                                 by more than 0.5 and the IoU test takes the second for the first
    tiles: bool = False             # look for people in square tiles of the image's short side (left,
    #                                 centre, right) instead of the whole letterboxed image: at 16:9 the
    #                                 224 px input shows people 1.8x larger, and two people near each
    #                                 other come out as two detections, not one between them. 3 detector
    #                                 runs instead of 1 (on the demo's 1280 x 720 views: 109 of 120
    #                                 people found instead of 77)
    tracking_fps: float = 30.0      # frame rate the ROI smoother assumes (mediapipe's Python API: 30)
    smooth_roi: bool = True         # mediapipe's one-euro filter on the tracked ROI. Its 0.01 Hz cut-off
    #                                 remembers hundreds of frames, so the crops (and landmarks) of a video
    #                                 depend on the frame it starts at; False: the next ROI is this frame's
    #                                 landmarks' own
    roi_grid: float | None = None   # snap each tracked ROI to a grid: centre in steps of this share of its
    #                                 side, side in steps of 2^(1/16) (4.4 %), rotation in steps of 3 deg.
    #                                 Two runs whose crops differ by less than a step then take the same
    #                                 crop, and from there the same landmarks: with smooth_roi False, a
    #                                 video cut from another (a later start) is detected bit-identically
    #                                 after a few frames. 0.03 was measured (README, issue 18)
    threads: int = 1                # TFLite threads (batch work runs one process per core)
    flip: bool = False              # also run the landmark model on the mirrored crop and average the two
    #                                 (left and right exchanged back): twice the landmark cost

    def __post_init__(self):
        if self.max_persons < 1 or self.redetect_every < 1 or self.threads < 1 or self.tracking_fps <= 0:
            raise ValueError("max_persons, redetect_every and threads must be >= 1, tracking_fps > 0")
        if self.roi_grid is not None and not 0.0 < self.roi_grid < 0.5:
            raise ValueError(f"roi_grid must be in (0, 0.5), got {self.roi_grid}")
        if self.same_person_share is not None and not 0.0 < self.same_person_share < 1.0:
            raise ValueError(f"same_person_share must be in (0, 1), got {self.same_person_share}")
        for name in ("min_detection_score", "min_presence", "same_person_iou"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass
class Roi:
    """A square region of interest in image pixels: centre, side, rotation (radians, the angle
    that turns the crop's up onto the body's up)."""

    cx: float
    cy: float
    size: float
    rotation: float

    def corners(self) -> np.ndarray:
        """``(4, 2)`` float32 corners in cv2.boxPoints order (bottom-left, top-left, top-right,
        bottom-right of the upright crop)."""
        return cv2.boxPoints(((self.cx, self.cy), (self.size, self.size), np.degrees(self.rotation)))

    def box(self) -> np.ndarray:
        """Axis-aligned ``(x0, y0, x1, y1)`` around the rotated square."""
        c = self.corners()
        return np.concatenate([c.min(0), c.max(0)])


def ssd_anchors() -> np.ndarray:
    """``(2254, 2)`` anchor centres (x, y) in [0, 1] of the 224 x 224 detector: strides 8, 16 and
    three layers of 32, two anchors per layer (mediapipe's SsdAnchorsCalculator with a fixed
    anchor size, so that only the centres matter)."""
    strides = [8, 16, 32, 32, 32]
    out, layer = [], 0
    while layer < len(strides):
        stride, per_cell = strides[layer], 0
        while layer < len(strides) and strides[layer] == stride:
            per_cell += 2       # aspect ratio 1.0 plus the interpolated scale
            layer += 1
        n = int(np.ceil(DETECTOR_SIZE / stride))
        y, x = np.mgrid[0:n, 0:n]
        centres = np.stack([(x.ravel() + 0.5) / n, (y.ravel() + 0.5) / n], axis=1)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out)


ANCHORS = ssd_anchors()


def decode_detections(raw_boxes, raw_scores, min_score):
    """Detector outputs -> ``(scores (D,), boxes (D, 4) x0 y0 x1 y1, keypoints (D, 4, 2))``, all
    in the letterboxed input's [0, 1] coordinates, after weighted non-max suppression.

    ``raw_boxes (2254, 12)``: box centre x, y, width, height, then 4 keypoints x, y, in input
    pixels relative to the anchor; ``raw_scores (2254,)`` logits.
    """
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.astype(np.float64), -100.0, 100.0)))
    keep = scores >= min_score
    if not keep.any():
        return np.zeros(0), np.zeros((0, 4)), np.zeros((0, 4, 2))
    raw, a, scores = raw_boxes[keep] / DETECTOR_SIZE, ANCHORS[keep], scores[keep]
    centre = raw[:, 0:2] + a
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = raw[:, 4:12].reshape(-1, 4, 2) + a[:, None, :]
    return weighted_nms(scores, boxes, keypoints)


def box_iou(box, boxes) -> np.ndarray:
    """IoU of one ``(4,)`` box with ``(N, 4)`` boxes, all ``x0 y0 x1 y1``."""
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), axis=-1)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(scores, boxes, keypoints, iou=NMS_IOU):
    """mediapipe's WEIGHTED non-max suppression: each cluster of boxes overlapping the best
    remaining one by more than ``iou`` becomes one detection, its box and keypoints the
    score-weighted mean of the cluster's, its score the best one's. Sorted by score."""
    order = np.argsort(-scores, kind="stable")
    scores, boxes, keypoints = scores[order], boxes[order], keypoints[order]
    out_s, out_b, out_k = [], [], []
    remaining = np.arange(len(scores))
    while remaining.size:
        overlap = box_iou(boxes[remaining[0]], boxes[remaining])
        cluster = remaining[overlap > iou]
        cluster = cluster if cluster.size else remaining[:1]
        w = scores[cluster] / scores[cluster].sum()
        out_s.append(scores[remaining[0]])
        out_b.append(w @ boxes[cluster])
        out_k.append(np.tensordot(w, keypoints[cluster], axes=1))
        remaining = remaining[overlap <= iou]
    return np.array(out_s), np.array(out_b), np.array(out_k)


def roi_from_points(centre, scale_point) -> Roi:
    """The ROI of mediapipe's AlignmentPointsRects + RectTransformation: centred on ``centre``,
    side ``2 * ROI_SCALE * |scale_point - centre|``, rotated so that the vector from the centre
    to the scale point points up in the crop (pixels in, pixels out)."""
    d = np.asarray(scale_point, float) - np.asarray(centre, float)
    rotation = np.pi / 2 - np.arctan2(-d[1], d[0])
    rotation = (rotation + np.pi) % (2 * np.pi) - np.pi
    return Roi(float(centre[0]), float(centre[1]), float(2 * np.hypot(*d) * ROI_SCALE), float(rotation))


#: Steps of :func:`snap_roi` other than the centre's: the side's (a factor) and the rotation's (radians).
ROI_SIDE_STEP, ROI_ROTATION_STEP = 2.0 ** (1.0 / 16.0), np.deg2rad(3.0)


def snap_roi(roi: Roi, share: float) -> Roi:
    """``roi`` moved to the nearest point of a grid: side to a power of ``ROI_SIDE_STEP``, centre to
    a multiple of ``share`` of that side (pixels), rotation to a multiple of ``ROI_ROTATION_STEP``.

    >>> r = snap_roi(Roi(101.0, 49.0, 130.0, 0.01), 0.03)
    >>> round(r.size, 2), round(r.cx, 2), round(r.cy, 2), r.rotation
    (128.0, 99.84, 49.92, 0.0)
    """
    size = float(ROI_SIDE_STEP ** np.round(np.log(roi.size) / np.log(ROI_SIDE_STEP)))
    step = share * size
    return Roi(float(np.round(roi.cx / step) * step), float(np.round(roi.cy / step) * step), size,
               float(np.round(roi.rotation / ROI_ROTATION_STEP) * ROI_ROTATION_STEP))


def crop_matrix(roi: Roi, size: int) -> np.ndarray:
    """``(3, 3)`` perspective matrix image pixels -> crop pixels (mediapipe's ImageToTensor:
    the ROI's corners onto the crop's corners ``0`` and ``size``)."""
    dst = np.float32([[0, size], [0, 0], [size, 0], [size, size]])
    return cv2.getPerspectiveTransform(roi.corners().astype(np.float32), dst)


def refine_from_heatmap(xy, heatmap):
    """Move each landmark ``xy (L, 2)`` (crop fraction [0, 1]) to the sigmoid-weighted mean of
    the ``HEATMAP_KERNEL``-wide window of its heatmap channel around it, where the window's
    peak is at least ``HEATMAP_MIN_CONFIDENCE`` (mediapipe's RefineLandmarksFromHeatmap).
    ``heatmap (H, W, L)`` logits. The numba :func:`_refine_kernel` does the same (2.25 ms of
    Python a call against microseconds); this is its reference."""
    h, w, n = heatmap.shape
    out = xy.copy()
    half = (HEATMAP_KERNEL - 1) // 2
    for i in range(n):
        col, row = int(xy[i, 0] * w), int(xy[i, 1] * h)   # truncation, as mediapipe's int cast
        if not (0 <= col < w and 0 <= row < h):
            continue
        r0, r1, c0, c1 = max(0, row - half), min(h, row + half + 1), max(0, col - half), min(w, col + half + 1)
        conf = 1.0 / (1.0 + np.exp(-heatmap[r0:r1, c0:c1, i].astype(np.float64)))
        total = conf.sum()
        if conf.max() >= HEATMAP_MIN_CONFIDENCE and total > 0:
            rows, cols = np.mgrid[r0:r1, c0:c1]
            out[i] = (cols * conf).sum() / w / total, (rows * conf).sum() / h / total
    return out


@njit(cache=True)
def _refine_kernel(xy, heatmap, kernel, min_confidence):
    h, w, n = heatmap.shape
    out = xy.copy()
    half = (kernel - 1) // 2
    for i in range(n):
        col, row = int(xy[i, 0] * w), int(xy[i, 1] * h)
        if not (0 <= col < w and 0 <= row < h):
            continue
        total = peak = sx = sy = 0.0
        for r in range(max(0, row - half), min(h, row + half + 1)):
            for c in range(max(0, col - half), min(w, col + half + 1)):
                conf = 1.0 / (1.0 + np.exp(-np.float64(heatmap[r, c, i])))
                total += conf
                peak = max(peak, conf)
                sx += c * conf
                sy += r * conf
        if peak >= min_confidence and total > 0:
            out[i, 0] = sx / w / total
            out[i, 1] = sy / h / total
    return out


def refine_landmarks(xy, heatmap):
    """:func:`refine_from_heatmap` in numba, what the pipeline calls."""
    return _refine_kernel(np.ascontiguousarray(xy, dtype=np.float64), heatmap, HEATMAP_KERNEL, HEATMAP_MIN_CONFIDENCE)


class RoiSmoother:
    """mediapipe's one-euro filter on the two auxiliary landmarks (min cut-off 0.01 Hz, beta 1,
    derivative cut-off 1 Hz, speeds in object sizes per second): the crop stays still while the
    person stands and follows quickly when they move. Pixels in, pixels out."""

    MIN_CUTOFF, BETA, D_CUTOFF = 0.01, 1.0, 1.0

    def __init__(self, fps: float):
        self.fps = fps
        self.raw = self.value = self.speed = None

    def _alpha(self, cutoff):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau * self.fps)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """``points (2, 2)``: aux landmarks 33 and 34, pixels; returns them smoothed."""
        if self.raw is None:
            self.raw, self.value, self.speed = points.copy(), points.copy(), np.zeros_like(points)
            return points
        scale = max(float(np.mean(points.max(0) - points.min(0))), 1e-6)   # object size, pixels
        speed = (points - self.raw) / scale * self.fps
        self.speed = self.speed + self._alpha(self.D_CUTOFF) * (speed - self.speed)
        alpha = self._alpha(self.MIN_CUTOFF + self.BETA * np.abs(self.speed))
        self.value = self.value + alpha * (points - self.value)
        self.raw = points.copy()
        return self.value


def _interpreter(path, threads):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise ImportError("BlazePose needs ai-edge-litert: pip install 'ai-edge-litert>=2.3'") from None
    from ..console import captured_output

    with captured_output(fds=(2,)):     # TFLite's "INFO: Created ... XNNPACK delegate" line, from C
        it = Interpreter(model_path=str(path), num_threads=threads)
        it.allocate_tensors()
    return it


@register("blazepose")
class BlazePose(Detector):
    """MediaPipe Pose (full model) on ai-edge-litert; see the module docstring for the steps.

    Keypoints are the 33 MediaPipe landmarks (``joint_names``), score = visibility (sigmoid).
    The model files come from ``models/manifest.toml`` and are fetched on first use.

    >>> det = BlazePose()                                 # doctest: +SKIP
    >>> det(cv2.imread("person.jpg")).shape               # doctest: +SKIP
    (1, 33, 3)
    """

    name = "blazepose"
    joint_names = LAYOUTS["mediapipe33"]
    model_names = ("blazepose_detector", "blazepose_landmarks")   # manifest entries it loads
    options_class = BlazePoseOptions                                # what its keyword options make

    def __init__(self, options: BlazePoseOptions | None = None, models_folder=None, **kw):
        self.options = options or BlazePoseOptions(**kw)
        self.max_persons = self.options.max_persons
        det, lmk = (manifest.model(n, models_folder, fetch_missing=True) for n in self.model_names)
        self._det = _interpreter(det.path, self.options.threads)
        self._lmk = _interpreter(lmk.path, self.options.threads)
        self._det_in = self._det.get_input_details()[0]["index"]
        outs = {tuple(d["shape"][1:]): d["index"] for d in self._det.get_output_details()}
        self._det_boxes, self._det_scores = outs[(2254, 12)], outs[(2254, 1)]
        self._lmk_in = self._lmk.get_input_details()[0]["index"]
        outs = {tuple(d["shape"][1:]): d["index"] for d in self._lmk.get_output_details()}
        self._lmk_points, self._lmk_flag, self._lmk_heatmap = outs[(195,)], outs[(1,)], outs[(64, 64, 39)]
        self.reset()

    def reset(self):
        self._tracks: list[Roi | None] = [None] * self.max_persons
        self._smoothers: list[RoiSmoother | None] = [None] * self.max_persons
        self._lost_last: list[int] = []     # slots whose track was lost on the previous frame
        self._frame = 0

    # -- the two models -------------------------------------------------------------------
    def detect_persons(self, image) -> list[tuple[float, Roi]]:
        """``[(score, roi)]`` of the person detector on the BGR image, best first: on the whole
        image letterboxed (mediapipe's keep_aspect_ratio), or with ``tiles`` on its square tiles,
        one person found in two tiles kept once."""
        h, w = image.shape[:2]
        if not self.options.tiles or max(w, h) < 1.2 * min(w, h):
            return self._detect_in(image, Roi(w / 2, h / 2, max(w, h), 0.0))
        side = min(w, h)
        long_axis = np.linspace(side / 2, max(w, h) - side / 2, 3)
        found = []
        for c in long_axis:
            found += self._detect_in(image, Roi(c, h / 2, side, 0.0) if w > h else Roi(w / 2, c, side, 0.0))
        kept = []
        for score, roi in sorted(found, key=lambda d: -d[0]):
            if not any(self._same_person(roi, k) for _, k in kept):
                kept.append((score, roi))
        return kept

    def _detect_in(self, image, region: Roi) -> list[tuple[float, Roi]]:
        """The person detector on the square ``region`` of the image (black outside it)."""
        crop = cv2.warpPerspective(image, crop_matrix(region, DETECTOR_SIZE), (DETECTOR_SIZE, DETECTOR_SIZE),
                                   flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        x = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) * (2.0 / 255.0) - 1.0
        self._det.set_tensor(self._det_in, x[None])
        self._det.invoke()
        scores, _, keypoints = decode_detections(self._det.get_tensor(self._det_boxes)[0],
                                                 self._det.get_tensor(self._det_scores)[0, :, 0],
                                                 self.options.min_detection_score)
        to_image = lambda p: (p - 0.5) * region.size + np.array([region.cx, region.cy])  # noqa: E731
        return [(float(s), roi_from_points(to_image(k[0]), to_image(k[1]))) for s, k in zip(scores, keypoints)]

    def _same_person(self, a: Roi, b: Roi) -> bool:
        """Whether two ROIs hold the same person (see ``same_person_share`` and ``same_person_iou``)."""
        if self.options.same_person_share is not None:
            return np.hypot(a.cx - b.cx, a.cy - b.cy) < self.options.same_person_share * 0.5 * (a.size + b.size)
        return box_iou(a.box(), b.box()[None])[0] > self.options.same_person_iou

    def _landmark_model(self, x):
        """One run of the landmark model on a crop ``x (256, 256, 3)`` RGB in [0, 1]: presence,
        ``xy (39, 2)`` crop fractions (heatmap-refined) and ``visibility (39,)`` logits."""
        self._lmk.set_tensor(self._lmk_in, x[None])
        self._lmk.invoke()
        presence = float(self._lmk.get_tensor(self._lmk_flag).ravel()[0])
        raw = self._lmk.get_tensor(self._lmk_points)[0].reshape(39, 5)
        xy = refine_landmarks(raw[:, :2] / LANDMARK_SIZE, self._lmk.get_tensor(self._lmk_heatmap)[0])
        return presence, xy, raw[:, 3]

    def landmarks(self, image, roi: Roi):
        """``(presence, landmarks (39, 3) x, y pixels, visibility)`` of the landmark model in ``roi``
        (with ``flip``: the mean of the crop's and the mirrored crop's, left and right exchanged
        back; the presence and the six auxiliary points, which steer the tracking, from the crop
        alone, so that the tracking is the same with and without)."""
        m = crop_matrix(roi, LANDMARK_SIZE)
        crop = cv2.warpPerspective(image, m, (LANDMARK_SIZE, LANDMARK_SIZE), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)
        x = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) * (1.0 / 255.0)
        presence, xy, logit = self._landmark_model(x)
        if self.options.flip:
            _, xy2, logit2 = self._landmark_model(np.ascontiguousarray(x[:, ::-1]))
            body = MIRROR_33
            xy2[:, 0] = 1.0 - xy2[:, 0]
            xy[:33] = 0.5 * (xy[:33] + xy2[body])
            logit[:33] = 0.5 * (logit[:33] + logit2[body])
            # presence, like the auxiliary points, from the crop alone: the tracking, and so the
            # slots, stay those of a run without flip, which process --flip compares it with
        # crop fraction -> image pixels: rotate about the crop centre, scale by the ROI side
        c, s = np.cos(roi.rotation), np.sin(roi.rotation)
        u, v = xy[:, 0] - 0.5, xy[:, 1] - 0.5
        out = np.empty((39, 3))
        out[:, 0] = (c * u - s * v) * roi.size + roi.cx
        out[:, 1] = (s * u + c * v) * roi.size + roi.cy
        out[:, 2] = 1.0 / (1.0 + np.exp(-np.clip(logit, -60.0, 60.0)))   # (blank images give huge logits)
        return presence, out

    # -- the pipeline ---------------------------------------------------------------------
    def __call__(self, image) -> np.ndarray:
        image = check_image(image)
        o = self.options
        if not o.track:
            self.reset()
        free = [i for i, t in enumerate(self._tracks) if t is None]
        # mediapipe runs its detector only when the track is lost; with several slots we also
        # look for newcomers now and then while some slot is free
        if free and (not o.track or len(free) == self.max_persons or self._lost_last
                     or self._frame % o.redetect_every == 0):
            tracked = [t for t in self._tracks if t is not None]
            for score, roi in self.detect_persons(image):
                if not free:
                    break
                if any(self._same_person(roi, t) for t in tracked):
                    continue   # already followed
                slot = free.pop(0)
                self._tracks[slot] = roi
                tracked.append(roi)
        out = self.empty()
        lost = []
        for slot, roi in enumerate(self._tracks):
            if roi is None:
                continue
            presence, lm = self.landmarks(image, roi)
            if presence < o.min_presence:
                self._tracks[slot] = self._smoothers[slot] = None
                lost.append(slot)
                continue
            out[slot] = lm[:33]
            if not o.smooth_roi:
                centre, scale_point = lm[33, :2], lm[34, :2]
            else:
                if self._smoothers[slot] is None:
                    self._smoothers[slot] = RoiSmoother(o.tracking_fps)
                centre, scale_point = self._smoothers[slot](lm[33:35, :2])
            roi = roi_from_points(centre, scale_point)
            self._tracks[slot] = roi if o.roi_grid is None else snap_roi(roi, o.roi_grid)
        self._drop_duplicates(out)
        self._lost_last = lost
        self._frame += 1
        return out

    def _drop_duplicates(self, out):
        """Two slots that converged onto one person: keep the one with the higher mean score."""
        for a, b in combinations(range(self.max_persons), 2):
            ra, rb = self._tracks[a], self._tracks[b]
            if ra is None or rb is None or not self._same_person(ra, rb):
                continue
            worse = a if np.nanmean(out[a, :, 2]) < np.nanmean(out[b, :, 2]) else b
            out[worse] = np.nan
            self._tracks[worse] = self._smoothers[worse] = None
