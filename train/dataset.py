"""A user's labeled texts as sparse feature ids, in two streamed passes and bounded memory.

Pass 1 reads every record, checks it, gives its label a code, puts it in a split (fit,
validation or test; a seeded random stream, so pass 2 sees the same splits) and counts the
features of the fit and validation texts, never the test texts. Pass 2 vectorizes each split
into CSR form (``indptr``, ``ids``: 4 bytes a feature occurrence) with the largest vocabulary;
smaller candidate vocabularies are selections of its ids. No text is held past its chunk
(except a small sample kept to check the export), and no dense matrix is ever made.
"""

from __future__ import annotations

import collections
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imdb_edge import Vectorizer, Vocabulary
from imdb_edge.io._data import DataError
from imdb_edge.io._progress import Progress
from imdb_edge.io._labeled import LabelCoder, check_text, iter_records, label_name
from imdb_edge._tokenizer import iter_features, tokenize

FIT, VAL, TEST = 0, 1, 2
SPLIT_NAMES = ("fit", "validation", "test")
MIN_PER_CLASS = 50
COUNTER_CAP = 4_000_000     # distinct features held while counting (~0.5 GB of dict)
CHUNK = 4096
SAMPLE = 2000               # validation texts kept to check the exported model


@dataclass
class Source:
    """Where the records come from and how to read them."""

    path: str
    text_column: str = "text"
    label_column: str = "label"
    fmt: str | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"
    classes: tuple[str, str] | None = None

    def records(self):
        for where, text, label in iter_records(
                self.path, text_column=self.text_column, label_column=self.label_column,
                fmt=self.fmt, delimiter=self.delimiter, encoding=self.encoding,
                classes=self.classes):
            yield where, check_text(self.path, where, text), label


