"""Reprojection overlays, plots and the viewer's playback logic."""
import cv2
import numpy as np
import pytest

from capture3d.cli import main
from capture3d.io import save_points3d, save_pose2d
from capture3d.skeleton import COCO17
from capture3d.synthetic import make_motion, make_rig, project_keypoints
from capture3d.viz.colors import person_color
from capture3d.viz.overlay import DETECTION_BGR, DISAGREE_BGR, REPROJECTION_BGR, floor_background, overlay_frame
from capture3d.viz.plots import plot_reprojection_error, plot_trajectories
from capture3d.viz.viewer import Playback


def _near(img, bgr, tol=40):
    return (np.abs(img.astype(int) - np.array(bgr)).sum(-1) < tol)


def test_overlay_draws_both_skeletons_and_flags_disagreement():
    rig = make_rig(3, seed=0)
    m = make_motion(5, seed=0)
    cam = rig[0]
    kp = project_keypoints(m.points, rig)[0, 2]               # (J, 3) detections of frame 2
    kp[9, :2] += 60.0                                        # left wrist detected 85 px away
    img = overlay_frame(floor_background(cam), cam, m.points[2], COCO17, kp, max_error_px=15)
    proj = cam.project(m.points[2])
    orange, white, red = _near(img, REPROJECTION_BGR), _near(img, DETECTION_BGR), _near(img, DISAGREE_BGR)
    for j in (0, 5, 11, 15):                                  # agreeing joints: white inside orange
        x, y = np.round(proj[j]).astype(int)
        assert white[y - 2:y + 3, x - 2:x + 3].any() and orange[y - 6:y + 7, x - 6:x + 7].any()
    mid = np.round((kp[9, :2] + proj[9]) / 2).astype(int)    # the wrist's disagreement line is red
    assert red[mid[1] - 2:mid[1] + 3, mid[0] - 2:mid[0] + 3].any()
    assert red.sum() < 400                                   # and only that one


def _two_people(n_frames):
    a, b = make_motion(n_frames, seed=0), make_motion(n_frames, seed=1)
    return np.stack([a.points + [-0.9, 0.0, 0.0], b.points + [0.9, 0.0, 0.0]])


def test_overlay_draws_every_person_in_its_colour_and_pairs_it_with_its_detection():
    rig = make_rig(3, seed=0)
    cam = rig[0]
    pts, ids = _two_people(5)[:, 2], [4, 9]                   # (P, J, 3) of frame 2
    det = np.stack([project_keypoints(p[None], rig)[0, 0] for p in pts])   # (P, J, 3)
    ghost = det[0].copy()
    ghost[:, 0] += 400.0                                     # a third detection, of nobody
    det[1, 9, :2] += 60.0                                    # p9's left wrist detected 85 px away
    slots = np.stack([det[1], ghost, det[0]])                # detector slots in another order
    img = overlay_frame(floor_background(cam), cam, pts, COCO17, slots, person_ids=ids, max_error_px=15)
    white, red = _near(img, DETECTION_BGR), _near(img, DISAGREE_BGR)
    for p, pid in enumerate(ids):
        mask = _near(img, person_color(pid).bgr)
        proj = cam.project(pts[p])
        for j in (0, 5, 11, 15):                              # its colour at its joints, white inside
            x, y = np.round(proj[j]).astype(int)
            assert mask[y - 6:y + 7, x - 6:x + 7].any() and white[y - 2:y + 3, x - 2:x + 3].any()
        top = np.round(proj[np.argmin(proj[:, 1])]).astype(int)   # "p<id>" above the head (the
        assert mask[top[1] - 60:top[1] - 5, top[0] - 25:top[0] + 25].sum() > 20   # second moves up)
    mid = np.round((det[1, 9, :2] + cam.project(pts[1])[9]) / 2).astype(int)
    assert red[mid[1] - 2:mid[1] + 3, mid[0] - 2:mid[0] + 3].any()    # p9's wrist, paired with slot 0
    assert red.sum() < 400                                   # and nothing else: the ghost pairs with nobody
    gx, gy = np.round(ghost[0, :2]).astype(int)
    assert white[gy - 2:gy + 3, gx - 2:gx + 3].any()         # the ghost is drawn thin, in white


