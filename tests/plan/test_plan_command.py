"""capture3d plan: plan.json's keys and shapes, the picture, the printed summary, bad input."""
import json
from pathlib import Path

import numpy as np

from capture3d.cli import main

RIGS = Path(__file__).resolve().parents[2] / "rigs"


def test_cli_writes_plan_json_and_picture(tmp_path, capsys):
    out = tmp_path / "plan"
    assert main(["plan", str(RIGS / "plan_ring_8cam.toml"), "-o", str(out), "--grid", "0.5", "--body"]) == 0
    printed = capsys.readouterr().out
    assert "share of the volume seen by >= 2 cameras" in printed and "under 5 / 10 / 20 mm" in printed
    doc = json.loads((out / "plan.json").read_text())
    n = len(doc["points"])
    assert n == 9 * 9 * 5 and np.prod(doc["grid_shape"]) == n
    assert np.array(doc["points"]).shape == (n, 3)
    assert len(doc["views"]) == len(doc["error_mm"]) == len(doc["ray_angle_deg"]) == n
    assert np.array([a if a is not None else [np.nan] * 3 for a in doc["worst_axis"]], float).shape == (n, 3)
    assert doc["pixel_noise_px"] == 7.5 and doc["options"]["body"] is True
    for key in ("share_2_views", "share_3_views", "share_under_5_mm", "share_under_10_mm", "share_under_20_mm"):
        assert 0.0 <= doc["summary"][key] <= 1.0
    assert (out / "plan.png").stat().st_size > 20_000


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    assert main(["plan", str(RIGS / "plan_lab_4cam.toml"), "-o", str(tmp_path), "--volume=1,1,0,1,2,2"]) == 1
    err = capsys.readouterr().err
    assert err == "capture3d: error: --volume: empty box: max must exceed min on every axis (x: 1.0 .. 1.0 m)\n"
