"""Score a dataset on Dask: Parquet, CSV or JSON lines files (or folders of them, or fsspec
URLs) in, Parquet out, on local processes or a ``distributed`` cluster.

    from imdb_edge.dataset import score_dataset
    score_dataset("reviews/", "scores/", text_column="text", id_column="id")

or ``imdb-edge score-dataset INPUT OUTPUT --text-column text [--id-column id]
[--scheduler processes|threads|tcp://host:8786] [--model M]`` (the dask extra: ``pip install
'.[dask]'`` in an imdb-edge checkout).

Every partition becomes one ``part-NNNNN.parquet`` with the columns ``<id column>`` (or
``row``, the 0-based row number in the input), ``probability`` and ``label``, written to a
temporary name and renamed: a task that runs again after a lost worker (Dask recomputes it)
rewrites the same file, so every row lands exactly once. The files go to a staging folder
that is renamed to OUTPUT when every partition is done: a failed job leaves no OUTPUT. Rows
are in input order (partition by partition). Scores are bit-identical to
``imdb_edge.load(model).score`` on the same texts (the same code scores each batch).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
import warnings
from pathlib import Path

from .._errors import DataError


class SlowWorkersWarning(UserWarning):
    """The cluster's workers are set up in a way that slows scoring down (the message says
    how and what to change)."""


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
    """A text stream of a file, gunzipped if it starts with gzip's magic bytes."""
    import gzip

    with open(path, "rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if compressed else open
    return opener(path, "rt", encoding=encoding, errors="replace", newline="")


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
            names = next(csv.reader(handle), [])
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


def _write_partition(frame, partition_info=None, *, staging: str, text_column: str,
                     id_column: str | None, model: str, offsets: list[int],
                     labels: tuple[str, str], id_name: str | None = None):
    """Score one partition and write it as ``part-NNNNN.parquet`` (atomically)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    number = partition_info["number"]
    if id_column:
        where = (lambda i: f"row {offsets[number] + i}") if len(offsets) > number + 1 \
            or number == 0 else \
            (lambda i: f"row {i} of partition {number}")
        ids = _id_array(frame[id_column].tolist(), id_column, where)
    else:
        ids = pa.array(np.arange(offsets[number], offsets[number] + len(frame)))
    _score_and_write(number, frame[text_column], ids, id_name or id_column or "row", staging,
                     model, labels)
    return pd.DataFrame({"rows": [len(frame)]})


OUTPUT_COLUMNS = ("probability", "label")


def kept_name(id_column: str | None) -> str | None:
    """The output name of the id column: ``input_<name>`` for one named like an output
    column, so that neither is lost."""
    return f"input_{id_column}" if id_column in OUTPUT_COLUMNS else id_column


class UnwritableIdError(ValueError):
    """An id that Parquet cannot store (a string with a lone surrogate has no UTF-8)."""


def _id_array(values: list, id_column: str, where):
    """The ids as a pyarrow array, or :class:`UnwritableIdError` naming the first row whose
    id cannot be written."""
    import pyarrow as pa

    try:
        return pa.array(values)
    except (UnicodeEncodeError, pa.ArrowException) as exc:
        for i, value in enumerate(values):
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise UnwritableIdError(
                        f"{where(i)}: the --id-column {id_column!r} value {value!r} cannot be "
                        "written to Parquet (UTF-8 has no encoding for a lone surrogate)") \
                        from None
        raise UnwritableIdError(f"the --id-column {id_column!r} values cannot be written to "
                                f"Parquet ({exc})") from None


def _is_score_output(folder: Path) -> bool:
    """Whether ``folder`` is what score-dataset writes: part-NNNNN.parquet files only."""
    import re

    if not folder.is_dir():
        return False
    return all(re.fullmatch(r"part-\d{5}\.parquet", p.name) for p in folder.iterdir())


def _parquet_parts(files: list[str]) -> list[tuple[str, int, int]]:
    """``(file, row group, rows)`` of every row group: one task each, offsets known from the
    metadata without reading any data."""
    import pyarrow.parquet as pq

    parts = []
    for file in files:
        metadata = pq.ParquetFile(file).metadata
        parts += [(file, group, metadata.row_group(group).num_rows)
                  for group in range(metadata.num_row_groups)]
    return parts


def _write_row_group(number: int, file: str, group: int, offset: int, *, staging: str,
                     text_column: str, id_column: str | None, model: str,
                     labels: tuple[str, str], id_name: str | None = None) -> int:
    """One row group read with pyarrow (no pandas), scored and written atomically."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = [text_column] + ([id_column] if id_column else [])
    table = pq.ParquetFile(file).read_row_group(group, columns=list(dict.fromkeys(columns)))
    n = table.num_rows
    ids = table.column(id_column) if id_column else pa.array(np.arange(offset, offset + n))
    _score_and_write(number, table.column(text_column), ids, id_name or id_column or "row",
                     staging, model, labels)
    return n


def _score_and_write(number: int, texts, ids, id_name: str, staging: str, model: str,
                     labels: tuple[str, str]) -> None:
    """Score one partition's texts and write ``part-NNNNN.parquet`` atomically: to a
    temporary name, then renamed (a recomputed task rewrites the same file)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .._labels import label_codes, label_names
    from ._batch import score_batch

    probability, known = score_batch(texts, model=model, ids=ids, return_known=True)
    label = label_names(label_codes(probability, known), labels)
    table = pa.table({id_name: ids, "probability": probability,
                      "label": pa.array(label.tolist(), pa.string())})
    final = os.path.join(staging, f"part-{number:05d}.parquet")
    tmp = os.path.join(staging, f".part-{number:05d}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, final)


def _frame_futures(client, frame, id_column, options) -> list:
    """One task per partition of a Dask DataFrame (CSV, JSON lines, remote Parquet)."""
    import pandas as pd

    offsets = [0]
    if id_column is None:         # row numbers need the partitions' lengths first
        for length in client.compute(frame.map_partitions(len)).result():
            offsets.append(offsets[-1] + int(length))
    written = frame.map_partitions(_write_partition, offsets=offsets, **options,
                                   meta=pd.DataFrame({"rows": pd.Series([], dtype="int64")}))
    return client.compute(written.to_delayed())


# Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's
# mmap threshold at 128 KiB: every chunk's onnxruntime buffers (~2 MB for 256 reviews) are
# then mapped, faulted in and unmapped again, and scoring in a worker took ~1.6-2x as long as
# in a plain process (measured; see the benchmark's dataset mode). The local clusters made
# here leave glibc's defaults alone; for a cluster of your own, see docs/guides/scaling-out.md. (Setting the
# variable through DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__... does not work: Dask
# lower-cases the key, so it never matches; a YAML config file keeps the case.)
_NANNY_MALLOC = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


def local_cluster(workers: int, processes: bool = True):
    """A ``LocalCluster`` of ``workers`` processes (one thread each), or of one process with
    ``workers`` threads, its workers on glibc's default allocator settings."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({_NANNY_MALLOC: None}):
        return LocalCluster(n_workers=workers if processes else 1,
                            threads_per_worker=1 if processes else workers,
                            processes=processes, dashboard_address=None)


def slow_allocator_note(client) -> str | None:
    """A note when the workers run with a fixed glibc trim threshold (Dask's default for
    workers started by ``dask worker``), which slows scoring down; else None."""
    try:
        values = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    except Exception:  # noqa: BLE001 - a note must never fail the job
        return None
    slow = sorted({v for v in values.values() if v is not None})
    if not slow:
        return None
    return (f"workers run with MALLOC_TRIM_THRESHOLD_={slow[0]} (Dask's default), which makes "
            "scoring ~2x slower; start them with MALLOC_TRIM_THRESHOLD_: null under "
            "distributed.nanny.pre-spawn-environ in a Dask config file (see "
            "docs/guides/scaling-out.md)")


def _client(scheduler: str, workers: int | None):
    from distributed import Client

    n = workers or os.cpu_count() or 1
    if scheduler in ("processes", "threads"):
        cluster = local_cluster(n, processes=scheduler == "processes")
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="30s"), None
    except (OSError, ValueError, TypeError) as exc:      # bad address, refused, timed out
        raise DataError(f"--scheduler {scheduler!r}: cannot connect to a Dask scheduler "
                        f"there ({_first_line(exc)}); give its address, e.g. "
                        "tcp://host:8786, or 'processes' for local workers") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def _python_strings():
    """Dask's conversion of object columns to pyarrow strings off: it fails, with a bare
    ``UnicodeEncodeError``, on a string holding a lone surrogate (legal in JSON), where the
    writer names the row and column instead; and texts are scored as Python strings anyway."""
    import dask

    return dask.config.set({"dataframe.convert-string": False})


