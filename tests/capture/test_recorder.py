"""The recorder with synthetic cameras: a long recording without a drop and with every frame
aligned (each image carries its device frame id as a barcode), injected drops and a stalled camera
reported exactly, a recorder killed mid-way, a disk that fills up, and the frames.csv contract."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from capture3d.capture import RecordOptions, RigConfig, read_frame_id, read_frames_csv, record, stamp_frame_id

ROOT = Path(__file__).resolve().parents[2]


def rig_file(tmp_path, fps=60.0, options=None, scene_frames=12, size=(320, 240)):
    """A 4-camera synthetic rig on one hardware trigger; ``options[camera]`` adds options."""
    text = f'''name = "test_rig"
backend = "synthetic"
fps = {fps}
size = [{size[0]}, {size[1]}]
[synthetic]
scene = "board"
frames = {scene_frames}
cameras = 4
'''
    for i in range(4):
        text += f'\n[[cameras]]\nname = "cam0{i + 1}"\ndevice = {i}\ntrigger = "{"primary" if i == 0 else "secondary"}"\n'
        if options and f"cam0{i + 1}" in options:
            text += "[cameras.options]\n" + "".join(f"{k} = {v!r}\n" for k, v in options[f"cam0{i + 1}"].items())
    path = tmp_path / "rig.toml"
    path.write_text(text.replace("'", '"'))
    return path


def video_ids(path):
    """The barcode frame ids of every frame of a video."""
    cap = cv2.VideoCapture(str(path))
    ids = []
    while True:
        ok, image = cap.read()
        if not ok:
            return ids
        ids.append(read_frame_id(image))


def test_frame_id_barcode_survives_the_video_codec(tmp_path):
    from capture3d.capture.writer import VideoPipe
    ids = [0, 1, 255, 4097, 2 ** 24 - 1]
    with VideoPipe(tmp_path / "v.avi", 30, (320, 240)) as w:
        for i in ids:
            w.write(stamp_frame_id(np.random.default_rng(i).integers(0, 255, (240, 320, 3), np.uint8), i))
    assert video_ids(tmp_path / "v.avi") == ids


def test_four_cameras_at_60_fps_for_20_s_without_a_drop_and_frame_aligned(tmp_path):
    rig = RigConfig.load(rig_file(tmp_path))
    res = record(rig, tmp_path / "s", RecordOptions(duration_s=20.0))
    frames = read_frames_csv(tmp_path / "s")
    n = {cam: len(v["frame_index"]) for cam, v in frames.items()}
    assert min(n.values()) >= 0.97 * 20 * 60
    for cam, c in res.report["cameras"].items():
        assert c["drops"] == 0 and c["queue_drops"] == 0 and c["incomplete"] == 0, (cam, c)
        ids = video_ids(tmp_path / "s" / "videos" / f"{cam}.avi")
        # the video holds exactly the frames frames.csv lists, in order, none skipped
        assert ids == frames[cam]["device_frame_id"].tolist() == list(range(len(ids)))
    # hardware trigger: frame i of every camera is trigger i, and the stop drains every camera to
    # the same last trigger, so the counts are equal (without the drain they ended 2-4 frames
    # apart: images render on demand, and a camera's first renders hold it back)
    assert len(set(n.values())) == 1, n
    assert res.report["drained_to_device_frame_id"] == min(n.values()) - 1
    assert res.report["frames_in_all_cameras"] == min(n.values())
    stamps = {cam: frames[cam]["device_timestamp_ns"][:min(n.values())] for cam in frames}
    assert all(np.array_equal(stamps["cam01"], s) for s in stamps.values())
    session = (tmp_path / "s" / "session.toml").read_text()
    assert 'status = "complete (duration 20 s reached)"' in session and 'name = "cam04"' in session


def test_a_stop_drains_a_late_camera_to_the_last_trigger_or_reports_what_it_lacks(tmp_path):
    """cam04 receives its frames 300 ms late (18 frames at 60 fps): at the stop the recorder waits
    for it up to the last trigger; given 50 ms only, the triggers it did not deliver are drops."""
    rig = RigConfig.load(rig_file(tmp_path, options={"cam04": {"latency_ms": 300.0}}))
    res = record(rig, tmp_path / "drained", RecordOptions(duration_s=1.5))
    last = res.report["drained_to_device_frame_id"]
    frames = read_frames_csv(tmp_path / "drained")
    for cam, cols in frames.items():
        assert cols["device_frame_id"].tolist() == list(range(last + 1)), cam
        assert res.report["cameras"][cam]["drops"] == 0
    res = record(rig, tmp_path / "short", RecordOptions(duration_s=1.5, drain_timeout_s=0.05))
    last = res.report["drained_to_device_frame_id"]
    late = res.report["cameras"]["cam04"]
    assert last - late["last_device_frame_id"] >= 10          # measured 12 frames short
    assert late["dropped_device_frame_ids"] == list(range(late["last_device_frame_id"] + 1, last + 1))
    assert all(res.report["cameras"][cam]["drops"] == 0 for cam in ("cam01", "cam02", "cam03"))
    assert res.report["frames_in_all_cameras"] == late["frames"]


def test_record_options_are_checked():
    with pytest.raises(ValueError, match="drain_timeout_s must be >= 0"):
        RecordOptions(drain_timeout_s=-1.0)
    with pytest.raises(ValueError, match="queue_frames must be >= 1"):
        RecordOptions(queue_frames=0)


def test_injected_drops_and_a_stalled_camera_are_reported_exactly(tmp_path):
    rig = RigConfig.load(rig_file(tmp_path, options={"cam02": {"drop_frames": [10, 11, 50]},
                                                     "cam03": {"stall_after": 80}}))
    res = record(rig, tmp_path / "s", RecordOptions(duration_s=30.0, stall_timeout_s=1.0))
    report = json.loads((tmp_path / "s" / "sync_report.json").read_text())
    assert report == json.loads(json.dumps(res.report))
    assert "cam03 delivered no frame" in res.stopped_by
    cam2, cam3 = report["cameras"]["cam02"], report["cameras"]["cam03"]
    assert cam2["drops"] == 3 and cam2["dropped_device_frame_ids"] == [10, 11, 50]
    assert cam3["stalled"] and cam3["frames"] == 80 and cam3["drops"] == 0
    assert report["cameras"]["cam01"]["drops"] == 0 and not report["cameras"]["cam01"]["stalled"]
    assert report["duration_s"] < 10                     # the stall ended the recording
    frames = read_frames_csv(tmp_path / "s")
    assert [10, 11, 50] == sorted(set(range(60)) - set(frames["cam02"]["device_frame_id"][:57].tolist()))
    # everything recorded before the stall is kept, videos and rows agree
    for cam in frames:
        assert video_ids(tmp_path / "s" / "videos" / f"{cam}.avi") == frames[cam]["device_frame_id"].tolist()
    assert 'status = "complete (camera cam03 delivered no frame' in (tmp_path / "s" / "session.toml").read_text()


def test_killing_the_recorder_leaves_readable_videos_matching_frames_csv(tmp_path):
    rig = rig_file(tmp_path, fps=30.0)
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "record", str(rig), "-o", str(tmp_path / "s")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:          # wait until frames are being written
        time.sleep(0.5)
        csv = tmp_path / "s" / "frames.csv"
        if csv.exists() and csv.read_text().count("\n") > 100:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)                        # the encoders finish their files on their own
    frames = read_frames_csv(tmp_path / "s")
    assert set(frames) == {"cam01", "cam02", "cam03", "cam04"}
    for cam, cols in frames.items():
        ids = video_ids(tmp_path / "s" / "videos" / f"{cam}.avi")
        rows = cols["device_frame_id"].tolist()
        assert len(rows) >= 20
        # a row is written after its frame went to the encoder: the video may hold one frame more
        assert ids[:len(rows)] == rows and len(ids) - len(rows) in (0, 1)
    assert 'status = "recording"' in (tmp_path / "s" / "session.toml").read_text()
    assert not (tmp_path / "s" / "sync_report.json").exists()


def test_a_full_disk_ends_the_recording_and_keeps_what_was_recorded(tmp_path):
    import shutil
    rig = RigConfig.load(rig_file(tmp_path))
    free_mb = shutil.disk_usage(tmp_path).free / 1e6
    res = record(rig, tmp_path / "s", RecordOptions(duration_s=30.0, min_free_mb=free_mb + 1e5))
    assert res.stopped_by.startswith("disk nearly full") and res.report["duration_s"] < 5
    frames = read_frames_csv(tmp_path / "s")
    for cam in frames:
        assert video_ids(tmp_path / "s" / "videos" / f"{cam}.avi") == frames[cam]["device_frame_id"].tolist()


def test_recording_into_an_existing_session_is_refused(tmp_path):
    rig = RigConfig.load(rig_file(tmp_path))
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "frames.csv").write_text("keep me")
    with pytest.raises(Exception, match="already holds a recording"):
        record(rig, tmp_path / "s", RecordOptions(max_frames=3))
    assert (tmp_path / "s" / "frames.csv").read_text() == "keep me"


def test_video_files_and_usb_cameras_record_through_the_same_recorder(tmp_path):
    """A recorded session played back as cameras: as video files (frame ids = frame numbers) and
    through the USB backend (cv2.VideoCapture takes a path as well as an index; no device clock)."""
    rig = RigConfig.load(rig_file(tmp_path, fps=30.0))
    record(rig, tmp_path / "first", RecordOptions(max_frames=30))
    for backend in ("video", "usb"):
        text = f'name = "replay"\nbackend = "{backend}"\n'
        for cam in ("cam01", "cam02"):
            text += f'[[cameras]]\nname = "{cam}"\ndevice = "{tmp_path / "first" / "videos" / (cam + ".avi")}"\n'
        (tmp_path / f"{backend}.toml").write_text(text)
        res = record(RigConfig.load(tmp_path / f"{backend}.toml"), tmp_path / backend, RecordOptions())
        # a played-back video ends normally; a USB camera that stops delivering is an error
        assert res.stopped_by == "cameras ended" if backend == "video" else "stopped delivering" in res.stopped_by
        frames = read_frames_csv(tmp_path / backend)
        for cam in ("cam01", "cam02"):
            ids = video_ids(tmp_path / backend / "videos" / f"{cam}.avi")
            # every frame in order, barcodes intact (USB: the first camera to end stops the others)
            assert ids == list(range(30 if backend == "video" else len(ids))) and len(ids) >= 1
            assert len(frames[cam]["frame_index"]) == len(ids)
            if backend == "video":
                assert frames[cam]["device_frame_id"].tolist() == list(range(30))
                assert res.report["cameras"][cam]["drops"] == 0
            else:
                assert (frames[cam]["device_frame_id"] == -1).all()   # no device ids from USB
                assert res.report["cameras"][cam]["drops"] is None
        if backend == "usb":
            assert max(len(v["frame_index"]) for v in frames.values()) == 30   # the one that ran out
            from capture3d.sources import session_frame_map
            mapping = session_frame_map(tmp_path / "usb")
            n1 = len(frames["cam01"]["frame_index"])
            assert mapping["cam01"].tolist() == list(range(n1))      # the reference camera
            assert np.all(np.diff(mapping["cam02"]) >= 0) and mapping["cam02"].max() < n1
