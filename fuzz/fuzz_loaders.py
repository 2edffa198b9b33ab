"""Fuzzer for the readers of untrusted files: vocabulary files (plain and gzip), the CLI's
review input (lines, JSON lines, CSV; plain gzip too), the ONNX initializer reader of the
compiled linear path and that path's array checks. Each must return or raise its one documented
error (ModelError, InputError, ValueError), never another exception, a crash, a hang or
unbounded memory.

    python fuzz/fuzz_loaders.py -max_total_time=60 fuzz/corpus/loaders   # (scripts/fuzz.sh)
"""

import gzip
import io
import os
import sys

import atheris

with atheris.instrument_imports():
    from imdb_edge import ModelError, Vocabulary
    from imdb_edge.cli._score import InputError, UsageError, read_lines
    from imdb_edge._errors import DataError
    from imdb_edge.io._labeled import iter_rows
    from imdb_edge._linear import ALPHA, BIAS, WEIGHTS, read_initializers
    from imdb_edge._vectorizer import _vectorize_c

import numpy as np

HEADER = b"#imdb-edge-vocabulary\n#tokenizer_version=1\n#ngram=2\n#size=2\n#checksum=sha256:"


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 6)
    if mode == 6:
        _linear_scores(fdp)
        return
    raw = fdp.ConsumeBytes(fdp.remaining_bytes())
    if mode == 5:
        try:
            found = read_initializers(raw, {WEIGHTS, ALPHA, BIAS})
        except ValueError:
            return
        assert all(isinstance(a, np.ndarray) for a in found.values())
        return
    if mode <= 1:
        blob = (HEADER + raw) if mode == 0 else gzip.compress(HEADER + raw)
        for candidate in (blob, raw):
            try:
                Vocabulary.from_bytes(candidate, source="fuzz")
            except ModelError:
                pass
        return
    kind = ("lines", "jsonl", "csv")[mode - 2]
    try:
        if kind == "lines":
            stream = io.BufferedReader(io.BytesIO(raw))
            for block in read_lines(stream, encoding="utf-8", errors="strict", sniff=True):
                assert block is None or all(isinstance(t, str) for t in block.texts)
        else:
            stream = io.BufferedReader(io.BytesIO(raw))
            for _, values in iter_rows("-", ["text", "id"], fmt=kind, stdin=stream):
                assert len(values) == 2
    except (InputError, UsageError, DataError):
        pass


def _linear_scores(fdp: atheris.FuzzedDataProvider) -> None:
    """Arrays of fuzzed values, right types, any shape and content: scores or ValueError."""
    if _vectorize_c is None:
        return
    size, columns, rows = (fdp.ConsumeIntInRange(1, 64), fdp.ConsumeIntInRange(1, 3),
                           fdp.ConsumeIntInRange(1, 16))
    ids = np.array(fdp.ConsumeIntListInRange(fdp.ConsumeIntInRange(0, 64), -5, 70), np.int32)
    indptr = np.array(fdp.ConsumeIntListInRange(fdp.ConsumeIntInRange(0, 8), -2, 70), np.int64)
    weights = np.array(fdp.ConsumeIntListInRange(size * columns, -2**31, 2**31 - 1),
                       np.int64).astype(np.int32).reshape(size, columns)
    alpha = np.array(fdp.ConsumeFloatListInRange(rows * columns, -1e3, 1e3),
                     np.float32).reshape(rows, columns)
    try:
        p = _vectorize_c.linear_scores(ids, indptr, weights, alpha, fdp.ConsumeFloat())
    except ValueError:
        return
    assert p.shape == (len(indptr) - 1,) and p.dtype == np.float32


if __name__ == "__main__":
    # libFuzzer re-runs argv[0] for -merge: scripts/fuzz.sh names an executable wrapper here.
    argv = [os.environ.get("IMDB_EDGE_FUZZ_SELF", sys.argv[0])] + sys.argv[1:]
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()
