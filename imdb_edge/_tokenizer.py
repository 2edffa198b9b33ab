"""The tokenizer: the one definition that training and the runtime share.

This pure-Python module *is* the specification (docs/guides/tokenizer.md); the compiled
vectorizer in ``src_ext/_vectorize_c.pyx`` must reproduce it exactly, which the parity
tests check on fuzzed text and on every review of the data set.

Version 1, in order:

1. ``text.lower()`` (Python's full Unicode lowercasing).
2. Every HTML line break ``<br`` + any number of U+0020 spaces + optional ``/`` + ``>`` is
   replaced by a space (after lowercasing, so ``<BR>`` counts too).
3. A token is a maximal run of *word characters* (``str.isalnum()`` per code point as
   Unicode 14.0.0 defines it, whatever the running Python's own Unicode version: letters and
   digits of any script, so "café", "naïve", "1950s" stay whole; the table is
   ``imdb_edge/_unicode_table.py``), in which an
   apostrophe (U+0027 or U+2019) is kept only *between* two word characters: "don't",
   "rock'n'roll" are one token, "'hello'" and "students'" lose their quotes. U+2019 is
   written as U+0027 in the token. Everything else separates tokens.
4. Features are emitted token by token: at token *i* its unigram, then (``ngram >= 2``) the
   bigram of tokens *i-1, i*, then (``ngram >= 3``) the trigram *i-2..i*; an n-gram is its
   tokens joined by one space. Out-of-vocabulary features are dropped; each feature counts
   once per text (multi-hot), in order of first occurrence.

Version 1 does not Unicode-normalize: a decomposed "cafe\\u0301" gives the tokens "cafe" and
nothing for the combining accent (a mark, not a word character).

Version 2 is version 1 applied to ``prepare(text)``, which first, on the raw text:

a. decodes HTML character references with :func:`html.unescape` (HTML5 rules: ``&amp;``,
   ``&#39;``, ``&eacute;``...), once, if the text holds ``&``;
b. replaces each Western emoticon by a word of its family, with a space on each side:
   an emoticon is ``:``, ``;`` or ``=`` (eyes), an optional nose (``-``, ``o``, ``^``, ``'``)
   and a mouth character repeated any number of times, or ``xD``/``XD`` (``D`` repeated),
   ``<3`` (``3`` repeated) or ``</3``; it must start the text or follow white space, and end
   the text or precede white space or one of ``.,!?``. The families (:data:`EMOTICON_WORDS`):
   ``xxsmile`` (mouth ``)]}>3``; with ``;`` eyes ``xxwink``), ``xxlaugh`` (``D``, ``xD``),
   ``xxfrown`` (``([{<``; with a ``'`` nose ``xxcry``), ``xxtongue`` (``Pp``), ``xxskeptical``
   (``/\\S``), ``xxneutral`` (``|``), ``xxsurprise`` (``Oo``), ``xxkiss`` (``*``),
   ``xxheart`` (``<3``), ``xxbrokenheart`` (``</3``). (The ``xx`` prefix follows fastai's
   special tokens; a text that writes the word itself gets the same feature.)
c. puts a text that is not ASCII into Unicode normalization form NFC
   (:func:`unicodedata.normalize`), so that "nai\\u0308ve" and "na\\u00efve" are one word.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Mapping

from ._unicode_table import SPACES, UNICODE_VERSION, WORD_RANGES  # noqa: F401

TOKENIZER_VERSION = 2
"""The newest version; bumped whenever any rule above changes; stored in every vocabulary and
model. Vocabularies of every version in :data:`TOKENIZER_VERSIONS` load and score."""
TOKENIZER_VERSIONS = (1, 2)

MAX_NGRAM = 3

_LINE_BREAK = re.compile(r"<br */?>")
# A word character: str.isalnum() of Unicode 14.0.0, from a pinned table (CPython 3.11, 3.12
# and 3.13 disagree on 5,010 code points; their lowercase mappings agree, which the tests check).
WORD_CLASS = "[" + "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}"
                           for a, b in WORD_RANGES) + "]"
_TOKEN = re.compile(rf"{WORD_CLASS}+(?:['\u2019]{WORD_CLASS}+)*")
TOKEN_PATTERN = rf"{WORD_CLASS}+(?:'{WORD_CLASS}+)*"
"""A token as written in a vocabulary (after rule 3: the apostrophe is always U+0027)."""


_MOUTH_FAMILY = {")": "smile", "]": "smile", "}": "smile", ">": "smile", "3": "smile",
                 "D": "laugh", "(": "frown", "[": "frown", "{": "frown", "<": "frown",
                 "P": "tongue", "p": "tongue", "/": "skeptical", "\\": "skeptical",
                 "S": "skeptical", "|": "neutral", "O": "surprise", "o": "surprise", "*": "kiss"}
EMOTICON_WORDS = tuple(sorted({f"xx{family}" for family in _MOUTH_FAMILY.values()}
                              | {"xxwink", "xxcry", "xxheart", "xxbrokenheart"}))
"""The words emoticons become in tokenizer version 2 (rule b)."""
EMOTICON_EYES = ":;="
EMOTICON_NOSES = "-o^'"
EMOTICON_MOUTHS = "".join(_MOUTH_FAMILY)
_SPACE = "[" + "".join(f"\\U{c:08x}" for c in SPACES) + "]"     # str.isspace(), pinned
_EMOTICON = re.compile(
    rf"(^|{_SPACE})(?:([:;=])([-o^']?)([)\]}}>3D(\[{{<Pp/\\|SOo*])\4*|[xX]D+|(<3)3*|(</3))"
    rf"(?=$|{_SPACE}|[.,!?])")


def _emoticon_word(match: re.Match) -> str:
    if match.group(5):
        word = "heart"
    elif match.group(6):
        word = "brokenheart"
    elif match.group(2) is None:
        word = "laugh"          # xD
    else:
        eyes, nose, mouth = match.group(2), match.group(3), match.group(4)
        word = _MOUTH_FAMILY[mouth]
        if eyes == ";" and word == "smile":
            word = "wink"
        elif nose == "'" and word == "frown":
            word = "cry"
    return f"{match.group(1)} xx{word} "


# A numeric reference past U+10FFFF with so many digits that int() refuses it (over 4,300
# decimal digits raise ValueError): html.unescape decodes any value past U+10FFFF as U+FFFD, so
# writing it as the shortest such reference changes nothing but the crash.
_HUGE_REFERENCE = re.compile(r"&#(?:[xX]0*[0-9a-fA-F]{7,}|0*[0-9]{8,})")


def unescape(text: str) -> str:
    """Rule a: :func:`html.unescape`, without its crash on a numeric reference too long for
    ``int()``."""
    return html.unescape(_HUGE_REFERENCE.sub("&#x110000", text))


def prepare(text: str) -> str:
    """Rules a-c of tokenizer version 2 (HTML references, emoticons, NFC) on one raw text."""
    if type(text) is not str:    # a str subclass's own methods could answer anything
        text = str.__getitem__(text, slice(None))
    if "&" in text:
        text = unescape(text)
    text = _EMOTICON.sub(_emoticon_word, text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text


def tokenize(text: str, version: int = 1) -> list[str]:
    """Split one text into tokens by a tokenizer version (default 1, as in earlier releases).

    Args:
        text: any ``str``.
        version: 1 or 2 (:data:`TOKENIZER_VERSIONS`).

    Returns:
        The tokens, in text order, duplicates kept.
    """
    if version == 2:
        text = prepare(text)
    elif version != 1:
        raise ValueError(f"tokenizer version must be one of {TOKENIZER_VERSIONS}. "
                         f"Received: version={version!r}")
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


def feature_ids(text: str, index: Mapping[str, int], ngram: int,
                version: int = 1) -> list[int]:
    """The unique in-vocabulary feature ids of one text, in order of first occurrence."""
    seen: dict[int, None] = {}
    for feature in iter_features(tokenize(text, version), ngram):
        feature_id = index.get(feature)
        if feature_id is not None:
            seen[feature_id] = None
    return list(seen)
