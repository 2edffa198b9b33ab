"""The tokenizer: the one definition that training and the runtime share.

This pure-Python module *is* the specification (README, "Tokenizer"); the compiled
vectorizer in ``src_ext/_vectorize_c.pyx`` must reproduce it exactly, which the parity
tests check on fuzzed text and on every review of the data set.

Version 1, in order:

1. ``text.lower()`` (Python's full Unicode lowercasing).
2. Every HTML line break ``<br`` + any number of U+0020 spaces + optional ``/`` + ``>`` is
   replaced by a space (after lowercasing, so ``<BR>`` counts too).
3. A token is a maximal run of *word characters* (``str.isalnum()`` per code point:
   letters and digits of any script, so "café", "naïve", "1950s" stay whole), in which an
   apostrophe (U+0027 or U+2019) is kept only *between* two word characters: "don't",
   "rock'n'roll" are one token, "'hello'" and "students'" lose their quotes. U+2019 is
   written as U+0027 in the token. Everything else separates tokens.
4. Features are emitted token by token: at token *i* its unigram, then (``ngram >= 2``) the
   bigram of tokens *i-1, i*, then (``ngram >= 3``) the trigram *i-2..i*; an n-gram is its
   tokens joined by one space. Out-of-vocabulary features are dropped; each feature counts
   once per text (multi-hot), in order of first occurrence.

Text is not Unicode-normalized: a decomposed "cafe\\u0301" gives the tokens "cafe" and
nothing for the combining accent (a mark, not a word character).
"""

from __future__ import annotations

import re
from typing import Mapping

TOKENIZER_VERSION = 1
"""Bumped whenever any rule above changes; stored in every vocabulary and model."""

MAX_NGRAM = 3

_LINE_BREAK = re.compile(r"<br */?>")
# [^\W_] is exactly str.isalnum() per code point (the re docs define \w as isalnum() plus "_").
_TOKEN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
TOKEN_PATTERN = r"[^\W_]+(?:'[^\W_]+)*"
"""A token as written in a vocabulary (after rule 3: the apostrophe is always U+0027)."""


def tokenize(text: str) -> list[str]:
    """Split one text into tokens by tokenizer version 1.

    Args:
        text: any ``str``.

    Returns:
        The tokens, in text order, duplicates kept.
    """
    standardized = _LINE_BREAK.sub(" ", str.lower(text))   # str.lower: a subclass may override it
    return [token.replace("\u2019", "'") for token in _TOKEN.findall(standardized)]


def iter_features(tokens: list[str], ngram: int):
    """Yield the features of a token list in emission order (rule 4), duplicates kept."""
    for i, token in enumerate(tokens):
        yield token
        if ngram >= 2 and i >= 1:
            yield tokens[i - 1] + " " + token
            if ngram >= 3 and i >= 2:
                yield tokens[i - 2] + " " + tokens[i - 1] + " " + token


def feature_ids(text: str, index: Mapping[str, int], ngram: int) -> list[int]:
    """The unique in-vocabulary feature ids of one text, in order of first occurrence."""
    seen: dict[int, None] = {}
    for feature in iter_features(tokenize(text), ngram):
        feature_id = index.get(feature)
        if feature_id is not None:
            seen[feature_id] = None
    return list(seen)
