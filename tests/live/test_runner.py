"""The live threads: fresh cameras per update follow the detection throughput; a replayed
MJPEG frame is decoded only when its image is looked at."""
import cv2
import numpy as np

from capture3d.live import LiveOptions, LiveReconstructor, LiveRunner
from capture3d.live.replay import _PacketFrame
from capture3d.skeleton import COCO17
from capture3d.synthetic import make_rig


class NoOneDetector:
    joint_names, max_persons = COCO17, 1

    def __call__(self, image):
        return np.full((1, 17, 3), np.nan, np.float32)

    def reset(self):
        pass


def test_fresh_cameras_per_update_follow_the_detection_throughput():
    rig = make_rig(4, size=(320, 240), seed=0)
    opts = LiveOptions(detect_workers=1, target_rate_hz=15.0)
    recon = LiveReconstructor(rig, 30.0, opts, detectors={n: NoOneDetector() for n in rig.names})
    runner = LiveRunner(rig, 30.0, opts, reconstructor=recon)
    assert runner.cameras_per_update() == 1                     # nothing measured yet
    for per_second, wanted in ((50.0, 3), (20.0, 1), (200.0, 4), (10.0, 1)):
        runner._finished.clear()
        runner._finished.extend(100.0 + np.arange(30) / per_second)
        assert runner.cameras_per_update() == wanted, per_second
    fixed = LiveRunner(rig, 30.0, LiveOptions(detect_workers=1, cameras_per_update=2), reconstructor=recon)
    assert fixed.cameras_per_update() == 2


def test_a_replayed_mjpeg_frame_is_decoded_when_looked_at():
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, 32:] = (0, 200, 255)
    packet = np.frombuffer(cv2.imencode(".jpg", image)[1].tobytes(), np.uint8)
    frame = _PacketFrame(packet, 7, 0, 0)
    assert frame._image is None and frame.device_frame_id == 7
    assert np.abs(frame.image.astype(int) - image).mean() < 3.0    # grey levels (JPEG ringing at the edge); measured 0.58
    assert frame.image is frame.image                               # decoded once


def test_nothing_is_detected_while_the_recording_says_hold():
    rig = make_rig(4, size=(320, 240), seed=0)
    opts = LiveOptions(detect_workers=1, cameras_per_update=1)
    recon = LiveReconstructor(rig, 30.0, opts, detectors={n: NoOneDetector() for n in rig.names})
    runner = LiveRunner(rig, 30.0, opts, reconstructor=recon)
    behind = [True]
    runner.hold = lambda: behind[0]
    from capture3d.capture import Frame
    for name in rig.names:
        runner.update(name, Frame(np.zeros((240, 320, 3), np.uint8), 0, 0, 0))
    assert not runner.step() and runner.held == 1 and not runner.stats.latency_ms
    behind[0] = False
    while runner.step():
        pass
    assert runner.stats.cameras_detected == [1, 1, 1, 1]
