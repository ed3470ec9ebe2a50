"""Live crops from the 3D: a camera's BlazePose handed where a person the other views triangulate
stands finds them there, without its full-frame person detector."""
import numpy as np
import pytest

from capture3d import synthetic
from capture3d.live.guide import GuidedBlazePose, person_rois
from capture3d.skeleton import COCO17, canonical_index


@pytest.fixture(scope="module")
def walker():
    """One camera (640 x 480) of a synthetic rig, a walker's joints ``(17, 3)`` meters and the
    rendered image."""
    cam = synthetic.make_rig(4, size=(640, 480), seed=0)[0]
    points = synthetic.make_motion(1, fps=30.0, seed=0).points[0, :17]
    return cam, points, synthetic.render_person(cam, points)


def test_a_crop_holds_the_projected_person_and_only_unseen_people_get_one(walker):
    cam, points, _ = walker
    (pid, roi), = person_rois(cam, {3: points, 4: points + [0.0, 0.0, 0.0]}, [3], COCO17)
    assert pid == 3
    x0, y0, x1, y1 = roi.box()
    uv = cam.project(points)
    inside = (uv[:, 0] >= x0) & (uv[:, 0] <= x1) & (uv[:, 1] >= y0) & (uv[:, 1] <= y1)
    assert inside.all()
    assert person_rois(cam, {3: np.full((17, 3), np.nan)}, [3], COCO17) == []      # not triangulated
    assert person_rois(cam, {3: points + [50.0, 0.0, 0.0]}, [3], COCO17) == []     # outside the image


def test_blazepose_follows_a_crop_from_the_3d_without_its_person_detector(walker, blazepose_models, monkeypatch):
    cam, points, image = walker
    det = GuidedBlazePose(max_persons=2)
    monkeypatch.setattr(det, "detect_persons", lambda image: [])       # the full-frame detector finds no one
    _, index = canonical_index(det.joint_names)
    assert np.isnan(det(image)).all()
    (_, roi), = person_rois(cam, {0: points}, [0], COCO17)
    slot = det.follow(roi)
    assert slot == 0 and det.follow(roi) is None          # the same person twice: refused
    found = det(image)[slot][index[:17]]
    assert det.following(slot)
    miss = np.linalg.norm(found[:, :2] - cam.project(points), axis=1)
    assert np.median(miss) < 12.0        # pixels (a person 197 px tall); measured 3.4
