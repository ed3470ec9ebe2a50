"""The interactive Open3D viewer (``capture3d view`` without ``--render``).

Keys: space play/pause, right/left arrow (or . and ,) one frame forward/back, + and - play
faster/slower, T joint trails on/off, R back to the first frame, Q or Esc quit. The scene is the one
:mod:`capture3d.viz.render` draws offscreen: floor grid, camera frustums, skeleton; with several
people each in its colour with a 3D ``p<id>`` text above the head.

The playback logic is a plain class (:class:`Playback`) so that it is tested without a display.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .colors import person_label
from .render import apply_view, frame_geometries, label_geometries, scene_geometries, view_camera

SPEEDS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass
class Playback:
    """Which frame to show: play/pause, stepping, speed, trails; time in seconds.

    >>> p = Playback(n_frames=10, fps=10.0)
    >>> p.advance(0.35), p.frame       # 0.35 s at 10 fps: three frames on
    (True, 3)
    >>> p.toggle(); p.step(-5); p.frame  # paused; stepping wraps around
    8
    """

    n_frames: int
    fps: float
    frame: int = 0
    playing: bool = True
    speed: float = 1.0
    trails: bool = False
    _carry: float = 0.0

    def toggle(self):
        self.playing = not self.playing
        self._carry = 0.0

    def step(self, frames: int):
        self.frame = (self.frame + frames) % self.n_frames

    def faster(self):
        self.speed = next((s for s in SPEEDS if s > self.speed), SPEEDS[-1])

    def slower(self):
        self.speed = next((s for s in reversed(SPEEDS) if s < self.speed), SPEEDS[0])

    def rewind(self):
        self.frame, self._carry = 0, 0.0

    def advance(self, elapsed_s: float) -> bool:
        """Move on by ``elapsed_s`` seconds of wall time; True when the frame changed."""
        if not self.playing:
            return False
        self._carry += elapsed_s * self.speed * self.fps
        whole = int(self._carry)
        self._carry -= whole
        if whole:
            self.step(whole)
        return bool(whole)


def view(points, joint_names, *, person_ids=None, rig=None, fps: float = 30.0, trail_frames: int | None = None):
    """Open a window and play ``points (F, J, 3)``, or several people ``(P, F, J, 3)`` with
    ``person_ids (P,)`` (meters); returns when the window closes.

    Needs a display; on a machine without one use ``render`` (``capture3d view --render``).
    """
    import os
    import sys

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        # Open3D's headless build "opens" an invisible window here and would play forever.
        raise RuntimeError("no display (DISPLAY is not set): use --render out.png|out.mp4 to draw offscreen")
    import open3d as o3d

    pts = np.asarray(points, float)
    playback = Playback(pts.shape[-3], fps, trails=bool(trail_frames))
    trail = int(fps) if trail_frames is None else trail_frames
    vis = o3d.visualization.VisualizerWithKeyCallback()
    if not vis.create_window("capture3d", width=1280, height=720):
        raise RuntimeError("no display: use --render out.png|out.mp4 to draw offscreen")
    vis.get_render_option().line_width = 4.0
    vis.get_render_option().background_color = np.array([1.0, 1.0, 1.0])
    for g in scene_geometries(o3d, rig):
        vis.add_geometry(g)
    state = {"geoms": [], "last": time.perf_counter(), "shown": -1}

    def redraw(v):
        for g in state["geoms"]:
            v.remove_geometry(g, reset_bounding_box=False)
        state["geoms"] = frame_geometries(o3d, pts, joint_names, playback.frame, person_ids=person_ids,
                                          trail_frames=trail if playback.trails else 0)
        state["geoms"] += label_geometries(o3d, pts, playback.frame, person_ids=person_ids)
        for g in state["geoms"]:
            v.add_geometry(g, reset_bounding_box=state["shown"] < 0)
        state["shown"] = playback.frame
        return True

    def tick(v):
        now = time.perf_counter()
        playback.advance(now - state["last"])
        state["last"] = now
        return redraw(v) if playback.frame != state["shown"] else False

    def on(action):
        def callback(v):
            action()
            return redraw(v)
        return callback

    keys = {ord(" "): playback.toggle, 262: lambda: playback.step(1), 263: lambda: playback.step(-1),
            ord("."): lambda: playback.step(1), ord(","): lambda: playback.step(-1),
            ord("="): playback.faster, ord("+"): playback.faster, ord("-"): playback.slower,
            ord("T"): lambda: setattr(playback, "trails", not playback.trails), ord("R"): playback.rewind}
    for key, action in keys.items():
        vis.register_key_callback(key, on(action))
    vis.register_key_callback(ord("Q"), lambda v: v.close())
    vis.register_animation_callback(tick)
    redraw(vis)
    apply_view(o3d, vis, view_camera(pts, rig, size=(1280, 720)))   # the offscreen render's view
    if pts.ndim == 4:
        ids = range(len(pts)) if person_ids is None else person_ids
        print(f"{len(pts)} people: " + " ".join(person_label(i) for i in ids))
    print("space play/pause · arrows or , . step · + - speed · T trails · R rewind · Q quit")
    vis.run()
    vis.destroy_window()
