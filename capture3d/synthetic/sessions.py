"""Whole synthetic sessions on disk: a rig's videos of a rendered person or of a moving board,
with the rig's calibration saved beside them. For batch tests and benchmarks: small, seeded,
and read back by the same code as real sessions.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..rig import Rig
from ..video import VideoWriter
from .motion import make_motion
from .person import render_person
from .rig import make_rig


def small_rig(n_cameras: int = 3, *, size=(320, 240), seed: int = 0) -> Rig:
    """A ring of ``n_cameras`` cameras at 3 m around the volume, images ``size`` (w, h) pixels."""
    return make_rig(n_cameras, radius_m=3.0, height_m=1.6, size=size, distortion=False, seed=seed)


def write_person_session(folder, rig: Rig, *, n_frames: int = 24, fps: float = 30.0, kind: str = "walk",
                         seed: int = 0, calibration="calibration.toml") -> Path:
    """Render a walking person (:func:`render_person`) into every camera of ``rig``:
    ``folder/videos/<camera>.mp4`` (``n_frames`` frames at ``fps``), and save the rig to
    ``calibration`` (relative to ``folder``; None: not saved). Returns ``folder``."""
    folder = Path(folder)
    motion = make_motion(n_frames, fps=fps, kind=kind, seed=seed)
    for cam in rig:
        with VideoWriter(folder / "videos" / f"{cam.name}.mp4", fps, cam.size) as writer:
            for points in motion.points:
                writer.write(render_person(cam, points))
    if calibration is not None:
        rig.save(folder / calibration)
    return folder


def write_board_session(folder, rig: Rig, board, *, n_frames: int = 24, floor_frames: int = 8, fps: float = 30.0,
                        seed: int = 0, calibration="calibration.toml") -> Path:
    """Render ``board`` lying on the floor for ``floor_frames``, then moving through the volume
    (:func:`capture3d.synthetic.boards.board_trajectory`), into every camera of ``rig``: a
    session with nobody in it. Same files as :func:`write_person_session`."""
    from .boards import BoardRenderer, board_trajectory

    folder = Path(folder)
    poses = board_trajectory(n_frames, board, floor_frames=min(floor_frames, n_frames), seed=seed)
    for c, cam in enumerate(rig):
        renderer = BoardRenderer(board, cam, seed=seed + c)
        rng = np.random.default_rng(seed + 100 + c)
        with VideoWriter(folder / "videos" / f"{cam.name}.mp4", fps, cam.size) as writer:
            for world_from_board in poses:
                writer.write(renderer.render(world_from_board, rng=rng))
    if calibration is not None:
        rig.save(folder / calibration)
    return folder


__all__ = ["small_rig", "write_person_session", "write_board_session"]
