"""The calibration report and its judge, the pose uncertainty, the analytic Jacobian, mirrored
boards, caliscope sessions, and bad input on the command line (a clear message, no file)."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from capture3d.calibrate.boards import Board
from capture3d.calibrate.bundle import BoardBundleProblem
from capture3d.calibrate.detect import detect_board, diagnose_no_board, stack_observations
from capture3d.calibrate.extrinsics import ExtrinsicsOptions, calibrate_extrinsics
from capture3d.calibrate.geometry import invert, pose, rigid_alignment
from capture3d.calibrate.report import evaluate, write_report
from capture3d.camera import Camera
from capture3d.cli import main
from capture3d.errors import FileFormatError
from capture3d.rig import Rig
from capture3d.sources import caliscope_frame_map
from capture3d.synthetic import make_rig
from capture3d.synthetic.boards import BoardRenderer, board_trajectory, intrinsic_board_poses, observe_board
from capture3d.video import VideoWriter

CHECKER = Board(type="checkerboard", squares_x=7, squares_y=5, square_length_m=0.12)
CHARUCO = Board(squares_x=5, squares_y=4, square_length_m=0.1, marker_length_m=0.075)
CALISCOPE = Path(__file__).resolve().parents[3] / "shared" / "data" / "caliscope_4cam"


@pytest.fixture(scope="module")
def projected():
    truth = make_rig(4, radius_m=3.5, height_m=2.2, seed=4)
    poses = board_trajectory(100, CHECKER, seed=4)
    return truth, poses


@pytest.mark.parametrize("refine, fisheye", [(False, 0), (True, 0), (True, 2)])
def test_analytic_jacobian_matches_finite_differences(projected, refine, fisheye):
    from scipy.optimize._numdiff import approx_derivative

    truth, poses = projected
    if fisheye:
        truth = make_rig(4, radius_m=3.5, height_m=2.2, seed=4, fisheye=fisheye)
    obs = observe_board(truth, CHECKER, poses[:30], noise_px=1.0, seed=0)
    frames, oc, of, corner_id, px = stack_observations([obs[n] for n in truth.names])
    prob = BoardBundleProblem(list(truth), [1], frames, oc, of, CHECKER.object_points()[corner_id], px, refine)
    x = prob.pack([pose(c.rvec, c.tvec) for c in truth], [poses[f] for f in frames])
    analytic = prob.jacobian(x).toarray()
    numeric = approx_derivative(prob.residuals, x, method="3-point")
    numeric[:, prob.cam_offset[1]:prob.cam_offset[1] + 6] = 0       # the fixed camera's pose has no columns
    assert analytic.shape[1] == len(x) == prob.board_offset + 6 * len(frames)
    # per column (fx's and k2's differ 1000x), above the 3-point differences' own noise (~1e-8)
    scale = np.abs(numeric).max(axis=0)
    assert (np.abs(analytic - numeric).max(axis=0) < 1e-6 * scale + 1e-7).all()
    # and every entry lies inside the sparsity pattern a finite-difference solver would use
    assert not (analytic != 0)[prob.sparsity(len(x)).toarray() == 0].any()


def test_extrinsics_refining_intrinsics_recovers_focal_lengths_given_two_percent_off(projected):
    import dataclasses

    truth, poses = projected
    obs = observe_board(truth, CHECKER, poses, noise_px=0.5, seed=1)
    off = Rig([dataclasses.replace(c, matrix=c.matrix * [[1.02], [1.02], [1]]) for c in truth])
    fixed = calibrate_extrinsics(obs, off, CHECKER, options=ExtrinsicsOptions(use_floor=False))
    refined = calibrate_extrinsics(obs, off, CHECKER, options=ExtrinsicsOptions(use_floor=False,
                                                                                refine_intrinsics=True))
    assert fixed.ok and refined.ok, (fixed.message, refined.message)
    f_error = [refined.rig[c.name].matrix[0, 0] / c.matrix[0, 0] - 1 for c in truth]

    def centre_error_mm(rig):
        A, B = np.array([c.center for c in rig]), truth.centers
        R, t = rigid_alignment(A, B)
        return np.linalg.norm(A @ R.T + t - B, axis=1).max() * 1000
    print("focal errors:", np.round(f_error, 4), "centre errors (mm) fixed / refined:",
          centre_error_mm(fixed.rig), centre_error_mm(refined.rig))
    assert np.abs(f_error).max() < 0.005
    assert centre_error_mm(refined.rig) < 0.5 * centre_error_mm(fixed.rig)
    assert (refined.rig[truth.names[0]].dist[4] == truth[0].dist[4])  # k3 stays as given


def test_pose_uncertainty_matches_the_spread_of_repeated_calibrations(projected):
    """Twelve calibrations with fresh 1 px corner noise: the predicted 1-sigma camera-centre
    uncertainty is the spread the calibrations really have (relative to the reference camera)."""
    truth, poses = projected
    errors = {n: [] for n in truth.names}
    for seed in range(12):
        obs = observe_board(truth, CHECKER, poses, noise_px=1.0, seed=seed)
        ext = calibrate_extrinsics(obs, truth, CHECKER, options=ExtrinsicsOptions(use_floor=False))
        assert ext.ok, ext.message
        ref_from_world = pose(truth[ext.reference_camera].rvec, truth[ext.reference_camera].tvec)
        for cam in truth:
            errors[cam.name].append(ext.rig[cam.name].center - (ref_from_world @ np.r_[cam.center, 1])[:3])
    predicted = ext.uncertainty
    for name, e in errors.items():
        e = np.array(e)
        spread_mm = np.sqrt(np.linalg.eigvalsh(e.T @ e / len(e)).max()) * 1000
        if name == ext.reference_camera:
            assert predicted[name]["center_mm"] == 0 and spread_mm < 1e-6
            continue
        # measured: predicted 4.6-5.4 mm against a spread of 3.8-4.9 mm
        assert 0.7 * spread_mm < predicted[name]["center_mm"] < 1.6 * spread_mm, (name, spread_mm, predicted[name])
        assert 0.01 < predicted[name]["rotation_deg"] < 0.5


def test_evaluate_judges_a_rig_without_changing_it_and_the_metric_check_exposes_scale(projected, tmp_path):
    truth, poses = projected
    obs = observe_board(truth, CHECKER, poses, seed=0)            # noise-free
    q = evaluate(truth, obs, CHECKER)
    assert q.rms_px < 1e-6 and abs(q.metric_mean_mm) < 1e-6 and q.n_metric_pairs > 1000
    assert len(q.board_poses) > 80
    # every fitted board pose is the true one
    f = sorted(q.board_poses)[20]
    assert np.abs(q.board_poses[f] - poses[f]).max() < 1e-8
    # the same cameras 3 % too far apart: reprojection stays small, the metric check does not
    scaled = Rig([c.with_pose(c.rvec, c.tvec * 1.03) for c in truth])
    qs = evaluate(scaled, obs, CHECKER)
    assert abs(qs.metric_mean_mm - 0.03 * 120) < 0.3        # 3.6 mm on a 120 mm square
    assert qs.rms_px < 2.0
    paths = write_report(q, truth, tmp_path / "r", board=CHECKER)
    img = cv2.imread(str(paths["png"]))
    assert img.shape[0] > 800 and img.std() > 10
    assert '"metric_check"' in paths["json"].read_text()


def test_a_board_seen_mirrored_is_found_with_see_through():
    img = cv2.copyMakeBorder(CHARUCO.image(80), 60, 60, 60, 60, cv2.BORDER_CONSTANT, value=255)
    direct = CHARUCO.detect(img)
    assert direct.ok and not direct.mirrored
    mirror = np.ascontiguousarray(img[:, ::-1])
    assert not CHARUCO.detect(mirror).ok
    see_through = Board(**{**CHARUCO.__dict__, "see_through": True})
    found = see_through.detect(mirror)
    assert found.mirrored and set(found.ids) == set(direct.ids)
    # corner k of the mirror image is corner k of the real image, flipped: x -> W - 1 - x
    order = np.argsort(found.ids)
    expected = direct.corners[np.argsort(direct.ids)] * [-1, 1] + [img.shape[1] - 1, 0]
    assert np.abs(found.corners[order] - expected).max() < 0.05


def test_no_board_diagnosis_says_the_board_is_mirrored(tmp_path):
    img = cv2.copyMakeBorder(CHARUCO.image(80), 60, 60, 60, 60, cv2.BORDER_CONSTANT, value=255)[:, ::-1]
    with VideoWriter(tmp_path / "v.avi", 10, (img.shape[1], img.shape[0])) as w:
        for _ in range(5):
            w.write(np.ascontiguousarray(img))
    assert "see_through = true" in diagnose_no_board(tmp_path / "v.avi", CHARUCO)


def test_caliscope_timestamps_group_frames_by_sync_index(tmp_path):
    rows = ["sync_index,cam_id,frame_time", "7,1,10.50", "5,0,10.01", "5,1,10.02", "6,0,10.33", "6,1,10.31",
            "7,0,10.66"]
    (tmp_path / "timestamps.csv").write_text("\n".join(rows) + "\n")
    m = caliscope_frame_map(tmp_path / "timestamps.csv")
    assert list(m) == ["cam_0", "cam_1"]
    assert m["cam_0"].tolist() == [0, 1, 2] and m["cam_1"].tolist() == [0, 1, 2]
    (tmp_path / "timestamps.csv").write_text("sync,cam\n1,2\n")
    with pytest.raises(FileFormatError, match=r"timestamps.csv.*expected the columns"):
        caliscope_frame_map(tmp_path / "timestamps.csv")


@pytest.mark.skipif(not CALISCOPE.is_dir(), reason="../shared/data/caliscope_4cam is not here")
def test_caliscope_4cam_calibrates_from_its_videos_and_matches_caliscope(tmp_path, capsys):
    out = tmp_path / "calibration.toml"
    board = str(CALISCOPE / "charuco.toml")
    assert main(["calibrate", "extrinsics", str(CALISCOPE / "extrinsic"), "--board", board, "--no-floor",
                 "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert (tmp_path / "calibration_report" / "report.png").is_file()
    ours = Rig.load(out)
    theirs = Rig.load(CALISCOPE / "camera_array.toml")
    obs_text = text.split("on ")[1]
    ours_rms = float(obs_text.split("RMS ")[1].split(" px")[0])
    assert main(["calibrate", "report", str(CALISCOPE / "camera_array.toml"), str(CALISCOPE / "extrinsic"),
                 "--board", board, "-o", str(tmp_path / "theirs")]) == 0
    theirs_rms = float(capsys.readouterr().out.split("RMS ")[1].split(" px")[0])
    assert ours_rms < 1.0 and ours_rms <= theirs_rms         # measured 0.70 against 0.82 px
    # the same calibration written for half-size images: the videos are matched to it (rescaled by 2)
    from capture3d.camera.image_size import match_image_size
    Rig([match_image_size(c, (c.size[0] // 2, c.size[1] // 2))[0] for c in theirs]).save(tmp_path / "half.toml")
    assert main(["calibrate", "report", str(tmp_path / "half.toml"), str(CALISCOPE / "extrinsic"),
                 "--board", board, "-o", str(tmp_path / "half")]) == 0
    text = capsys.readouterr().out
    assert "cam_0: video 1280x720, calibration 640x360: matrix rescaled by 2" in text
    assert abs(float(text.split("RMS ")[1].split(" px")[0]) - theirs_rms) < 0.005
    # the same layout: camera-to-camera distances within 6 cm (measured within 5.7 cm, cam_1-cam_2)
    for a in range(4):
        for b in range(a + 1, 4):
            d_ours = np.linalg.norm(ours[a].center - ours[b].center)
            d_theirs = np.linalg.norm(theirs[a].center - theirs[b].center)
            assert abs(d_ours - d_theirs) < 0.06


# -- bad input on the command line: a clear message and no file pretending to be a calibration --

@pytest.fixture(scope="module")
def small_session(tmp_path_factory):
    """Two 640 x 360 cameras filming a ChArUco board; their true intrinsics in intrinsics.toml."""
    root = tmp_path_factory.mktemp("session")
    rig = make_rig(3, layout="arc", radius_m=1.8, height_m=1.5, size=(640, 360), distortion=False, seed=3)
    rig = rig.subset(rig.names[1:])                     # two cameras 90 degrees apart
    # the board held near the middle, facing between the two cameras, wandering and tilting a little
    rng = np.random.default_rng(3)
    facing = rig.centers.mean(0) - np.array([0.0, 0.0, 0.9])
    facing /= np.linalg.norm(facing)
    poses = []
    for _ in range(40):
        z = -(facing + rng.normal(0, 0.15, 3))
        z /= np.linalg.norm(z)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        R = np.stack([x, np.cross(z, x), z], axis=1)
        w, h = CHARUCO.size_m
        poses.append(pose(R, [0.0, 0.0, 0.9] + rng.normal(0, 0.1, 3) - R @ [w / 2, h / 2, 0.0]))
    frames = {}
    for c, cam in enumerate(rig):
        r = BoardRenderer(CHARUCO, cam, px_per_square=40, seed=c)
        frames[cam.name] = [r.render(T, rng=np.random.default_rng(c)) for T in poses]
    rig.save(root / "intrinsics.toml")
    CHARUCO.save(root / "board.toml")
    return root, rig, frames


def _write(folder, name, images):
    folder.mkdir(parents=True, exist_ok=True)
    h, w = images[0].shape[:2]
    with VideoWriter(folder / f"{name}.avi", 10, (w, h)) as wr:
        for img in images:
            wr.write(img)


def _extrinsics(root, session, out):
    return main(["calibrate", "extrinsics", str(session), "--board", str(root / "board.toml"), "--intrinsics",
                 str(root / "intrinsics.toml"), "--no-floor", "-o", str(out)])


def test_bad_sessions_end_with_a_message_and_no_calibration_file(small_session, tmp_path, capsys):
    root, rig, frames = small_session
    a, b = rig.names
    blank = np.full_like(frames[a][0], 128)
    # the good session works, as a control
    _write(tmp_path / "good", a, frames[a])
    _write(tmp_path / "good", b, frames[b])
    assert _extrinsics(root, tmp_path / "good", tmp_path / "good.toml") == 0
    assert (tmp_path / "good.toml").is_file()
    capsys.readouterr()
    # a camera that never sees the board
    _write(tmp_path / "noboard", a, frames[a])
    _write(tmp_path / "noboard", b, [blank] * len(frames[b]))
    assert _extrinsics(root, tmp_path / "noboard", tmp_path / "c1.toml") == 1
    assert f"no usable board view in cameras ['{b}']" in capsys.readouterr().err
    # the two cameras never see the board at the same time
    _write(tmp_path / "apart", a, [f if k % 2 == 0 else blank for k, f in enumerate(frames[a])])
    _write(tmp_path / "apart", b, [f if k % 2 == 1 else blank for k, f in enumerate(frames[b])])
    assert _extrinsics(root, tmp_path / "apart", tmp_path / "c2.toml") == 1
    err = capsys.readouterr().err
    assert "not connected" in err and f"{a}-{b}: 0" in err and "Record the board where" in err
    # mismatched frame counts
    _write(tmp_path / "short", a, frames[a])
    _write(tmp_path / "short", b, frames[b][:30])
    assert _extrinsics(root, tmp_path / "short", tmp_path / "c3.toml") == 1
    assert "different frame counts" in capsys.readouterr().err
    for k in (1, 2, 3):
        assert not (tmp_path / f"c{k}.toml").exists() and not (tmp_path / f"c{k}_report").exists()


def test_intrinsics_with_no_board_or_the_wrong_dictionary_write_nothing(small_session, tmp_path, capsys):
    root, rig, frames = small_session
    a = rig.names[0]
    _write(tmp_path, "blank", [np.full_like(frames[a][0], 128)] * 5)
    out = tmp_path / "intr.toml"
    assert main(["calibrate", "intrinsics", "--board", str(root / "board.toml"), str(tmp_path / "blank.avi"),
                 "-o", str(out)]) == 1
    assert "no board in 5 frames" in capsys.readouterr().err and not out.exists()
    _write(tmp_path, a, frames[a])
    Board(**{**CHARUCO.__dict__, "dictionary": "DICT_5X5_50"}).save(tmp_path / "wrong.toml")
    assert main(["calibrate", "intrinsics", "--board", str(tmp_path / "wrong.toml"), str(tmp_path / f"{a}.avi"),
                 "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "DICT_4X4" in err and "DICT_5X5_50" in err and not out.exists()
    coverage = tmp_path / "intr_coverage.png"
    assert not coverage.exists()
    # the right board, as a control: the file, how well the camera's pointing is known, and the
    # picture of where the corners fell
    assert main(["calibrate", "intrinsics", "--board", str(root / "board.toml"), str(tmp_path / f"{a}.avi"),
                 "-o", str(out)]) == 0
    assert "the camera's pointing is known to +-" in capsys.readouterr().out
    picture = cv2.imread(str(coverage))
    assert picture is not None and picture.shape[1] > 300
    saved = Rig.load(out).metadata["intrinsics_uncertainty"][a]
    assert len(saved["std_fx_fy_cx_cy_px"]) == 4 and 0 < saved["pointing_deg"] < 5


def test_caliscope_board_files_are_read_and_broken_ones_named(tmp_path):
    (tmp_path / "charuco.toml").write_text('columns = 4\nrows = 5\nboard_height = 11.0\nboard_width = 8.5\n'
                                           'dictionary = "DICT_4X4_1000"\nunits = "inch"\naruco_scale = 0.75\n'
                                           'square_size_override_cm = 5.4\ninverted = true\n')
    b = Board.load(tmp_path / "charuco.toml")
    assert (b.squares_x, b.squares_y, b.dictionary, b.inverted, b.see_through) == (4, 5, "DICT_4X4_1000", True, True)
    assert b.square_length_m == pytest.approx(0.054) and b.marker_length_m == pytest.approx(0.0405)
    (tmp_path / "c2.toml").write_text("columns = 4\nrows = 5\naruco_scale = 0.75\n")
    with pytest.raises(FileFormatError, match=r"c2.toml.*no 'board_width'"):
        Board.load(tmp_path / "c2.toml")
    (tmp_path / "c3.toml").write_text('columns = 4\nrows = "five"\naruco_scale = 0.75\nboard_width = 8.5\n')
    with pytest.raises(FileFormatError, match=r"c3.toml.*caliscope board"):
        Board.load(tmp_path / "c3.toml")


@pytest.mark.parametrize("square_mm, marker_mm, px, legacy", [(20, 16, 157, False), (120, 96, 1417, False),
                                                                (30, 24, 177, True), (45, 34, 96, False)])
def test_charuco_images_that_opencv_cannot_draw_are_drawn_and_detected(square_mm, marker_mm, px, legacy):
    """Sizes where OpenCV 4.14's CharucoBoard.generateImage fails an assertion (``capture3d board``
    used to crash on them): the board is drawn, and every corner is found where it should be."""
    import cv2
    board = Board(squares_x=6, squares_y=5, square_length_m=square_mm / 1000, marker_length_m=marker_mm / 1000,
                  legacy_pattern=legacy)
    margin = px // 2
    img = board.image(px, margin_px=margin)
    assert img.shape == (5 * px + 2 * margin, 6 * px + 2 * margin)
    scale = min(1.0, 100 / px)                   # detect at about 100 px per square
    det = board.detect(cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    assert det.ok and len(det.ids) == board.n_corners
    # a corner k squares in lies on the pixel edge k * px + margin; pixel centres sit 0.5 past edges
    edge = board.object_points()[det.ids, :2] / (square_mm / 1000) * px + margin
    assert np.abs(det.corners - (edge * scale - 0.5)).max() < 0.6


def test_blurred_and_tiny_board_views_are_dropped_and_counted(tmp_path, capsys):
    """A video with sharp views and views smeared 11 px diagonally (a board waved too fast) that
    the detector still finds: the smeared ones are dropped and counted, the sharp ones kept; a
    square-size limit above every view drops them all as too small."""
    cam = make_rig(1, seed=1)[0]
    renderer = BoardRenderer(CHARUCO, cam, seed=0)
    smear = np.eye(11, dtype=np.float32) / 11
    sharp, smeared = [], []
    for T in intrinsic_board_poses(cam, CHARUCO, 40, seed=3):   # close up: squares of 100-200 px
        img = renderer.render(T)
        if not CHARUCO.detect(img).ok:
            continue
        if len(sharp) < 6:
            sharp.append(img)
        elif CHARUCO.detect(cv2.filter2D(img, -1, smear)).ok:
            smeared.append(cv2.filter2D(img, -1, smear))
        if len(smeared) == 3:
            break
    assert len(smeared) == 3
    frames = sharp + smeared
    with VideoWriter(tmp_path / "v.avi", 10, cam.size) as w:
        for f in frames:
            w.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    obs = detect_board(tmp_path / "v.avi", CHARUCO)
    assert (obs.rejected_blurred, obs.rejected_small) == (3, 0)
    assert obs.frames.tolist() == list(range(6))
    obs.save(tmp_path / "o.npz")
    from capture3d.calibrate.detect import BoardObservations
    again = BoardObservations.load(tmp_path / "o.npz")
    assert (again.rejected_blurred, again.rejected_small, again.frames.tolist()) == (3, 0, list(range(6)))
    everything_small = detect_board(tmp_path / "v.avi", CHARUCO, min_square_px=1000)
    assert len(everything_small) == 0 and everything_small.rejected_small == 9
    # a video of smeared views only: intrinsics say why nothing was usable, and write nothing
    with VideoWriter(tmp_path / "smeared.avi", 10, cam.size) as w:
        for f in smeared:
            w.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    CHARUCO.save(tmp_path / "board.toml")
    assert main(["calibrate", "intrinsics", "--board", str(tmp_path / "board.toml"), str(tmp_path / "smeared.avi"),
                 "-o", str(tmp_path / "intr.toml")]) == 1
    captured = capsys.readouterr()
    assert "dropped 3 blurred" in captured.out
    assert "found in 3 of 3 frames, but every view was too blurred" in captured.err
    assert not (tmp_path / "intr.toml").exists()


def test_a_board_with_more_markers_than_its_dictionary_is_refused_before_any_file(tmp_path, capsys):
    with pytest.raises(ValueError, match="needs 96 markers and DICT_4X4_50 has 50: use DICT_4X4_100"):
        Board(squares_x=16, squares_y=12, square_length_m=0.045, marker_length_m=0.034)
    assert Board(squares_x=10, squares_y=10, dictionary="DICT_4X4_50").n_corners == 81   # 50 markers: fits
    out = tmp_path / "fine.toml"
    assert main(["board", "charuco", "--squares-x", "16", "--squares-y", "12", "--square-mm", "45",
                 "-o", str(out)]) == 1
    assert "DICT_4X4_100" in capsys.readouterr().err and not list(tmp_path.iterdir())
