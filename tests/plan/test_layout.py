"""Planning TOML and calibration layouts: the examples, lens and aim keys, and bad input."""
from pathlib import Path

import numpy as np
import pytest

from capture3d.errors import FileFormatError
from capture3d.plan import PlanOptions, load_layout, parse_box, plan

RIGS = Path(__file__).resolve().parents[2] / "rigs"

LAYOUT = """
[volume]
min = [-1.0, -1.0, 0.0]
max = [1.0, 1.0, 2.0]
[lens]
size = [1280, 720]
hfov_deg = 90.0
[cameras.a]
position = [-3.0, 0.0, 1.0]
look_at = [0.0, 0.0, 1.0]
[cameras.b]
position = [0.0, -3.0, 2.0]
yaw_deg = 90.0
pitch_deg = -10.0
roll_deg = 5.0
"""


def write(tmp_path, text, name="layout.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_example_layouts_load():
    lab = load_layout(RIGS / "plan_lab_4cam.toml")
    ring = load_layout(RIGS / "plan_ring_8cam.toml")
    assert lab.rig.names == ["cam01", "cam02", "cam03", "cam04"] and len(ring.rig) == 8
    assert lab.volume.as_list() == [-1.5, -1.5, 0.0, 1.5, 1.5, 2.0] and lab.room.hi[2] == 2.8
    for cam in ring.rig:    # every ring camera looks at the volume's centre axis, 1 m up
        aim = cam.project(np.array([0.0, 0.0, 1.0]))
        assert np.allclose(aim, np.array(cam.size) / 2 - 0.5, atol=30)   # px; yaw/pitch rounded to 0.1 deg


def test_lens_and_aim_keys(tmp_path):
    lay = load_layout(write(tmp_path, LAYOUT))
    a, b = lay.rig["a"], lay.rig["b"]
    assert np.allclose(a.center, [-3, 0, 1]) and np.allclose(a.matrix[0, 0], 640.0)   # 90 degrees across
    assert np.allclose(a.project(np.array([0.0, 0.0, 1.0])), [639.5, 359.5])
    assert np.allclose(a.project(np.array([0.0, -3.0, 1.0])), [1279.5, 359.5])        # 45 degrees right
    axis = b.rotation[2]
    assert np.allclose(axis, [0, np.cos(np.radians(10)), -np.sin(np.radians(10))])
    right = b.rotation[0]      # rolled 5 degrees clockwise: the image's x axis turns towards its y (down)
    assert np.isclose(-right[2], np.sin(np.radians(5)) * np.cos(np.radians(10)))


@pytest.mark.parametrize("edit, where", [
    (("hfov_deg = 90.0", "hfov_deg = 0.0"), "key 'hfov_deg'"),
    (("hfov_deg = 90.0", "focal_mm = 4.0\nsensor_width_mm = 0.0"), "key 'sensor_width_mm'"),
    (("max = [1.0, 1.0, 2.0]", "max = [1.0, -1.0, 2.0]"), "key 'volume'"),
    (("position = [0.0, -3.0, 2.0]", "positon = [0.0, -3.0, 2.0]"), "camera 'b'"),
])
def test_bad_layouts_name_the_key(tmp_path, edit, where):
    with pytest.raises(FileFormatError) as info:
        load_layout(write(tmp_path, LAYOUT.replace(*edit)))
    msg = str(info.value)
    assert where in msg and "\n" not in msg


def test_one_camera_and_a_camera_looking_away(tmp_path):
    one = LAYOUT[:LAYOUT.index("[cameras.b]")]
    with pytest.raises(FileFormatError, match="1 camera.*at least 2"):
        load_layout(write(tmp_path, one))
    away = LAYOUT.replace("yaw_deg = 90.0", "yaw_deg = -90.0")
    with pytest.raises(FileFormatError, match="camera 'b': sees no point of the capture volume"):
        plan(load_layout(write(tmp_path, away)))


def test_volume_outside_the_room_and_a_grid_too_fine(tmp_path):
    with pytest.raises(FileFormatError, match="key 'room': the capture volume .* is not inside the room"):
        load_layout(write(tmp_path, "[room]\nmin = [-2.0, -2.0, 0.0]\nmax = [0.5, 2.0, 3.0]\n" + LAYOUT))
    lay = load_layout(write(tmp_path, LAYOUT))
    with pytest.raises(ValueError, match=r"grid_step_m \(--grid\) 0.005 m gives 64,481,201 points"):
        plan(lay, options=PlanOptions(grid_step_m=0.005))
    with pytest.raises(ValueError, match="pixel_noise_px must be > 0 pixels, got 0"):
        PlanOptions(pixel_noise_px=0)


def test_volume_argument():
    assert parse_box("-1,-1,0,1,1,2", "--volume").as_list() == [-1, -1, 0, 1, 1, 2]
    with pytest.raises(ValueError, match="--volume: empty box"):
        parse_box("-1,-1,0,1,-1,2", "--volume")
    with pytest.raises(ValueError, match="--volume: expected"):
        parse_box("-1,-1,0,1,1", "--volume")


def test_qualisys_calibration_plan(shared_data):
    lay = load_layout(shared_data / "pose2sim_multiperson" / "Calib.qca.txt")
    # the default volume holds where the people stand (pelvis at x 0.15..0.25, y -0.47..-0.36 m
    # in `capture3d process`'s points3d.npz)
    assert lay.volume.lo[0] < 0.15 and lay.volume.hi[0] > 0.25
    assert lay.volume.lo[1] < -0.47 and lay.volume.hi[1] > -0.36
    res = plan(lay)
    assert res.summary["share_2_views"] == 1.0
    assert 10 < res.summary["median_error_mm"] < 25      # mm; measured 17.3
