"""TensorFlow's native log noise kept off a training command's stderr; real warnings kept.

TensorFlow's C++ side writes to file descriptor 2 directly (absl logging), so Python cannot
filter it and ``TF_CPP_MIN_LOG_LEVEL=2`` leaves its *error*-level lines: on a machine without a
GPU every run printed ``E0000 ... failed call to cuInit`` and, per ``model.fit``, ``E0000 ...
NodeDef mentions attribute use_unbounded_threadpool ...`` (600 characters each, a version skew
inside TensorFlow's own graph rewriting, harmless), which a newcomer reads as failures.

:func:`native_stderr_filtered` points descriptor 2 at a pipe; a thread copies each line to the
real stderr unless it is one of the known noise lines below. Python's own ``sys.stderr``
(our progress lines, ``warnings``) is moved to a duplicate of the real descriptor, so it keeps
its terminal (progress redraws in place) and never waits on the thread. Anything not matched
- a W/E/F line about something else, a crash message - passes through unchanged.
``IMDB_EDGE_TF_LOGS=all`` turns the filter off.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading

# A line of absl's format: level letter, MMDD, time, thread id, file:line]
_ABSL = re.compile(rb"^(?P<level>[IWEF])\d{4} [\d:.]+\s+\d+ (?P<source>[\w.+-]+):\d+\] ")
_NOISE_SOURCES = (b"cudart_stub.cc", b"cuda_platform.cc", b"cuda_executor.cc",
                  b"cuda_diagnostics.cc", b"cuda_dnn.cc", b"cuda_fft.cc", b"cuda_blas.cc",
                  b"node_def_util.cc", b"tf_trt_utils.cc", b"py_utils.cc", b"port.cc")
_NOISE_TEXT = re.compile(     # each a known message on a machine without a GPU
    rb"failed call to cuInit|Could not find cuda drivers|NodeDef mentions attribute|"
    rb"Unable to register cu(DNN|FFT|BLAS) factory|TF-TRT Warning: Could not find TensorRT|"
    rb"oneDNN custom operations are on")
_NOISE_LINES = (b"WARNING: All log messages before absl::InitializeLog() is called are "
                b"written to STDERR",
                b"To enable the following instructions:")


def is_noise(line: bytes) -> bool:
    """Whether one stderr line (without its newline) is TensorFlow noise, not a warning."""
    if line.startswith(_NOISE_LINES):
        return True
    match = _ABSL.match(line)
    if match is None:
        return False
    if match["level"] == b"I":
        return True          # absl INFO: never a warning
    if match["level"] == b"F":
        return False         # fatal: always shown
    return match["source"] in _NOISE_SOURCES and _NOISE_TEXT.search(line) is not None


def _pump(read_fd: int, write_fd: int) -> None:
    with open(read_fd, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not is_noise(line))
            if kept:
                os.write(write_fd, kept)
        if pending and not is_noise(pending):
            os.write(write_fd, pending)


@contextlib.contextmanager
def native_stderr_filtered():
    """Filter TensorFlow's native noise from descriptor 2 inside the ``with`` block."""
    if os.environ.get("IMDB_EDGE_TF_LOGS") == "all":
        yield
        return
    try:
        sys.stderr.flush()
        real = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield                       # no usable descriptor 2: nothing to filter
        return
    python_fd = os.dup(real)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    pump = threading.Thread(target=_pump, args=(read_fd, real), daemon=True,
                            name="tf-stderr-filter")
    pump.start()
    previous = sys.stderr
    replaced = False
    try:
        if previous is not None and previous.fileno() == 2:
            sys.stderr = open(python_fd, "w", buffering=1, encoding=previous.encoding,
                              errors=previous.errors, closefd=True)
            replaced = True
    except (OSError, ValueError, AttributeError):   # e.g. pytest's capture: leave it
        pass
    if not replaced:
        os.close(python_fd)
    try:
        yield
    finally:
        if replaced:
            try:
                sys.stderr.flush()
            finally:
                sys.stderr.close()
                sys.stderr = previous
        os.dup2(real, 2)            # closes the pipe's last writer: the pump sees EOF
        pump.join(timeout=5)
        os.close(real)
