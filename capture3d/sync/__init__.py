"""Cameras without a shared clock: each camera's start and rate on a common clock, found from
the recordings (people's motion, a board, a clap, a light switched on), kept in ``sync.toml``,
and the resampling every later stage uses to bring 2D data to common instants.

>>> from capture3d.sync import CameraClock
>>> CameraClock(start_s=0.5, fps=30.0).frame_times(3).tolist()
[0.5, 0.5333333333333333, 0.5666666666666667]
"""
from .align import SyncOptions, align_keypoints
from .clock import CameraClock, SyncResult, read_sync, to_whole_frames, write_sync
from .estimate import (estimate_sync, find_sync, plot_sync, pose2d_frame_counts, synced_board_observations,
                       unequal_lengths_hint)
from .events import align_audio, align_flash
from .resample import (camera_times, nearest_frames, reference_instants, resample, resample_board,
                       resample_keypoints, resample_pose2d_files)
from .signals import video_frame_times
from .slots import link_person_slots

__all__ = ["estimate_sync", "find_sync", "synced_board_observations", "SyncOptions", "SyncResult", "CameraClock",
           "read_sync", "write_sync", "to_whole_frames", "plot_sync", "align_keypoints", "align_audio", "align_flash", "resample",
           "resample_keypoints", "resample_board", "resample_pose2d_files", "camera_times", "reference_instants",
           "video_frame_times", "nearest_frames", "pose2d_frame_counts", "unequal_lengths_hint", "link_person_slots"]
