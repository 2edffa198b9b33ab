"""A user's labeled texts as sparse feature ids, in two streamed passes and bounded memory.

Pass 1 reads every record, checks it, gives its label a code, puts it in a split (fit,
validation or test) and counts the features of the fit and validation texts, never the test
texts. The split of a text is a seeded hash of its tokens (the tokenizer's normalisation), so
texts that differ only in case, punctuation or spacing - and exact duplicates - always land in
the same split: a duplicate cannot sit in both the fit and the validation split and inflate the
figures. Pass 1 also counts what a model cannot learn from (texts without any token, text
that is not space-separated) and keeps an 8-byte digest of each text, to count duplicates and
test texts that also occur in the training data.

Pass 2 vectorizes each split into CSR form (``indptr``, ``ids``: 4 bytes a feature occurrence)
with the largest vocabulary; smaller candidate vocabularies are selections of its ids. No
text is held past its chunk (except a small sample kept to check the export), and no dense
matrix is ever made.
"""

from __future__ import annotations

import array
import collections
import hashlib
import os
import re
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
SPACING_MIN_CHARS = 10      # texts with fewer word characters are not judged for spacing
LONG_TOKENS = 12.0          # mean token length (characters) past which text looks unspaced:
                            # English ~4.5, German ~6, Finnish ~7.5
# Scripts written without spaces between words: Thai, Lao, Tibetan, Myanmar, Khmer, kana,
# CJK ideographs (Korean hangul is written with spaces, so it is not here).
_UNSPACED_SCRIPTS = re.compile(
    "[\u0e00-\u0fff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]")


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
    csv_quoting: bool = False

    def records(self):
        for where, text, label in iter_records(
                self.path, text_column=self.text_column, label_column=self.label_column,
                fmt=self.fmt, delimiter=self.delimiter, encoding=self.encoding,
                classes=self.classes, csv_quoting=self.csv_quoting):
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
        self.add_tokens(tokenize(text), ngram)

    def add_tokens(self, tokens: list[str], ngram: int) -> None:
        self.counts.update(iter_features(tokens, ngram))

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


def text_digest(key: str, seed: int) -> int:
    """A seeded 64-bit digest of ``key``: a text's tokens joined by spaces (the tokenizer's
    normalisation)."""
    data = key.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, salt=_salt(seed)).digest(),
                          "little")


def _salt(seed: int) -> bytes:
    return hashlib.blake2b(str(seed).encode(), digest_size=16).digest()


def split_of(digest: int, test_fraction: float, val_fraction: float) -> int:
    """The split of a text from its digest: same text, same split, for the same seed."""
    u = digest / 2.0 ** 64
    return TEST if u < test_fraction else VAL if u < test_fraction + val_fraction else FIT


def looks_unspaced(tokens: list[str]) -> bool | None:
    """Whether a text's tokens look like text written without spaces between words (each
    token a clause): most word characters in scripts written without spaces, or a mean token
    length past :data:`LONG_TOKENS`. None when the text is too short to tell."""
    chars = sum(map(len, tokens))
    if chars < SPACING_MIN_CHARS:
        return None
    if chars / len(tokens) > LONG_TOKENS:
        return True
    joined = "".join(tokens)
    if joined.isascii():
        return False
    return len(_UNSPACED_SCRIPTS.findall(joined)) * 2 > chars


