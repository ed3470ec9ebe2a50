"""Everyone in 3D: association across views, tracking with stable ids, per-person triangulation.

Scenes come from :mod:`capture3d.synthetic.crowd` (paths that cross, occlusion by the other
people, misses, 5 % ghosts, 2 px noise, 3 % outliers, slots shuffled per frame). The oracle is
the same triangulation fed each person's true 2D detections.
"""
import re

import numpy as np
import pytest

import capture3d
from capture3d.errors import InputShapeError
from capture3d.reconstruct.evaluation import score_people
from capture3d.reconstruct.people import PeopleOptions, reconstruct_people, track_people, triangulate_people
from capture3d.synthetic import capture_area, make_crowd, make_rig, observe_crowd


def _scene(rig, n_people, n_frames, *, seed=0, exits=0, area=None, min_views=3, **noise):
    crowd = make_crowd(n_people, n_frames, fps=30, seed=seed, exits=exits,
                       area_m=capture_area(rig, min_views=min_views) if area is None else area)
    return crowd, observe_crowd(crowd, rig, seed=seed + 1, **noise)


def _visible(obs, n_people):
    """(P, F): the true person is detected in two views or more."""
    return ((obs.slot_person[..., None] == np.arange(n_people)).any(axis=2).sum(axis=0) >= 2).T


def _oracle(obs, rig, n_people):
    truth_kp = obs.by_person()                                            # (C, F, P, J, 3)
    return np.stack([capture3d.triangulate(truth_kp[:, :, p], rig).points for p in range(n_people)])


def _check_acceptance(rig, n_people, n_frames, *, seed, exits=0, area=None):
    crowd, obs = _scene(rig, n_people, n_frames, seed=seed, exits=exits, area=area)
    rec = reconstruct_people(obs.candidates, rig, fps=30, joint_names=crowd.joint_names)
    visible = _visible(obs, n_people)
    raw = score_people(rec.raw.points, crowd.points, crowd.joint_names, visible=visible)
    final = score_people(rec.points, crowd.points, crowd.joint_names, visible=visible)
    oracle = score_people(_oracle(obs, rig, n_people), crowd.points, crowd.joint_names, visible=visible)
    print(f"\n{n_people} people, {len(rig)} cameras: triangulated {raw}\n  after the filters {final}\n"
          f"  oracle {oracle}")
    assert len(rec.person_id) == n_people                                # nobody twice, no ghost track
    assert final.found >= 0.99 and final.id_switches == 0
    assert final.pcp >= 0.97
    assert raw.mpjpe_m <= 1.2 * oracle.mpjpe_m
    return rec, crowd, obs


def test_four_people_crossing_on_a_ring():
    # measured (seed 3): found 100 %, 0 switches, PCP 99.0 % after the filters; MPJPE 10.9 mm (oracle 10.7)
    _check_acceptance(make_rig(4), 4, 150, seed=3)


def test_four_people_on_the_qualisys_rig_with_one_leaving_and_coming_back(shared_data):
    rig = capture3d.Rig.load(shared_data / "pose2sim_multiperson" / "Calib.qca.txt")
    # measured: found 99.7 %, 0 switches, PCP 97.9 % after the filters, MPJPE 6.3 mm (oracle 6.2 mm)
    rec, crowd, _ = _check_acceptance(rig, 4, 300, seed=1, exits=1, area=capture3d.synthetic.DEFAULT_AREA_M)
    assert crowd.present.sum() < crowd.present.size                       # someone did leave


def test_eight_people_eight_cameras():
    # measured: found 100 %, 0 switches, PCP 100 % after the filters, MPJPE 7.2 mm (oracle 7.1 mm)
    _check_acceptance(make_rig(8), 8, 120, seed=2)


