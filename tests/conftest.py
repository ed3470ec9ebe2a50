import os
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATA = Path(os.environ.get("CAPTURE3D_DATA", DATA))


@pytest.fixture
def shared_data():
    """The real recordings in ../shared/data; the test skips when they are absent."""
    if not DATA.is_dir():
        pytest.skip(f"real data folder not found: {DATA}")
    return DATA
