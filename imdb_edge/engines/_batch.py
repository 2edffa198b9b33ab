"""Engine-neutral batch scoring, shared by the Dask and Spark integrations.

A batch of texts (pandas Series, pyarrow Array or ChunkedArray, numpy array, list) becomes
float32 probabilities, with the model loaded once per process and reused by every batch and
thread there. A missing or non-string text is never scored: :class:`BadRowsError` names the
rows (by id where the caller has one).
"""

from __future__ import annotations

import numpy as np

from .._forksafe import ForkSafeLock

_scorers: dict = {}
_lock = ForkSafeLock()


class BadRowsError(ValueError):
    """Rows without a text (null) or with a non-string one; ``ids`` names them."""

    def __init__(self, ids: list, reasons: list[str], total: int) -> None:
        self.ids = ids
        shown = ", ".join(f"{i!r} ({r})" for i, r in zip(ids[:5], reasons[:5]))
        more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
        super().__init__(f"{len(ids)} of {total} rows have no text to score: {shown}{more}")


def scorer_for(model: str | None = "default", threads: int = 1):
    """The :class:`Scorer` for ``model`` in this process, loaded on first use."""
    from .._scorer import load

    key = (str(model), threads)
    scorer = _scorers.get(key)
    if scorer is None:
        with _lock:
            scorer = _scorers.get(key)
            if scorer is None:
                scorer = _scorers[key] = load(model, threads=threads)
    return scorer


def as_text_list(texts) -> list:
    """The batch as a list (pyarrow and pandas columns converted in one call)."""
    if hasattr(texts, "to_pylist"):          # pyarrow Array / ChunkedArray
        return texts.to_pylist()
    if hasattr(texts, "tolist"):             # pandas Series, numpy array
        return texts.tolist()
    return list(texts)


def check_texts(values: list, ids=None) -> None:
    """Raise :class:`BadRowsError` for every value that is not a ``str``."""
    bad = [i for i, v in enumerate(values) if not isinstance(v, str)]
    if bad:
        id_list = as_text_list(ids) if ids is not None else None
        raise BadRowsError([id_list[i] if id_list is not None else i for i in bad],
                           [_reason(values[i]) for i in bad], len(values))


def _reason(value) -> str:
    if value is None or (isinstance(value, float) and value != value) \
            or type(value).__name__ in ("NAType", "NaTType"):
        return "null"
    return type(value).__name__


def score_batch(texts, *, model: str | None = "default", threads: int = 1,
                ids=None, return_known: bool = False):
    """Probabilities (float32) of a batch of texts; bit-identical to ``load(model).score``.

    Args:
        texts: a pandas Series, pyarrow array, numpy array or list of ``str``.
        model: preset name or model folder (loaded once per process).
        threads: as in :func:`imdb_edge.load`.
        ids: the rows' ids (same length), used to name bad rows.
        return_known: also return each text's known-feature count (int32), as
            ``Scorer.score`` does.

    Raises:
        BadRowsError: a null or non-string text; nothing of the batch is returned.
    """
    values = as_text_list(texts)
    check_texts(values, ids)
    return scorer_for(model, threads).score(values, return_known=return_known)
