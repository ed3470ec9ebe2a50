"""export_points: one file per person (BVH, CSV, TRC) or one C3D with person labels, read back by
independent readers (pandas, c3d, bvhio); single-person data give exactly the writers' files."""
import warnings

import bvhio
import numpy as np
import pandas as pd
import pytest

from capture3d.cli import main
from capture3d.export import EXPORTERS, export_points
from capture3d.export.mocap import Y_UP_FROM_Z_UP
from capture3d.io import load_points3d, persons, save_points3d
from capture3d.synthetic import make_motion

IDS = [2, 7, 11]


def _people(n_frames=40, fps=30):
    """Three people 1.5 m apart: p7 enters at frame 10; diagnostics differ per person."""
    motions = [make_motion(n_frames, fps=fps, seed=s) for s in (1, 2, 3)]
    pts = np.stack([m.points + [1.5 * (k - 1), 0.0, 0.0] for k, m in enumerate(motions)])
    pts[1, :10] = np.nan
    P, F, J = pts.shape[:3]
    person = np.arange(P)[:, None, None]
    return {"points": pts, "person_id": np.array(IDS), "joint_names": list(motions[0].joint_names),
            "frame_index": np.arange(F) + 100, "time_s": motions[0].time_s,
            "reprojection_error_px": np.broadcast_to(0.5 + person, (P, F, J)).copy(),
            "n_views": np.broadcast_to(2 + person, (P, F, J)).astype(np.int16),
            "score": np.broadcast_to(0.9 - 0.1 * person, (P, F, J)).copy()}


@pytest.fixture
def people(tmp_path):
    d = _people()
    path = save_points3d(tmp_path / "people.npz", d["points"], joint_names=d["joint_names"],
                         person_id=d["person_id"], frame_index=d["frame_index"], time_s=d["time_s"],
                         reprojection_error_px=d["reprojection_error_px"], n_views=d["n_views"], score=d["score"])
    return load_points3d(path)


def test_csv_and_trc_one_file_per_person(tmp_path, people):
    res = export_points("csv", tmp_path / "out" / "skel.csv", people)
    assert [p.name for p in res.written] == ["skel_p2.csv", "skel_p7.csv", "skel_p11.csv"] and not res.skipped
    for k, path in enumerate(res.written):
        df = pd.read_csv(path)
        assert list(df["fnum"]) == list(range(100, 140))
        assert np.allclose(df["left_knee_z"], people["points"][k, :, 13, 2], atol=1e-6, equal_nan=True)
        assert np.allclose(df["nose_x"], people["points"][k, :, 0, 0], atol=1e-6, equal_nan=True)
        ok = np.isfinite(people["points"][k, :, 0, 0])
        assert (df["nose_error"][ok] == 0.5 + k).all() and (df["nose_ncams"][ok] == 2 + k).all()
    assert pd.read_csv(res.written[1])["nose_x"][:10].isna().all()   # p7 not there yet: empty cells

    res = export_points("trc", tmp_path / "out" / "skel.trc", people)
    assert [p.name for p in res.written] == ["skel_p2.trc", "skel_p7.trc", "skel_p11.trc"]
    for k, path in enumerate(res.written):
        lines = path.read_text().splitlines()
        assert lines[0].endswith(path.name) and lines[3].split("\t")[2] == "nose"
        row = lines[6 + 20].split("\t")                       # frame 21 (1-based)
        got = np.array([float(v) for v in row[2:2 + 17 * 3]]).reshape(17, 3)
        assert np.allclose(got, people["points"][k, 20] @ Y_UP_FROM_Z_UP.T, atol=1e-6)


def test_c3d_one_file_with_person_labels(tmp_path, people):
    import c3d
    import ezc3d

    res = export_points("c3d", tmp_path / "skel.c3d", people)
    assert res.written == (tmp_path / "skel.c3d",) and not res.skipped
    names = people["joint_names"]
    want = [f"p{pid}_{j}" for pid in IDS for j in names]
    with open(res.written[0], "rb") as fh, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No analog data found", UserWarning)  # we write none, on purpose
        reader = c3d.Reader(fh)
        labels = [s.strip() for s in reader.point_labels]
        frames = np.array([p[:, :3] for _, p, _ in reader.read_frames()]) / 1000   # (F, P*J, 3) m
    assert labels == want and frames.shape == (40, 3 * 17, 3)
    expected = people["points"].transpose(1, 0, 2, 3).reshape(40, 3 * 17, 3)
    ok = np.isfinite(expected)
    assert np.allclose(frames[ok], expected[ok], atol=1e-5)                # Z up, mm -> m
    e = ezc3d.c3d(str(res.written[0]))
    assert list(e["parameters"]["POINT"]["LABELS"]["value"]) == want


