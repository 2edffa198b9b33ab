"""Reading model and vocabulary files that may come from anywhere: bounded, never blocking.

A model folder copied from elsewhere is read as untrusted bytes: only regular files are
opened (a FIFO, a device such as ``/dev/zero`` or a socket is refused without reading), and
every read stops at a documented size limit, gzip inflation included.
"""

from __future__ import annotations

import os
import stat
import zlib
from pathlib import Path

from ._errors import ModelError

MAX_MODEL_BYTES = 256 * 2**20        # model.onnx (the bundled ones: 0.4 and 0.64 MB)
MAX_VOCABULARY_BYTES = 64 * 2**20    # vocab.txt, and vocab.txt.gz once inflated
MAX_FEATURES = 4_000_000             # vocabulary entries


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def read_regular_file(path: Path, limit: int, what: str) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    Raises:
        ModelError: missing, not a regular file, unreadable, or larger than ``limit``.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)   # O_NONBLOCK: opening a FIFO must not wait for a writer
    except FileNotFoundError:
        raise ModelError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise ModelError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ModelError(f"{what} {path} is {kind}; only regular files are read")
        if info.st_size > limit:
            raise ModelError(f"{what} {path} is {info.st_size:,} bytes; the limit is {_mb(limit)}")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:   # it grew while being read
                raise ModelError(f"{what} {path} is over the limit of {_mb(limit)}")
        return b"".join(chunks)
    except OSError as exc:
        raise ModelError(f"cannot read {what} {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def gunzip_capped(raw: bytes, limit: int, source: str) -> bytes:
    """Inflate gzip ``raw``, stopping (with ModelError) as soon as the output passes ``limit``."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limit + 1)
        if len(out) > limit or inflater.unconsumed_tail:
            raise ModelError(f"vocabulary file {source}: inflates to more than {_mb(limit)}")
        out += inflater.flush()
    except zlib.error as exc:
        raise ModelError(f"vocabulary file {source}: corrupt gzip data ({exc})") from None
    if not inflater.eof:
        raise ModelError(f"vocabulary file {source}: corrupt gzip data (truncated)")
    if inflater.unused_data:
        raise ModelError(f"vocabulary file {source}: data after the end of the gzip stream")
    if len(out) > limit:
        raise ModelError(f"vocabulary file {source}: inflates to more than {_mb(limit)}")
    return out
