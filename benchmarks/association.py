"""Several people: who is who across cameras and over time, against Pose2Sim, and what it costs.

    python benchmarks/association.py [--peer-frames 90] [--frames 300]

1. One scene, the same 2D keypoints for both: the 4-camera Qualisys rig of
   ``../shared/data/pose2sim_multiperson`` (its ``Calib.qca.txt``), 4 people crossing, the default
   :class:`capture3d.synthetic.CrowdNoise` (2 px, 3 % outliers of 100-300 px, occlusion, 5 %
   ghosts, misses in spans). The detections are written as OpenPose JSON per camera (BODY_25, the
   ``pose/`` folder Pose2Sim reads) and read back with ``capture3d.formats.read_openpose_json``,
   so both engines get the same rounded pixels. Timed: capture3d's
   :func:`capture3d.reconstruct.people.track_people` (association + tracking, arrays in memory;
   best of 3 per round; also shown with the time to read the JSON) and Pose2Sim 0.10.49's
   ``personAssociation.associate_all`` with ``multi_person = true`` (once per round; its time
   includes reading and writing its JSON files, which is how it works); the rounds alternate
   the two and each keeps its best, wall and CPU seconds (the machine may be shared). Pose2Sim's settings are those of
   its own ``Demo_MultiPerson/Config.toml`` (``reconstruction_error_threshold = 0.1``,
   ``min_affinity = 0.2``, ``min_cameras_for_triangulation = 2``); its calibration is the rig
   written by ``Rig.save`` as TOML (``associate_all`` reads only ``*.toml`` from the project's
   ``calib*`` folder). Both are scored the same way: each associated person's 2D keypoints (ours
   from the track assignment, Pose2Sim's from the ``pose-associated/`` JSON it writes) are
   triangulated with :func:`capture3d.triangulate` and compared with the truth by
   :func:`capture3d.reconstruct.evaluation.score_people` over the person-frames that >= 2 cameras
   see. Pose2Sim's association matches people across cameras only, frame by frame (its
   triangulation stage orders them over time), so its identity switches are not comparable.
2. Our cost and accuracy against people (at 8 cameras) and cameras (at 4 people), on
   :func:`capture3d.synthetic.make_rig` rings with people in :func:`capture3d.synthetic.capture_area`,
   against the "oracle": each person triangulated from its true 2D assignment.

Pose2Sim is a peer, never a dependency; install only its code (it drags in OpenSim and Qt
otherwise): ``pip install --no-deps pose2sim==0.10.49 rtoml anytree``. Without it the peer row
is skipped. Pose2Sim's progress bar and logging are silenced while it runs.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import capture3d
from capture3d.formats.openpose_json import read_openpose_json
from capture3d.reconstruct.evaluation import score_people
from capture3d.reconstruct.people import track_people
from capture3d.skeleton import LAYOUTS, canonical_index
from capture3d.synthetic import DEFAULT_AREA_M, capture_area, make_crowd, make_rig, observe_crowd

QUALISYS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pose2sim_multiperson" / "Calib.qca.txt"
FPS = 30.0


def scene(rig, n_people, n_frames, area_m, seed=1):
    """A crowd and what the synthetic detector sees of it (default CrowdNoise)."""
    crowd = make_crowd(n_people, n_frames, fps=FPS, seed=seed, area_m=area_m)
    return crowd, observe_crowd(crowd, rig, seed=seed + 1)


def visible_person_frames(obs, n_people):
    """``(P, F)`` bool: the true person has a detection in >= 2 cameras (what can be found)."""
    seen = (obs.slot_person[..., None] == np.arange(n_people)).any(axis=2)       # (C, F, P)
    return (seen.sum(axis=0) >= 2).T


def triangulate_assigned(keypoints, rig):
    """``keypoints (P, C, F, J, 3)`` pixels + score, NaN where a person is not assigned in a view
    -> ``(P, F, J, 3)`` meters by :func:`capture3d.triangulate`, person by person."""
    out = np.full(keypoints.shape[:1] + keypoints.shape[2:4] + (3,), np.nan)
    for p, kp in enumerate(keypoints):
        out[p] = capture3d.triangulate(kp, rig).points
    return out


def oracle_keypoints(obs, candidates, n_people):
    """Each true person's 2D keypoints ``(P, C, F, J, 3)`` from its true slots in ``candidates``."""
    C, F, S, J, _ = candidates.shape
    out = np.full((n_people, C, F, J, 3), np.nan)
    c, f, s = np.nonzero(obs.slot_person >= 0)
    out[obs.slot_person[c, f, s], c, f] = candidates[c, f, s]
    return out


