"""Reading ``score-dataset``'s input: which files and format (``_files_and_kind``), their
columns checked up front, and CSV / JSON lines cut into partitions at record ends and parsed
by ``score``'s reader (:func:`read_dataset`). Parquet is read by row group in
:mod:`imdb_edge.engines.dataset`."""

from __future__ import annotations

import os
from pathlib import Path

from .._errors import DataError


_KINDS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl",
          ".ndjson": "jsonl", ".json": "jsonl"}


def _kind_of(name: str) -> str | None:
    """The format a file name says: ``.csv``, ``.jsonl``, ``.parquet``...; ``.csv.gz`` and
    ``.jsonl.gz`` are gzip-compressed CSV and JSON lines."""
    stem, suffix = os.path.splitext(name.rstrip("/").lower())
    if suffix == ".gz":
        kind = _KINDS.get(os.path.splitext(stem)[1])
        return kind if kind in ("csv", "jsonl") else None
    return _KINDS.get(suffix)


def _files_and_kind(source: str, fmt: str | None) -> tuple[list[str] | str, str]:
    """The files to read and their format. A folder's files are all read: one that its name
    does not place (``notes.txt``), or that names another format than ``--input``, is an
    error naming it, never skipped (hidden and ``_`` files, e.g. ``_SUCCESS``, are)."""
    if "://" in source:                        # an fsspec URL: Dask reads it
        kind = fmt or _kind_of(source)
        if kind is None:
            raise DataError(f"{source}: cannot tell the format; pass --input parquet|csv|jsonl")
        return source, kind
    path = Path(source)
    if not path.exists():
        raise DataError(f"{source}: no such file or folder")
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.is_file()
                       and not p.name.startswith((".", "_")))
        if not files:
            raise DataError(f"{source}: no .parquet, .csv or .jsonl files in the folder")
        unplaced = [Path(f).name for f in files if _kind_of(f) is None]
        if unplaced and fmt is None:
            raise DataError(f"{source}: cannot tell the format of "
                            f"{', '.join(unplaced[:5])} in the folder; pass --input "
                            "parquet|csv|jsonl, or move the files that are not data")
        other = [Path(f).name for f in files if _kind_of(f) not in (None, fmt)] if fmt else []
        if other:
            raise DataError(f"{source}: --input {fmt}, but the folder also holds "
                            f"{', '.join(other[:5])}; move them, or score them apart")
        kinds = {fmt or _kind_of(f) for f in files}
        if len(kinds) > 1:
            raise DataError(f"{source}: files of several formats ({', '.join(sorted(kinds))})")
        return files, kinds.pop()
    kind = fmt or _kind_of(path.name)
    if kind is None:
        raise DataError(f"{source}: cannot tell the format; pass --input parquet|csv|jsonl")
    return [str(path)], kind


def read_dataset(source: str, text_column: str, id_column: str | None = None,
                 fmt: str | None = None, blocksize: str = "16MiB"):
    """A Dask DataFrame of the text (and id) columns, in several partitions even for one
    small file (Parquet: one per row group; CSV/JSON lines: one per ``blocksize``)."""
    import dask.dataframe as dd

    files, kind = _files_and_kind(source, fmt)
    columns = [text_column] + ([id_column] if id_column else [])
    if isinstance(files, list):
        _check_columns(source, files[0], kind, columns)
    try:
        if kind == "parquet":
            frame = dd.read_parquet(files, columns=columns, split_row_groups=True)
        elif kind == "csv":
            frame = _read_csv_records(files, columns, blocksize)
        else:
            frame = _read_csv_records(files, columns, blocksize, kind="jsonl")
    except (KeyError, ValueError) as exc:
        raise DataError(f"{source}: no column {_column_of(exc, columns)!r} (or unreadable "
                        f"{kind}: {str(exc)[:160]})") from None
    return frame


def _read_csv_records(files, columns: list[str], blocksize, kind: str = "csv"):
    """CSV files as a Dask DataFrame whose partitions end only at record boundaries: a
    quoted field may hold line breaks (``csv.writer`` writes them), so a partition cut at a
    byte offset - Dask's own ``read_csv`` - can start inside a quoted field ("EOF inside
    string"). Each file is scanned once for the ends of records (a line end with an even
    number of quote characters before it); partitions of about ``blocksize`` bytes are cut
    there and parsed with the header in front. A compressed file is read whole.

    JSON lines (``kind="jsonl"``) go the same way, cut at any line end (a JSON string holds no
    raw line break) and parsed by the reader ``score --file`` uses: pandas' JSON reader drops
    a lone surrogate (``"b\\ud800"`` became ``"b"``), silently changing an id."""
    import dask
    import dask.dataframe as dd
    import pandas as pd
    from dask.utils import parse_bytes

    size = parse_bytes(blocksize) if isinstance(blocksize, str) else int(blocksize or 0)
    parts = []
    for file in ([files] if isinstance(files, str) else files):
        for header, start, end, first_line in _record_ranges(file, size, kind):
            parts.append(dask.delayed(_read_csv_range, pure=True)(
                file, header, start, end, first_line, columns, kind))
    meta = pd.DataFrame({c: pd.Series([], dtype=object) for c in dict.fromkeys(columns)})
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


_SCAN = 1 << 24         # bytes scanned at a time for record ends


