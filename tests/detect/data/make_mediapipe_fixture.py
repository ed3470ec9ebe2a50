"""Writes ``mediapipe_0.10.21_pose.npz``: mediapipe 0.10.21's own ``solutions.pose`` landmarks on
real frames of ``../shared/data/pose2sim_multiperson``, the reference our BlazePose pipeline is
tested against (tests/detect/test_blazepose.py).

mediapipe 0.10.21 needs numpy<2 and cannot live in capture3d's environment, so this runs once, in a
separate venv::

    python3 -m venv /tmp/mpvenv && /tmp/mpvenv/bin/pip install mediapipe==0.10.21
    /tmp/mpvenv/bin/python tests/detect/data/make_mediapipe_fixture.py ../shared/data/pose2sim_multiperson

Saved arrays (pixels, OpenCV convention; NaN where mediapipe found no pose):
  static_landmarks (cameras, frames, 33, 3) = x, y, visibility with ``static_image_mode=True``
    on frames ``static_frames`` of every camera in ``cameras``;
  video_landmarks (frames, 33, 3) with ``static_image_mode=False, smooth_landmarks=False`` on
    the first ``video_frames`` frames of ``video_camera`` (tracking from frame to frame).
"""
import sys
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np

STATIC_FRAMES = [0, 30, 60, 90]
VIDEO_FRAMES = 60


def read_frames(path, wanted):
    cap = cv2.VideoCapture(str(path))
    frames, i = {}, 0
    while len(frames) < len(wanted):
        ok, image = cap.read()
        if not ok:
            break
        if i in wanted:
            frames[i] = image
        i += 1
    return [frames[i] for i in wanted]


def landmarks_px(result, width, height):
    out = np.full((33, 3), np.nan)
    if result.pose_landmarks is None:
        return out
    for j, lm in enumerate(result.pose_landmarks.landmark):
        out[j] = lm.x * width, lm.y * height, lm.visibility
    return out


def main(folder):
    folder = Path(folder)
    videos = sorted((folder / "videos").glob("*.mp4"))
    cameras = [v.stem for v in videos]
    static = np.full((len(videos), len(STATIC_FRAMES), 33, 3), np.nan)
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        for c, video in enumerate(videos):
            for f, image in enumerate(read_frames(video, STATIC_FRAMES)):
                h, w = image.shape[:2]
                static[c, f] = landmarks_px(pose.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)), w, h)
    video_frames = read_frames(videos[0], list(range(VIDEO_FRAMES)))
    tracked = np.full((VIDEO_FRAMES, 33, 3), np.nan)
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1,
                                smooth_landmarks=False) as pose:
        for f, image in enumerate(video_frames):
            h, w = image.shape[:2]
            tracked[f] = landmarks_px(pose.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)), w, h)
    out = Path(__file__).with_name("mediapipe_0.10.21_pose.npz")
    np.savez_compressed(out, static_landmarks=static.astype(np.float32), static_frames=STATIC_FRAMES,
                        cameras=cameras, video_landmarks=tracked.astype(np.float32),
                        video_camera=cameras[0], video_frames=VIDEO_FRAMES,
                        mediapipe_version=mp.__version__)
    print(f"wrote {out}: {np.isfinite(static[..., 0, 0]).sum()} of {static[..., 0, 0].size} static "
          f"frames and {np.isfinite(tracked[:, 0, 0]).sum()} of {VIDEO_FRAMES} tracked frames with a pose")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/pose2sim_multiperson")
