"""Our BlazePose pipeline: its geometry on its own, then against mediapipe 0.10.21 on real frames."""
from pathlib import Path

import numpy as np
import pytest

import capture3d
from capture3d.detect import BlazePose, BlazePoseOptions, make_detector
from capture3d.detect.blazepose import (ANCHORS, Roi, crop_matrix, decode_detections, roi_from_points,
                                        weighted_nms)
from capture3d.reconstruct.association import associate_person




def read_frames(path, wanted):
    """The frames ``wanted`` (sorted indices) of a video, BGR."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    out, i = {}, 0
    while len(out) < len(wanted):
        ok, image = cap.read()
        if not ok:
            break
        if i in wanted:
            out[i] = image
        i += 1
    return [out[i] for i in wanted]


def test_anchors_match_the_detector_output_grid():
    assert ANCHORS.shape == (2254, 2)
    # first layer: 28 x 28 cells, two anchors each, row by row
    assert np.allclose(ANCHORS[0], [0.5 / 28, 0.5 / 28]) and np.allclose(ANCHORS[1], ANCHORS[0])
    assert np.allclose(ANCHORS[2], [1.5 / 28, 0.5 / 28])
    # the three stride-32 layers share a 7 x 7 grid with six anchors per cell
    assert np.allclose(ANCHORS[-6:], [6.5 / 7, 6.5 / 7])


def test_decoding_puts_a_box_where_the_raw_offsets_say():
    raw = np.zeros((2254, 12), np.float32)
    scores = np.full(2254, -20.0, np.float32)
    k = 28 * 28 * 2 + 5                       # some anchor of the stride-16 layer
    raw[k, :4] = [22.4, -11.2, 44.8, 67.2]    # pixels of the 224 input: +0.1, -0.05 and 0.2 x 0.3
    raw[k, 4:6] = [0.0, 22.4]                 # keypoint 0 at the anchor, +0.1 in y
    scores[k] = 3.0
    s, boxes, kps = decode_detections(raw, scores, 0.5)
    cx, cy = ANCHORS[k] + [0.1, -0.05]
    assert s.shape == (1,) and s[0] == pytest.approx(1 / (1 + np.exp(-3.0)))
    assert np.allclose(boxes[0], [cx - 0.1, cy - 0.15, cx + 0.1, cy + 0.15], atol=1e-6)
    assert np.allclose(kps[0, 0], ANCHORS[k] + [0.0, 0.1], atol=1e-6)


def test_weighted_nms_merges_a_cluster_and_keeps_a_separate_box():
    boxes = np.array([[0, 0, 1, 1], [0.1, 0, 1.1, 1], [3, 3, 4, 4]], float)
    kps = np.zeros((3, 4, 2))
    kps[1] += 1.0
    s, b, k = weighted_nms(np.array([0.9, 0.3, 0.8]), boxes, kps)
    assert len(s) == 2 and s[0] == 0.9 and s[1] == 0.8
    assert np.allclose(b[0], [0.025, 0, 1.025, 1])          # 0.75 / 0.25 weights
    assert np.allclose(k[0], 0.25) and np.allclose(b[1], boxes[2])


def test_roi_turns_the_body_upright():
    upright = roi_from_points([100, 200], [100, 100])       # size point straight above the hips
    assert upright.rotation == pytest.approx(0.0) and upright.size == pytest.approx(250.0)
    lying = roi_from_points([100, 200], [200, 200])         # body pointing right: turn by +90 deg
    assert lying.rotation == pytest.approx(np.pi / 2)
    # the crop's top centre is the end of the body axis, seen from the crop
    m = crop_matrix(Roi(100, 200, 100, np.pi / 2), 256)
    top = m @ [150, 200, 1]
    assert np.allclose(top[:2] / top[2], [128, 0], atol=1e-4)


def test_an_empty_image_has_no_person(blazepose_models):
    det = make_detector("blazepose", max_persons=2)
    out = det(np.full((480, 640, 3), 127, np.uint8))
    assert out.shape == (2, 33, 3) and np.isnan(out).all()
    with pytest.raises(ValueError, match="BGR uint8"):
        det(np.zeros((480, 640), np.uint8))


def test_agrees_with_mediapipe_on_still_frames(blazepose_models, mediapipe_reference):
    ref, videos = mediapipe_reference
    det = BlazePose(BlazePoseOptions(track=False))
    errors, both_empty = [], 0
    for c, cam in enumerate(ref["cameras"]):
        for f, image in enumerate(read_frames(videos / f"{cam}.mp4", list(ref["static_frames"]))):
            ours, theirs = det(image)[0], ref["static_landmarks"][c, f]
            if np.isnan(theirs[0, 0]):
                both_empty += bool(np.isnan(ours[0, 0]))
                continue
            errors.append(np.linalg.norm(ours[:, :2] - theirs[:, :2], axis=1))
            assert np.allclose(ours[:, 2], theirs[:, 2], atol=0.01)      # visibility
    errors = np.concatenate(errors)
    # measured: median 0.75 px, 90th percentile about 5 px on 1088 x 1920 frames
    assert len(errors) == 15 * 33 and both_empty == 1
    assert np.median(errors) < 2.0 and np.percentile(errors, 90) < 10.0


def test_agrees_with_mediapipe_when_tracking(blazepose_models, mediapipe_reference):
    ref, videos = mediapipe_reference
    det = BlazePose()
    frames = read_frames(videos / f"{ref['video_camera']}.mp4", list(range(int(ref["video_frames"]))))
    errors = [np.linalg.norm(det(im)[0, :, :2] - ref["video_landmarks"][f, :, :2], axis=1)
              for f, im in enumerate(frames)]
    # measured: median 5 px (the ROI follows the person from frame to frame, as mediapipe's does)
    assert np.median(errors) < 8.0


def test_without_roi_smoothing_the_next_crop_is_this_frames_own(blazepose_models, mediapipe_reference):
    """``smooth_roi=False``: the next frame's ROI is built from this frame's auxiliary landmarks
    as found, so no filter state carries the video's history; with it, mediapipe's filter moves it."""
    ref, videos = mediapipe_reference
    frames = read_frames(videos / f"{ref['video_camera']}.mp4", list(range(8)))
    gap = {}
    for smooth in (True, False):
        det, gaps = BlazePose(BlazePoseOptions(smooth_roi=smooth)), []
        for image in frames:
            roi = det._tracks[0]
            det(image)
            if roi is None or det._tracks[0] is None:
                continue
            _, lm = det.landmarks(image, roi)           # the same crop again: the raw landmarks
            own = roi_from_points(lm[33, :2], lm[34, :2])
            now = det._tracks[0]
            gaps.append(max(abs(now.cx - own.cx), abs(now.cy - own.cy), abs(now.size - own.size)))
        assert len(gaps) >= 5
        gap[smooth] = max(gaps)
    assert gap[False] < 1e-6 and gap[True] > 0.05, gap


def test_crops_on_a_grid_make_a_later_start_detect_like_the_whole_video(blazepose_models, mediapipe_reference):
    """``roi_grid`` (with ``smooth_roi=False``): a tracker started 5 frames later takes the same
    crops as one that saw the whole video after a few frames, so from there its landmarks are the
    same numbers. Without the grid the two runs' crops stay apart and so do their landmarks."""
    _, videos = mediapipe_reference
    frames = read_frames(videos / "cam01.mp4", list(range(15)))
    for grid in (None, 0.03):
        options = BlazePoseOptions(smooth_roi=False, roi_grid=grid)
        whole, later = BlazePose(options), BlazePose(options)
        a = np.stack([whole(image) for image in frames])[5:]
        b = np.stack([later(image) for image in frames[5:]])
        assert np.isfinite(a[-5:, 0, :, 0]).all() and np.isfinite(b[-5:, 0, :, 0]).all()
        same = [np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b)]
        if grid is None:
            assert not any(same[-5:])
        else:
            assert all(same[-5:]), same


