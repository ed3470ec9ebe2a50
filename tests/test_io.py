"""points3d.npz: one person (F, J, 3) or several (P, F, J, 3) + person_id; shapes are checked."""
import numpy as np
import pytest

from capture3d.errors import FileFormatError, InputShapeError
from capture3d.io import as_persons, load_points3d, load_pose2d, persons, save_points3d
from capture3d.synthetic import make_motion


def _two(F=12):
    a, b = make_motion(F, seed=0), make_motion(F, seed=1)
    pts = np.stack([a.points, b.points + [1.5, 0.0, 0.0]])
    pts[1, 8:] = np.nan                                  # the second person leaves at frame 8
    return pts, list(a.joint_names), a.time_s


def test_several_people_round_trip_and_split(tmp_path):
    pts, names, t = _two()
    err = np.stack([np.full((12, 17), 0.4), np.full((12, 17), 1.3)])
    save_points3d(tmp_path / "p.npz", pts, joint_names=names, person_id=[4, 9], time_s=t, reprojection_error_px=err)
    data = load_points3d(tmp_path / "p.npz")
    assert data["points"].shape == (2, 12, 17, 3) and data["person_id"].tolist() == [4, 9]
    assert data["person_id"].dtype == np.int64 and data["n_views"].shape == (2, 12, 17)
    assert np.array_equal(data["points"], pts, equal_nan=True)
    split = persons(data)
    assert [pid for pid, _ in split] == [4, 9]
    one = split[1][1]
    assert one["points"].shape == (12, 17, 3) and one["person_id"] is None and one["joint_names"] == names
    assert np.all(one["reprojection_error_px"] == 1.3) and one["time_s"] is data["time_s"]
    assert np.isnan(one["points"][8:]).all()
    stacked, ids = as_persons(data["points"], data["person_id"])
    assert stacked.shape == (2, 12, 17, 3) and ids == [4, 9]


def test_single_person_files_are_unchanged(tmp_path):
    m = make_motion(6, seed=0)
    save_points3d(tmp_path / "one.npz", m.points, joint_names=m.joint_names)
    assert "person_id" not in np.load(tmp_path / "one.npz").files
    data = load_points3d(tmp_path / "one.npz")
    assert data["points"].shape == (6, 17, 3) and data["person_id"] is None
    assert persons(data) == [(None, data)] and as_persons(data["points"])[1] == [None]


def test_bad_shapes_are_refused_naming_the_argument_or_key(tmp_path):
    pts, names, _ = _two()
    with pytest.raises(InputShapeError, match="person_id: required"):
        save_points3d(tmp_path / "x.npz", pts, joint_names=names)
    with pytest.raises(InputShapeError, match="person_id: expected 2 integers"):
        save_points3d(tmp_path / "x.npz", pts, joint_names=names, person_id=[1, 2, 3])
    with pytest.raises(InputShapeError, match="distinct"):
        save_points3d(tmp_path / "x.npz", pts, joint_names=names, person_id=[1, 1])
    with pytest.raises(InputShapeError, match=r"n_views: expected shape \(2, 12, 17\)"):
        save_points3d(tmp_path / "x.npz", pts, joint_names=names, person_id=[1, 2], n_views=np.zeros((12, 17)))
    with pytest.raises(InputShapeError, match="person_id: given for single-person"):
        save_points3d(tmp_path / "x.npz", pts[0], joint_names=names, person_id=[1])
    good = dict(np.load(save_points3d(tmp_path / "g.npz", pts, joint_names=names, person_id=[1, 2])))
    for key, value in (("person_id", np.array([1, 2, 3])), ("score", np.zeros((12, 17))),
                       ("person_id", None), ("time_s", np.zeros(5))):
        broken = {k: v for k, v in good.items() if k != key} | ({} if value is None else {key: value})
        np.savez(tmp_path / "bad.npz", **broken)
        with pytest.raises(FileFormatError, match=f"bad.npz, key '{key}'"):
            load_points3d(tmp_path / "bad.npz")


def test_a_file_that_is_no_npz_gets_a_reason_a_user_can_read(tmp_path):
    """np.load guesses that a file which is no archive holds pickled data; the error says what it is."""
    (tmp_path / "text.npz").write_text("not numbers\n")
    with pytest.raises(FileFormatError, match=r"text.npz: not a capture3d points3d file \(not a NumPy .npz archive\)$"):
        load_points3d(tmp_path / "text.npz")
    with pytest.raises(FileFormatError, match=r"text.npz: not a capture3d pose2d file \(not a NumPy .npz archive\)$"):
        load_pose2d(tmp_path / "text.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(FileFormatError, match=r"other.npz: not a capture3d points3d file \(no 'points' array\)$"):
        load_points3d(tmp_path / "other.npz")
    np.save(tmp_path / "array.npy", np.zeros(3))
    (tmp_path / "array.npz").write_bytes((tmp_path / "array.npy").read_bytes())
    with pytest.raises(FileFormatError, match=r"array.npz: not a capture3d pose2d file \(a NumPy .npy array, not an"):
        load_pose2d(tmp_path / "array.npz")
    np.savez(tmp_path / "objects.npz", points=np.array([None, 1], dtype=object))
    with pytest.raises(FileFormatError, match=r"objects.npz: not a capture3d points3d file \(it holds object"):
        load_points3d(tmp_path / "objects.npz")
    good = save_points3d(tmp_path / "g.npz", np.zeros((4, 17, 3)), joint_names=[f"j{i}" for i in range(17)])
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:200])
    with pytest.raises(FileFormatError, match=r"cut.npz: not a capture3d points3d file \(a damaged or truncated .npz"):
        load_points3d(tmp_path / "cut.npz")
    # a missing file or a folder: said so (it was "not a capture3d points3d file ([Errno 2] ...)")
    with pytest.raises(FileFormatError, match=r"nowhere.npz: file not found$"):
        load_points3d(tmp_path / "nowhere.npz")
    with pytest.raises(FileFormatError, match=r"folder.npz: a folder, not a capture3d pose2d file$"):
        (tmp_path / "folder.npz").mkdir()
        load_pose2d(tmp_path / "folder.npz")
