"""Round trips of every calibration format, readers of the other tools' files, broken files."""
import numpy as np
import pytest

import capture3d
from capture3d.errors import FileFormatError
from capture3d.formats import detect_format, qualisys, read_calibration, write_calibration
from capture3d.synthetic import make_rig


def assert_same_rig(a, b, atol=1e-9):
    assert a.names == b.names
    for ca, cb in zip(a, b):
        assert ca.size == cb.size and ca.model == cb.model
        assert np.allclose(ca.matrix, cb.matrix, atol=atol)
        assert np.allclose(ca.dist, cb.dist, atol=atol)
        assert np.allclose(ca.rotation, cb.rotation, atol=atol)
        assert np.allclose(ca.tvec, cb.tvec, atol=atol)


def test_toml_round_trip_keeps_order_and_names_with_12_cameras(tmp_path):
    # cam_2 / cam_10: sorted section names would put cam_10 first (aniposelib's bug)
    rig = make_rig(12, fisheye=2, seed=3)
    for i, cam in enumerate(rig.cameras):
        cam.name = f"cam_{[2, 10, 1, 11, 3, 4, 5, 6, 7, 8, 9, 12][i]}"
    rig = capture3d.Rig(rig.cameras, {"reprojection_error_px": 0.4})
    path = rig.save(tmp_path / "calibration.toml")
    back = capture3d.Rig.load(path)
    assert_same_rig(rig, back, atol=0)
    assert back.metadata["units"] == "m" and back.metadata["reprojection_error_px"] == 0.4
    text = path.read_text()
    assert text.index("[cam_00]") < text.index("[cam_11]") < text.index("[metadata]")
    # readable as CONVENTIONS.md shows it: each array on its key's line (tomli_w wrote a number a line)
    lines = text.splitlines()
    assert sum(line.startswith(("matrix = [[", "distortions = [", "rotation = [", "translation = [", "size = ["))
               and line.endswith("]") for line in lines) == 5 * 12
    assert len(lines) < 12 * 11 + 10
    # nested metadata, strings that need escapes, NaN: still TOML that reads back the same
    rig = capture3d.Rig(rig.cameras[:2], {"note": 'a "quoted" \\ path', "per_camera": {"cam_2": [0.1, float("nan")]}})
    back = capture3d.Rig.load(rig.save(tmp_path / "odd.toml"))
    assert back.metadata["note"] == 'a "quoted" \\ path' and back.metadata["per_camera"]["cam_2"][0] == 0.1
    assert np.isnan(back.metadata["per_camera"]["cam_2"][1])


def test_toml_units_in_millimeters(tmp_path):
    rig = make_rig(2)
    path = rig.save(tmp_path / "c.toml")
    mm = path.read_text().replace('units = "m"', 'units = "mm"')
    for cam in rig:  # write the translations in mm by hand
        for v in cam.tvec:
            mm = mm.replace(repr(float(v)), repr(float(v) * 1000), 1)
    (tmp_path / "mm.toml").write_text(mm)
    assert_same_rig(rig, capture3d.Rig.load(tmp_path / "mm.toml"), atol=1e-9)


@pytest.mark.parametrize("fmt,target", [("openpose", "openpose_dir"), ("easymocap", "easymocap_dir")])
def test_opencv_storage_round_trips(tmp_path, fmt, target):
    rig = make_rig(5, seed=7)
    out = write_calibration(rig, tmp_path / target, format=fmt)
    assert detect_format(out) == fmt
    back = read_calibration(out)
    assert sorted(back.names) == sorted(rig.names)
    assert_same_rig(rig, back.subset(rig.names), atol=1e-12)


def test_convert_chain_toml_openpose_easymocap_toml(tmp_path):
    rig = make_rig(3, seed=5)
    a = read_calibration(write_calibration(rig, tmp_path / "op", format="openpose"))
    b = read_calibration(write_calibration(a, tmp_path / "em", format="easymocap"))
    c = capture3d.Rig.load(b.save(tmp_path / "back.toml"))
    assert_same_rig(rig, c.subset(rig.names), atol=1e-12)


def test_caliscope_files(shared_data):
    folder = shared_data / "caliscope_4cam"
    arr = capture3d.Rig.load(folder / "camera_array.toml")
    cfg = capture3d.Rig.load(folder / "config.toml")
    assert arr.names == ["cam_0", "cam_1", "cam_2", "cam_3"]
    assert_same_rig(arr, cfg, atol=1e-12)
    cam0 = arr["cam_0"]
    assert cam0.size == (1280, 720) and abs(cam0.matrix[0, 0] - 894.5288733178912) < 1e-9
    # rotation came as a 3x3 matrix: it must survive as that matrix
    assert abs(cam0.rotation[0, 1] - -0.8200005191342249) < 1e-9


