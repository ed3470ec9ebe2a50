"""Videos whose image size differs from their calibration's."""
import numpy as np
import pytest

import capture3d
from capture3d.camera.image_size import match_image_size, match_rig_sizes
from capture3d.errors import FileFormatError
from capture3d.synthetic import make_rig


def test_a_scaled_video_gets_a_rescaled_matrix():
    cam = make_rig(1, size=(1920, 1080), seed=2)[0]
    half, note = match_image_size(cam, (960, 540))
    assert "rescaled by 0.5" in note and half.size == (960, 540)
    X = np.random.default_rng(0).normal(size=(50, 3)) * 0.5 + [0, 0, 0.9]
    full_px = cam.project(X)
    # a pixel centre at (u, v) of the full image lies at ((u + 0.5) / 2 - 0.5, ...) in the half one
    assert np.allclose(half.project(X), (full_px + 0.5) * 0.5 - 0.5, atol=1e-9)


def test_a_few_rows_cropped_are_reported_and_the_matrix_kept():
    cam = capture3d.Camera("cam01", (1088, 1920), np.array([[1700.0, 0, 540.0], [0, 1700.0, 960.0], [0, 0, 1]]))
    same, note = match_image_size(cam, (1080, 1920))
    assert note == "cam01: video 1080x1920, calibration 1088x1920: taken as 8 px cropped at the right (principal point kept)"
    assert np.array_equal(same.matrix, cam.matrix) and same.size == (1080, 1920)
    assert match_image_size(cam, (1088, 1920)) == (cam, None)


def test_other_sizes_are_refused_naming_the_camera():
    cam = make_rig(1, size=(1280, 720))[0]
    with pytest.raises(FileFormatError, match=r"cam01.*640x640 but the calibration is 1280x720"):
        match_image_size(cam, (640, 640), path="videos/cam01.mp4")


def test_triangulate_takes_half_size_pose2d_files(tmp_path, capsys):
    """A calibration at 1280 x 720 and 2D keypoints detected on 640 x 360 videos: the same 3D."""
    from capture3d import io
    from capture3d.cli import main
    from capture3d.synthetic import make_motion, project_keypoints

    rig = make_rig(3, size=(1280, 720))
    rig.save(tmp_path / "c.toml")
    motion = make_motion(20, seed=1)
    kp = project_keypoints(motion.points, rig)
    for c, cam in enumerate(rig):
        half = kp[c].copy()
        half[..., :2] = (half[..., :2] + 0.5) * 0.5 - 0.5
        io.save_pose2d(tmp_path / "p" / f"{cam.name}.npz", half[:, None], joint_names=motion.joint_names,
                       image_size=(640, 360), detector="synthetic")
    assert main(["triangulate", str(tmp_path / "p"), "-c", str(tmp_path / "c.toml"), "-o", str(tmp_path / "x.npz"),
                 "--single"]) == 0
    assert "cam02: pose2d image 640x360, calibration 1280x720: matrix rescaled by 0.5" in capsys.readouterr().out
    got = io.load_points3d(tmp_path / "x.npz")["points"]
    assert np.nanmax(np.abs(got - motion.points)) < 1e-6


def test_match_rig_sizes_skips_unknown_sizes():
    rig = make_rig(2)
    out, notes = match_rig_sizes(rig, {"cam01": (0, 0), "cam02": rig[1].size})
    assert notes == [] and out[0] == rig[0]


def test_overlay_on_half_size_videos_says_so_and_draws_where_the_person_is(tmp_path, capsys):
    import cv2

    from capture3d import io
    from capture3d.cli import main
    from capture3d.synthetic import make_motion, render_person
    from capture3d.video import VideoWriter

    rig = make_rig(1, size=(1280, 720))
    rig.save(tmp_path / "c.toml")
    motion = make_motion(3, seed=0)
    io.save_points3d(tmp_path / "p.npz", motion.points, joint_names=motion.joint_names)
    with VideoWriter(tmp_path / "v" / "cam01.mp4", 30, (640, 360)) as w:
        for f in range(3):
            w.write(cv2.resize(render_person(rig[0], motion.points[f]), (640, 360)))
    assert main(["overlay", str(tmp_path / "p.npz"), "-c", str(tmp_path / "c.toml"), "--videos", str(tmp_path / "v"),
                 "-o", str(tmp_path / "o")]) == 0
    assert "cam01: video 640x360, calibration 1280x720: matrix rescaled by 0.5" in capsys.readouterr().out
    cap = cv2.VideoCapture(str(tmp_path / "o" / "cam01.mp4"))
    ok, frame = cap.read()
    assert ok and frame.shape[:2] == (360, 640)
