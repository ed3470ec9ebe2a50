"""Offscreen pictures of a skeleton, the floor and the cameras with Open3D.

Open3D is imported here only, when something is drawn. Rendering uses the legacy
``Visualizer`` with a hidden window, which draws through EGL on machines with no display.
The picture is taken from a virtual pinhole camera (:func:`view_camera`), so what lands where
in the image is known exactly: the same :class:`~capture3d.camera.Camera` projects it.

Points are one person ``(F, J, 3)`` or several ``(P, F, J, 3)`` with their ``person_ids``; each
person is drawn in :func:`~capture3d.viz.colors.person_color` and, with several, labelled
``p<id>`` above the head (a 2D label in pictures, a 3D text in the viewer). Cameras are dark
grey, so that the only saturated colours are people.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..camera import Camera
from ..io import as_persons
from ..skeleton import bones_for
from ..synthetic.rig import look_at
from .colors import draw_person_labels, person_color, person_label

SKELETON_RGB = person_color(None).rgb   # a single person: vermillion bones and joints
CAMERA_RGB = (0.3, 0.3, 0.33)           # dark grey frustums
FLOOR_RGB = (0.75, 0.75, 0.75)


def view_camera(points, rig=None, *, size=(1280, 720), azimuth_deg: float = -60.0,
                elevation_deg: float = 25.0) -> Camera:
    """A virtual camera that frames ``points (..., 3)`` and the rig's cameras."""
    pts = np.asarray(points, float).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(1)]
    if rig is not None and len(rig):
        pts = np.vstack([pts, rig.centers]) if len(pts) else rig.centers
    center = pts.mean(0) if len(pts) else np.zeros(3)
    radius = max(np.linalg.norm(pts - center, axis=1).max(), 1.0) if len(pts) else 2.0
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    eye = center + 2.2 * radius * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    rvec, tvec = look_at(eye, center)
    w, h = size
    f = 0.9 * w
    return Camera("view", (w, h), [[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]], np.zeros(5), rvec, tvec)


def _line_set(o3d, points, lines, rgb):
    ls = o3d.geometry.LineSet()
    ls.points = o3d.utility.Vector3dVector(np.asarray(points, float))
    ls.lines = o3d.utility.Vector2iVector(np.asarray(lines, np.int32).reshape(-1, 2))
    ls.colors = o3d.utility.Vector3dVector(np.tile(rgb, (len(ls.lines), 1)))
    return ls


def _floor(o3d, half=3.0, step=0.5):
    ticks = np.arange(-half, half + 1e-9, step)
    pts, lines = [], []
    for t in ticks:
        for a, b in (((t, -half), (t, half)), ((-half, t), (half, t))):
            lines.append((len(pts), len(pts) + 1))
            pts += [(a[0], a[1], 0.0), (b[0], b[1], 0.0)]
    return _line_set(o3d, pts, lines, FLOOR_RGB)


def _frustum(o3d, cam: Camera, depth=0.4):
    w, h = cam.size
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    rays = cam.rays(corners)
    pts = np.vstack([cam.center, cam.center + depth * rays / (rays @ cam.rotation[2])[:, None]])
    lines = [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (2, 3), (3, 4), (4, 1)]
    return _line_set(o3d, pts, lines, CAMERA_RGB)


TRAIL_JOINTS = ("left_wrist", "right_wrist", "left_ankle", "right_ankle")


def _trail_rgb(rgb):
    """A person's colour halfway to white: trails stay apart from the skeleton."""
    return tuple(0.5 + 0.5 * v for v in rgb)


def _trails(o3d, recent_points, joint_names, rgb):
    """Lines through the last frames ``(T, J, 3)`` of the wrists and ankles."""
    pts, lines = [], []
    for name in TRAIL_JOINTS:
        if name not in joint_names:
            continue
        path = recent_points[:, list(joint_names).index(name)]
        for a, b in zip(path[:-1], path[1:]):
            if np.isfinite(a).all() and np.isfinite(b).all():
                lines.append((len(pts), len(pts) + 1))
                pts += [a, b]
    return [_line_set(o3d, pts, lines, _trail_rgb(rgb))] if lines else []


def scene_geometries(o3d, rig=None):
    """The still part of every picture: the floor grid and the cameras' frustums."""
    return [_floor(o3d)] + ([_frustum(o3d, c) for c in rig] if rig is not None else [])


