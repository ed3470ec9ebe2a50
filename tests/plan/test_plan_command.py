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


def test_options_come_from_the_planning_toml_and_flags_win(tmp_path):
    """plan.json's options are the planning TOML's [options] (so a plan can be made again from
    its file); a flag given on the command line overrides the file."""
    layout = tmp_path / "lab.toml"
    layout.write_text((RIGS / "plan_lab_4cam.toml").read_text()
                      + "\n[options]\npixel_noise_px = 3.0\ngrid_step_m = 0.5\nbody_facings = 4\n")
    assert main(["plan", str(layout), "-o", str(tmp_path / "a")]) == 0
    doc = json.loads((tmp_path / "a" / "plan.json").read_text())
    assert doc["options"]["pixel_noise_px"] == 3.0 and doc["options"]["grid_step_m"] == 0.5
    assert doc["options"]["body_facings"] == 4 and doc["options"]["body"] is False
    assert main(["plan", str(layout), "-o", str(tmp_path / "b"), "--pixel-noise", "2"]) == 0
    doc_b = json.loads((tmp_path / "b" / "plan.json").read_text())
    assert doc_b["options"] == {**doc["options"], "pixel_noise_px": 2.0}
    # halving the noise halves the predicted error (the prediction is linear in it)
    e_a, e_b = (np.array([v for v in d["error_mm"] if v is not None]) for d in (doc, doc_b))
    assert np.allclose(e_b, e_a * 2.0 / 3.0, rtol=0, atol=2e-6)    # plan.json keeps 6 decimals (mm)


def test_bad_options_table_names_the_key(tmp_path, capsys):
    layout = tmp_path / "lab.toml"
    layout.write_text((RIGS / "plan_lab_4cam.toml").read_text() + "\n[options]\ngrid = 0.5\n")
    assert main(["plan", str(layout), "-o", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"capture3d: error: {layout}, key 'options': unknown keys ['grid']")
    layout.write_text((RIGS / "plan_lab_4cam.toml").read_text() + "\n[options]\ngrid_step_m = -1\n")
    assert main(["plan", str(layout), "-o", str(tmp_path / "a")]) == 1
    assert "grid_step_m must be > 0 meters" in capsys.readouterr().err