@dataclass
class Scan:
    """What pass 1 found.

    ``splits`` holds each record's split (-1: blank text, not used), in record order;
    ``digests`` the :func:`text_digest` of each used text with a token, ``keyed`` (one per
    used text) whether it has one. A text without a token is split at random (by its record
    number): its features are the same as every other's - none - so it cannot leak, and
    thousands of copies of one emoji would otherwise all land in one split.
    """

    counter: BoundedCounter
    coder: LabelCoder
    n_records: int = 0
    blank: int = 0
    tokenless: int = 0
    spacing_judged: int = 0
    unspaced: int = 0
    per_split_class: np.ndarray = field(default_factory=lambda: np.zeros((3, 2), np.int64))
    splits: array.array = field(default_factory=lambda: array.array("b"))
    digests: array.array = field(default_factory=lambda: array.array("Q"))
    keyed: array.array = field(default_factory=lambda: array.array("b"))

    def _used(self) -> tuple[np.ndarray, np.ndarray]:
        """The split of each used text, and whether it has a token."""
        splits = np.frombuffer(self.splits, np.int8) if len(self.splits) else np.zeros(0, np.int8)
        keyed = np.frombuffer(self.keyed, np.int8).astype(bool) if len(self.keyed) else \
            np.zeros(0, bool)
        return splits[splits >= 0], keyed

    def digests_of(self, *wanted: int) -> np.ndarray:
        """Digests of the used texts with tokens in the ``wanted`` splits, uint64."""
        used, keyed = self._used()
        digests = np.frombuffer(self.digests, np.uint64) if len(self.digests) else \
            np.zeros(0, np.uint64)
        return digests[np.isin(used[keyed], wanted)]

    def seen_in(self, split: int, digests: np.ndarray) -> np.ndarray:
        """For each used text of ``split``, in order, whether ``digests`` has it too (a text
        without a token never counts)."""
        used, keyed = self._used()
        seen = np.zeros(int(np.sum(used == split)), bool)
        seen[keyed[used == split]] = np.isin(self.digests_of(split), digests)
        return seen

    def duplicates(self, *wanted: int) -> int:
        """Used texts with tokens in the ``wanted`` splits whose normalised text occurred
        before."""
        digests = self.digests_of(*wanted)
        return int(len(digests) - len(np.unique(digests)))


def scan(source: Source, *, ngram: int, seed: int, test_fraction: float, val_fraction: float,
         force_split: int | None = None, progress: bool = True) -> Scan:
    """Pass 1 (see the module docstring). ``force_split`` puts every record in one split
    (a separate test file)."""
    counter = BoundedCounter()
    result = Scan(counter, LabelCoder(source.path))
    bar = Progress(f"reading {os.path.basename(source.path)}", enabled=progress)
    for n, (where, text, label) in enumerate(source.records(), 1):
        code = result.coder.code(label, where)
        result.n_records = n
        if not text.strip():
            result.blank += 1
            result.splits.append(-1)
            continue
        tokens = tokenize(text)
        if not tokens:
            result.tokenless += 1
            digest = text_digest(f"\0record {n}", seed)
        else:
            unspaced = looks_unspaced(tokens)
            if unspaced is not None:
                result.spacing_judged += 1
                result.unspaced += unspaced
            digest = text_digest(" ".join(tokens), seed)
            result.digests.append(digest)
        result.keyed.append(bool(tokens))
        split = split_of(digest, test_fraction, val_fraction) if force_split is None \
            else force_split
        result.splits.append(split)
        result.per_split_class[split, code] += 1
        if split != TEST:
            counter.add_tokens(tokens, ngram)
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


def vectorize(source: Source, vocab: Vocabulary, *, found: Scan,
              progress: bool = True) -> tuple[dict[int, Part], list[str]]:
    """Pass 2: each split (as pass 1 ``found`` them) as a :class:`Part`, and up to SAMPLE
    validation texts."""
    vectorizer = Vectorizer(vocab)
    coder, total = found.coder, found.n_records
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

    changed = f"{source.path}: the file changed between the two reads; train on a copy"
    n_read = 0
    for n, (where, text, label) in enumerate(source.records(), 1):
        n_read = n
        code = coder.seen.get(label_name(label))
        if code is None:
            raise DataError(f"{source.path}: {where}: label {label!r} was not there on the "
                            "first read (did the file change?)")
        if n > total:
            raise DataError(changed)
        split = found.splits[n - 1]
        if (split < 0) != (not text.strip()):
            raise DataError(f"{changed} ({where})")
        if split < 0:
            continue
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
    if n_read != total:
        raise DataError(changed)
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
