"""Fuzzer for the readers of untrusted files: vocabulary files (plain and gzip) and the CLI's
review input (lines, JSON lines, CSV; plain gzip too). Each must return or raise its one documented error
(ModelError, InputError), never another exception, a hang or unbounded memory.

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

HEADER = b"#imdb-edge-vocabulary\n#tokenizer_version=1\n#ngram=2\n#size=2\n#checksum=sha256:"


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 4)
    raw = fdp.ConsumeBytes(fdp.remaining_bytes())
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


if __name__ == "__main__":
    # libFuzzer re-runs argv[0] for -merge: scripts/fuzz.sh names an executable wrapper here.
    argv = [os.environ.get("IMDB_EDGE_FUZZ_SELF", sys.argv[0])] + sys.argv[1:]
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()