def test_overlay_command_writes_a_video_per_camera(tmp_path):
    rig = make_rig(2, seed=3)
    rig.save(tmp_path / "c.toml")
    m = make_motion(8, fps=30, seed=2)
    save_points3d(tmp_path / "p.npz", m.points, joint_names=m.joint_names, time_s=m.time_s)
    kp = project_keypoints(m.points, rig)
    for c, cam in enumerate(rig):
        save_pose2d(tmp_path / "pose2d" / f"{cam.name}.npz", kp[c][:, None], joint_names=COCO17,
                    image_size=cam.size, detector="synthetic")
    assert main(["overlay", str(tmp_path / "p.npz"), "-c", str(tmp_path / "c.toml"), "--pose2d",
                 str(tmp_path / "pose2d"), "-o", str(tmp_path / "ov")]) == 0
    for cam in rig:
        cap = cv2.VideoCapture(str(tmp_path / "ov" / f"{cam.name}.mp4"))
        assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 8
    assert main(["overlay", str(tmp_path / "p.npz"), "-c", str(tmp_path / "c.toml"), "--camera", "nope",
                 "-o", str(tmp_path / "ov")]) == 1


def test_overlay_of_cameras_without_a_shared_clock_draws_each_cameras_own_frame(tmp_path):
    """cam02 started 3 frames (0.1 s) after cam01 and recorded 10 frames: instant k is its
    frame k - 3, before its start a black frame. Each video frame's grey level is its number
    x 20, read back in a corner the skeleton never reaches."""
    from tests.sync.helpers import write_video

    rig = make_rig(2, seed=3)
    rig.save(tmp_path / "c.toml")
    m = make_motion(12, fps=30, seed=2)
    save_points3d(tmp_path / "p.npz", m.points, joint_names=m.joint_names, time_s=np.arange(12) / 30)
    session = tmp_path / "s"
    (session / "videos").mkdir(parents=True)
    for cam, n in zip(rig, (12, 10)):
        W, H = cam.size
        grey = np.broadcast_to((20 * np.arange(n, dtype=np.uint8))[:, None, None], (n, H, W))
        write_video(session / "videos" / f"{cam.name}.mp4", np.ascontiguousarray(grey), 30.0)
    (session / "sync.toml").write_text(
        '[metadata]\nmethod = "manual"\nreference = "{0}"\n[cameras.{0}]\nstart_s = 0.0\nfps = 30.0\n'
        '[cameras.{1}]\nstart_s = 0.1\nfps = 30.0\n'.format(*rig.names))
    assert main(["overlay", str(tmp_path / "p.npz"), "-c", str(tmp_path / "c.toml"), "--videos", str(session),
                 "-o", str(tmp_path / "ov")]) == 0

    def corner_grey(name):
        cap = cv2.VideoCapture(str(tmp_path / "ov" / f"{name}.mp4"))
        grey = []
        while True:
            ok, frame = cap.read()
            if not ok:
                return np.array(grey)
            grey.append(float(np.median(frame[-20:, -20:])))

    first, second = corner_grey(rig.names[0]), corner_grey(rig.names[1])
    assert len(first) == len(second) == 12
    assert np.abs(first - 20 * np.arange(12)).max() < 8                        # one clock: frame k
    expected = np.r_[0, 0, 0, 20 * np.arange(9)]                                 # black, then frames 0..8
    assert np.abs(second - expected).max() < 8