def _local(path: str) -> bool:
    return "://" not in str(path)


def _absolute(path: str) -> str:
    """A local path made absolute where the user gave it (the client): a worker resolves a
    relative path against its own working directory."""
    return os.path.abspath(path) if _local(path) else path


def _quiet_worker_logs() -> None:
    import logging

    logging.getLogger("distributed.worker").setLevel(logging.CRITICAL)


def _workers_view(paths: dict[str, str]) -> dict:
    """Run on a worker: for each named path it must see, what is missing there."""
    import socket

    missing = {what: path for what, path in paths.items() if not os.path.exists(path)}
    return {"missing": missing, "host": socket.gethostname(), "cwd": os.getcwd()}


def _check_workers_see(client, paths: dict[str, str]) -> None:
    """Refuse, naming the worker's view, a path some worker cannot see (a remote cluster
    without a shared file system)."""
    views = client.run(_workers_view, paths)
    for address, view in sorted(views.items()):
        for what, path in view["missing"].items():
            hint = ("copy the model folder to every worker (the same path), or use a bundled "
                    "preset" if what == "the model" else
                    "give a path on a file system every worker shares, or an fsspec URL")
            raise DataError(f"{what} {path} is not visible to worker {address} (host "
                            f"{view['host']}, working directory {view['cwd']}); {hint}")