def test_one_person_with_many_ghosts_stays_one_person():
    rig = make_rig(4)
    crowd, obs = _scene(rig, 1, 120, seed=5, ghosts=0.3)
    assert obs.ghost.sum() > 100
    tracks = track_people(obs.candidates, rig, fps=30)
    assert tracks.person_id.tolist() == [0]
    online = track_people(obs.candidates, rig, fps=30, options=PeopleOptions(offline=False))
    assert len(online.person_id) == 1                                     # ghosts die before they are confirmed


def test_a_person_seen_by_two_cameras_only():
    rig = make_rig(2, layout="arc")
    crowd, obs = _scene(rig, 2, 90, seed=4, ghosts=0.0, min_views=2)
    res = triangulate_people(obs.candidates, rig, fps=30)
    s = score_people(res.points, crowd.points, crowd.joint_names, visible=_visible(obs, 2))
    # measured: found 100 %, 0 switches
    assert s.found >= 0.95 and s.id_switches == 0


def test_lens_distortion_is_used():
    rig = make_rig(4, distortion=True, seed=7)
    assert max(abs(c.dist[0]) for c in rig.cameras) > 0.05
    crowd, obs = _scene(rig, 3, 60, seed=6, noise_px=0.0, outliers=0.0, ghosts=0.0, misses=0.0, occlusion=False)
    res = triangulate_people(obs.candidates, rig, fps=30)
    s = score_people(res.points, crowd.points, crowd.joint_names)
    assert s.found == 1.0 and s.mpjpe_m < 1e-6                            # exact without noise


def test_empty_and_nan_input_give_nobody():
    rig = make_rig(3)
    for cand in (np.zeros((3, 5, 0, 17, 3)), np.full((3, 5, 2, 17, 3), np.nan)):
        res = triangulate_people(cand, rig, fps=30)
        assert res.points.shape == (0, 5, 17, 3) and len(res.person_id) == 0
    with pytest.raises(InputShapeError, match="rig has 3"):
        triangulate_people(np.zeros((2, 5, 1, 17, 3)), rig)


def test_triangulate_command_reconstructs_shuffled_people(tmp_path, capsys):
    """The issue's new-user case: pose2d files with four people in shuffled slots (the old
    single-person path reconstructed about 7 % of the person-frames)."""
    from capture3d import io
    from capture3d.cli import main

    rig = make_rig(4)
    crowd, obs = _scene(rig, 4, 60, seed=8)
    obs.save_pose2d(tmp_path / "pose2d")
    rig.save(tmp_path / "calibration.toml")
    assert main(["triangulate", str(tmp_path / "pose2d"), "-c", str(tmp_path / "calibration.toml"),
                 "-o", str(tmp_path / "points3d.npz")]) == 0
    out = capsys.readouterr().out
    assert "4 people" in out
    # process's line per person, with its figures (frames with the person, complete, errors)
    lines = re.findall(r"^p\d: (\d+)% of 60 frames, \d+% with all 17 joints; median reprojection error "
                       r"[\d.]+ px; bone-length CV median [\d.]+$", out, flags=re.M)
    assert len(lines) == 4 and all(int(share) >= 90 for share in lines), out
    data = io.load_points3d(tmp_path / "points3d.npz")
    assert data["points"].shape[:2] == (4, 60)
    s = score_people(data["points"], crowd.points, crowd.joint_names, visible=_visible(obs, 4))
    assert s.found >= 0.99 and s.id_switches == 0
    assert main(["triangulate", str(tmp_path / "pose2d"), "-c", str(tmp_path / "calibration.toml"),
                 "-o", str(tmp_path / "two.npz"), "--persons", "2"]) == 0
    assert io.load_points3d(tmp_path / "two.npz")["points"].shape[0] == 2
    assert main(["triangulate", str(tmp_path / "pose2d"), "-c", str(tmp_path / "calibration.toml"),
                 "-o", str(tmp_path / "one.npz"), "--single"]) == 0
    assert io.load_points3d(tmp_path / "one.npz")["points"].shape == (60, 17, 3)


