"""What reaches the terminal: without ``-v`` a command prints only its own lines.

Some libraries write to the process's file descriptors from C code, past Python's ``sys.stdout``
and logging: TFLite ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on every
interpreter), and Open3D's window start-up (GLFW and EGL lines on stdout, libwayland's
"XDG_RUNTIME_DIR is invalid" on stderr). :func:`captured_output` takes those descriptors over
around the one call that prints, unless the run is verbose. FFmpeg inside OpenCV ("moov atom not
found" for a damaged MP4) and OpenCV's own warnings have switches of their own:
:func:`quiet_native_logs`.

Verbosity is :func:`verbose`: the ``CAPTURE3D_VERBOSE`` environment variable (the command line's
``-v`` sets it, so detection worker processes inherit it) or INFO logging on ``capture3d``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile

VERBOSE_ENV = "CAPTURE3D_VERBOSE"


#: The quieting values :func:`quiet_native_logs` set (not the user's), so that a later verbose
#: call in the same process (a test, a notebook running ``main``) can take them back.
_QUIET = {"OPENCV_FFMPEG_LOGLEVEL": "-8", "OPENCV_LOG_LEVEL": "FATAL"}   # AV_LOG_QUIET; OpenCV's FATAL
_SET_HERE: set[str] = set()


def quiet_native_logs() -> None:
    """Keep FFmpeg's and OpenCV's own lines off stderr unless :func:`verbose`: FFmpeg's (e.g.
    "moov atom not found" for a damaged MP4) and OpenCV's warnings (e.g. 40 lines of
    ``[ WARN:0] VIDEOIO(V4L2:/dev/video0)`` while it probes a webcam that is not plugged in) come
    from C, and the command's own line already names the file or camera and the problem. OpenCV
    reads ``OPENCV_FFMPEG_LOGLEVEL`` when it first opens a video and ``OPENCV_LOG_LEVEL`` when it
    is loaded, so the level is also set in this process's OpenCV; worker processes inherit both.
    A value the user set is kept; verbose, the values this function set are taken back."""
    import cv2   # already loaded by then (its level was read at import)

    if verbose():
        for name in _SET_HERE:
            os.environ.pop(name, None)
        if "OPENCV_LOG_LEVEL" in _SET_HERE:
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_WARNING)   # OpenCV's own default
        _SET_HERE.clear()
        return
    for name, value in _QUIET.items():
        if name not in os.environ:
            os.environ[name] = value
            _SET_HERE.add(name)
    if "OPENCV_LOG_LEVEL" in _SET_HERE:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_FATAL)


def verbose() -> bool:
    """True when third-party start-up chatter should be shown (``-v``)."""
    if os.environ.get(VERBOSE_ENV) in ("1", "0"):
        return os.environ[VERBOSE_ENV] == "1"
    return logging.getLogger("capture3d").isEnabledFor(logging.INFO)


class OnceFilter(logging.Filter):
    """Lets each distinct warning through once: ``process`` reconstructs a session several times
    (the view offsets, the self-calibration, the flip and the crops each run it again), and the
    same warning from every pass says nothing new. Only plain warnings are held back: errors,
    anything with a traceback and every other level always pass."""

    def __init__(self):
        super().__init__()
        self._seen: set[tuple[str, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING or record.exc_info:
            return True
        key = (record.name, record.getMessage())
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


@contextlib.contextmanager
def warnings_once():
    """Inside the block each distinct warning reaches the root logger's handlers once
    (:class:`OnceFilter`, a fresh one per block, removed after it); all of them with ``-v``."""
    if verbose():
        yield
        return
    added = [(handler, OnceFilter()) for handler in logging.getLogger().handlers]   # one each: a
    for handler, once in added:                      # filter shared would let a record through one only
        handler.addFilter(once)
    try:
        yield
    finally:
        for handler, once in added:
            handler.removeFilter(once)


def _flush_c_stdio():
    """Flush C's stdio buffers (stdout is block-buffered when it is a pipe)."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):    # no C library to call (Windows): nothing buffered by us
        pass


@contextlib.contextmanager
def captured_output(fds=(1, 2)):
    """Send what is written to the file descriptors ``fds`` inside the block to a temporary
    file instead of the terminal, unless :func:`verbose`; yields a list that holds the captured
    text (one string) after the block, for an error message that needs it.

    Only for short calls: output of other threads in that time is captured too.
    """
    captured: list[str] = []
    if verbose():
        yield captured
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = []
    with tempfile.TemporaryFile() as sink:
        try:
            for fd in fds:
                saved.append((fd, os.dup(fd)))
                os.dup2(sink.fileno(), fd)
        except OSError:      # no such descriptor (a service without stdout): nothing to hide
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
            yield captured
            return
        try:
            yield captured
        finally:
            _flush_c_stdio()
            for fd, copy in reversed(saved):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            captured.append(sink.read().decode(errors="replace"))
