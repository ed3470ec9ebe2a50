"""BVH: forward kinematics of the written file gives back the joints; an independent parser agrees."""
import bvhio
import numpy as np
import pytest

from capture3d.errors import FileFormatError
from capture3d.export.bvh import Bvh, axis_rotation, encode, euler_zxy, read_bvh, write_bvh
from capture3d.io import load_points3d, save_points3d
from capture3d.synthetic import make_motion


def _fk_error_mm(path, points, joint_names):
    enc, names = read_bvh(path).encoded_points()
    idx = [list(joint_names).index(n) for n in names]
    return np.linalg.norm(enc - points[:, idx], axis=-1) * 1000, names


@pytest.mark.parametrize("kind,feet", [("walk", True), ("mixed", False)])
def test_forward_kinematics_of_the_file_gives_the_joints_back(tmp_path, kind, feet):
    m = make_motion(300, fps=60, kind=kind, feet=feet)
    save_points3d(tmp_path / "p.npz", m.points, joint_names=m.joint_names, time_s=m.time_s)
    path = write_bvh(tmp_path / "w.bvh", load_points3d(tmp_path / "p.npz"))
    err, names = _fk_error_mm(path, m.points, m.joint_names)
    assert sorted(names) == sorted(m.joint_names)          # every joint is in the file
    assert err.mean() < 1.0 and err.max() < 5.0              # mm; measured 1e-4 / 2e-4
    bvh = read_bvh(path)
    assert len(bvh.motion) == 300 and bvh.frame_time == pytest.approx(1 / 60, abs=1e-7)
    rotations = np.concatenate([bvh.channel_values(k) for k in range(1, len(bvh.joints))]
                               + [bvh.channel_values(0)[:, 3:]], axis=1)
    assert np.abs(np.diff(rotations, axis=0)).max() < 90.0   # no flips between frames (measured 7 deg)
    hips = bvh.joints[0]
    assert hips.name == "Hips" and hips.channels == ("Xposition", "Yposition", "Zposition",
                                                     "Zrotation", "Xrotation", "Yrotation")
    assert all(j.channels == ("Zrotation", "Xrotation", "Yrotation") for j in bvh.joints[1:])
    # Y up and centimetres: the root's height is the pelvis height
    pelvis_z = 0.5 * (m.points[:, 11, 2] + m.points[:, 12, 2])
    assert np.allclose(bvh.channel_values(0)[:, 1], pelvis_z * 100, atol=1e-3)


def test_independent_parser_reads_the_same_file(tmp_path):
    m = make_motion(120, fps=30, kind="arms", feet=True)
    path = encode(m.points, m.joint_names, fps=30).bvh.save(tmp_path / "a.bvh")
    ours = read_bvh(path)
    container = bvhio.readAsBvh(str(path))
    assert container.FrameCount == 120 and container.FrameTime == pytest.approx(1 / 30, abs=1e-7)
    root = bvhio.readAsHierarchy(str(path))
    assert [j.Name for j, _, _ in root.layout()] == ours.names
    pos, _ = ours.forward_kinematics()
    for f in (0, 57, 119):
        root.loadPose(f)
        theirs = np.array([[j.PositionWorld.x, j.PositionWorld.y, j.PositionWorld.z] for j, _, _ in root.layout()])
        assert np.abs(theirs - pos[f]).max() < 1e-3   # cm; measured 2e-5


def test_euler_zxy_round_trip():
    rng = np.random.default_rng(0)
    angles = np.column_stack([rng.uniform(-179, 179, 500), rng.uniform(-89, 89, 500), rng.uniform(-179, 179, 500)])
    R = axis_rotation(2, angles[:, 0]) @ axis_rotation(0, angles[:, 1]) @ axis_rotation(1, angles[:, 2])
    assert np.allclose(euler_zxy(R), angles, atol=1e-8)


def test_reader_handles_other_channel_orders_and_position_channels(tmp_path):
    text = """HIERARCHY
ROOT root
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation
  JOINT arm
  {
    OFFSET 10 0 0
    CHANNELS 4 Xposition Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
1 2 3 0 0 0 0 0 0 0
0 0 0 0 0 90 2 0 0 0
"""
    (tmp_path / "h.bvh").write_text(text)
    b = Bvh.load(tmp_path / "h.bvh")
    pos, rot = b.forward_kinematics()
    assert np.allclose(pos[0], [[1, 2, 3], [11, 2, 3]])
    # frame 1: root turned 90 degrees about Z, arm offset (10 + 2, 0, 0) -> (0, 12, 0)
    assert np.allclose(pos[1], [[0, 0, 0], [0, 12, 0]], atol=1e-12)
    assert b.joints[1].end_site.tolist() == [0, 5, 0] and b.frame_time == 0.5


def test_missing_joints_hold_the_last_rotation_and_the_file_stays_finite(tmp_path):
    m = make_motion(90, fps=30, kind="walk")
    pts = m.points.copy()
    pts[40:45, 9] = np.nan                    # left wrist missing for 5 frames
    pts[60, :] = np.nan                       # a frame with nothing
    enc = encode(pts, m.joint_names, fps=30)
    assert np.isfinite(enc.bvh.motion).all() and enc.held_frames == 6
    err, _ = _fk_error_mm(enc.bvh.save(tmp_path / "m.bvh"), pts, m.joint_names)
    assert np.nanmax(err) < 1e-2              # where the joints exist, they are reproduced


def test_noisy_bone_lengths_are_reported_not_hidden():
    m = make_motion(60, fps=30)
    noisy = m.points + np.random.default_rng(1).normal(0, 0.004, m.points.shape)
    enc = encode(noisy, m.joint_names, fps=30)
    assert 1.0 < enc.fit_error_mm < 20.0      # the constant-length skeleton cannot follow the noise


def test_bad_files_name_the_file(tmp_path):
    (tmp_path / "bad.bvh").write_text("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0\n")
    with pytest.raises(FileFormatError, match="bad.bvh"):
        read_bvh(tmp_path / "bad.bvh")
    with pytest.raises(ValueError, match="left_ear"):
        encode(np.zeros((3, 2, 3)), ["left_hip", "right_hip"])