def _record_ranges(file: str, blocksize: int,
                   kind: str = "csv") -> list[tuple[bytes, int, int, int]]:
    """``(header, start, end, first line)`` of each partition of a CSV file: byte ranges
    that start and end at record boundaries, each about ``blocksize`` bytes (the whole file
    when ``blocksize`` is 0 or the file is compressed)."""
    import fsspec
    import numpy as np

    with fsspec.open(file, "rb") as handle:
        head = handle.read(2)
        handle.seek(0)
        whole = blocksize <= 0 or head == b"\x1f\x8b"
        ends: list[int] = []         # offsets just past a record's line end
        newlines_before: list[int] = []
        offset, quotes, lines = 0, 0, 0
        header_end = None
        next_cut = None
        while True:
            chunk = handle.read(_SCAN)
            if not chunk:
                break
            data = np.frombuffer(chunk, np.uint8)
            newline = np.flatnonzero(data == 10)
            if kind == "csv":
                in_quotes = (np.cumsum(data == 34)[newline] + quotes) & 1
            else:
                in_quotes = np.zeros(len(newline), np.int64)
            boundaries = newline[in_quotes == 0]
            line_numbers = np.flatnonzero(in_quotes == 0) + lines    # newlines before each
            if header_end is None and kind != "csv":
                header_end, next_cut = 0, blocksize
            elif header_end is None and len(boundaries):
                header_end = offset + int(boundaries[0]) + 1
                next_cut = header_end + blocksize
            if not whole and next_cut is not None:
                for boundary, before in zip(boundaries.tolist(), line_numbers.tolist()):
                    if offset + boundary + 1 >= next_cut:
                        ends.append(offset + boundary + 1)
                        newlines_before.append(before + 1)
                        next_cut = offset + boundary + 1 + blocksize
            quotes += int(np.count_nonzero(data == 34))
            lines += len(newline)
            offset += len(chunk)
        total = offset
        if whole or header_end is None:
            return [(b"", 0, total, 1)]
        handle.seek(0)
        header = handle.read(header_end)
    if kind != "csv":
        starts = [0] + ends
        first_lines = [1] + [n + 1 for n in newlines_before]
        return [(b"", a, b, line) for a, b, line in zip(starts, ends + [total], first_lines)
                if b > a]
    starts = [header_end] + ends
    first_lines = [header.count(b"\n") + 1] + [n + 1 for n in newlines_before]
    stops = ends + [total]
    return [(header, a, b, line) for a, b, line in zip(starts, stops, first_lines) if b > a]


def _read_csv_range(file: str, header: bytes, start: int, end: int, first_line: int,
                    columns: list[str], kind: str = "csv"):
    """One partition: the header and the records in ``[start, end)`` of ``file``, parsed by
    the reader ``score --file`` uses (the same records, the same errors, named by the
    file's line numbers)."""
    import gzip
    import io

    import fsspec
    import pandas as pd

    from .._errors import DataError
    from ..io._labeled import DecodedLines, _csv, _jsonl

    with fsspec.open(file, "rb") as handle:
        handle.seek(start)
        data = header + handle.read(end - start)
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    names = list(dict.fromkeys(columns))
    lines = DecodedLines(io.BufferedReader(io.BytesIO(data)), "utf-8", file,
                         number=first_line - 1 - header.count(b"\n"))
    values: list[list] = [[] for _ in names]
    flags = ["--text-column"] * len(names)
    rows = _csv(lines, file, ",", names, flags, True) if kind == "csv" else \
        _jsonl(lines, file, names, flags)
    try:
        for _, row in rows:
            for column, value in zip(values, row):
                column.append(value)
    except DataError as exc:
        raise CsvRangeError(str(exc)) from None
    return pd.DataFrame({name: pd.Series(column, dtype=object)
                         for name, column in zip(names, values)})[names]


class CsvRangeError(ValueError):
    """A CSV partition that does not parse; the message names the file and the line."""


def _block_bytes(blocksize) -> int:
    """``--blocksize`` in bytes: ``16MiB``, ``64MB``, ``1000000``; 0 is one partition a
    file. Anything else is an error naming the flag (Dask's parser reads the units)."""
    from dask.utils import parse_bytes

    try:
        size = parse_bytes(blocksize) if isinstance(blocksize, str) else int(blocksize or 0)
    except (ValueError, TypeError):
        size = -1
    if size < 0:
        raise DataError(f"--blocksize {blocksize!r} is not a size: give bytes with a unit, e.g. "
                        "16MiB or 64MB (0: one partition a file)")
    return size


def _open_text(path: str, encoding: str):
    """A text stream of a file, gunzipped as ``score --file`` reads it (its opener)."""
    import io

    from ..io._labeled import open_binary

    return io.TextIOWrapper(open_binary(path), encoding=encoding, errors="replace", newline="")


def _check_columns(source: str, first: str, kind: str, columns: list[str]) -> None:
    """A clear message for a missing column, from the first file's header or schema."""
    import csv
    import json

    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(first).names
        except Exception as exc:  # noqa: BLE001 - pyarrow's own types
            raise DataError(f"{first}: not a readable Parquet file ({str(exc)[:120]})") from None
    elif kind == "csv":
        with _open_text(first, "utf-8-sig") as handle:
            try:
                names = next(csv.reader(handle), [])
            except csv.Error as exc:
                raise DataError(f"{first}: line 1: not a CSV header ({exc})") from None
    else:
        with _open_text(first, "utf-8") as handle:
            line = next((l for l in handle if l.strip()), "{}")
        try:
            names = list(json.loads(line))
        except ValueError:
            raise DataError(f"{first}: line 1 is not a JSON object") from None
    for column in columns:
        if column not in names:
            raise DataError(f"{source}: no column {column!r} (columns: "
                            f"{', '.join(map(repr, names[:20]))})")


def _column_of(exc: Exception, columns: list[str]) -> str:
    text = str(exc)
    return next((c for c in columns if c in text), columns[0])
