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
from ._reading import (CsvRangeError, _block_bytes, _check_columns, _files_and_kind,
                       read_dataset)


class SlowWorkersWarning(UserWarning):
    """The cluster's workers are set up in a way that slows scoring down (the message says
    how and what to change)."""


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