def test_keypoints_fall_on_the_person_the_other_views_see(blazepose_models, shared_data):
    """Per camera: the person box that the other three views' triangulation reprojects to holds
    this camera's own detections."""
    folder = shared_data / "pose2sim_multiperson"
    rig = capture3d.Rig.load(folder / "Calib.qca.txt")
    det = BlazePose(BlazePoseOptions(max_persons=3))
    n = 25                                        # tracking picks up the people one view misses at first
    cand = []
    for name in rig.names:
        det.reset()
        cand.append(np.stack([det(im) for im in read_frames(folder / "videos" / f"{name}.mp4", list(range(n)))]))
    from capture3d.detect import to_canonical
    cand, names = to_canonical(np.stack(cand), det.joint_names)
    chosen = associate_person(cand.astype(float), rig).keypoints[:, -1:]      # (C, 1, J, 3), last frame
    assert (np.isfinite(chosen[:, 0, :, 0]).sum(axis=1) > 10).sum() >= 3
    checked = 0
    for c, name in enumerate(rig.names):
        own = chosen[c, 0]
        if np.isfinite(own[:, 0]).sum() < 10:
            continue
        others = np.delete(np.arange(len(rig)), c)
        X = capture3d.triangulate(chosen[others], rig.subset([rig.names[o] for o in others])).points[0]
        box_pts = rig[name].project(X[np.isfinite(X[:, 0])])
        lo, hi = box_pts.min(0), box_pts.max(0)
        margin = 0.15 * (hi - lo)
        conf = own[own[:, 2] > 0.5, :2]
        inside = np.all((conf >= lo - margin) & (conf <= hi + margin), axis=1)
        assert inside.mean() >= 0.9, (name, inside.mean())
        checked += 1
    assert checked >= 3


