"""Summary rows from process reports, and what a re-run compares."""
import dataclasses
import os
import subprocess
import sys

from capture3d.batch import format_table, read_summary, write_summary
from capture3d.batch.resume import detection_stamp, file_stamp, options_key
from capture3d.batch.tasks import median_bone_cv, row_from_report
from capture3d.process import ProcessOptions


def test_rows_from_one_person_several_and_nobody():
    one = {"cameras": ["a", "b"], "frames": 10, "frames_with_person": 0.9, "median_reprojection_error_px": 2.5,
           "bone_length_cv": {"thigh": 0.1, "shin": 0.3, "arm": float("nan")}, "seconds": {"detect": 1.5, "x": 0.5}}
    row = row_from_report(one)                                       # no "persons" key: one person
    assert (row["persons"], row["bone_length_cv"], row["seconds"], row["error"]) == (1, 0.2, 2.0, "")
    several = {**one, "persons": 2, "bone_length_cv": {"0": {"thigh": 0.1}, "1": {"thigh": 0.3, "shin": 0.5}}}
    assert row_from_report(several)["bone_length_cv"] == 0.3
    nobody = row_from_report({**one, "persons": 0, "frames_with_person": 0.0, "bone_length_cv": {},
                              "median_reprojection_error_px": None})
    assert (nobody["persons"], nobody["error"], nobody["bone_length_cv"]) == (0, "no person found", None)
    assert median_bone_cv(None) is None


def test_summary_csv_round_trip_with_empty_cells(tmp_path):
    rows = [{"session": "a", "status": "ok", "cameras": 2, "frames": 10, "persons": 1, "frames_with_person": 0.9,
             "median_reprojection_error_px": 2.5, "bone_length_cv": 0.2, "seconds": 2.0, "error": ""},
            {"session": "b/c", "status": "failed", "error": "videos: no videos"}]
    back = read_summary(write_summary(rows, tmp_path / "summary.csv"))
    assert back[0]["median_reprojection_error_px"] == "2.500" and back[1]["frames"] == ""
    assert back[1]["error"] == "videos: no videos"
    assert format_table(rows).splitlines()[2].split() == ["b/c", "failed", "videos:", "no", "videos"]


def test_stamps_follow_content_and_options_not_worker_counts(tmp_path):
    video = tmp_path / "cam01.mp4"
    video.write_bytes(b"1234")
    opts = ProcessOptions().detect
    before = detection_stamp(video, opts)
    assert detection_stamp(video, dataclasses.replace(opts, workers=4)) == before
    assert detection_stamp(video, dataclasses.replace(opts, every=2)) != before
    video.write_bytes(b"12345")
    assert detection_stamp(video, opts) != before
    assert file_stamp(tmp_path / "missing") is None
    assert options_key(ProcessOptions()) == options_key(ProcessOptions(detect=dataclasses.replace(opts, workers=3)))


def test_stamps_follow_the_code_version_and_the_model_files(tmp_path, monkeypatch):
    import capture3d
    from capture3d.batch.resume import reconstruction_stamp

    video = tmp_path / "cam01.mp4"
    video.write_bytes(b"1234")
    opts = ProcessOptions()
    det, rec = detection_stamp(video, opts.detect), reconstruction_stamp(tmp_path, video, {"cam01": video}, opts)
    assert det["code"]["models"] is not None
    models = tmp_path / "models"
    models.mkdir()
    (models / "manifest.toml").write_text("[models]\n")           # another model release
    monkeypatch.setenv("CAPTURE3D_MODELS", str(models))
    assert detection_stamp(video, opts.detect) != det
    assert reconstruction_stamp(tmp_path, video, {"cam01": video}, opts) == rec    # the 3D reads no model
    monkeypatch.setattr(capture3d, "__version__", "9.9.9")
    assert reconstruction_stamp(tmp_path, video, {"cam01": video}, opts) != rec


def test_thread_limits_leave_numba_able_to_compile(tmp_path):
    """numba re-reads NUMBA_NUM_THREADS at each compilation and refuses a change once its threads
    run: limiting threads in a worker where numba already ran must not break the next compilation
    (it did: 'Cannot set NUMBA_NUM_THREADS to a different value', on pose2sim_multiperson)."""
    code = """if True:
        import os, numba, numpy as np
        os.environ.pop("NUMBA_NUM_THREADS", None)
        @numba.njit(parallel=True)
        def total(x):
            s = 0.0
            for i in numba.prange(len(x)):
                s += x[i]
            return s
        total(np.ones(10))                      # threads started
        from capture3d.batch.tasks import limit_threads
        limit_threads()
        print(numba.njit(lambda v: v + 1)(1), numba.get_num_threads())
    """
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"}
    env["NUMBA_CACHE_DIR"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.split() == ["2", "1"]