def test_overlay_command_with_several_people_and_every_detection_slot(tmp_path):
    rig = make_rig(2, seed=3)
    rig.save(tmp_path / "c.toml")
    pts = _two_people(6)
    save_points3d(tmp_path / "p.npz", pts, joint_names=COCO17, person_id=[1, 2])
    kp = np.stack([project_keypoints(p, rig) for p in pts], axis=2)   # (C, F, P, J, 3)
    for c, cam in enumerate(rig):
        save_pose2d(tmp_path / "pose2d" / f"{cam.name}.npz", kp[c][:, ::-1], joint_names=COCO17,
                    image_size=cam.size, detector="synthetic")
    assert main(["overlay", str(tmp_path / "p.npz"), "-c", str(tmp_path / "c.toml"), "--pose2d",
                 str(tmp_path / "pose2d"), "--camera", rig.names[0], "-o", str(tmp_path / "ov")]) == 0
    cap = cv2.VideoCapture(str(tmp_path / "ov" / f"{rig.names[0]}.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 6
    cap.set(cv2.CAP_PROP_POS_FRAMES, 3)
    ok, frame = cap.read()
    assert ok
    cam = rig[0]
    for p, pid in enumerate((1, 2)):                          # both colours, where each person projects
        mask = _near(frame, person_color(pid).bgr, tol=60)    # (video compression blurs colours)
        x, y = np.round(cam.project(pts[p, 3])[11]).astype(int)
        assert mask[y - 8:y + 9, x - 8:x + 9].any()
        assert _near(frame, DETECTION_BGR, tol=60)[y - 4:y + 5, x - 4:x + 5].any()   # both slots drawn


def test_plots_are_written(tmp_path):
    m = make_motion(60, fps=30)
    err = np.abs(np.random.default_rng(0).normal(0, 1, (60, 17)))
    err[10:20, 3] = np.nan
    a = plot_trajectories(m.points, m.joint_names, m.time_s, tmp_path / "t.png")
    b = plot_reprojection_error(err, m.joint_names, m.time_s, tmp_path / "e.png", n_views=np.full((60, 17), 3))
    for p in (a, b):
        img = cv2.imread(str(p))
        assert img is not None and img.shape[0] > 300 and img.std() > 10


def test_plots_for_two_people(tmp_path):
    pts = _two_people(40)
    pts[1, :10] = np.nan                                     # the second person comes in later
    err = np.abs(np.random.default_rng(0).normal(0, 1, pts.shape[:3]))
    err[1, :10] = np.nan
    views = np.full(pts.shape[:3], 3)
    save_points3d(tmp_path / "p.npz", pts, joint_names=COCO17, person_id=[0, 6], reprojection_error_px=err,
                  n_views=views)
    assert main(["plot", str(tmp_path / "p.npz"), "-o", str(tmp_path / "plots")]) == 0
    for name in ("trajectories.png", "reprojection_error.png"):
        img = cv2.imread(str(tmp_path / "plots" / name))
        assert img is not None and img.shape[0] > 300
        for pid in (0, 6):                                   # a line in each person's colour
            assert _near(img, person_color(pid).bgr, tol=30).sum() > 300


def test_playback_plays_steps_and_changes_speed():
    p = Playback(n_frames=100, fps=50.0)
    assert p.advance(0.1) and p.frame == 5
    p.faster()
    assert p.speed == 2.0 and p.advance(0.1) and p.frame == 15
    p.toggle()
    assert not p.advance(1.0) and p.frame == 15
    p.step(-20)
    assert p.frame == 95
    for _ in range(10):
        p.slower()
    assert p.speed == 0.125
    p.rewind()
    assert p.frame == 0


def test_interactive_view_says_there_is_no_display(tmp_path, monkeypatch):
    pytest.importorskip("open3d")
    import os

    if os.environ.get("DISPLAY"):
        pytest.skip("a display is attached")
    m = make_motion(5, seed=0)
    save_points3d(tmp_path / "p.npz", m.points, joint_names=m.joint_names, time_s=m.time_s)
    assert main(["view", str(tmp_path / "p.npz")]) == 1