def test_triangulate_command_on_odd_pose2d_files(tmp_path, capsys, caplog):
    """Slot counts differing between cameras, a camera with zero persons, NaN-only persons, and
    one camera's file from another session (another frame count)."""
    from capture3d import io
    from capture3d.cli import main

    rig = make_rig(4)
    rig.save(tmp_path / "calibration.toml")
    crowd, obs = _scene(rig, 2, 40, seed=9, ghosts=0.0)
    folder = tmp_path / "pose2d"

    def write(c, kp, n_frames=40):
        io.save_pose2d(folder / f"{rig.names[c]}.npz", kp, joint_names=crowd.joint_names, image_size=rig[c].size,
                       detector="synthetic", frame_index=np.arange(n_frames))

    write(0, obs.candidates[0])                                        # 2+ slots
    write(1, np.concatenate([obs.candidates[1], np.full((40, 3, 17, 3), np.nan)], axis=1))   # more, NaN-only slots
    write(2, obs.candidates[2])
    write(3, np.zeros((40, 0, 17, 3)))                                 # nobody detected in this camera
    run = ["triangulate", str(folder), "-c", str(tmp_path / "calibration.toml"), "-o", str(tmp_path / "p.npz")]
    assert main(run) == 0
    data = io.load_points3d(tmp_path / "p.npz")
    s = score_people(data["points"], crowd.points, crowd.joint_names)
    assert data["points"].shape[0] == 2 and s.found >= 0.95               # three cameras are enough
    other = make_crowd(2, 70, seed=10, area_m=capture_area(rig))          # a camera from another session
    write(3, observe_crowd(other, rig, seed=11).candidates[3], n_frames=70)
    with caplog.at_level("WARNING", logger="capture3d.process"):
        assert main(run) == 0
    # one line, not two: the frame counts differ, so the hint says it and the span check stays quiet
    out = capsys.readouterr().out
    assert "different numbers of frames (cam01 40, cam02 40, cam03 40, cam04 70)" in out
    assert "from another session" in out and "is it from this session" not in caplog.text
    # the same frame count, but people only in the first half: the span check speaks
    short = observe_crowd(other, rig, seed=11).candidates[3][:40].copy()
    short[20:] = np.nan
    write(3, short)
    with caplog.at_level("WARNING", logger="capture3d.process"):
        assert main(run) == 0
    assert "cam04.npz: people in the first 20 frames" in caplog.text and "is it from this session" in caplog.text
    assert "different numbers of frames" not in capsys.readouterr().out
    # and beside a camera that lost frames (the hint), the file from elsewhere is still named
    write(2, obs.candidates[2][:36], n_frames=36)
    caplog.clear()
    with caplog.at_level("WARNING", logger="capture3d.process"):
        assert main(run) == 0
    assert "different numbers of frames (cam01 40, cam02 40, cam03 36, cam04 40)" in capsys.readouterr().out
    assert "cam04.npz: people in the first 20 frames" in caplog.text and "cam03.npz" not in caplog.text
    write(2, obs.candidates[2])
    for c in range(3):
        write(c, np.full((40, 2, 17, 3), np.nan))
    write(3, np.full((40, 1, 17, 3), np.nan))
    assert main(run[:-1] + [str(tmp_path / "nobody.npz")]) == 0
    assert "no person found" in capsys.readouterr().out and not (tmp_path / "nobody.npz").exists()