def score_dataset(source: str, output: str, *, text_column: str = "text",
                  id_column: str | None = None, model: str | None = "default",
                  scheduler: str = "processes", workers: int | None = None,
                  fmt: str | None = None, overwrite: bool = False, progress: bool = False,
                  blocksize: str = "16MiB", worker_tracebacks: bool = False) -> dict:
    """Score every row of ``source`` into Parquet files in ``output`` (see the module doc).

    Args:
        source: a file, a folder of files of one format, or an fsspec URL.
        output: the folder to write; it must not exist unless ``overwrite``.
        scheduler: ``"processes"`` (local worker processes, the default), ``"threads"``
            (one process), or a ``distributed`` scheduler address (``tcp://host:8786``).
        workers: local workers (processes) or threads; default: the CPU count.

        worker_tracebacks: let local workers log a failed task's traceback on stderr
            (by default the error is raised here, once, and workers stay quiet).

    Local paths (``source``, ``output``, a model folder) are made absolute here, where they
    were given; a path a remote worker cannot see is refused before any work, naming that
    worker's view. An ``id_column`` named like an output column (``probability``,
    ``label``) is written as ``input_<name>``.

    Returns:
        ``{"rows", "partitions", "output", "seconds"}`` (and ``"id_column"`` when renamed).

    Raises:
        DataError: missing input or column, an existing output, a row without text (named
            by its id), the engine not installed.
    """
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise DataError(f"score-dataset needs Dask ({exc.name} is missing): the dask extra, "
                        "pip install '.[dask]' in an imdb-edge checkout") from None
    from ._batch import BadRowsError, scorer_for
    from ..io._progress import Progress

    from .._models import is_preset_name

    start = time.perf_counter()
    source, output = _absolute(source), _absolute(output)
    if model is not None and not is_preset_name(model):
        model = os.path.abspath(model)
    blocksize = _block_bytes(blocksize)
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise DataError(f"{output} is a file; OUTPUT is the folder score-dataset writes (and "
                        "--overwrite replaces only such a folder), so choose another OUTPUT")
    if out.exists() and not overwrite:
        raise DataError(f"{output} exists; pass --overwrite to replace it")
    if out.exists() and not _is_score_output(out):
        raise DataError(f"{output} is not a score-dataset output (it holds "
                        f"{', '.join(sorted(p.name for p in out.iterdir())[:8]) or 'a file'}); "
                        "--overwrite only replaces one, so choose another OUTPUT")
    labels = scorer_for(model).labels            # the model loads here, before any work
    files, kind = _files_and_kind(source, fmt)
    local_parquet = kind == "parquet" and isinstance(files, list)
    if local_parquet:
        _check_columns(source, files[0], kind, [text_column] + ([id_column] if id_column
                                                                else []))
        parts = _parquet_parts(files)
    else:
        with _python_strings():
            frame = read_dataset(source, text_column, id_column, fmt, blocksize)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    client, cluster = _client(scheduler, workers)     # first: a bad scheduler leaves nothing
    try:
        staging.mkdir()
        if cluster is not None and not worker_tracebacks:
            client.run(_quiet_worker_logs)
        note = slow_allocator_note(client) if cluster is None else None
        if note:
            warnings.warn(note, SlowWorkersWarning, stacklevel=2)
        if cluster is None:                      # a cluster of its own: what do workers see?
            visible = {"the output folder": str(staging)}
            if isinstance(files, list):
                visible.update({"the input": f for f in files[:1]})
            if model is not None and not is_preset_name(model):
                visible["the model"] = model
            _check_workers_see(client, visible)
        from distributed import as_completed

        id_name = kept_name(id_column)
        options = dict(staging=str(staging), text_column=text_column, id_column=id_column,
                       model=model, labels=labels, id_name=id_name)
        if local_parquet:
            offsets = [0]
            for _, _, rows in parts:
                offsets.append(offsets[-1] + rows)
            futures = [client.submit(_write_row_group, number, file, group, offsets[number],
                                     pure=False, **options)
                       for number, (file, group, _) in enumerate(parts)]
        else:
            with _python_strings():
                futures = _frame_futures(client, frame, id_column, options)
        bar = Progress("score-dataset", total=len(futures), unit="partitions",
                       enabled=progress)
        rows = 0
        try:
            for done, future in enumerate(as_completed(futures), 1):
                result = future.result()
                rows += result if isinstance(result, int) else int(result["rows"].sum())
                bar.update(done)
        except BaseException as exc:
            client.cancel(futures)    # start no more partitions
            if isinstance(exc, (BadRowsError, CsvRangeError, UnwritableIdError)):
                raise DataError(f"{source}: {exc}; nothing was written") from None
            raise
        finally:
            bar.close()
        for leftover in staging.glob(".part-*.tmp"):   # a killed worker's unfinished write
            leftover.unlink(missing_ok=True)
        if out.exists():
            if not _is_score_output(out):     # again: it may have changed while scoring
                raise DataError(f"{output} changed while scoring and is not a score-dataset "
                                "output any more; nothing was replaced")
            shutil.rmtree(out)
        os.replace(staging, out)
        summary = {"rows": rows, "partitions": len(futures), "output": str(out),
                   "seconds": round(time.perf_counter() - start, 3)}
        if id_name != id_column:
            summary["id_column"] = id_name
        return summary
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        _remove(staging)


def _remove(staging: Path, seconds: float = 30.0) -> None:
    """Remove the staging folder of a failed job. A partition still being written on a
    remote worker can add a file while the folder is being removed; once the folder is
    gone such a write fails, so removing until it stays gone is enough."""
    deadline = time.monotonic() + seconds
    while staging.exists() and time.monotonic() < deadline:
        shutil.rmtree(staging, ignore_errors=True)
        if staging.exists():
            time.sleep(0.05)