class BoundedCounter:
    """Feature counts over a stream, holding at most ``cap`` distinct features: past it, the
    rarest are dropped (lossy counting), so a corpus of any size fits in memory. A feature
    dropped early can come back with a lower count; top-N lists far below the cap are exact
    in practice (the IMDB 400,000 n-gram vocabulary is unaffected at the default cap)."""

    def __init__(self, cap: int = COUNTER_CAP) -> None:
        self.cap = cap
        self.counts: collections.Counter[str] = collections.Counter()
        self.pruned_below = 0

    def add_text(self, text: str, ngram: int) -> None:
        self.counts.update(iter_features(tokenize(text), ngram))

    def prune_if_needed(self) -> None:
        if len(self.counts) <= self.cap:
            return
        values = np.fromiter(self.counts.values(), np.int64, len(self.counts))
        floor = int(np.partition(values, len(values) - self.cap // 2)[len(values) - self.cap // 2])
        self.counts = collections.Counter({k: v for k, v in self.counts.items() if v > floor})
        self.pruned_below = max(self.pruned_below, floor + 1)

    def top(self, size: int, min_count: int) -> list[str]:
        ranked = sorted((item for item in self.counts.items() if item[1] >= min_count),
                        key=lambda item: (-item[1], item[0]))
        return [feature for feature, _ in ranked[:size]]


def _split_codes(seed: int, test_fraction: float, val_fraction: float):
    """An endless stream of split codes, the same for the same arguments."""
    rng = np.random.default_rng(seed)
    while True:
        u = rng.random(CHUNK)
        codes = np.where(u < test_fraction, TEST,
                         np.where(u < test_fraction + val_fraction, VAL, FIT)).astype(np.int8)
        yield from codes.tolist()


@dataclass
class Scan:
    """What pass 1 found."""

    counter: BoundedCounter
    coder: LabelCoder
    n_records: int = 0
    blank: int = 0
    per_split_class: np.ndarray = field(default_factory=lambda: np.zeros((3, 2), np.int64))


def scan(source: Source, *, ngram: int, seed: int, test_fraction: float, val_fraction: float,
         force_split: int | None = None, progress: bool = True) -> Scan:
    """Pass 1 (see the module docstring). ``force_split`` puts every record in one split
    (a separate test file)."""
    counter = BoundedCounter()
    result = Scan(counter, LabelCoder(source.path))
    splits = _split_codes(seed, test_fraction, val_fraction)
    bar = Progress(f"reading {os.path.basename(source.path)}", enabled=progress)
    for n, (where, text, label) in enumerate(source.records(), 1):
        code = result.coder.code(label, where)
        result.n_records = n
        if not text.strip():
            result.blank += 1
            continue
        split = next(splits) if force_split is None else force_split
        result.per_split_class[split, code] += 1
        if split != TEST:
            counter.add_text(text, ngram)
        if n % 1000 == 0:
            counter.prune_if_needed()
            bar.update(n)
    bar.close()
    return result


def check_trainable(scan_: Scan, path) -> None:
    """Refuse data that cannot train a model, saying why."""
    if scan_.n_records == 0:
        raise DataError(f"{path}: no records")
    usable = scan_.per_split_class.sum()
    if usable == 0:
        raise DataError(f"{path}: all {scan_.n_records:,} texts are empty")
    scan_.coder.order()       # raises for one class only
    per_class = scan_.per_split_class[:2].sum(axis=0)
    if per_class.min() < MIN_PER_CLASS:
        counts = ", ".join(f"{name!r}: {per_class[code]:,}"
                           for name, code in scan_.coder.seen.items())
        raise DataError(f"{path}: too few texts to train on ({counts} outside the test split); "
                        f"at least {MIN_PER_CLASS} of each class are needed")
    if scan_.per_split_class[VAL].sum() == 0 or scan_.per_split_class[FIT].sum() == 0:
        raise DataError(f"{path}: the validation split is empty; raise --val-fraction")


@dataclass
class Part:
    """One split as CSR ids (in the ids of the full vocabulary) with labels (codes)."""

    indptr: np.ndarray
    ids: np.ndarray
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)


def vectorize(source: Source, vocab: Vocabulary, *, seed: int, test_fraction: float,
              val_fraction: float, coder: LabelCoder, total: int, force_split: int | None = None,
              progress: bool = True) -> tuple[dict[int, Part], list[str]]:
    """Pass 2: each split as a :class:`Part`, and up to SAMPLE validation texts."""
    vectorizer = Vectorizer(vocab)
    splits = _split_codes(seed, test_fraction, val_fraction)
    pieces = {s: ([], [], []) for s in (FIT, VAL, TEST)}     # indptr diffs, ids, codes
    buffers = {s: ([], []) for s in (FIT, VAL, TEST)}        # texts, codes
    sample: list[str] = []
    bar = Progress("vectorizing", total=total, enabled=progress)

    def flush(split: int) -> None:
        texts, codes = buffers[split]
        if texts:
            indptr, ids = vectorizer.transform_ids(texts)
            pieces[split][0].append(np.diff(indptr))
            pieces[split][1].append(ids)
            pieces[split][2].append(np.array(codes, np.int8))
            texts.clear()
            codes.clear()

    for n, (where, text, label) in enumerate(source.records(), 1):
        code = coder.seen.get(label_name(label))
        if code is None:
            raise DataError(f"{source.path}: {where}: label {label!r} was not there on the "
                            "first read (did the file change?)")
        if not text.strip():
            continue
        split = next(splits) if force_split is None else force_split
        if split == VAL and len(sample) < SAMPLE:
            sample.append(text)
        buffers[split][0].append(text)
        buffers[split][1].append(code)
        if len(buffers[split][0]) == CHUNK:
            flush(split)
        if n % 1000 == 0:
            bar.update(n)
    for split in buffers:
        flush(split)
    bar.close()
    parts = {}
    for split, (lengths, ids, codes) in pieces.items():
        lengths_all = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
        parts[split] = Part(np.concatenate([[0], np.cumsum(lengths_all)]).astype(np.int64),
                            np.concatenate(ids) if ids else np.zeros(0, np.int32),
                            np.concatenate(codes) if codes else np.zeros(0, np.int8))
    return parts, sample


def select(part: Part, remap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``(indptr, ids)`` of ``part`` in a candidate vocabulary: ``remap[old_id]`` is the
    new id, or -1 where the candidate does not have the feature."""
    new = remap[part.ids]
    keep = new >= 0
    rows = np.repeat(np.arange(len(part)), np.diff(part.indptr))[keep]
    counts = np.bincount(rows, minlength=len(part))
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), new[keep].astype(np.int32)


def data_digest(path) -> tuple[str, int]:
    """sha256 and size in bytes of a file, or of a folder's files (relative path and
    content, in sorted order)."""
    path = Path(path)
    digest = hashlib.sha256()
    size = 0
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if file is not path:
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
                size += len(block)
    return digest.hexdigest(), size