def test_a_later_pass_keeps_the_earlier_passs_person_ids():
    """The tracker numbers people in order of first appearance, so a pass whose 2D differs (here:
    b hidden for 5 frames in the first pass only) numbers them otherwise; keep_person_ids gives
    each the earlier pass's id, and unmatched people new ids after those."""
    from capture3d.reconstruct.people import keep_person_ids
    from capture3d.skeleton import COCO17
    from capture3d.synthetic import make_motion, project_keypoints

    rig = make_rig(4)
    a = make_motion(30, seed=0).points
    b = a + [1.6, 0.0, 0.0]
    kp = np.stack([project_keypoints(p, rig) for p in (a, b)], axis=2)       # (C, F, S, J, 3)
    b_late = kp.copy()
    b_late[:, :5, 1] = np.nan

    def who(rec):   # {"a" or "b": id}
        return {("a" if np.nanmedian(np.linalg.norm(rec.raw.points[p] - a, axis=-1)) < 0.01 else "b"): int(i)
                for p, i in enumerate(rec.person_id)}

    first = reconstruct_people(b_late, rig, fps=30, joint_names=list(COCO17))
    second = reconstruct_people(kp, rig, fps=30, joint_names=list(COCO17))
    assert who(first) == {"a": 0, "b": 1} and who(second) == {"a": 1, "b": 0}    # the tracker's own order
    kept = keep_person_ids(second, first)
    assert who(kept) == {"a": 0, "b": 1} and kept.person_id.tolist() == [0, 1]
    assert np.array_equal(kept.raw.tracks.assignment, second.raw.tracks.assignment[::-1])
    only_b = reconstruct_people(kp[:, :, 1:], rig, fps=30, joint_names=list(COCO17))
    assert who(keep_person_ids(second, only_b)) == {"b": 0, "a": 1}        # a unmatched: a new id after b's
    assert sorted(who(keep_person_ids(second, only_b, max_distance_m=0.0)).values()) == [1, 2]   # none near


def test_triangulate_command_judges_views_as_process_unless_told(tmp_path, capsys):
    """``capture3d triangulate`` on a detector's 2D judges views as ``process`` does (thresholds
    from the image size, the temporal pass on the refused points), not by the 1 px-noise pixel
    defaults of TriangulationOptions; --max-error sets the threshold and the two-view one with it."""
    from capture3d import io
    from capture3d.cli import main
    from capture3d.process import ProcessOptions, triangulate_folder, triangulation_for_images
    from capture3d.reconstruct import FilterOptions

    rig = make_rig(3)
    crowd, obs = _scene(rig, 1, 40, seed=12, ghosts=0.0, noise_px=6.0)
    obs.save_pose2d(tmp_path / "pose2d")
    rig.save(tmp_path / "calibration.toml")
    run = ["triangulate", str(tmp_path / "pose2d"), "-c", str(tmp_path / "calibration.toml"), "-o"]
    assert main(run + [str(tmp_path / "scaled.npz")]) == 0
    assert main(run + [str(tmp_path / "fixed.npz"), "--max-error", "20"]) == 0
    scaled, fixed = (io.load_points3d(tmp_path / f"{n}.npz")["points"] for n in ("scaled", "fixed"))
    tri = triangulation_for_images({c.name: c.size for c in rig})
    assert tri.max_error_two_views_px > 8.0                               # px: the default two-view threshold
    as_the_command = ProcessOptions(triangulation=tri, view_offsets=False,   # triangulate's defaults
                                    filter=FilterOptions(smoother="none", despike_m=None))
    triangulate_folder(tmp_path / "pose2d", tmp_path / "calibration.toml", tmp_path / "lib.npz", fps=30.0,
                       options=as_the_command, echo=lambda line: None)
    lib = io.load_points3d(tmp_path / "lib.npz")["points"]
    assert np.allclose(scaled, lib, equal_nan=True)                        # the command is the library call
    # at 6 px noise the 8 px two-view threshold of --max-error 20 refuses points the scaled one keeps
    assert np.isfinite(fixed[..., 0]).sum() < np.isfinite(scaled[..., 0]).sum()
    # 2D of unknown image size (OpenPose JSON imported without --image-size): the calibration's sizes
    for c, name in enumerate(obs.camera_names):
        io.save_pose2d(tmp_path / "pose2d" / f"{name}.npz", obs.candidates[c], joint_names=obs.joint_names,
                       image_size=(0, 0), detector="openpose")
    assert main(run + [str(tmp_path / "unknown.npz")]) == 0
    assert np.allclose(io.load_points3d(tmp_path / "unknown.npz")["points"], scaled, equal_nan=True)
    assert triangulation_for_images({"a": (0, 0)}).max_error_px == 20.0          # none known: the pixel defaults
