# made once in a separate venv with mediapipe (see its docstring), not a test
collect_ignore = ["data/make_mediapipe_fixture.py"]


import numpy as np  # noqa: E402
import pytest  # noqa: E402
from pathlib import Path  # noqa: E402


@pytest.fixture
def mediapipe_reference(shared_data):
    """mediapipe 0.10.21's own landmarks on frames of pose2sim_multiperson (``data/``), and the videos."""
    return np.load(Path(__file__).parent / "data" / "mediapipe_0.10.21_pose.npz"), \
        shared_data / "pose2sim_multiperson" / "videos"
