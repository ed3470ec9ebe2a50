"""The 3D half of the live picture: the Open3D scene of ``capture3d view`` (floor, cameras, every
person in its colour with its ``p<id>`` label and wrist/ankle trails), drawn at a display rate.

:class:`capture3d.viz.render.OffscreenRenderer` makes new spheres and line sets for every
picture; removing and adding them is what costs there (158 ms CPU a 960 x 540 picture of two
people, measured, against 13 ms to render the same scene again). Here each person slot owns
three geometries made once (its joints as one mesh of spheres, its bones, its trails) whose
vertices are replaced and re-uploaded (``update_geometry``), and each picture is rendered once
(the offscreen renderer renders twice: in ``poll_events`` and again to capture): 11-12 ms CPU a
picture of two people, measured the same way.
"""
from __future__ import annotations

import numpy as np

from ..skeleton import bones_for
from ..viz.colors import person_color
from ..viz.render import TRAIL_JOINTS, OffscreenRenderer, _trail_rgb, draw_labels

JOINT_RADIUS_M = 0.025      # the joint spheres of capture3d view
SPHERE_RESOLUTION = 8


class LiveScene:
    """Draws people ``{id: (J, 3)}`` (meters, world frame) into RGB pictures of ``view``.

    Parameters
    ----------
    view : Camera
        The virtual camera of the picture (its ``size`` is the picture's).
    rig : Rig
        Cameras drawn as frustums.
    joint_names : sequence of str
        The people's joints (bones and trails are found by name).
    """

    def __init__(self, view, rig, joint_names):
        self.renderer = OffscreenRenderer(view, rig=rig)
        self.o3d = self.renderer.o3d
        self.joint_names = list(joint_names)
        self.bones = np.asarray(bones_for(self.joint_names), np.int32).reshape(-1, 2)
        self.trail_index = [self.joint_names.index(n) for n in TRAIL_JOINTS if n in self.joint_names]
        sphere = self.o3d.geometry.TriangleMesh.create_sphere(radius=JOINT_RADIUS_M, resolution=SPHERE_RESOLUTION)
        self._sphere_v = np.asarray(sphere.vertices).copy()          # (V, 3) around the origin, m
        self._sphere_t = np.asarray(sphere.triangles).copy()         # (T, 3)
        self.slots: list[tuple] = []         # (joints mesh, bones, trails) per person slot, made as needed

    @property
    def view(self):
        return self.renderer.view

    @view.setter
    def view(self, camera):
        self.renderer.view = camera

    def _nothing(self, geometry):
        """Make ``geometry`` draw nothing: one degenerate triangle or line at the origin (an empty
        geometry cannot be bound by Open3D's legacy shaders)."""
        V3, I = self.o3d.utility.Vector3dVector, self.o3d.utility
        geometry.clear()
        if isinstance(geometry, self.o3d.geometry.TriangleMesh):
            geometry.vertices = V3(np.zeros((3, 3)))
            geometry.triangles = I.Vector3iVector(np.array([[0, 1, 2]], np.int32))
        else:
            geometry.points = V3(np.zeros((2, 3)))
            geometry.lines = I.Vector2iVector(np.array([[0, 1]], np.int32))
        return geometry

    def _slot(self, k: int):
        while len(self.slots) <= k:
            g = self.o3d.geometry
            parts = (self._nothing(g.TriangleMesh()), self._nothing(g.LineSet()), self._nothing(g.LineSet()))
            for part in parts:
                self.renderer.vis.add_geometry(part, reset_bounding_box=False)
            self.slots.append(parts)
        return self.slots[k]

    def _set_person(self, k, points, recent, rgb):
        """Slot ``k`` shows ``points (J, 3)`` and the trails of ``recent (T, J, 3)`` in ``rgb``."""
        o3d = self.o3d
        V3 = o3d.utility.Vector3dVector
        mesh, bones, trails = self._slot(k)
        ok = np.isfinite(points).all(1)
        if ok.any():
            n = int(ok.sum())
            mesh.vertices = V3((points[ok][:, None] + self._sphere_v[None]).reshape(-1, 3))
            mesh.triangles = o3d.utility.Vector3iVector(
                (self._sphere_t[None] + len(self._sphere_v) * np.arange(n)[:, None, None]).reshape(-1, 3))
            mesh.vertex_colors = V3(np.tile(rgb, (n * len(self._sphere_v), 1)))
        else:
            self._nothing(mesh)
        shown = self.bones[ok[self.bones].all(1)] if len(self.bones) else self.bones
        if len(shown):
            bones.points = V3(np.nan_to_num(points))
            bones.lines = o3d.utility.Vector2iVector(shown)
            bones.colors = V3(np.tile(rgb, (len(shown), 1)))
        else:
            self._nothing(bones)
        ends = []
        for j in self.trail_index:
            path = recent[:, j]
            good = np.isfinite(path).all(1)
            steps = good[:-1] & good[1:]
            ends += [np.stack([path[:-1][steps], path[1:][steps]], axis=1)]
        ends = np.concatenate(ends) if ends else np.zeros((0, 2, 3))
        if len(ends):
            trails.points = V3(ends.reshape(-1, 3))
            trails.lines = o3d.utility.Vector2iVector(np.arange(2 * len(ends), dtype=np.int32).reshape(-1, 2))
            trails.colors = V3(np.tile(_trail_rgb(rgb), (len(ends), 1)))
        else:
            self._nothing(trails)
        for part in (mesh, bones, trails):
            self.renderer.vis.update_geometry(part)

    def render(self, points, person_ids, recent=None) -> np.ndarray:
        """The picture ``(H, W, 3)`` uint8 RGB of people ``points (P, J, 3)`` meters with ids
        ``person_ids (P,)``, their trails from ``recent (P, T, J, 3)`` (oldest first; None: none)
        and each labelled ``p<id>`` above its highest joint."""
        points = np.asarray(points, float).reshape(-1, len(self.joint_names), 3)
        ids = [int(i) for i in person_ids]
        for k in range(max(len(ids), len(self.slots))):
            if k < len(ids):
                trail = recent[k] if recent is not None else points[k][None]
                self._set_person(k, points[k], np.asarray(trail, float), person_color(ids[k]).rgb)
            else:
                for part in self._slot(k):
                    self.renderer.vis.update_geometry(self._nothing(part))
        self.renderer._set_view()
        # one render, in the capture (poll_events would render a first time)
        image = np.asarray(self.renderer.vis.capture_screen_float_buffer(do_render=True))
        image = (np.clip(image, 0, 1) * 255).astype(np.uint8)
        if ids:
            draw_labels(image, self.view, points, ids)
        return image

    def close(self) -> None:
        self.renderer.close()