def _pose2sim_reference(path):
    """Pose2Sim's calib_qca_fun, re-derived step by step from its source (see formats/qualisys.py)."""
    import xml.etree.ElementTree as ET
    import cv2
    root = ET.parse(path).getroot()
    out = {}
    for cam in root.findall("cameras/camera"):
        fov, intr, tr = cam.find("fov_video"), cam.find("intrinsic"), cam.find("transform")
        g = lambda e, k: float(e.attrib[k])  # noqa: E731
        K = np.array([[g(intr, "focalLengthU") / 64, 0, g(intr, "centerPointU") / 64 - g(fov, "left")],
                      [0, g(intr, "focalLengthV") / 64, g(intr, "centerPointV") / 64 - g(fov, "top")],
                      [0, 0, 1]])
        R = np.array([g(tr, f"r{i}{j}") for i in (1, 2, 3) for j in (1, 2, 3)]).reshape(3, 3).T
        T = np.array([g(tr, k) for k in "xyz"]) / 1000
        r, t = R.T, -R.T @ T                       # world_to_camera_persp
        rx = np.diag([1.0, -1.0, -1.0])            # rotate_cam(ang_x=pi)
        r, t = rx @ r, rx @ t
        size = (g(fov, "right") - g(fov, "left") + 1, g(fov, "bottom") - g(fov, "top") + 1)
        dist = np.array([g(intr, k) for k in ("radialDistortion1", "radialDistortion2",
                                              "tangentalDistortion1", "tangentalDistortion2")]) / 64
        out[cam.attrib["serial"]] = (K, cv2.Rodrigues(r)[0].ravel(), t, size, dist)
    return out


def test_qualisys_matches_pose2sim_converter(shared_data):
    path = shared_data / "pose2sim_multiperson" / "Calib.qca.txt"
    assert detect_format(path) == "qualisys"
    rig = capture3d.Rig.load(path)
    ref = _pose2sim_reference(path)
    assert rig.names == ["cam01", "cam02", "cam03", "cam04"]
    for cam in rig:
        K, rvec, t, size, dist64 = ref[cam.name]
        assert cam.size == size == (1088, 1920)
        assert np.allclose(cam.matrix, K, atol=1e-9)
        assert np.allclose(cam.rvec, rvec, atol=1e-9)
        assert np.allclose(cam.tvec, t, atol=1e-12)
        # our decision: distortion not divided by 64 (see the module docstring)
        assert np.allclose(cam.dist[:4], dist64 * 64, atol=1e-12)
        # the camera looks into the capture volume: the lab origin is in front, inside the image
        px = cam.project([0.0, 0.0, 1.0])
        assert 0 < px[0] < cam.size[0] and 0 < px[1] < cam.size[1]
    pose2sim_like = qualisys.read(path, distortion_scale=1 / 64)
    assert np.allclose(pose2sim_like["cam01"].dist[:4], ref["cam01"][4])


BROKEN = [
    ("missing matrix", '[cam_00]\nname = "a"\nsize = [640, 480]\ndistortions = [0,0,0,0,0]\n', "matrix"),
    ("bad shape", '[cam_00]\nname = "a"\nsize = [640, 480]\nmatrix = [[1, 0], [0, 1]]\n'
                  'distortions = [0,0,0,0,0]\n', "matrix"),
    ("nan", '[cam_00]\nname = "a"\nsize = [640, 480]\nmatrix = [[1,0,0],[0,1,0],[0,0,1]]\n'
            'distortions = [0,0,0,0,0]\ntranslation = [0, nan, 0]\n', "translation"),
]


@pytest.mark.parametrize("label,text,key", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_toml_names_file_camera_and_key(tmp_path, label, text, key):
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(FileFormatError) as info:
        capture3d.Rig.load(path)
    msg = str(info.value)
    assert "broken.toml" in msg and "cam_00" in msg and repr(key) in msg


def test_broken_qualisys_and_openpose_name_the_problem(tmp_path):
    q = tmp_path / "bad.qca.txt"
    q.write_text('<calibration><cameras><camera serial="c7"><fov_video left="0" top="0" right="9" '
                 'bottom="9"/><intrinsic focalLengthU="64"/><transform/></camera></cameras></calibration>')
    with pytest.raises(FileFormatError, match=r"bad\.qca\.txt, camera 'c7', key 'intrinsic\.focalLengthV'"):
        capture3d.Rig.load(q)
    d = tmp_path / "op"
    d.mkdir()
    (d / "123.xml").write_text('<?xml version="1.0"?><opencv_storage><CameraMatrix type_id="opencv-matrix">'
                               '<rows>3</rows><cols>4</cols><dt>d</dt><data>1 0 0 0 0 1 0 0 0 0 1 0</data>'
                               '</CameraMatrix></opencv_storage>')
    with pytest.raises(FileFormatError, match=r"123\.xml, camera '123', key 'Intrinsics'"):
        capture3d.Rig.load(d)
    (tmp_path / "x.toml").write_text("this is = not [toml")
    with pytest.raises(FileFormatError, match=r"x\.toml: not valid TOML"):
        capture3d.Rig.load(tmp_path / "x.toml")
    with pytest.raises(FileFormatError, match="file not found"):
        capture3d.Rig.load(tmp_path / "nope.toml")
