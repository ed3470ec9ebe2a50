"""The recorder's video writer (OpenCV JPEG-encodes, ffmpeg writes the AVI): the files say their
frame rate and frame count as recorded, seek to the right frame, time every frame as index / fps
for sync, and take grey frames."""
import cv2
import numpy as np
import pytest

from capture3d.capture import read_frame_id, stamp_frame_id
from capture3d.capture.writer import VideoPipe
from capture3d.sync.signals import is_variable_rate, video_frame_times


def _frames(n, size=(320, 240)):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), np.uint8).repeat(8, 0).repeat(8, 1)
    return [stamp_frame_id(base.copy(), i) for i in range(n)]


@pytest.mark.parametrize("fps", [30.0, 29.97, 120.0])
def test_the_video_has_the_recorded_rate_count_and_frame_times(tmp_path, fps):
    path = tmp_path / "v.avi"
    with VideoPipe(path, fps, (320, 240)) as w:
        for f in _frames(45):
            w.write(f)
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == b"MJPG"
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(fps, rel=1e-3)
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 45
    cap.set(cv2.CAP_PROP_POS_FRAMES, 31)               # exact seeking (every frame a key frame)
    ok, image = cap.read()
    assert ok and read_frame_id(image) == 31
    times = video_frame_times(path)
    assert len(times) == 45 and not is_variable_rate(times)
    np.testing.assert_allclose(times, np.arange(45) / fps, atol=1e-3)


def test_grey_frames_and_quality(tmp_path):
    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in _frames(5)]
    sizes = {}
    for q in (50, 95):
        with VideoPipe(tmp_path / f"g{q}.avi", 30, (320, 240), jpeg_quality=q) as w:
            for g in grey:
                w.write(g)
        cap = cv2.VideoCapture(str(tmp_path / f"g{q}.avi"))
        ok, image = cap.read()
        assert ok and image.shape == (240, 320, 3) and read_frame_id(image) == 0
        assert cv2.PSNR(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), grey[0]) > (25 if q == 50 else 35)
        sizes[q] = (tmp_path / f"g{q}.avi").stat().st_size
    assert sizes[50] < sizes[95]
    with pytest.raises(ValueError, match="jpeg_quality"):
        VideoPipe(tmp_path / "bad.avi", 30, (320, 240), jpeg_quality=0)
    with VideoPipe(tmp_path / "size.avi", 30, (320, 240)) as w:
        w.write(grey[0])
        with pytest.raises(ValueError, match="differs"):
            w.write(np.zeros((100, 100, 3), np.uint8))
