"""Reconstruction: 2D keypoints of several cameras -> 3D points, then temporal processing."""
from .people import PeopleOptions, PeopleResult, PeopleTracks, track_people, triangulate_people
from .postprocess import FilterOptions, PostprocessResult, postprocess
from .skeleton_fit import SkeletonFitOptions, SkeletonFitResult, fit_skeleton
from .triangulation import TriangulationOptions, TriangulationResult, triangulate

__all__ = ["triangulate", "triangulate_people", "track_people", "PeopleOptions", "PeopleResult", "PeopleTracks", "TriangulationOptions", "TriangulationResult", "postprocess", "FilterOptions",
           "PostprocessResult", "fit_skeleton", "SkeletonFitOptions", "SkeletonFitResult"]
