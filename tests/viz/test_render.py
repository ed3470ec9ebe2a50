"""Offscreen rendering with Open3D: the skeleton's pixels are where the view camera projects it."""
import cv2
import numpy as np

from capture3d.cli import main
from capture3d.io import save_points3d
from capture3d.skeleton import COCO17
from capture3d.synthetic import make_motion, make_rig
from capture3d.viz.render import OffscreenRenderer, view_camera


def _orange(img_rgb):
    r, g, b = (img_rgb[..., k].astype(int) for k in range(3))
    return (r > 200) & (g > 50) & (g < 140) & (b < 80)


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
    # the cameras' frustums are drawn in blue at the cameras' places
    r_, g_, b_ = (img[..., k].astype(int) for k in range(3))
    blue = (b_ > 150) & (r_ < 90) & (g_ < 140)
    dist_blue = cv2.distanceTransform((~blue).astype(np.uint8), cv2.DIST_L2, 5)
    for c in view.project(rig.centers):
        assert dist_blue[int(round(c[1])), int(round(c[0]))] <= 3.0


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