def frame_geometries(o3d, points, joint_names, frame, *, person_ids=None, trail_frames: int = 0):
    """The moving part of frame ``frame``: every person's skeleton in its colour, and optional trails.

    Parameters
    ----------
    points : (F, J, 3) or (P, F, J, 3) float
        Meters, world frame; NaN where absent.
    person_ids : (P,) int, optional
        The people's ids (colours); default 0..P-1. Ignored for ``(F, J, 3)`` points.
    """
    geoms = []
    for pts, pid in zip(*as_persons(points, person_ids)):
        rgb = person_color(pid).rgb
        geoms += _skeleton(o3d, pts[frame], joint_names, rgb)
        if trail_frames > 0:
            geoms += _trails(o3d, pts[max(0, frame - trail_frames):frame + 1], joint_names, rgb)
    return geoms


def _skeleton(o3d, frame_points, joint_names, rgb=SKELETON_RGB):
    ok = np.isfinite(frame_points).all(1)
    lines = [(a, b) for a, b in bones_for(joint_names) if ok[a] and ok[b]]
    geoms = [_line_set(o3d, np.nan_to_num(frame_points), lines, rgb)] if lines else []
    for p in frame_points[ok]:
        s = o3d.geometry.TriangleMesh.create_sphere(radius=0.025, resolution=8)
        s.translate(p)
        s.paint_uniform_color(rgb)
        geoms.append(s)
    return geoms


def head_top(frame_points) -> np.ndarray | None:
    """The highest reconstructed joint ``(3,)`` of ``frame_points (J, 3)`` (Z up), None if none."""
    ok = np.isfinite(frame_points).all(1)
    return frame_points[ok][np.argmax(frame_points[ok, 2])] if ok.any() else None


def label_geometries(o3d, points, frame, *, person_ids=None, azimuth_deg: float = -60.0,
                     height_m: float = 0.15):
    """3D ``p<id>`` texts ``height_m`` tall, 0.12 m above each person's highest joint in frame
    ``frame`` of ``points (P, F, J, 3)``, upright and facing the azimuth :func:`view_camera` looks
    from. Nothing for single-person ``(F, J, 3)`` points (they have no id)."""
    geoms = []
    if np.ndim(points) != 4:
        return geoms
    az = np.radians(azimuth_deg)
    turn = o3d.geometry.get_rotation_matrix_from_xyz
    upright = turn((0.0, 0.0, az + np.pi / 2)) @ turn((np.pi / 2, 0.0, 0.0))   # stand up, then face the view
    for pts, pid in zip(*as_persons(points, person_ids)):
        top = head_top(pts[frame])
        if top is None:
            continue
        text = o3d.t.geometry.TriangleMesh.create_text(person_label(pid), depth=0.0).to_legacy()
        v = np.asarray(text.vertices)
        v = (v - [v[:, 0].mean(), v[:, 1].min(), 0.0]) * (height_m / max(np.ptp(v[:, 1]), 1e-9))
        text.vertices = o3d.utility.Vector3dVector(v @ upright.T + top + [0.0, 0.0, 0.12])
        # create_text winds its triangles away from +Z: turn them to face the view (no culling)
        text.triangles = o3d.utility.Vector3iVector(np.asarray(text.triangles)[:, ::-1].copy())
        text.paint_uniform_color(person_color(pid).rgb)
        geoms.append(text)
    return geoms


def draw_labels(image_rgb, view: Camera, frame_points, person_ids) -> np.ndarray:
    """Write ``p<id>`` in each person's colour above its highest joint, as ``view`` sees it, onto
    ``image_rgb (H, W, 3) uint8`` in place; ``frame_points (P, J, 3)`` meters."""
    above = np.array([0.0, 0.0, 0.05])   # m: clear of the joint spheres however close the view is
    tops = [np.full(2, np.nan) if (top := head_top(pts)) is None else view.project((top + above)[None])[0]
            for pts in frame_points]
    return draw_person_labels(image_rgb, tops, person_ids, bgr=False)


def apply_view(o3d, vis, view: Camera):
    """Point an Open3D visualizer's camera like ``view`` (intrinsics and pose)."""
    params = o3d.camera.PinholeCameraParameters()
    w, h = view.size
    K = view.matrix
    params.intrinsic.set_intrinsics(w, h, K[0, 0], K[1, 1], K[0, 2], K[1, 2])
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = view.rotation, view.tvec
    params.extrinsic = T
    vis.get_view_control().convert_from_pinhole_camera_parameters(params, allow_arbitrary=True)


