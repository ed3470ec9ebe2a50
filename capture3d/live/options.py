"""Options and results of live 3D (:mod:`capture3d.live`), and the live threads' priority."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..reconstruct.tracking import TrackingOptions

#: BlazePose options of live 3D (as ``capture3d demo``'s): the person detector on square tiles of a
#: wide image, and two crops hold one person only when their centres nearly meet, so that two
#: people side by side are followed as two. On the two-walker session at 15 detections a second
#: (one fresh camera an update) the true people were found in 71 % of the person-updates, 49 %
#: without (2D person-views found: 63 % against 49 %).
BLAZEPOSE_LIVE = {"tiles": True, "same_person_share": 0.12}


@dataclass(frozen=True)
class LiveOptions:
    """Options of live 3D (:class:`capture3d.live.engine.LiveReconstructor`, :class:`capture3d.live.runner.LiveRunner`)."""

    detector: str = "blazepose"
    max_persons: int = 2            # person slots of each camera's detector
    cameras_per_update: int = 0     # fresh cameras per update; 0: as many as the measured detection throughput
    #                                 allows at target_rate_hz, at least 1 (LiveReconstructor.update: every one given)
    target_rate_hz: float = 15.0    # updates per second aimed at (sets the rate BlazePose's ROI smoother assumes)
    max_extrapolation_ms: float = 150.0   # a held 2D detection is carried forward at most this far, ms
    held_sigma_px: float = 15.0     # a held joint's score counts down to 0.3 as 1 / (1 + (e / this)^2) in the
    #                                 triangulation, e pixels it moved at its last speed since detected (0: fully).
    #                                 Deterministic replay, 15 detections/s: 1 person 53.6 -> 51.0 mm from the truth,
    #                                 2 people 70.6 -> 66.7 mm (median; true people found 92 / 72 % -> 91 / 70 %)
    trail_frames: int = 30          # updates of wrist and ankle trails drawn
    display_fps: float = 10.0       # pictures per second at most in a window or the MP4 (PNG: twice a second)
    niceness: int = 5               # added to the live threads' Linux niceness: recording goes first
    detect_workers: int = 2         # cameras in detection at once (TFLite lets go of the GIL while it runs)
    redetect_every: int = 3         # BlazePose: calls between looks for newcomers while a slot is free (each
    #                                 camera is detected a few times a second live, not 30)
    guided: bool = True             # BlazePose: hand each camera the crops of people the others triangulate
    detector_options: dict | None = None   # more options of the detector; None: BLAZEPOSE_LIVE for BlazePose
    tracking: TrackingOptions = field(default_factory=lambda: TrackingOptions(confirm_frames=2))   # a person after 2 updates

    def __post_init__(self):
        if self.max_persons < 1 or self.cameras_per_update < 0 or self.trail_frames < 0 or self.detect_workers < 1:
            raise ValueError("max_persons and detect_workers must be >= 1, cameras_per_update and trail_frames >= 0")
        if self.target_rate_hz <= 0 or self.display_fps <= 0 or self.max_extrapolation_ms < 0 or self.held_sigma_px < 0:
            raise ValueError("target_rate_hz and display_fps must be > 0, max_extrapolation_ms and held_sigma_px >= 0")


@dataclass
class LiveUpdate:
    """One live 3D result.

    Attributes
    ----------
    frame : int
        Update number (the tracker's frame).
    arrival_ns : int
        ``time.monotonic_ns()`` when the oldest fresh frame of this update reached the host.
    persons : dict
        ``{person id: (J, 3) float}`` meters, world frame; NaN joints not triangulated.
    keypoints : (C, S, J, 3) float
        The 2D used, per camera (rig order) and slot: pixels x, y and score; NaN when empty.
    slots : dict
        ``{person id: (C,) int}`` slot of each camera (-1: not seen there).
    detected : list of str
        Cameras detected afresh in this update.
    """

    frame: int
    arrival_ns: int
    persons: dict
    keypoints: np.ndarray
    slots: dict
    detected: list


def lower_priority(niceness: int) -> None:
    """Add ``niceness`` to the calling thread's Linux niceness (a no-op elsewhere or if refused)."""
    if niceness <= 0:
        return
    try:
        import os
        import threading
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + niceness)
    except (AttributeError, OSError):
        pass