def test_flip_averaging_stays_on_the_person_with_left_and_right_kept(blazepose_models, mediapipe_reference):
    """The mirrored crop's landmarks, exchanged back, agree with the crop's: the average moves the
    points by a few pixels, never onto the other side."""
    ref, videos = mediapipe_reference
    plain, flipped = BlazePose(BlazePoseOptions(track=False)), BlazePose(BlazePoseOptions(track=False, flip=True))
    moved, sides = [], []
    names = list(plain.joint_names)
    left = [names.index(n) for n in ("left_shoulder", "left_hip", "left_knee")]
    right = [names.index(n) for n in ("right_shoulder", "right_hip", "right_knee")]
    for c, cam in enumerate(ref["cameras"]):
        for f, image in enumerate(read_frames(videos / f"{cam}.mp4", list(ref["static_frames"]))):
            a, b = plain(image)[0], flipped(image)[0]
            if np.isnan(a[0, 0]) or np.isnan(b[0, 0]):
                continue
            moved.append(np.linalg.norm(a[:, :2] - b[:, :2], axis=1))
            # the left joints stay nearer the plain left joints than the plain right ones
            sides.append(np.linalg.norm(b[left, :2] - a[left, :2], axis=1) <
                         np.linalg.norm(b[left, :2] - a[right, :2], axis=1))
    moved = np.concatenate(moved)
    # measured: median 5.4 px on 1088 x 1920 frames (half the two runs' disagreement); every side kept
    assert len(sides) >= 10 and np.median(moved) < 10.0 and np.all(sides)


def test_heatmap_refinement_kernel_equals_numpy():
    from capture3d.detect.blazepose import refine_from_heatmap, refine_landmarks

    rng = np.random.default_rng(0)
    for _ in range(5):
        heatmap = (rng.normal(size=(64, 64, 39)) * 3).astype(np.float32)
        xy = rng.uniform(-0.05, 1.05, (39, 2))              # some outside the crop: left as they are
        assert np.allclose(refine_landmarks(xy, heatmap), refine_from_heatmap(xy, heatmap), atol=1e-12)
