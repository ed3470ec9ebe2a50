"""Everyone in 3D from cameras without a shared clock: triangulate reads SESSION/sync.toml."""
import numpy as np

from capture3d import io
from capture3d.cli import main
from capture3d.reconstruct.evaluation import score_people
from capture3d.sync import CameraClock, SyncResult, write_sync
from capture3d.synthetic import capture_area, make_crowd, make_rig, observe_crowd


def test_triangulate_moves_late_cameras_to_the_reference_instants(tmp_path, capsys):
    rig = make_rig(4)
    rig.save(tmp_path / "c.toml")
    fps = 30.0
    crowd = make_crowd(2, 90, fps=fps, seed=3, area_m=capture_area(rig))
    obs = observe_crowd(crowd, rig, seed=4, noise_px=1.0, outliers=0.0, ghosts=0.0, misses=0.0)
    late = {"cam01": 0, "cam02": 7, "cam03": 13, "cam04": 22}          # frames each camera started late
    session = tmp_path / "session"
    clocks = {}
    for c, name in enumerate(rig.names):
        k = late[name]
        io.save_pose2d(session / "pose2d" / f"{name}.npz", obs.candidates[c, k:], joint_names=crowd.joint_names,
                       image_size=rig[c].size, detector="synthetic")
        clocks[name] = CameraClock(start_s=k / fps, fps=fps)
    write_sync(SyncResult("manual", "cam01", clocks), session / "sync.toml")
    assert main(["triangulate", str(session / "pose2d"), "-c", str(tmp_path / "c.toml"), "-o",
                 str(tmp_path / "p.npz"), "--fps", "30"]) == 0
    assert "interpolated to cam01's 90 frames" in capsys.readouterr().out
    data = io.load_points3d(tmp_path / "p.npz")
    assert np.allclose(data["time_s"], np.arange(90) / fps)
    s = score_people(data["points"], crowd.points, crowd.joint_names)
    # measured: the same people as the synced scene, 1 px noise
    assert len(data["person_id"]) == 2 and s.id_switches == 0 and s.mpjpe_m < 0.01
    # without the clocks the late cameras' frames are taken for the reference's: far worse
    (session / "sync.toml").unlink()
    assert main(["triangulate", str(session / "pose2d"), "-c", str(tmp_path / "c.toml"), "-o",
                 str(tmp_path / "q.npz")]) == 0
    unsynced = io.load_points3d(tmp_path / "q.npz")
    worse = score_people(unsynced["points"], crowd.points[:, :unsynced["points"].shape[1]], crowd.joint_names)
    assert not (worse.found > 0.9 and worse.mpjpe_m < 0.01)