def test_bvh_per_person_read_by_bvhio_and_a_person_without_hips_is_skipped(tmp_path, people, capsys):
    people["points"][2, :, 11:13] = np.nan                  # p11 never has hips: BVH cannot root it
    res = export_points("bvh", tmp_path / "skel.bvh", people)
    assert [p.name for p in res.written] == ["skel_p2.bvh", "skel_p7.bvh"]
    assert res.skipped[0][0] == 11 and "left_hip" in res.skipped[0][1]
    for k, path in zip((0, 1), res.written):
        root = bvhio.readAsHierarchy(str(path))
        hips = next(j for j, _, _ in root.layout() if j.Name == "Hips")
        pelvis = 0.5 * (people["points"][k, :, 11] + people["points"][k, :, 12]) @ Y_UP_FROM_Z_UP.T * 100
        for f in (12, 25, 39):
            root.loadPose(f)
            got = np.array([hips.PositionWorld.x, hips.PositionWorld.y, hips.PositionWorld.z])
            assert np.abs(got - pelvis[f]).max() < 1e-3      # cm; the two people 150 cm apart
    # the command prints every file written and every person skipped, and succeeds
    save_points3d(tmp_path / "p.npz", people["points"], joint_names=people["joint_names"], person_id=IDS)
    assert main(["export", "bvh", str(tmp_path / "p.npz"), "-o", str(tmp_path / "cli" / "s.bvh")]) == 0
    out = capsys.readouterr().out
    assert "s_p2.bvh" in out and "s_p7.bvh" in out and "skipped person p11: BVH needs a frame" in out


def test_a_person_with_no_point_is_skipped_everywhere(tmp_path, people):
    people["points"][1] = np.nan
    for fmt in ("csv", "c3d"):
        res = export_points(fmt, tmp_path / f"s.{fmt}", people)
        assert res.skipped == ((7, "no reconstructed point"),) and res
    assert not (tmp_path / "s_p7.csv").exists() and (tmp_path / "s_p11.csv").exists()
    import ezc3d
    labels = ezc3d.c3d(str(tmp_path / "s.c3d"))["parameters"]["POINT"]["LABELS"]["value"]
    assert len(labels) == 2 * 17 and not any(s.startswith("p7_") for s in labels)


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
def test_single_person_gives_exactly_the_writers_file(tmp_path, fmt):
    m = make_motion(20, fps=60, seed=4)
    save_points3d(tmp_path / "one.npz", m.points, joint_names=m.joint_names, time_s=m.time_s)
    data = load_points3d(tmp_path / "one.npz")
    assert data["person_id"] is None and persons(data) == [(None, data)]
    res = export_points(fmt, tmp_path / "a" / f"s.{fmt}", data)
    theirs = EXPORTERS[fmt](tmp_path / "b" / f"s.{fmt}", data)
    assert res.written == (tmp_path / "a" / f"s.{fmt}",) and not res.skipped
    assert res.written[0].read_bytes() == theirs.read_bytes()


def test_an_output_without_a_suffix_gets_the_format_s(tmp_path, people):
    """``capture3d export bvh ... -o ex/skel`` wrote ``skel_p0``, a file of no type."""
    assert [p.name for p in export_points("csv", tmp_path / "skel", people).written] == \
        ["skel_p2.csv", "skel_p7.csv", "skel_p11.csv"]
    assert [p.name for p in export_points("c3d", tmp_path / "all", people).written] == ["all.c3d"]
    one = persons(people)[0][1]
    assert [p.name for p in export_points("trc", tmp_path / "one", one).written] == ["one.trc"]
    # a dot in the name is not a suffix (take1.2 wrote take1_p2.2); a folder gets skeleton.<fmt> in it
    assert [p.name for p in export_points("bvh", tmp_path / "take1.2", one).written] == ["take1.2.bvh"]
    (tmp_path / "folder").mkdir()
    assert export_points("csv", tmp_path / "folder", one).written == (tmp_path / "folder" / "skeleton.csv",)
    assert export_points("csv", f"{tmp_path / 'new'}/", one).written == (tmp_path / "new" / "skeleton.csv",)
