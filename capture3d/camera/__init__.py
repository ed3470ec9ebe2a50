"""Camera models: one module per distortion model, listed in :data:`MODELS`, and the
:class:`Camera` that combines a model with intrinsics, extrinsics, a name and an image size.
"""
from . import fisheye, pinhole
from .camera import Camera

#: Registered distortion models by name. Each module provides ``NAME``, ``MODEL_ID``,
#: ``N_COEFFS``, ``padded``, ``distort``, ``distort_jacobian`` (NumPy) and the numba
#: ``distort_point`` / ``undistort_point``.
MODELS = {pinhole.NAME: pinhole, fisheye.NAME: fisheye}

__all__ = ["Camera", "MODELS", "pinhole", "fisheye"]
