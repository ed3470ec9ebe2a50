"""Which folders a batch takes as sessions, and the calibration each one gets."""
from capture3d.batch import discover_sessions, find_calibration
from capture3d.synthetic.sessions import small_rig


def _videos(folder, names=("cam01", "cam02")):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / f"{n}.mp4").write_bytes(b"")   # discovery never opens them


def test_pose2sim_batch_layout(tmp_path):
    """ROOT/calibration/<file> serves every Trial_*/videos/; a trial's own file wins; the
    calibration folder's board videos are not a session."""
    rig = small_rig(2)
    root = tmp_path / "study"
    shared = rig.save(root / "calibration" / "Calib_board.toml")
    _videos(root / "calibration" / "intrinsics" / "cam01")           # Pose2Sim's board videos
    _videos(root / "Trial_1" / "videos")
    _videos(root / "Trial_2" / "videos")
    own = rig.save(root / "Trial_2" / "Calib.toml")
    (root / "Trial_2" / "session.toml").write_text('name = "not a calibration"\n')
    _videos(root / "group" / "Trial_3")                              # a plain folder of videos
    found = {s.label: s for s in discover_sessions(root, tmp_path / "out")}
    assert sorted(found) == ["Trial_1", "Trial_2", "group/Trial_3"]
    assert found["Trial_1"].calibration == shared.resolve()
    assert found["Trial_2"].calibration == own.resolve()
    assert found["group/Trial_3"].calibration == shared.resolve()
    assert found["group/Trial_3"].out == (tmp_path / "out" / "group" / "Trial_3").resolve()


def test_root_itself_a_session_and_overrides(tmp_path):
    rig = small_rig(2)
    root = tmp_path / "pose2sim_multiperson"
    _videos(root / "videos")
    qca_like = rig.save(root / "calibration.toml")
    (s,) = discover_sessions(root, tmp_path / "out")
    assert (s.label, s.out, s.calibration) == (".", (tmp_path / "out").resolve(), qca_like.resolve())
    other = rig.save(tmp_path / "elsewhere.toml")
    (s,) = discover_sessions(root, tmp_path / "out", calibration=other)
    assert s.calibration == other


def test_no_calibration_and_output_inside_root(tmp_path):
    root = tmp_path / "root"
    _videos(root / "a" / "videos")
    (root / "b" / "videos").mkdir(parents=True)                     # no videos: still a session, it fails later
    _videos(root / "out" / "a" / "pose2d")                         # an earlier run's output is not searched
    sessions = discover_sessions(root, root / "out")
    assert [s.label for s in sessions] == ["a", "b"]
    assert all(s.calibration is None and "no calibration found" in s.problem for s in sessions)
    assert find_calibration(root / "a", root) is None
