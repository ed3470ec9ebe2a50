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


# --- tests that measure against the wall clock run alone --------------------------------------
# The suite runs on every core (pytest-xdist, ``-n auto`` in pyproject.toml). A test marked
# ``realtime`` (synthetic cameras delivering at their frame rate, a recorder keeping up with them,
# live 3D at its own pace) asserts what a machine with its cores to itself achieves, so while one
# runs no other worker starts a test. Two flock(2) locks beside the run's temporary folder do it:
# every test holds the main lock, shared or (realtime) exclusive, and takes the gate first, so a
# realtime test that waits keeps the others from starting new tests until it has run. Every test
# under the folders below is realtime; elsewhere, mark one with ``@pytest.mark.realtime``.
REALTIME_DIRS = ("capture", "live")


def pytest_configure(config):
    config.addinivalue_line("markers", "realtime: measures against the wall clock; no other test runs beside it")


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = item.path.relative_to(config.rootpath).parts
        if parts[:1] == ("tests",) and len(parts) > 2 and parts[1] in REALTIME_DIRS:
            item.add_marker(pytest.mark.realtime)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:                                   # one process: nothing runs beside the test
        return (yield)
    import fcntl
    import tempfile

    folder = Path(tempfile.gettempdir())
    exclusive = item.get_closest_marker("realtime") is not None
    with open(folder / f"capture3d-tests-{run}.gate", "a") as gate, \
            open(folder / f"capture3d-tests-{run}.lock", "a") as lock:
        fcntl.flock(gate, fcntl.LOCK_EX)
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            return (yield)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