def timed(fn, *args):
    """``fn(*args)``, its wall seconds and this process's CPU seconds (all threads): the machine
    is shared, and CPU time moves less than wall time with the other sessions' load."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def timed_tracks(candidates, rig, joint_names, repeat=3):
    """Best of ``repeat`` runs of track_people (wall and CPU seconds, each its own best)."""
    best, tracks = np.array([np.inf, np.inf]), None
    for _ in range(repeat):
        tracks, wall, cpu = timed(lambda: track_people(candidates, rig, fps=FPS, joint_names=joint_names))
        best = np.minimum(best, [wall, cpu])
    return tracks, best


# ---- 1. against Pose2Sim ----------------------------------------------------------------------

def read_candidates(pose_dir, names, n_joints):
    """The OpenPose JSON folders ``pose_dir/<camera>_json`` back into ``(C, F, S, J, 3)``."""
    per_cam = [read_openpose_json(Path(pose_dir) / f"{n}_json")[0][..., :n_joints, :] for n in names]
    S = max(k.shape[1] for k in per_cam)
    out = np.full((len(names), per_cam[0].shape[0], S, n_joints, 3), np.nan)
    for c, k in enumerate(per_cam):
        out[c, :, :k.shape[1]] = k
    return out


def pose2sim_project(folder, rig, obs, n_frames):
    """Lay out a Pose2Sim project: Config.toml (its multi-person demo's, multi_person = true),
    calibration/Calib.toml, pose/<camera>_json/. Returns the config dict."""
    import rtoml
    import Pose2Sim

    folder = Path(folder)
    config = rtoml.load(Path(Pose2Sim.__file__).parent / "Demo_MultiPerson" / "Config.toml")
    config["project"].update(project_dir=str(folder), multi_person=True, frame_range=[0, n_frames],
                             frame_rate=FPS)
    config["pose"]["pose_model"] = "BODY_25"        # what capture3d's OpenPose JSON writer writes
    (folder / "calibration").mkdir(parents=True)
    rig.save(folder / "calibration" / "Calib.toml")
    obs.save_openpose_json(folder / "pose")
    (folder / "Config.toml").write_text(rtoml.dumps(config))
    return config


def run_pose2sim(config):
    """Pose2Sim's person association (it writes ``pose-associated/``); wall and CPU seconds."""
    from Pose2Sim.personAssociation import associate_all

    with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.array(timed(associate_all, config)[1:])


def read_pose2sim_output(folder, names, n_frames, n_joints):
    """Pose2Sim's ``pose-associated/<camera>_json`` files -> ``(P, C, F, J, 3)``: the i-th entry
    of ``people`` in every camera's file of a frame is associated person i (``{}`` where that
    camera has none)."""
    _, index = canonical_index(LAYOUTS["body25"])
    index = index[:n_joints]
    rows = {}
    for c, name in enumerate(names):
        for path in (Path(folder) / "pose-associated" / f"{name}_json").glob("*_keypoints.json"):
            f = int(path.name.rsplit("_", 2)[-2])
            for p, person in enumerate(json.loads(path.read_text())["people"]):
                if "pose_keypoints_2d" in person:
                    kp = np.asarray(person["pose_keypoints_2d"], float).reshape(-1, 3)[index]
                    kp[kp[:, 2] <= 0] = np.nan
                    rows[p, c, f] = kp
    P = 1 + max((p for p, _, _ in rows), default=-1)
    out = np.full((P, len(names), n_frames, n_joints, 3), np.nan)
    for (p, c, f), kp in rows.items():
        out[p, c, f] = kp
    return out


def peer_table(n_frames, rounds):
    rig = capture3d.Rig.load(QUALISYS)
    crowd, obs = scene(rig, 4, n_frames, DEFAULT_AREA_M)
    J, names = len(crowd.joint_names), rig.names
    visible = visible_person_frames(obs, 4)
    print(f"Qualisys rig ({len(rig)} cameras), 4 people crossing, {n_frames} frames at {FPS:.0f} fps, default "
          f"CrowdNoise: {int(obs.ghost.sum())} ghost detections, {int(visible.sum())} true person-frames seen "
          f"by >= 2 cameras")
    try:
        logging.disable(logging.WARNING)
        import Pose2Sim.personAssociation  # noqa: F401
        import rtoml  # noqa: F401
        have_peer = True
    except ImportError as exc:
        print(f"(Pose2Sim skipped: {exc}; pip install --no-deps pose2sim==0.10.49 rtoml anytree)")
        have_peer = False
    finally:
        logging.disable(logging.NOTSET)
    ours_s = read_s = peer_s = np.array([np.inf, np.inf])
    with tempfile.TemporaryDirectory() as tmp:
        if have_peer:
            config = pose2sim_project(tmp, rig, obs, n_frames)
        else:
            obs.save_openpose_json(Path(tmp) / "pose")
        # Rounds alternate the engines, each keeps its best, so that a burst of load from the
        # other sessions on this machine does not fall on one engine only.
        for _ in range(rounds):
            cand, wall, cpu = timed(read_candidates, Path(tmp) / "pose", names, J)
            read_s = np.minimum(read_s, [wall, cpu])
            tracks, best = timed_tracks(cand, rig, crowd.joint_names)
            ours_s = np.minimum(ours_s, best)
            if have_peer:
                peer_s = np.minimum(peer_s, run_pose2sim(config))
        written = obs.candidates[:, :, :cand.shape[2]]
        if not (np.array_equal(np.isnan(cand), np.isnan(written)) and np.nanmax(np.abs(cand - written)) < 1e-3):
            raise RuntimeError("the OpenPose JSON read back differs from the detections written")
        ours = score_people(triangulate_assigned(tracks.keypoints(cand), rig), crowd.points, crowd.joint_names,
                            visible=visible)
        rows = [("capture3d track_people", ours_s, ours), ("  + reading the JSON", ours_s + read_s, ours)]
        if have_peer:
            peer_kp = read_pose2sim_output(tmp, names, n_frames, J)
            peer = score_people(triangulate_assigned(peer_kp, rig), crowd.points, crowd.joint_names,
                                visible=visible)
            rows.append(("Pose2Sim associate_all", peer_s, peer))
        oracle = score_people(triangulate_assigned(oracle_keypoints(obs, cand, 4), rig), crowd.points,
                              crowd.joint_names, visible=visible)
    print(f"best of {rounds} rounds (capture3d best of 3 per round); wall = elapsed, CPU = this process, all threads")
    header = (f"{'engine':>24} {'wall s':>7} {'CPU s':>7} {'frames/s':>8} {'x wall':>7} {'x CPU':>7} | {'found':>6} "
              f"{'ID sw':>5} {'false':>5} {'PCP':>6} {'MPJPE mm':>8}")
    print(header)
    print("-" * len(header))
    for name, sec, sc in rows + [("true assignment (oracle)", None, oracle)]:
        if sec is None:
            timing = f"{'':>7} {'':>7} {'':>8} {'':>7} {'':>7}"
        else:
            x = peer_s / sec if have_peer else (np.nan, np.nan)
            timing = f"{sec[0]:>7.3f} {sec[1]:>7.3f} {n_frames / sec[0]:>8.0f} {x[0]:>7.1f} {x[1]:>7.1f}"
        sw = f"{'n/a':>5}" if name.startswith("Pose2Sim") else f"{sc.id_switches:>5}"
        print(f"{name:>24} {timing} | {sc.found:>6.1%} {sw} {sc.false_frames:>5} {sc.pcp:>6.1%} "
              f"{sc.mpjpe_m * 1000:>8.1f}", flush=True)
    if have_peer:
        print(f"(Pose2Sim's ID switches n/a: it matches across cameras, frame by frame; counted anyway: "
              f"{rows[-1][2].id_switches})")


# ---- 2. cost against people and cameras -------------------------------------------------------

def scaling_row(n_cams, n_people, n_frames, area):
    rig = make_rig(n_cams, seed=n_cams)
    crowd, obs = scene(rig, n_people, n_frames, area)
    visible = visible_person_frames(obs, n_people)
    tracks, (sec, cpu) = timed_tracks(obs.candidates, rig, crowd.joint_names, repeat=2)
    ours = score_people(triangulate_assigned(tracks.keypoints(obs.candidates), rig), crowd.points,
                        crowd.joint_names, visible=visible)
    oracle = score_people(triangulate_assigned(oracle_keypoints(obs, obs.candidates, n_people), rig),
                          crowd.points, crowd.joint_names, visible=visible)
    print(f"{n_cams:>4} {n_people:>6} {obs.candidates.shape[2]:>5} | {sec / n_frames * 1000:>8.2f} "
          f"{cpu / n_frames * 1000:>7.2f} {n_frames / sec:>8.0f} | {ours.found:>6.1%} {ours.id_switches:>5} {ours.false_frames:>5} "
          f"{ours.pcp:>6.1%} {ours.mpjpe_m * 1000:>8.1f} | {oracle.found:>6.1%} {oracle.pcp:>6.1%} "
          f"{oracle.mpjpe_m * 1000:>8.1f} | {ours.mpjpe_m / oracle.mpjpe_m:>5.2f}", flush=True)


def scaling_table(n_frames, people, cameras, people_cams, camera_people):
    area = capture_area(make_rig(4, seed=4))
    print(f"\nCost of track_people per frame (best of 2) and accuracy, make_rig rings (radius 4 m), {n_frames} frames at "
          f"{FPS:.0f} fps, default CrowdNoise, people in the {area[2] - area[0]:.1f} x {area[3] - area[1]:.1f} m "
          f"area a 4-camera ring sees whole from 3 cameras; slots = most detections in a camera-frame; "
          f"oracle = true 2D assignment")
    header = (f"{'cams':>4} {'people':>6} {'slots':>5} | {'wall ms':>8} {'CPU ms':>7} {'frames/s':>8} | {'found':>6} {'ID sw':>5} "
              f"{'false':>5} {'PCP':>6} {'MPJPE mm':>8} | {'oracle':>6} {'PCP':>6} {'MPJPE mm':>8} | {'MPJPE x':>5}")
    print(header)
    print("-" * len(header))
    # Every row walks its people in the same area, so that the camera rows differ by the rig only
    # (at 2 cameras people leave the common view at times).
    for n in people:
        scaling_row(people_cams, n, n_frames, area)
    for c in cameras:
        if c != people_cams or camera_people not in people:
            scaling_row(c, camera_people, n_frames, area)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer-frames", type=int, default=90, help="frames of the Pose2Sim comparison")
    ap.add_argument("--rounds", type=int, default=2, help="alternating timing rounds of the comparison")
    ap.add_argument("--frames", type=int, default=300, help="frames per row of the scaling table")
    ap.add_argument("--people", type=int, nargs="*", default=[1, 2, 4, 6, 8, 10])
    ap.add_argument("--cameras", type=int, nargs="*", default=[2, 4, 8, 16])
    ap.add_argument("--people-cameras", type=int, default=8, help="cameras of the people rows")
    ap.add_argument("--camera-people", type=int, default=4, help="people of the camera rows")
    args = ap.parse_args()
    logging.getLogger("capture3d").setLevel(logging.ERROR)    # the oracle's frames seen by one camera
    t = time.perf_counter()
    print(f"{os.cpu_count()} cores; capture3d {capture3d.__version__}")
    peer_table(args.peer_frames, args.rounds)
    scaling_table(args.frames, args.people, args.cameras, args.people_cameras, args.camera_people)
    print(f"\nwhole benchmark {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
