"""ONNX pose models run with onnxruntime, for models a user lists in ``models/manifest.toml``.

Enough to run RTMPose- or SimpleBaseline-style exports: **top-down** models see one person box
at a time (boxes from BlazePose's person detector, or the whole image), cropped with the box
grown by 1.25 to the model's aspect ratio; **bottom-up** single-person models see the whole image
letterboxed. Outputs are decoded as

- ``heatmap``: ``(1, J, h, w)``; per joint the arg-max, moved a quarter pixel towards the higher
  neighbour (the classic sub-pixel step), score = the peak value;
- ``simcc``: two outputs ``(1, J, W * r)`` and ``(1, J, H * r)`` (``r = simcc_split_ratio``);
  per joint the arg-max of each divided by ``r``, score = the smaller of the two peaks.

Scores are clipped to [0, 1]. Manifest keys: ``input_size = [W, H]``, ``decoding``, ``mode``,
optional ``mean`` / ``std`` (RGB, 0-255 scale; default ImageNet's), ``simcc_split_ratio``,
``person_boxes`` (``"blazepose"`` default, or ``"image"``).
"""
from __future__ import annotations

import cv2
import numpy as np

from ..skeleton import LAYOUTS
from .base import Detector, check_image
from .manifest import ModelEntry

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
BOX_SCALE = 1.25


def box_to_affine(box, input_size) -> np.ndarray:
    """``(2, 3)`` affine image -> model input for a box ``x0, y0, x1, y1`` grown by BOX_SCALE and
    to the input's aspect ratio, centred."""
    w_in, h_in = input_size
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    w, h = (box[2] - box[0]) * BOX_SCALE, (box[3] - box[1]) * BOX_SCALE
    if w * h_in > h * w_in:
        h = w * h_in / w_in
    else:
        w = h * w_in / h_in
    s = w_in / w
    return np.array([[s, 0, w_in / 2 - s * cx], [0, s, h_in / 2 - s * cy]])


def decode_heatmaps(heatmaps) -> np.ndarray:
    """``(J, h, w)`` -> ``(J, 3)`` x, y in heatmap pixels and the peak value."""
    J, h, w = heatmaps.shape
    flat = heatmaps.reshape(J, -1)
    idx = flat.argmax(axis=1)
    y, x = np.divmod(idx, w)
    out = np.stack([x.astype(float), y.astype(float), flat[np.arange(J), idx]], axis=1)
    for j in range(J):
        if 0 < x[j] < w - 1:
            out[j, 0] += 0.25 * np.sign(heatmaps[j, y[j], x[j] + 1] - heatmaps[j, y[j], x[j] - 1])
        if 0 < y[j] < h - 1:
            out[j, 1] += 0.25 * np.sign(heatmaps[j, y[j] + 1, x[j]] - heatmaps[j, y[j] - 1, x[j]])
    return out


def decode_simcc(simcc_x, simcc_y, split_ratio: float) -> np.ndarray:
    """``(J, W r)``, ``(J, H r)`` -> ``(J, 3)`` x, y in input pixels and the smaller peak."""
    x, y = simcc_x.argmax(axis=1), simcc_y.argmax(axis=1)
    score = np.minimum(simcc_x.max(axis=1), simcc_y.max(axis=1))
    return np.stack([x / split_ratio, y / split_ratio, score], axis=1)


class OnnxPose(Detector):
    """A manifest ``onnx`` entry as a detector; see the module docstring."""

    def __init__(self, entry: ModelEntry, *, max_persons: int = 1, threads: int = 1):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ImportError("ONNX models need onnxruntime: pip install onnxruntime") from None
        o = entry.options
        missing = [k for k in ("input_size", "decoding", "mode") if k not in o]
        if missing:
            raise ValueError(f"models/manifest.toml [models.{entry.name}] lacks {', '.join(missing)}")
        if o["decoding"] not in ("heatmap", "simcc") or o["mode"] not in ("topdown", "bottomup"):
            raise ValueError(f"[models.{entry.name}]: decoding must be heatmap or simcc and mode topdown or "
                             f"bottomup, got {o['decoding']!r} and {o['mode']!r}")
        if entry.layout not in LAYOUTS:
            raise ValueError(f"[models.{entry.name}]: layout {entry.layout!r} unknown; one of {sorted(LAYOUTS)}")
        path = entry.check()
        self.name = entry.name
        self.entry = entry
        self.joint_names = LAYOUTS[entry.layout]
        self.max_persons = max_persons if o["mode"] == "topdown" else 1
        self.input_size = tuple(int(v) for v in o["input_size"])
        self.mean = np.asarray(o.get("mean", IMAGENET_MEAN), np.float32)
        self.std = np.asarray(o.get("std", IMAGENET_STD), np.float32)
        self.split_ratio = float(o.get("simcc_split_ratio", 2.0))
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self._boxes = None
        if o["mode"] == "topdown" and o.get("person_boxes", "blazepose") == "blazepose":
            from .blazepose import BlazePose, BlazePoseOptions
            self._boxes = BlazePose(BlazePoseOptions(max_persons=max_persons, track=False, threads=threads))

    def person_boxes(self, image) -> list[np.ndarray]:
        """Person boxes ``x0, y0, x1, y1`` (pixels, before the BOX_SCALE margin), best first."""
        h, w = image.shape[:2]
        if self._boxes is None:
            return [self._whole(w, h)]
        return [self._roi_box(roi) for _, roi in self._boxes.detect_persons(image)[:self.max_persons]]

    @staticmethod
    def _whole(w, h):
        # the box that, grown by BOX_SCALE, is the whole image
        cx, cy = w / 2, h / 2
        return np.array([cx - w / 2 / BOX_SCALE, cy - h / 2 / BOX_SCALE, cx + w / 2 / BOX_SCALE, cy + h / 2 / BOX_SCALE])

    @staticmethod
    def _roi_box(roi):
        # BlazePose's ROI already has its margin: take it back off, box_to_affine adds ours
        x0, y0, x1, y1 = roi.box()
        cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 / BOX_SCALE
        return np.array([cx - half, cy - half, cx + half, cy + half])

    def _run(self, image, affine) -> np.ndarray:
        w_in, h_in = self.input_size
        crop = cv2.warpAffine(image, affine, (w_in, h_in), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        x = (cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) - self.mean) / self.std
        outputs = self.session.run(None, {self.input_name: x.transpose(2, 0, 1)[None]})
        if self.entry.options["decoding"] == "simcc":
            kp = decode_simcc(outputs[0][0], outputs[1][0], self.split_ratio)
        else:
            hm = outputs[0][0]
            kp = decode_heatmaps(hm)
            kp[:, 0] *= w_in / hm.shape[2]
            kp[:, 1] *= h_in / hm.shape[1]
        back = cv2.invertAffineTransform(affine)
        kp[:, :2] = kp[:, :2] @ back[:, :2].T + back[:, 2]
        kp[:, 2] = np.clip(kp[:, 2], 0.0, 1.0)
        return kp

    def __call__(self, image) -> np.ndarray:
        image = check_image(image)
        out = self.empty()
        if self.entry.options["mode"] == "bottomup":
            h, w = image.shape[:2]
            boxes = [self._whole(w, h)]
        else:
            boxes = self.person_boxes(image)
        for p, box in enumerate(boxes[:self.max_persons]):
            out[p] = self._run(image, box_to_affine(box, self.input_size))
        return out
