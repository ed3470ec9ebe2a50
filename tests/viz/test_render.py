"""Offscreen rendering with Open3D: the skeleton's pixels are where the view camera projects it."""
import cv2
import numpy as np
import pytest

from capture3d.cli import main
from capture3d.io import save_points3d
from capture3d.skeleton import COCO17
from capture3d.synthetic import make_motion, make_rig
from capture3d.viz.colors import person_color
from capture3d.viz.render import CAMERA_RGB, OffscreenRenderer, view_camera


def _near(img_rgb, rgb255, tol=40):
    return np.abs(img_rgb.astype(int) - np.array(rgb255)).sum(-1) < tol


def _orange(img_rgb):   # the single-person colour, vermillion
    return _near(img_rgb, person_color(None).rgb255)


def test_skeleton_pixels_are_where_the_projection_says():
    rig = make_rig(4, seed=1)
    motion = make_motion(10, seed=0)
    view = view_camera(motion.points, rig, size=(640, 360))
    r = OffscreenRenderer(view, rig=rig)
    try:
        img = r.render(motion.points[5], COCO17)
    finally:
        r.close()
    assert img.shape == (360, 640, 3) and img.std() > 5  # not blank
    mask = _orange(img)
    assert mask.sum() > 200
    px = view.project(motion.points[5])
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    at_joints = dist[np.round(px[:, 1]).astype(int), np.round(px[:, 0]).astype(int)]
    assert np.median(at_joints) <= 1.0 and at_joints.max() <= 3.0  # px from an orange pixel
    ys, xs = np.nonzero(mask)  # and no orange far from the projected skeleton
    lo, hi = px.min(0) - 15, px.max(0) + 15
    assert ((xs > lo[0]) & (xs < hi[0]) & (ys > lo[1]) & (ys < hi[1])).mean() > 0.99
    # the cameras' frustums are drawn in dark grey at the cameras' places
    grey = _near(img, np.array(CAMERA_RGB) * 255)
    dist_grey = cv2.distanceTransform((~grey).astype(np.uint8), cv2.DIST_L2, 5)
    for c in view.project(rig.centers):
        assert dist_grey[int(round(c[1])), int(round(c[0]))] <= 3.0


def _two_people(n_frames=10):
    """Two walkers, the second 1.5 m to the side as the default view sees it (no overlap)."""
    a, b = make_motion(n_frames, seed=0), make_motion(n_frames, seed=1)
    side = np.array([np.cos(np.radians(30)), np.sin(np.radians(30)), 0.0])  # across the -60 deg view
    return np.stack([a.points - 0.75 * side, b.points + 0.75 * side])


def test_two_people_each_in_its_colour_where_it_projects_with_its_label():
    rig = make_rig(4, seed=1)
    pts, ids = _two_people(), [3, 8]
    view = view_camera(pts, rig, size=(640, 360))
    r = OffscreenRenderer(view, rig=rig)
    try:
        img = r.render(pts, COCO17, 5, person_ids=ids)
    finally:
        r.close()
    boxes = []
    for p, pid in enumerate(ids):
        mask = _near(img, person_color(pid).rgb255)
        px = view.project(pts[p, 5])
        boxes.append((px.min(0), px.max(0)))
        dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
        at_joints = dist[np.round(px[:, 1]).astype(int), np.round(px[:, 0]).astype(int)]
        assert np.median(at_joints) <= 1.0 and at_joints.max() <= 3.0   # px; measured 0 / 0
        ys, xs = np.nonzero(mask)                # its colour only on itself and its label above it
        lo, hi = px.min(0) - [15, 40], px.max(0) + 15
        assert ((xs > lo[0]) & (xs < hi[0]) & (ys > lo[1]) & (ys < hi[1])).mean() > 0.99
        top = px[np.argmin(px[:, 1])]            # the "p<id>" label: its colour 5-30 px above the head
        label = mask[int(top[1]) - 30:int(top[1]) - 5, int(top[0]) - 25:int(top[0]) + 25]
        assert label.sum() > 20
    (lo0, hi0), (lo1, hi1) = boxes
    assert hi0[0] < lo1[0] or hi1[0] < lo0[0]    # the test's premise: the two do not overlap


def test_view_command_writes_png_and_mp4(tmp_path):
    rig = make_rig(3, seed=2)
    rig.save(tmp_path / "c.toml")
    m = make_motion(12, fps=30, seed=1)
    save_points3d(tmp_path / "p.npz", m.points, joint_names=m.joint_names, time_s=m.time_s)
    assert main(["view", str(tmp_path / "p.npz"), "-c", str(tmp_path / "c.toml"), "--render",
                 str(tmp_path / "o.png")]) == 0
    assert cv2.imread(str(tmp_path / "o.png")).std() > 5
    assert main(["view", str(tmp_path / "p.npz"), "--render", str(tmp_path / "o.mp4")]) == 0
    cap = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 12


def test_view_command_renders_a_several_person_file(tmp_path):
    pts = _two_people(6)
    save_points3d(tmp_path / "p.npz", pts, joint_names=COCO17, person_id=[0, 5])
    assert main(["view", str(tmp_path / "p.npz"), "--render", str(tmp_path / "o.png")]) == 0
    img = cv2.cvtColor(cv2.imread(str(tmp_path / "o.png")), cv2.COLOR_BGR2RGB)
    for pid in (0, 5):
        assert _near(img, person_color(pid).rgb255).sum() > 200


def test_viewer_labels_are_upright_texts_above_each_head():
    import open3d as o3d

    from capture3d.viz.render import label_geometries

    pts = _two_people(4)
    pts[1, 2] = np.nan                                    # the second person is not there in frame 2
    texts = label_geometries(o3d, pts, 1, person_ids=[3, 8])
    assert len(texts) == 2 and len(label_geometries(o3d, pts, 2, person_ids=[3, 8])) == 1
    for p, (text, pid) in enumerate(zip(texts, (3, 8))):
        v = np.asarray(text.vertices)
        head = pts[p, 1][np.argmax(pts[p, 1, :, 2])]
        assert v[:, 2].min() == pytest.approx(head[2] + 0.12, abs=1e-6)        # m above the head
        assert np.ptp(v[:, 2]) == pytest.approx(0.15, abs=1e-6)                # upright, 0.15 m tall
        assert np.abs(v[:, :2].mean(0) - head[:2]).max() < 0.1
        assert np.allclose(np.asarray(text.vertex_colors), person_color(pid).rgb)
    assert label_geometries(o3d, pts[0], 1) == []          # a single person has no id to show
    r = OffscreenRenderer(view_camera(pts, size=(320, 180)))   # and they face the view (not culled)
    try:
        for t in texts:
            r.vis.add_geometry(t, reset_bounding_box=False)
        img = r.render(pts[0, 1], COCO17)                  # a single-person frame: no 2D labels
    finally:
        r.close()
    assert _near(img, person_color(8).rgb255).sum() > 30   # pixels; measured 88 (0 with the font's winding)
