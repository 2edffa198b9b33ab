"""``Vectorizer``: tokenizer + vocabulary -> multi-hot input of the model.

All argument checks live here; the backends (``_vectorize_c`` compiled, ``_vectorize_py``
reference) only do the work.
"""

from __future__ import annotations

import os
import sys
import unicodedata
import warnings
from typing import Iterable

import numpy as np

from . import _vectorize_py
from ._models import resolve_vocabulary
from ._tokenizer import prepare, tokenize, unescape as _unescape
from ._vocab import Vocabulary

try:
    from . import _vectorize_c
except ImportError as exc:  # no compiler at install time, or a broken build
    _vectorize_c = None
    _C_IMPORT_ERROR: ImportError | None = exc
else:
    _C_IMPORT_ERROR = None

BACKENDS = ("cython", "python")
PURE_PYTHON_ENV = "IMDB_EDGE_PURE_PYTHON"
_warned_fallback = False


def default_backend() -> str:
    """The backend used when none is asked for: ``"cython"`` unless unavailable or
    ``IMDB_EDGE_PURE_PYTHON=1`` is set."""
    global _warned_fallback
    if os.environ.get(PURE_PYTHON_ENV) == "1":
        return "python"
    if _vectorize_c is None:
        if not _warned_fallback:
            _warned_fallback = True
            warnings.warn(
                "imdb_edge: the compiled vectorizer is not available "
                f"({_C_IMPORT_ERROR}); using the pure-Python one, about 25x slower. "
                + fallback_advice(), RuntimeWarning, stacklevel=_caller_stacklevel())
        return "python"
    return "cython"


def fallback_advice(package: str | None = None) -> str:
    """What to do about a missing compiled vectorizer (``package``: this package's folder).
    Python run from a checkout's root imports the source tree (no extension built there),
    not the installed package."""
    package = package or os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(package)
    if os.path.isdir(os.path.join(root, "src_ext")) and \
            os.path.isfile(os.path.join(root, "pyproject.toml")):
        return (f"This imdb_edge is the source tree at {package} (Python puts the current "
                "directory first on its path), not an installed package: run from another "
                "directory, or build it in place with 'python setup.py build_ext --inplace'.")
    return "Reinstall with a C compiler and Python headers to build it."


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside imdb_edge, so the
    user sees their own line, not one of ours."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _resolve_backend(backend: str | None) -> str:
    if backend is None:
        return default_backend()
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS} or None. Received: backend={backend!r}")
    if backend == "cython" and _vectorize_c is None:
        raise ImportError(f"the compiled vectorizer is not available: {_C_IMPORT_ERROR}")
    return backend


def as_text_list(texts: Iterable[str]) -> list:
    """``texts`` as a list, rejecting the two classic mistakes (a bare str, None)."""
    if type(texts) is list:      # exactly list: the compiled path takes nothing else
        return texts
    if isinstance(texts, (str, bytes, bytearray)):
        raise TypeError(
            f"texts must be an iterable of str, not a single {type(texts).__name__}; "
            "wrap one text in a list: [text]")
    if texts is None:
        raise TypeError("texts must be an iterable of str. Received: texts=None")
    try:
        return list(texts)
    except TypeError:
        raise TypeError(
            f"texts must be an iterable of str. Received: {type(texts).__name__}") from None


