import os
from pathlib import Path

import pytest

from capture3d.detect import manifest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATA = Path(os.environ.get("CAPTURE3D_DATA", DATA))


@pytest.fixture
def shared_data():
    """The real recordings in ../shared/data; the test skips when they are absent."""
    if not DATA.is_dir():
        pytest.skip(f"real data folder not found: {DATA}")
    return DATA


@pytest.fixture(scope="session")
def blazepose_models():
    """BlazePose's two model files, fetched from the package index on first use (as a user's
    first run does); the tests that need them skip on a machine that cannot download them."""
    names = ["blazepose_detector", "blazepose_landmarks"]
    entries = manifest.load_manifest()
    if not all(entries[n].path.is_file() for n in names):
        try:
            manifest.fetch(names, progress=lambda msg: None)
        except manifest.ModelFileError as exc:
            pytest.skip(f"BlazePose model files not available: {exc}")
    return [entries[n].check() for n in names]
