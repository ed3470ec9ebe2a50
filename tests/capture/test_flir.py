"""The FLIR backend against a fake PySpin that enforces Spinnaker's node access rules (see
fake_pyspin.py): configuration order, chunk frame ids and timestamps into frames.csv, incomplete
images counted as drops, and the errors a user sees without PySpin or with a wrong serial."""
import sys

import pytest

from capture3d.capture import CameraError, RecordOptions, RigConfig, check_rig, read_frames_csv, record

from . import fake_pyspin

RIG = """
name = "flir_test"
backend = "flir"
fps = 50.0
size = [320, 240]
pixel_format = "BayerRG8"
exposure_us = 4000.0
gain_db = 3.0

[[cameras]]
name = "top"
serial = "1001"
trigger = "primary"
output_line = "Line1"

[[cameras]]
name = "left"
serial = "1002"
trigger = "secondary"
trigger_line = "Line3"

[[cameras]]
name = "right"
serial = "1003"
trigger = "secondary"
trigger_line = "Line3"
"""


@pytest.fixture
def hardware(monkeypatch):
    hw = fake_pyspin.FakeHardware(["1001", "1002", "1003"], fps=100.0,
                                  wiring={("1001", "Line1"): [("1002", "Line3"), ("1003", "Line3")]},
                                  incomplete={("1003", 5)})
    fake_pyspin.install(hw, monkeypatch)
    yield hw
    hw.stop()


@pytest.fixture
def rig(tmp_path):
    path = tmp_path / "flir.toml"
    path.write_text(RIG)
    return RigConfig.load(path)


def _order(writes, serial):
    return [(name, value) for s, name, value in writes if s == serial]


def test_hardware_trigger_is_configured_in_the_order_spinnaker_requires(hardware, rig, tmp_path):
    res = record(rig, tmp_path / "session", RecordOptions(max_frames=20))
    assert res.report["cameras"]["top"]["frames"] == 20
    left = _order(hardware.writes, "1002")
    i = left.index
    assert i(("TriggerMode", "Off")) < i(("TriggerSelector", "FrameStart")) < i(("TriggerSource", "Line3")) \
        < i(("TriggerMode", "On"))
    assert i(("ExposureAuto", "Off")) < i(("ExposureTime", 4000.0))
    assert i(("GainAuto", "Off")) < i(("Gain", 3.0))
    assert i(("ChunkModeActive", True)) < i(("ChunkSelector", "FrameID")) < i(("ChunkSelector", "Timestamp"))
    assert ("AcquisitionFrameRate", 50.0) not in left        # triggered: the primary sets the pace
    top = _order(hardware.writes, "1001")
    j = top.index
    assert j(("LineSelector", "Line1")) < j(("LineMode", "Output")) < j(("LineSource", "ExposureActive"))
    assert j(("AcquisitionFrameRateEnable", True)) < j(("AcquisitionFrameRate", 50.0))
    assert ("TriggerMode", "On") not in top
    # the secondaries are armed before the primary's pulses start
    begins = [s for s, name, _ in hardware.writes if name == "BeginAcquisition"]
    assert begins[-1] == "1001" and set(begins) == {"1001", "1002", "1003"}
    assert hardware.released > 0 and all(not c.streaming for c in hardware.cameras)


def test_the_fake_refuses_what_the_camera_refuses(hardware):
    cam = hardware.cameras[0]
    cam.Init()
    nodes = cam.GetNodeMap()
    mode = sys.modules["PySpin"].CEnumerationPtr(nodes.GetNode("TriggerMode"))
    mode.SetIntValue(mode.GetEntryByName("On").GetValue())
    source = sys.modules["PySpin"].CEnumerationPtr(nodes.GetNode("TriggerSource"))
    with pytest.raises(fake_pyspin.SpinnakerException, match="not writable"):
        source.SetIntValue(source.GetEntryByName("Line3").GetValue())


def test_chunk_frame_ids_and_timestamps_reach_frames_csv_and_incomplete_images_are_drops(hardware, rig, tmp_path):
    res = record(rig, tmp_path / "session", RecordOptions(max_frames=15))
    frames = read_frames_csv(tmp_path / "session")
    top, right = frames["top"], frames["right"]
    assert top["device_frame_id"].tolist() == list(range(1, 16))          # the camera's own counter
    assert 5 not in right["device_frame_id"].tolist()                      # the incomplete image
    assert right["device_frame_id"][:5].tolist() == [1, 2, 3, 4, 6]
    # the secondary exposes 1 us after the primary's pulse, on the same trigger
    assert (right["device_timestamp_ns"][:4] - top["device_timestamp_ns"][:4]).tolist() == [1000] * 4
    r = res.report["cameras"]["right"]
    assert r["incomplete"] == 1 and r["drops"] == 1 and r["dropped_device_frame_ids"] == [5]
    assert res.report["cameras"]["left"]["drops"] == 0
    assert res.report["frames_in_all_cameras"] == 14


def test_without_pyspin_the_error_says_how_to_install_it(rig, monkeypatch):
    monkeypatch.setitem(sys.modules, "PySpin", None)       # import PySpin -> ImportError
    [check, *_] = check_rig(rig)
    assert not check.ok and "Spinnaker SDK" in check.message and "spinnaker_python" in check.message


def test_rig_check_names_the_missing_serial(hardware, rig):
    rig.cameras[2].serial = "9999"
    checks = {c.name: c for c in check_rig(rig)}
    assert checks["top"].ok and "grabbed a 320x240 frame" in checks["top"].message
    assert checks["left"].ok and "triggered camera" in checks["left"].message
    assert not checks["right"].ok and "9999" in checks["right"].message and "1001" in checks["right"].message


def test_a_refused_configuration_names_camera_and_node(hardware, rig, tmp_path):
    rig.cameras[0].gain_db = 99.0          # beyond the camera's 47 dB
    with pytest.raises(CameraError, match="top: Gain = 99.0 is outside"):
        record(rig, tmp_path / "session", RecordOptions(max_frames=5))
    assert not (tmp_path / "session").exists()


def test_an_unplugged_camera_ends_the_recording_and_keeps_what_was_recorded(hardware, rig, tmp_path):
    import threading
    import time

    def unplug():
        time.sleep(0.5)
        cam = hardware.cameras[1]
        cam.valid = False
        with cam.cond:
            cam.cond.notify_all()
    threading.Thread(target=unplug, daemon=True).start()
    res = record(rig, tmp_path / "session", RecordOptions(duration_s=10.0))
    assert "left" in res.stopped_by and "removed" in res.stopped_by
    assert res.report["cameras"]["left"]["error"] and res.report["duration_s"] < 5
    frames = read_frames_csv(tmp_path / "session")
    assert len(frames["top"]["frame_index"]) > 10 and len(frames["left"]["frame_index"]) > 10
    assert 'status = "complete (camera left:' in (tmp_path / "session" / "session.toml").read_text()
