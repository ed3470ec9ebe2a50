"""CSV, TRC and C3D exports read back by independent readers (pandas, a TRC parse, c3d, ezc3d)."""
import warnings

import numpy as np
import pandas as pd
import pytest

from capture3d.export import write_c3d, write_csv, write_trc
from capture3d.synthetic import make_motion


@pytest.fixture
def data():
    m = make_motion(30, fps=60, seed=1)
    pts = m.points.copy()
    pts[3, 2] = np.nan  # a missing joint
    F, J = pts.shape[:2]
    return {"points": pts, "joint_names": list(m.joint_names), "frame_index": np.arange(F), "time_s": m.time_s,
            "reprojection_error_px": np.full((F, J), 0.5), "n_views": np.full((F, J), 4, np.int16),
            "score": np.full((F, J), 0.9)}


def test_csv_columns_and_missing_cells(tmp_path, data):
    df = pd.read_csv(write_csv(tmp_path / "p.csv", data))
    assert list(df.columns[:8]) == ["fnum", "time_s", "nose_x", "nose_y", "nose_z", "nose_error", "nose_ncams",
                                    "nose_score"]
    assert np.allclose(df["left_knee_z"], data["points"][:, 13, 2], atol=1e-6)
    assert np.isnan(df.loc[3, "right_eye_x"]) and np.isnan(df.loc[3, "right_eye_ncams"])


def test_trc_header_and_y_up_values(tmp_path, data):
    path = write_trc(tmp_path / "p.trc", data)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("PathFileType\t4\t(X/Y/Z)")
    keys, vals = lines[1].split("\t"), lines[2].split("\t")
    header = dict(zip(keys, vals))
    assert header["NumFrames"] == "30" and header["NumMarkers"] == "17" and header["Units"] == "m"
    assert float(header["DataRate"]) == pytest.approx(60.0)
    assert lines[3].split("\t")[2] == "nose" and lines[4].split("\t")[2:5] == ["X1", "Y1", "Z1"]
    row = lines[6 + 5].split("\t")  # frame 6 (1-based)
    x, y, z = data["points"][5, 0]
    assert [float(v) for v in row[2:5]] == pytest.approx([x, z, -y], abs=1e-6)  # Y up: height is Y
    assert lines[6 + 3].split("\t")[2 + 3 * 2] == ""  # the missing joint is an empty cell


def test_c3d_reads_back_through_two_libraries(tmp_path, data):
    import c3d
    import ezc3d
    path = write_c3d(tmp_path / "p.c3d", data)
    e = ezc3d.c3d(str(path))
    got = e["data"]["points"][:3].transpose(2, 1, 0) / 1000
    ok = np.isfinite(data["points"])
    assert np.allclose(got[ok], data["points"][ok], atol=1e-6)
    assert list(e["parameters"]["POINT"]["LABELS"]["value"]) == data["joint_names"]
    with open(path, "rb") as fh, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No analog data found", UserWarning)  # we write none, on purpose
        reader = c3d.Reader(fh)
        frames = [p for _, p, _ in reader.read_frames()]
        labels = [s.strip() for s in reader.point_labels]
    assert labels == data["joint_names"] and len(frames) == 30
    assert np.allclose(frames[10][13, :3] / 1000, data["points"][10, 13], atol=1e-5)
