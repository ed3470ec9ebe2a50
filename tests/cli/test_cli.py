"""The command line: the demo end to end, conversion, and bad input (exit 1, one-line reason)."""
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from capture3d.cli import main


def test_demo_writes_its_files_and_measures_under_10_mm(tmp_path, capsys):
    assert main(["demo", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    for name in ("calibration.toml", "points3d.npz", "points3d.csv", "points3d.trc", "points3d.c3d", "render.png",
                 "points3d.bvh", "overlay_cam01.mp4", "plots/trajectories.png", "plots/reprojection_error.png",
                 "pose2d/cam01.npz", "ground_truth/calibration.toml", "ground_truth/points3d.npz"):
        assert (tmp_path / "d" / name).exists(), name
    err = float(re.search(r"3D joint error, triangulated\s+([\d.]+) mm", out).group(1))
    assert err < 10.0  # mm; measured 3.6
    fitted = float(re.search(r"3D joint error, after the skeleton fit\s+([\d.]+) mm", out).group(1))
    assert fitted < err  # measured 2.9
    # the BVH's forward kinematics gives back the demo's joints (measured 0.22 / 2.1 mm)
    from capture3d.export import read_bvh
    from capture3d.io import load_points3d

    data = load_points3d(tmp_path / "d" / "points3d.npz")
    fk, names = read_bvh(tmp_path / "d" / "points3d.bvh").encoded_points()
    gap = np.linalg.norm(fk - data["points"][:, [data["joint_names"].index(n) for n in names]], axis=-1) * 1000
    assert np.nanmean(gap) < 1.0 and np.nanmax(gap) < 5.0
    df = pd.read_csv(tmp_path / "d" / "points3d.csv")
    assert list(df.columns[:5]) == ["fnum", "time_s", "nose_x", "nose_y", "nose_z"]
    assert len(df) == 240 and df["left_knee_z"].between(0.0, 1.0).all()
    # the stages run alone from the CLI on the demo's files give the same points
    assert main(["triangulate", str(tmp_path / "d" / "pose2d"), "-c", str(tmp_path / "d" / "calibration.toml"),
                 "-o", str(tmp_path / "p.npz")]) == 0
    raw = np.load(tmp_path / "d" / "points3d_raw.npz")["points"]
    assert np.allclose(np.load(tmp_path / "p.npz")["points"], raw, equal_nan=True)


def test_convert_and_bad_input(tmp_path, capsys):
    from capture3d.synthetic import make_rig
    make_rig(3).save(tmp_path / "c.toml")
    assert main(["calibrate", "convert", str(tmp_path / "c.toml"), "-o", str(tmp_path / "op"),
                 "--format", "openpose"]) == 0
    assert sorted(p.name for p in (tmp_path / "op").iterdir()) == ["cam01.xml", "cam02.xml", "cam03.xml"]
    capsys.readouterr()
    assert main(["calibrate", "convert", str(tmp_path / "missing.toml"), "-o", str(tmp_path / "x.toml")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.toml: file not found" in err[0]
    (tmp_path / "pose2d").mkdir()
    assert main(["triangulate", str(tmp_path / "pose2d"), "-c", str(tmp_path / "c.toml")]) == 1
    assert "no 2D keypoints for cameras ['cam01', 'cam02', 'cam03']" in capsys.readouterr().err
    from capture3d.io import save_points3d
    save_points3d(tmp_path / "hips.npz", np.zeros((3, 2, 3)), joint_names=["left_hip", "right_hip"])
    assert main(["export", "bvh", str(tmp_path / "hips.npz"), "-o", str(tmp_path / "h.bvh")]) == 1
    err = capsys.readouterr().err
    assert "hips.npz: BVH needs the canonical joints" in err and not (tmp_path / "h.bvh").exists()


def test_every_command_has_help_with_examples():
    for cmd in (["demo"], ["board"], ["calibrate", "intrinsics"], ["calibrate", "extrinsics"],
                ["calibrate", "convert"], ["triangulate"], ["export"], ["view"], ["overlay"], ["plot"]):
        out = subprocess.run([sys.executable, "-m", "capture3d.cli", *cmd, "--help"], capture_output=True,
                             text=True, check=True).stdout
        assert "examples:" in out and "capture3d " in out


def test_board_command_writes_toml_and_true_scale_png(tmp_path):
    import cv2
    from capture3d.calibrate.boards import Board
    out = tmp_path / "b.toml"
    assert main(["board", "charuco", "--squares-x", "5", "--squares-y", "4", "--square-mm", "30",
                 "--dpi", "200", "-o", str(out)]) == 0
    board = Board.load(out)
    assert board.square_length_m == 0.03 and board.marker_length_m == 0.0225
    img = cv2.imread(str(out.with_suffix(".png")), cv2.IMREAD_GRAYSCALE)
    px = round(0.03 / 0.0254 * 200)  # pixels per square at 200 dpi
    assert img.shape[1] == 6 * px  # 5 squares + a half-square margin each side
    det = board.detect(img)
    assert len(det.ids) == board.n_corners
    assert abs(np.diff(det.corners[:2, 0])[0] - px) < 0.5
    # the PDF page is the board plus a 15 mm margin each side, in PostScript points (1/72 in)
    pdf = out.with_suffix(".pdf").read_bytes()
    box = [float(v) for v in re.search(rb"/MediaBox \[\s*([\d.\s]+)\]", pdf).group(1).split()]
    assert box[2] == pytest.approx((150 + 30) / 25.4 * 72, abs=0.5)
    assert box[3] == pytest.approx((120 + 30) / 25.4 * 72, abs=0.5)


def test_core_imports_without_open3d():
    code = "import sys; sys.modules['open3d'] = None; import capture3d, capture3d.cli, capture3d.demo; print('ok')"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "ok"
