"""The synthetic generator: rigs, a moving skeleton, its projections, rendered board videos and a
rendered person.

Ground truth first (rig, 3D motion, exact projections), then a separate seeded corruption step.
Used by the tests, the benchmarks and ``capture3d demo``.
"""
from .motion import SkeletonMotion, make_motion
from .observe import corrupt_keypoints, project_keypoints
from .person import render_person
from .rig import look_at, make_rig

__all__ = ["make_rig", "look_at", "make_motion", "SkeletonMotion", "project_keypoints",
           "corrupt_keypoints", "render_person"]
