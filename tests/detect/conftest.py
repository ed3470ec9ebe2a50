import pytest

from capture3d.detect import manifest

# made once in a separate venv with mediapipe (see its docstring), not a test
collect_ignore = ["data/make_mediapipe_fixture.py"]


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
