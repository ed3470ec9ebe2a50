# made once in a separate venv with mediapipe (see its docstring), not a test
collect_ignore = ["data/make_mediapipe_fixture.py"]
