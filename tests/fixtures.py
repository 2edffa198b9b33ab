"""A tiny data set in the aclImdb layout, made by the tests (no real data needed)."""

from __future__ import annotations

import io
import random
import tarfile
from pathlib import Path

POSITIVE = ["great", "wonderful", "loved", "brilliant", "superb", "moving", "best", "fun"]
NEGATIVE = ["awful", "boring", "worst", "waste", "terrible", "dull", "bad", "poor"]
NEUTRAL = ["the", "movie", "film", "plot", "actors", "it", "was", "and", "a", "of", "story",
           "scene", "director", "café", "don't", "music", "ending", "cast"]


def make_review(rng: random.Random, label: int) -> str:
    own, other = (POSITIVE, NEGATIVE) if label else (NEGATIVE, POSITIVE)
    words = [rng.choice(NEUTRAL) for _ in range(rng.randint(8, 30))]
    words += [rng.choice(own) for _ in range(rng.randint(2, 4))]
    words += [rng.choice(other) for _ in range(rng.randint(0, 1))]
    rng.shuffle(words)
    text = " ".join(words).capitalize() + "."
    return text.replace(" and ", " and<br /><br />", 1)


def make_files(n_per_class: int = 40, seed: int = 0) -> dict[str, str]:
    """``{member name: review}`` for train/test x pos/neg, plus an unsup file and a README."""
    rng = random.Random(seed)
    files = {"aclImdb/README": "tiny fixture", "aclImdb/imdb.vocab": "the\nmovie\n",
             "aclImdb/train/unsup/0_0.txt": "unlabelled, never read"}
    for split in ("train", "test"):
        for polarity, label in (("pos", 1), ("neg", 0)):
            for i in range(n_per_class):
                rating = rng.randint(7, 10) if label else rng.randint(1, 4)
                files[f"aclImdb/{split}/{polarity}/{i}_{rating}.txt"] = make_review(rng, label)
    return files


def make_archive(path: Path, n_per_class: int = 40, seed: int = 0, drop: str | None = None) -> Path:
    """Write a .tar.gz in the official layout; ``drop`` leaves out members under that prefix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, text in sorted(make_files(n_per_class, seed).items()):
            if drop and name.startswith(drop):
                continue
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def make_folder(root: Path, n_per_class: int = 40, seed: int = 0) -> Path:
    for name, text in make_files(n_per_class, seed).items():
        file = root / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    return root / "aclImdb"


def make_labeled(n_per_class: int = 60, seed: int = 0) -> list[tuple[str, int]]:
    """``(text, label)`` pairs, classes interleaved, 1 = positive."""
    rng = random.Random(seed)
    rows = [(make_review(rng, label), label) for _ in range(n_per_class) for label in (1, 0)]
    rng.shuffle(rows)
    return rows


def write_labeled(path: Path, rows, fmt: str, names=("neg", "pos"), text_column="text",
                  label_column="label") -> Path:
    """Write ``rows`` as csv, tsv, jsonl, parquet or a folder per class (``names[label]``);
    a path ending in .gz is gzip-compressed."""
    import csv
    import gzip
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "folder":
        for i, (text, label) in enumerate(rows):
            file = path / names[label] / f"{i}.txt"
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text, encoding="utf-8")
        return path
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({text_column: [t for t, _ in rows],
                                 label_column: [names[y] for _, y in rows]}), path,
                       row_group_size=50)
        return path
    buffer = io.StringIO(newline="")
    if fmt == "jsonl":
        for text, label in rows:
            buffer.write(json.dumps({text_column: text, label_column: names[label]}) + "\n")
    else:
        writer = csv.writer(buffer, delimiter="\t" if fmt == "tsv" else ",")
        writer.writerow([text_column, label_column])
        for text, label in rows:
            writer.writerow([text, names[label]])
    data = buffer.getvalue().encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path
