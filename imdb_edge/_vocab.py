"""Vocabulary: the ordered feature list a model was trained on, as a plain text file.

File format (UTF-8, lines separated by ``\\n`` only; optionally gzip-compressed, as
``vocab.txt.gz``, for large n-gram vocabularies)::

    #imdb-edge-vocabulary
    #tokenizer_version=1
    #ngram=1
    #size=10000
    #checksum=sha256:<64 hex digits>
    the
    and
    ...

Line *k* after the header is feature id *k-1*. Features never contain a newline, never
start with ``#`` and contain a space only between the tokens of an n-gram. The file is read
with ``split("\\n")``, never ``splitlines()``: the latter also breaks on characters such as
U+0085 and U+2028, which would shift every id after them.

The checksum covers the tokenizer version, the n-gram order and the features, so a model
that records it can check it was trained on exactly this vocabulary.
"""

from __future__ import annotations

import collections
import functools
import gzip
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable

from ._errors import ModelError
from ._files import MAX_FEATURES, MAX_VOCABULARY_BYTES, gunzip_capped, read_regular_file
from ._tokenizer import (MAX_NGRAM, TOKEN_PATTERN, TOKENIZER_VERSION, TOKENIZER_VERSIONS,
                         WORD_CLASS, iter_features, tokenize)

_MAGIC = "#imdb-edge-vocabulary"
_HEADER_KEYS = ("tokenizer_version", "ngram", "size", "checksum")
# One feature: 1..ngram tokens as the tokenizer writes them (apostrophe U+0027 only), one space
# between them. With "features are lowercase" this is "the tokenizer can produce it".
# Compiled only to name a culprit: each holds the word class (733 ranges) 2n times, and
# compiling all three cost ~150 ms of every process's first load.
@functools.cache
def _feature_pattern(ngram: int) -> re.Pattern:
    return re.compile(rf"{TOKEN_PATTERN}(?: {TOKEN_PATTERN}){{0,{ngram - 1}}}")


_WORD_RUN = re.compile(f"{WORD_CLASS}*")
_SEPARATORS_MISPLACED = ("''", "' ", " '", "'\n", "\n'", "  ", " \n", "\n ", "\n\n")


def invalid_feature(features: list[str], ngram: int) -> tuple[int, str] | None:
    """``(index, reason)`` of the first feature the tokenizer can never produce, or None.

    Such an entry could never match, and two entries differing only by an apostrophe's form
    would be one feature. Checked on the joined features with str methods (~5 ms for
    100,000); the per-feature regex runs only to name the culprit.
    """
    joined = "\n".join(features)
    body = joined.replace(" ", "").replace("\n", "").replace("'", "")
    too_long = (" " in joined if ngram == 1 else
                re.search(" [^\n]*" * ngram, joined) is not None)
    if (joined.lower() == joined and _WORD_RUN.fullmatch(body) and not too_long
            and not any(s in joined for s in _SEPARATORS_MISPLACED)
            and joined[:1] not in ("'", " ", "\n") and joined[-1:] not in ("'", " ", "\n")):
        return None
    pattern = _feature_pattern(ngram)
    for index, feature in enumerate(features):
        if not pattern.fullmatch(feature):
            return index, (f"not {ngram if ngram > 1 else 'one'} token"
                           f"{'s or fewer' if ngram > 1 else ''} as the tokenizer writes them")
        if feature.lower() != feature:
            return index, "not lowercase"
    return len(features) - 1, "not valid"   # unreachable unless the two checks disagree


def vocabulary_checksum(features: list[str], ngram: int, tokenizer_version: int) -> str:
    """``sha256:<hex>`` of the tokenizer version, n-gram order and features."""
    digest = hashlib.sha256()
    digest.update(f"tokenizer_version={tokenizer_version}\nngram={ngram}\n".encode())
    if features:     # each feature's UTF-8 bytes and a newline, hashed in one update
        digest.update("\n".join(features).encode("utf-8"))
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


