"""Plain checkerboards on rendered phone photos made hard the way public sets are (1088 x 1920
portrait, a 5 x 8-square board of 60 mm small in the frame and tilted by 55-72 degrees, uneven
light, low contrast, defocus, JPEG at quality 50): the second detector finds boards SB misses,
every view comes in the board's own corner order (also in photos turned upside down), and seven
photos calibrate, with a warning that says how uncertain the result is."""
import cv2
import numpy as np
import pytest

from capture3d.calibrate.boards import Board
from capture3d.calibrate.checkerboard import _orders, canonical_order, pattern_vote
from capture3d.calibrate.detect import detect_board
from capture3d.calibrate.intrinsics import calibrate_intrinsics
from capture3d.camera import Camera
from capture3d.synthetic.boards import BoardRenderer, intrinsic_board_poses

BOARD = Board(type="checkerboard", squares_x=5, squares_y=8, square_length_m=0.06)
PHONE = Camera("phone", (1088, 1920), [[1450.0, 0, 543.5], [0, 1450.0, 959.5], [0, 0, 1]],
               [0.08, -0.15, 0.0, 0.0, 0.0])


def hard_photos(n=7, seed=0):
    """``world_from_board (n, 4, 4)`` and the JPEG bytes of each photo."""
    poses = intrinsic_board_poses(PHONE, BOARD, n, tilt_deg=(55.0, 72.0), distance=(3.0, 4.5), seed=seed)
    renderer = BoardRenderer(BOARD, PHONE, px_per_square=64, seed=seed)
    rng = np.random.default_rng(seed)
    W, H = PHONE.size
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    out = []
    for T in poses:
        img = renderer.render(T, blur_px=2.0, noise_std=3.0, rng=rng).astype(np.float32)
        # light falling off across the frame (a lamp to one side), at 40 % contrast
        a = rng.uniform(0, 2 * np.pi)
        across = (np.cos(a) * (x - W / 2) + np.sin(a) * (y - H / 2)) / (0.25 * H)
        img = img * np.exp(rng.uniform(0.8, 1.2) * np.tanh(across)) * 0.32 + 70
        jpeg = cv2.imencode(".jpg", np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 50])[1]
        out.append(jpeg.tobytes())
    return poses, out


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phone")
    poses, jpegs = hard_photos()
    for k, data in enumerate(jpegs):
        (folder / f"IMG_{k:04d}.jpg").write_bytes(data)
    return folder, poses


def _truth(T):
    """Where the board's corners really are in the photo, ``(n, 2)`` pixels, in its own order."""
    return PHONE.project(BOARD.object_points() @ T[:3, :3].T + T[:3, 3])[..., :2]


def test_the_second_detector_finds_boards_sb_misses_each_in_the_board_corner_order(photos, monkeypatch):
    folder, poses = photos
    sb_found = []
    sb = cv2.findChessboardCornersSB

    def counting_sb(*args):
        found = sb(*args)
        sb_found.append(bool(found[0]))
        return found
    monkeypatch.setattr(cv2, "findChessboardCornersSB", counting_sb)
    W, H = PHONE.size
    found = 0
    for k, T in enumerate(poses):
        gray = cv2.imread(str(folder / f"IMG_{k:04d}.jpg"), cv2.IMREAD_GRAYSCALE)
        for turned in (False, True):     # upside down: a camera across the room sees a floor board so
            det = BOARD.detect(np.ascontiguousarray(gray[::-1, ::-1]) if turned else gray)
            if not det.ok:
                continue
            found += 1
            truth = _truth(T)
            if turned:
                truth = np.array([W - 1, H - 1]) - truth
            # corner k where the board's corner k is: <= 5 px (measured 0.18-1.65 px; a half turn of
            # the order would be off by the board's length, 300-500 px)
            assert np.abs(det.corners - truth).max() < 5.0, (k, turned)
    # measured: SB 10 of 14 (5 of the 7 photos, both ways up), both detectors 14 of 14
    assert sum(sb_found) <= 10 and found == 14


def test_seven_photos_calibrate_with_a_warning_that_gives_the_uncertainty(photos, caplog):
    folder, _poses = photos
    obs = detect_board(folder, BOARD, camera="phone")
    # measured: 7 boards found, 1 dropped by the blur gate (edges wider than 8 px at 72 degrees)
    assert obs.frames_read == 7 and len(obs) >= 6
    res = calibrate_intrinsics(obs, BOARD)
    assert res.ok and res.rms_px < 1.0                        # measured 0.45 px
    assert "calibrated from only" in res.warning and "+-" in res.warning
    assert res.warning in caplog.text
    fx, fy = res.camera.matrix[0, 0], res.camera.matrix[1, 1]
    # within 3 sigma of the truth (measured 1476.6 +- 21.9 and 1442.4 +- 18.7 px against 1450)
    assert abs(fx - 1450) < 3 * res.std_px[0] and abs(fy - 1450) < 3 * res.std_px[1]
    few = type(obs)(obs.camera, obs.image_size, obs.frames[:2], obs.ids[:2], obs.corners[:2], obs.frames_read)
    failed = calibrate_intrinsics(few, BOARD)
    assert not failed.ok and "found in 2 usable frames of 7, and 3 are needed" in failed.message


@pytest.mark.parametrize("squares", [(5, 8), (6, 8), (6, 6)])
def test_canonical_order_undoes_every_order_a_detector_may_return(squares):
    board = Board(type="checkerboard", squares_x=squares[0], squares_y=squares[1], square_length_m=0.03)
    px = 20
    image = board.image(px, margin_px=px)
    nx, ny = board.inner_corners
    truth = board.object_points()[:, :2] / board.square_length_m * px + px - 0.5
    # turned a little, so that "nearest the top-left" is not a tie
    turn = cv2.getRotationMatrix2D((image.shape[1] / 2, image.shape[0] / 2), 10, 1.0)
    image = cv2.warpAffine(image, turn, image.shape[::-1], borderValue=255)
    truth = truth @ turn[:, :2].T + turn[:, 2]
    assert pattern_vote(image, truth, (nx, ny)) == 1.0
    for order in _orders(nx, ny):
        assert np.array_equal(canonical_order(truth[order], image, (nx, ny)), truth), order
    # on a uniform image (a grid on texture) the pattern says nothing
    assert pattern_vote(np.full_like(image, 128), truth, (nx, ny)) == 0.0