def multi_hot(n_texts: int, size: int, rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """float32 ``(n_texts, size)`` with a 1 at each ``(rows[k], ids[k])``; ``rows`` may be
    ``(nnz,)`` or ``(nnz, 1)``."""
    out = np.zeros((n_texts, size), dtype=np.float32)
    out[rows.reshape(-1), ids] = 1.0
    return out


def prepare_texts(texts: list) -> list:
    """Tokenizer version 2's rules a-c (:func:`imdb_edge._tokenizer.prepare`) on every text
    they can change; other items (non-``str`` ones included) are left for the walk to judge.
    The compiled scan finds those texts without a Python call per text."""
    if _vectorize_c is not None:
        todo = _vectorize_c.may_need_preparing(texts)
    else:
        todo = [i for i, text in enumerate(texts) if isinstance(text, str)]
    if not todo:
        return texts
    texts = list(texts)
    fast = _prepare_compiled if _vectorize_c is not None else prepare
    for i in todo:
        texts[i] = fast(texts[i])
    return texts


def _prepare_compiled(text: str) -> str:
    """:func:`imdb_edge._tokenizer.prepare` with rule b done by the extension (its regex
    costs ~70 µs a review); equal to it, which the tests check."""
    if type(text) is not str:
        text = str.__getitem__(text, slice(None))
    if "&" in text:
        text = _unescape(text)
    text = _vectorize_c.replace_emoticons(text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text


class _PreparedTable:
    """A version-1 table behind tokenizer version 2's rules a-c: version 2 is version 1 on
    ``prepare(text)``."""

    def __init__(self, table) -> None:
        self._table = table
        self.size, self.ngram = table.size, table.ngram

    def transform_ids(self, texts, with_rows: bool = False):
        if not isinstance(texts, list):
            raise TypeError(f"texts must be a list. Received: {type(texts).__name__}")
        return self._table.transform_ids(prepare_texts(texts), with_rows)

    def score_linear(self, texts, weights, alpha, bias):
        if not isinstance(texts, list):
            raise TypeError(f"texts must be a list. Received: {type(texts).__name__}")
        return self._table.score_linear(prepare_texts(texts), weights, alpha, bias)


class Vectorizer:
    """Raw text -> the model's multi-hot input, with the shared tokenizer.

    Args:
        vocabulary: the features and their ids.
        backend: ``"cython"``, ``"python"`` (the reference), or None for the fastest available.

    Thread safety: one Vectorizer may be used from many threads at once; the compiled path
    releases the GIL while it tokenizes.
    """

    def __init__(self, vocabulary: Vocabulary, *, backend: str | None = None) -> None:
        self.vocabulary = vocabulary
        self.backend = _resolve_backend(backend)
        module = _vectorize_c if self.backend == "cython" else _vectorize_py
        self._table = module.FeatureTable(vocabulary.features, vocabulary.ngram)
        if vocabulary.tokenizer_version == 2:
            self._table = _PreparedTable(self._table)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, *,
             backend: str | None = None) -> "Vectorizer":
        """A vectorizer from a vocabulary file.

        Args:
            path: a vocabulary file, a model folder holding ``vocab.txt``, or a bundled preset
                name (``"default"``); None is the bundled default.
            backend: as in the constructor.

        Raises:
            ModelError: the file is missing, empty, corrupt, or of another tokenizer version.
        """
        return cls(Vocabulary.load(resolve_vocabulary(path)), backend=backend)

    def __reduce__(self):
        # The compiled table does not pickle; the vocabulary and the backend do.
        return _restore_vectorizer, (self.vocabulary, self.backend)

    @property
    def size(self) -> int:
        """Number of features V (the width of :meth:`transform`)."""
        return len(self.vocabulary)

    def __repr__(self) -> str:
        return f"Vectorizer({self.vocabulary!r}, backend={self.backend!r})"

    def transform_ids(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Unique in-vocabulary feature ids of each text (CSR layout without values).

        Args:
            texts: an iterable of ``str`` (a list, tuple, generator...).

        Returns:
            ``(indptr, ids)``: int64 ``(n_texts + 1,)`` and int32 ``(nnz,)``; the ids of
            text ``i``, in order of first occurrence, are ``ids[indptr[i]:indptr[i + 1]]``.

        Raises:
            TypeError: ``texts`` is a bare ``str``/``None``, or an item is not a ``str``
                (the message names its index and type).
        """
        return self._table.transform_ids(as_text_list(texts))

    def transform(self, texts: Iterable[str]) -> np.ndarray:
        """Dense multi-hot matrix, float32 ``(n_texts, V)`` (40 KB a text for V = 10,000)."""
        indptr, ids, rows = self._table.transform_ids(as_text_list(texts), True)
        return multi_hot(len(indptr) - 1, self.size, rows, ids)

    def tokenize(self, text: str) -> list[str]:
        """The tokens of one text (the reference tokenizer of this vocabulary's tokenizer
        version), duplicates kept."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str. Received: {type(text).__name__}")
        return tokenize(text, self.vocabulary.tokenizer_version)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Feature ids back to their words (or space-joined n-grams).

        Raises:
            TypeError: an id is not an integer (a float such as 1.5, a bool, a str).
            IndexError: an id is outside ``0..V-1``.
        """
        features = self.vocabulary.features
        out = []
        for feature_id in ids:
            if isinstance(feature_id, (bool, np.bool_)) or not isinstance(
                    feature_id, (int, np.integer)):
                raise TypeError(f"feature ids must be integers. Received: {feature_id!r} "
                                f"({type(feature_id).__name__})")
            feature_id = int(feature_id)
            if not 0 <= feature_id < len(features):
                raise IndexError(f"feature id {feature_id} is outside 0..{len(features) - 1}")
            out.append(features[feature_id])
        return out


def _restore_vectorizer(vocabulary: Vocabulary, backend: str) -> Vectorizer:
    return Vectorizer(vocabulary, backend=backend)


__all__ = ["Vectorizer", "BACKENDS", "default_backend", "as_text_list", "multi_hot"]
