"""The IMDB data set as CSV files: an example of the input ``imdb-edge-train fit`` and
``imdb-edge evaluate`` take (columns ``id``, ``text``, ``label``; labels ``pos``/``neg``)."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import numpy as np

from imdb_edge.io._data import DataError, read_imdb


def write_imdb_csv(data, out, *, limit: int | None = None, seed: int = 0,
                   overwrite: bool = False) -> list[Path]:
    """``train.csv`` and ``test.csv`` in ``out``, rows in a seeded random order; with
    ``limit``, a balanced sample of that many reviews per split. Each file lands by rename;
    an existing file of either name is replaced only with ``overwrite``."""
    if limit is not None and limit < 2:
        raise ValueError(f"limit must be >= 2. Received: limit={limit!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} exists and is not a folder")
    existing = [name for name in ("train.csv", "test.csv") if (out / name).exists()]
    if existing and not overwrite:
        raise DataError(f"--out {out} already has {' and '.join(existing)}; pass --overwrite "
                        "to replace them, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, split in read_imdb(data).items():
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(split))
        if limit is not None:
            pos = order[split.labels[order] == 1][:limit // 2]
            neg = order[split.labels[order] == 0][:limit - len(pos)]
            order = rng.permutation(np.concatenate([pos, neg]))
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".csv", dir=out)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text", "label"])
            for i in order:
                member = split.names[i].replace(os.sep, "/")
                review_id = "/".join(member.split("/")[-3:]).removesuffix(".txt")
                writer.writerow([review_id, split.texts[i], "pos" if split.labels[i] else "neg"])
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out / f"{name}.csv")
        written.append(out / f"{name}.csv")
    return written


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
