"""3D-guided crops: the landmark model run where a projection says the person is."""
import numpy as np

from capture3d.detect import to_canonical
from capture3d.detect.blazepose import ROI_SCALE
from capture3d.detect.guided import GuidedOptions, guided_candidates, guided_roi
from capture3d.skeleton import COCO17
from capture3d.synthetic import make_motion, make_rig


def test_the_crop_holds_the_projected_body_upright():
    cam = make_rig(1, size=(1280, 720))[0]
    uv = cam.project(make_motion(1, seed=0).points[0])                  # (17, 2)
    roi = guided_roi(uv, COCO17)
    hips = uv[[11, 12]].mean(0)
    assert np.allclose([roi.cx, roi.cy], hips)
    half = roi.size / 2
    assert np.all(np.abs(uv - hips).max(axis=1) <= half)                  # every joint inside the square
    assert abs(roi.rotation) < np.radians(15)                              # a standing person: barely turned
    assert half / ROI_SCALE > 0 and guided_roi(np.full((17, 2), np.nan), COCO17) is None


def test_crops_from_mediapipes_own_landmarks_find_the_person_again(blazepose_models, mediapipe_reference, tmp_path):
    """No person detector: only the crop built from a pose (mediapipe's landmarks standing in for
    the projected 3D) and the landmark model."""
    ref, videos = mediapipe_reference
    cam = str(ref["video_camera"])
    landmarks = np.asarray(ref["video_landmarks"], float)                 # (F, 33, 3) mediapipe layout
    from capture3d.skeleton import LAYOUTS
    canon, names = to_canonical(landmarks, LAYOUTS["mediapipe33"])
    F = len(canon)
    projected = {cam: canon[None, :, :, :2]}                              # (P=1, F, J, 2)
    wanted = {cam: np.isfinite(canon[None, :, 0, 0])}
    extra, counts = guided_candidates({cam: videos / f"{cam}.mp4"}, projected, wanted, np.arange(F),
                                      joint_names=names, options=GuidedOptions())
    tried, found = counts[cam]
    got = extra[cam][:, 0]                                                # (F, J, 3)
    d = np.linalg.norm(got[..., :2] - canon[..., :2], axis=-1)
    # measured: every frame found again, median 15.5 px from mediapipe's own landmarks (1088 x 1920 frames;
    # mediapipe's crop comes from its own auxiliary landmarks, ours from the joints)
    assert found >= 0.9 * tried > 0 and np.nanmedian(d) < 20.0
