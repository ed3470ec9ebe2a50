"""Reconstruction: 2D keypoints of several cameras -> 3D points, then temporal processing."""
from .triangulation import TriangulationOptions, TriangulationResult, triangulate

__all__ = ["triangulate", "TriangulationOptions", "TriangulationResult"]
