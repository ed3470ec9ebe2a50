"""The synthetic generator: rigs, a moving skeleton, its projections, rendered board videos, a
rendered person, and multi-person scenes with what a detector would see of them.

Ground truth first (rig, 3D motion, exact projections), then a separate seeded corruption step.
Used by the tests, the benchmarks and ``capture3d demo``.
"""
from .crowd import DEFAULT_AREA_M, Crowd, capture_area, make_crowd
from .crowd_observe import CrowdNoise, CrowdObservation, observe_crowd
from .motion import SkeletonMotion, body_along_path, make_motion
from .observe import corrupt_keypoints, project_keypoints
from .person import render_person
from .rig import look_at, make_rig

__all__ = ["make_rig", "look_at", "make_motion", "SkeletonMotion", "project_keypoints",
           "corrupt_keypoints", "render_person", "body_along_path", "make_crowd", "Crowd", "capture_area",
           "DEFAULT_AREA_M", "observe_crowd", "CrowdNoise", "CrowdObservation"]
