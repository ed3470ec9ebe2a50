"""BlazePose with two people in a 16:9 view: the tiled person detector and the same-person test.

On the demo's views (1280 x 720, cameras 3.5 m from the middle) the whole image letterboxed into
the detector's 224 x 224 input makes people about 100 px tall there; two people near each other
then come out as one detection between them, and their 1.5-body-high crops overlap by more than
the IoU that took the second person for the first.
"""
import numpy as np
import pytest

from capture3d import synthetic
from capture3d.detect import BlazePose, BlazePoseOptions


@pytest.fixture(scope="module")
def two_people():
    """cam04 of the demo's rig at frame 0 of its 2-person scene: the people 1.5 m apart (210 px
    between mid-hips), their mid-hips ``(2, 2)`` pixels, the image BGR 1280 x 720."""
    rig = synthetic.make_rig(4, radius_m=3.5, height_m=2.2, size=(1280, 720), seed=0)
    crowd = synthetic.make_crowd(2, 150, fps=30.0, seed=0, feet=True, area_m=synthetic.capture_area(rig, min_views=2))
    cam, people = rig[3], crowd.points[:, 0]
    image = None
    for p in np.argsort(-np.linalg.norm(people.mean(1) - cam.center, axis=1)):      # far first
        image = synthetic.render_person(cam, people[p], image, style=int(p))
    uv = cam.project(people)
    return image, 0.5 * (uv[:, 11] + uv[:, 12])


def _found(detections, hips, within_px=60.0):
    """How many of the true people have a detection whose ROI centre (mid-hip) is near theirs."""
    centres = np.array([[roi.cx, roi.cy] for _, roi in detections]).reshape(-1, 2)
    return sum(bool((np.linalg.norm(centres - h, axis=1) < within_px).any()) for h in hips)


def test_tiles_find_both_people_where_the_whole_image_finds_one(blazepose_models, two_people):
    image, hips = two_people
    whole = BlazePose(BlazePoseOptions(max_persons=2)).detect_persons(image)
    tiled = BlazePose(BlazePoseOptions(max_persons=2, tiles=True, same_person_share=0.12)).detect_persons(image)
    # measured: the whole image gives 2 detections, one 10 px off the near person, the other 83 px
    # off it and 129 px off the far one (the two merged); the tiles' best two one per person, 16 and
    # 21 px off (a third, from the tile that holds both, lies between them)
    assert _found(whole, hips) == 1
    assert _found(tiled[:2], hips) == 2


def test_two_slots_hold_the_two_people_from_the_first_frame(blazepose_models, two_people):
    image, hips = two_people
    old = BlazePose(BlazePoseOptions(max_persons=2))(image)
    new = BlazePose(BlazePoseOptions(max_persons=2, tiles=True, same_person_share=0.12))(image)
    held = lambda out: sum(np.isfinite(out[s, 0, 0]) for s in range(2))  # noqa: E731
    assert held(old) == 1 and held(new) == 2
    # each person's landmarks lie on them: median distance of the slot's hips to the true mid-hip
    for h in hips:
        gaps = [np.linalg.norm(0.5 * (new[s, 23, :2] + new[s, 24, :2]) - h) for s in range(2)]
        assert min(gaps) < 40.0      # pixels; measured 12 and 3 px


def test_same_person_share_is_checked():
    with pytest.raises(ValueError, match="same_person_share"):
        BlazePoseOptions(same_person_share=1.5)
