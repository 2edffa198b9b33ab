"""``score``, ``predict`` and ``explain`` with the default model, loaded once per process."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ._forksafe import ForkSafeLock
from ._scorer import Scorer, load

_default: Scorer | None = None
_default_lock = ForkSafeLock()


def _default_scorer() -> Scorer:
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = load()
    return _default


def score(texts: str | Iterable[str]) -> np.ndarray:
    """Probability that each review is positive, with the default model (loaded once).

    The default model is ``$IMDB_EDGE_MODEL`` if set (a preset name or a model folder), else
    the bundled ``"default"``. See :meth:`Scorer.score`.

    Args:
        texts: an iterable of ``str``, or one ``str`` (one review).

    Returns:
        float32 ``(n_texts,)``.

    Raises:
        TypeError: an item is not ``str`` (the message names its index).
        ModelError: the default model cannot be loaded.

    Example:
        >>> import imdb_edge
        >>> p = imdb_edge.score(["This movie was great", "Worst film ever, a total waste"])
        >>> p.dtype, p.astype(float).round(4).tolist()
        (dtype('float32'), [0.8586, 0.0002])
    """
    return _default_scorer().score(texts)


def predict(texts: str | Iterable[str], threshold: float = 0.5, *,
            names: bool = False) -> np.ndarray:
    """Labels with the default model: int8, 1 where the probability is > ``threshold``; with
    ``names=True`` the label names. See :meth:`Scorer.predict`.

    Example:
        >>> import imdb_edge
        >>> imdb_edge.predict(["This movie was great", "Worst film ever"], names=True).tolist()
        ['positive', 'negative']
    """
    return _default_scorer().predict(texts, threshold, names=names)


def explain(text: str, top: int = 10) -> list:
    """The features that move one review's score most, with the default model. See
    :meth:`Scorer.explain`.

    Example:
        >>> import imdb_edge
        >>> [e.feature for e in imdb_edge.explain("A dull film with one great scene", top=2)]
        ['dull', 'dull film']
    """
    return _default_scorer().explain(text, top)