class Vocabulary:
    """An ordered list of features (tokens or space-joined n-grams); id = position.

    Args:
        features: the features, most frequent first; no duplicates.
        ngram: the longest n-gram the features may hold (1 = words only).
        tokenizer_version: the tokenizer version the features were made with (1 or 2;
            default 1, as in earlier releases).
    """

    def __init__(self, features: list[str], *, ngram: int = 1,
                 tokenizer_version: int = 1, _checked: str | None = None) -> None:
        if not 1 <= ngram <= MAX_NGRAM:
            raise ValueError(f"ngram must be 1..{MAX_NGRAM}. Received: ngram={ngram!r}")
        if tokenizer_version not in TOKENIZER_VERSIONS:
            raise ValueError(
                f"this imdb_edge implements tokenizer versions {TOKENIZER_VERSIONS}. "
                f"Received: tokenizer_version={tokenizer_version!r}")
        self.features = list(features)
        self.ngram = ngram
        self.tokenizer_version = tokenizer_version
        if not _checked:    # from_bytes has checked its features already
            for i, feature in enumerate(self.features):
                if not isinstance(feature, str):
                    raise TypeError(f"features[{i}] is {type(feature).__name__}, expected str")
        bad = None if _checked else invalid_feature(self.features, ngram)
        if bad is not None:
            raise ValueError(f"features[{bad[0]}] = {self.features[bad[0]][:60]!r} is {bad[1]}; "
                             "the tokenizer can never produce it")
        if not _checked and len(set(self.features)) != len(self.features):
            dups = [f for f, n in collections.Counter(self.features).items() if n > 1]
            raise ValueError(f"duplicated features in vocabulary: {dups[:5]!r}")
        # from_bytes passes the checksum it has just verified
        self.checksum = _checked or vocabulary_checksum(self.features, ngram, tokenizer_version)

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """Feature -> id (built on first use: the compiled vectorizer does not need it)."""
        return {feature: i for i, feature in enumerate(self.features)}

    def __len__(self) -> int:
        return len(self.features)

    def __repr__(self) -> str:
        return (f"Vocabulary(size={len(self)}, ngram={self.ngram}, "
                f"tokenizer_version={self.tokenizer_version}, checksum={self.checksum[:19]}…)")

    # -- building ---------------------------------------------------------------------

    @classmethod
    def build(cls, texts: Iterable[str], *, size: int = 10_000, ngram: int = 1,
              min_count: int = 1, tokenizer_version: int = 1) -> "Vocabulary":
        """The ``size`` most frequent features of ``texts``.

        Frequency is the number of occurrences over all texts; ties are broken by the
        feature's code points in ascending order, so the result does not depend on the
        order of the texts.

        Args:
            texts: training texts (``str``).
            size: the most features to keep (fewer if the texts have fewer).
            ngram: 1 for words, 2 for words + bigrams, 3 for + trigrams.
            min_count: drop features seen fewer times than this.
            tokenizer_version: 1 or 2 (see :mod:`imdb_edge._tokenizer`).
        """
        if size < 1:
            raise ValueError(f"size must be >= 1. Received: size={size!r}")
        counts: collections.Counter[str] = collections.Counter()
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
            counts.update(iter_features(tokenize(text, tokenizer_version), ngram))
        ranked = sorted((item for item in counts.items() if item[1] >= min_count),
                        key=lambda item: (-item[1], item[0]))
        return cls([feature for feature, _ in ranked[:size]], ngram=ngram,
                   tokenizer_version=tokenizer_version)

    # -- file I/O ----------------------------------------------------------------------

    def to_text(self) -> str:
        header = [_MAGIC, f"#tokenizer_version={self.tokenizer_version}",
                  f"#ngram={self.ngram}", f"#size={len(self)}", f"#checksum={self.checksum}"]
        return "\n".join(header + self.features) + "\n"

    def save(self, path: str | os.PathLike) -> Path:
        """Write the vocabulary file atomically (temporary file, then rename).

        A name ending in ``.gz`` is gzip-compressed (reproducibly: no timestamp); the text
        inside is the same format.
        """
        path = Path(path)
        data = self.to_text().encode("utf-8")
        if path.suffix == ".gz":
            data = gzip.compress(data, compresslevel=9, mtime=0)
        write_atomic(path, data)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocabulary":
        """Read a vocabulary file; any problem raises :class:`ModelError` naming the file."""
        path = Path(path)
        return cls.from_bytes(read_regular_file(path, MAX_VOCABULARY_BYTES, "vocabulary file"),
                              source=str(path))

    @classmethod
    def from_bytes(cls, raw: bytes, *, source: str = "<bytes>") -> "Vocabulary":
        def fail(problem: str) -> ModelError:
            return ModelError(f"vocabulary file {source}: {problem}")

        if not raw:
            raise fail("file is empty")
        if raw[:2] == b"\x1f\x8b":
            raw = gunzip_capped(raw, MAX_VOCABULARY_BYTES, source)
        elif len(raw) > MAX_VOCABULARY_BYTES:
            raise fail(f"{len(raw):,} bytes; the limit is {MAX_VOCABULARY_BYTES:,}")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise fail(f"not valid UTF-8 (byte {exc.start})") from None
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        if not lines or lines[0] != _MAGIC:
            raise fail(f"not an imdb-edge vocabulary (first line should be {_MAGIC!r})")
        header: dict[str, str] = {}
        for number, line in enumerate(lines[1:1 + len(_HEADER_KEYS)], start=2):
            key, sep, value = line[1:].partition("=")
            if not line.startswith("#") or not sep or key not in _HEADER_KEYS:
                raise fail(f"line {number}: bad header line {line[:60]!r}")
            header[key] = value
        missing = [key for key in _HEADER_KEYS if key not in header]
        if missing:
            raise fail(f"header lacks {', '.join(missing)}")
        try:
            version = int(header["tokenizer_version"])
            ngram = int(header["ngram"])
            size = int(header["size"])
        except ValueError:
            raise fail("header values tokenizer_version, ngram and size must be integers") from None
        if not 1 <= size <= MAX_FEATURES:
            raise fail(f"size={size} is not in 1..{MAX_FEATURES:,}")
        if version not in TOKENIZER_VERSIONS:
            raise fail(f"made with tokenizer version {version}; this imdb_edge implements "
                       f"versions {', '.join(map(str, TOKENIZER_VERSIONS))}")
        if not 1 <= ngram <= MAX_NGRAM:
            raise fail(f"ngram={ngram} is not in 1..{MAX_NGRAM}")
        features = lines[1 + len(_HEADER_KEYS):]
        if not features:
            raise fail("holds no features")
        if len(features) != size:
            raise fail(f"header says size={size} but the file holds {len(features)} features "
                       "(truncated?)")
        first_line = 2 + len(_HEADER_KEYS)
        if not _structure_is_valid(features, ngram):    # the slow loop only to name the line
            _name_bad_structure(features, ngram, first_line, fail)
        checksum = vocabulary_checksum(features, ngram, version)
        if checksum != header["checksum"]:
            raise fail(f"checksum {checksum} does not match the header's {header['checksum']} "
                       "(file edited or corrupt)")
        bad = invalid_feature(features, ngram)
        if bad is not None:
            raise fail(f"line {first_line + bad[0]}: feature {features[bad[0]][:60]!r} is {bad[1]}")
        return cls(features, ngram=ngram, tokenizer_version=version, _checked=checksum)


def _structure_is_valid(features: list[str], ngram: int) -> bool:
    """No empty feature, none starting with ``#``, none with ``ngram`` or more spaces, no CR,
    no duplicate: on the joined features with str methods and a set (~30 ms for 200,000)."""
    joined = "\n".join(features)
    return (all(features) and not joined.startswith("#") and "\n#" not in joined
            and "\r" not in joined
            and re.search("[ ][^\n ]*" * ngram, joined) is None
            and len(set(features)) == len(features))


def _name_bad_structure(features: list[str], ngram: int, first_line: int, fail) -> None:
    """Raise ``fail(...)`` naming the first line :func:`_structure_is_valid` objects to."""
    seen: dict[str, int] = {}
    for offset, feature in enumerate(features):
        if not feature or feature.startswith("#") or feature.count(" ") >= ngram \
                or "\r" in feature:
            raise fail(f"line {first_line + offset}: not a valid feature: {feature[:60]!r}")
        if feature in seen:
            raise fail(f"line {first_line + offset}: feature {feature!r} duplicates line "
                       f"{first_line + seen[feature]}")
        seen[feature] = offset
    raise fail("not a valid vocabulary")   # unreachable unless the two checks disagree


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)   # mkstemp makes 0600; these files are meant to be shared
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
