"""The one interface every 2D pose detector has, and the registry that builds them by name.

A detector takes a BGR ``uint8`` image ``(H, W, 3)`` and returns ``(P, J, 3)`` float32 keypoints
``x, y, score`` in image pixels (OpenCV convention), NaN where a person slot is empty. ``P`` is
the detector's person slots (fixed per detector instance, so that a video's results stack into
``(frames, P, J, 3)``), ``J`` its own layout's joints (``joint_names``). Detectors that track keep
a person in the same slot from frame to frame; :meth:`Detector.reset` forgets the tracks (call it
between videos). :func:`to_canonical` brings any layout into COCO-17 plus feet.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..skeleton import canonical_index


class Detector:
    """Base class: subclasses set ``name``, ``joint_names``, ``max_persons`` and ``__call__``."""

    name: str = ""
    joint_names: tuple[str, ...] = ()
    max_persons: int = 1

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Keypoints ``(max_persons, J, 3)`` float32 = x, y (pixels), score in [0, 1]; NaN rows
        where a slot holds no person."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget tracked persons (a new video starts)."""

    def empty(self) -> np.ndarray:
        return np.full((self.max_persons, len(self.joint_names), 3), np.nan, np.float32)


def check_image(image) -> np.ndarray:
    """``image`` as a contiguous ``(H, W, 3)`` uint8 BGR array; a clear error otherwise."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"detectors take BGR uint8 images of shape (H, W, 3), got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


def to_canonical(keypoints, joint_names) -> tuple[np.ndarray, tuple[str, ...]]:
    """``(..., J, 3)`` keypoints of a detector's layout -> ``(..., J', 3)`` in the canonical
    layout (COCO-17, then the feet the layout has), and the new joint names."""
    names, index = canonical_index(joint_names)
    return np.asarray(keypoints)[..., index, :], names


_REGISTRY: dict[str, Callable[..., Detector]] = {}


def register(name: str):
    """Class decorator: make a detector available to :func:`make_detector` under ``name``."""
    def deco(factory):
        _REGISTRY[name] = factory
        return factory
    return deco


def available_detectors() -> list[str]:
    """Names :func:`make_detector` accepts: built-in detectors and the manifest's ONNX and
    OpenPose entries."""
    from . import manifest
    names = set(_REGISTRY)
    try:
        names |= {n for n, e in manifest.load_manifest().items() if e.format in ("onnx", "caffe", "tensorflow")}
    except Exception:  # a broken manifest must not hide the built-in detectors
        pass
    return sorted(names)


def make_detector(name: str = "blazepose", **options) -> Detector:
    """The detector ``name``: ``"blazepose"`` (default), or an ONNX or OpenPose (Caffe,
    TensorFlow) model listed in ``models/manifest.toml`` by its entry name. ``options`` go to its
    constructor (``models_folder``: another folder holding a ``manifest.toml``)."""
    from . import blazepose, manifest  # noqa: F401  (blazepose registers itself)
    if name in _REGISTRY:
        return _REGISTRY[name](**options)
    entries = manifest.load_manifest(options.pop("models_folder", None))
    if name in entries:
        entry = entries[name]
        if entry.format == "onnx":
            from .onnx_pose import OnnxPose
            return OnnxPose(entry, **options)
        if entry.format in ("caffe", "tensorflow"):
            from .openpose_dnn import OpenPoseDnn
            return OpenPoseDnn(entry, **options)
        raise ValueError(f"model {name!r} is a {entry.format} file, not a pose detector by itself")
    raise ValueError(f"unknown detector {name!r}; available: {', '.join(available_detectors())}")