class OffscreenRenderer:
    """Draws frames of a skeleton with a fixed floor and camera frustums into images."""

    def __init__(self, view: Camera, *, rig=None, line_width: float = 4.0):
        import open3d as o3d

        from ..console import captured_output, verbose

        self.o3d, self.view = o3d, view
        if not verbose():       # Open3D's GLFW and EGL start-up lines; -v shows them
            o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
        self.vis = o3d.visualization.Visualizer()
        w, h = view.size
        with captured_output() as chatter:      # and libwayland's XDG_RUNTIME_DIR line, from C
            opened = self.vis.create_window(width=w, height=h, visible=False)
        if not opened:
            said = " ".join("".join(chatter).split())[:300]
            raise RuntimeError("Open3D could not open an offscreen window (EGL)" + (f": {said}" if said else ""))
        opt = self.vis.get_render_option()
        opt.line_width = line_width
        opt.background_color = np.array([1.0, 1.0, 1.0])
        opt.light_on = False  # flat colours: what is orange in the scene is orange in the image
        self.static = scene_geometries(o3d, rig)
        self.dynamic = []
        for g in self.static:
            self.vis.add_geometry(g)
        self._set_view()

    def _set_view(self):
        apply_view(self.o3d, self.vis, self.view)

    def render(self, points, joint_names, frame: int = 0, *, person_ids=None, trail_frames: int = 0) -> np.ndarray:
        """RGB ``uint8 (H, W, 3)`` picture of frame ``frame`` of ``points (F, J, 3)`` (or of one
        frame ``(J, 3)``), or of several people ``(P, F, J, 3)`` with ``person_ids (P,)`` (default
        0..P-1), each labelled ``p<id>``."""
        points = np.asarray(points, float)
        if points.ndim == 2:
            points, frame = points[None], 0
        for g in self.dynamic:
            self.vis.remove_geometry(g, reset_bounding_box=False)
        self.dynamic = frame_geometries(self.o3d, points, joint_names, frame, person_ids=person_ids,
                                        trail_frames=trail_frames)
        for g in self.dynamic:
            self.vis.add_geometry(g, reset_bounding_box=False)
        self._set_view()
        self.vis.poll_events()
        self.vis.update_renderer()
        img = np.asarray(self.vis.capture_screen_float_buffer(do_render=True))
        img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
        if points.ndim == 4:
            pts, ids = as_persons(points, person_ids)
            draw_labels(img, self.view, pts[:, frame], ids)
        return img

    def close(self):
        self.vis.destroy_window()


def render(points, joint_names, out, *, person_ids=None, rig=None, fps: float = 30.0, size=(1280, 720),
           frame=None, trail_frames: int = 0, progress=None) -> Path:
    """Render ``points (F, J, 3)``, or several people ``(P, F, J, 3)`` with ``person_ids (P,)``,
    to ``out``: a PNG of one frame (default the middle one) or an MP4 of every frame;
    ``trail_frames`` > 0 draws the wrists' and ankles' recent paths."""
    import cv2

    from ..errors import FileFormatError
    from ..video import FOURCC, VideoWriter

    out = Path(out)
    if out.suffix.lower() != ".png" and out.suffix.lower() not in FOURCC:   # before the renderer starts
        raise FileFormatError(out, f"cannot render to this type; use .png (one frame) or a video, one of "
                              f"{sorted(FOURCC)}")
    pts = np.asarray(points, float)
    view = view_camera(pts, rig, size=size)
    r = OffscreenRenderer(view, rig=rig)
    try:
        n_frames = pts.shape[-3]
        if out.suffix.lower() == ".png":
            k = n_frames // 2 if frame is None else frame
            out.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out), cv2.cvtColor(r.render(pts, joint_names, k, person_ids=person_ids,
                                                        trail_frames=trail_frames), cv2.COLOR_RGB2BGR))
        else:
            with VideoWriter(out, fps, size) as w:
                for f in range(n_frames):
                    w.write(cv2.cvtColor(r.render(pts, joint_names, f, person_ids=person_ids,
                                                  trail_frames=trail_frames), cv2.COLOR_RGB2BGR))
                    if progress is not None:
                        progress.update(1)
    finally:
        r.close()
    return out
