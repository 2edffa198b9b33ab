"""Differential fuzzer: the compiled vectorizer must equal the Python reference, never crash.

    python fuzz/fuzz_vectorizer.py -max_total_time=60 fuzz/corpus/vectorizer   # (scripts/fuzz.sh)

Each input becomes a few texts (any code points, 1/2/4-byte kinds, line breaks, apostrophes),
an n-gram order and a vocabulary holding most of their features plus near misses (one
character changed, the other apostrophe, other case): a token may match a feature only if it
is that feature. Ids must be identical, and the fused pass that scores each text as it is
walked (``score_linear``, the default preset's path) must equal ``linear_scores`` of the ids
bit for bit; a crash, a hang or a difference is a finding.
"""

import os
import sys

import atheris
import numpy as np

with atheris.instrument_imports():
    from imdb_edge import Vectorizer, Vocabulary
    from imdb_edge._vectorize_c import linear_scores
    from imdb_edge._tokenizer import iter_features, tokenize

PIECES = ["the", "movie", "great", "don't", "’", "'", " ", "<br />", "<BR>", "<br", "café",
          "Σ", "ς", "İ", "ß", "😀", "\x00", "ﬁ", "a" * 9, "b" * 17, "excellent", "\u0301"]


def _texts(fdp: atheris.FuzzedDataProvider) -> list[str]:
    texts = []
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        parts = []
        for _ in range(fdp.ConsumeIntInRange(0, 12)):
            if fdp.ConsumeBool():
                parts.append(PIECES[fdp.ConsumeIntInRange(0, len(PIECES) - 1)])
            else:
                parts.append(fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 24)))
        texts.append("".join(parts))
    return texts


def _near_misses(feature: str) -> list[str]:
    out = [feature[:-1] + chr((ord(feature[-1]) + 1) % 0x10FFFF or 0x61), feature + feature[-1]]
    return [f for f in out if tokenize(f) == f.split(" ")]


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    ngram = fdp.ConsumeIntInRange(1, 3)
    texts = _texts(fdp)
    features: dict[str, None] = {}
    for i, text in enumerate(texts):
        for j, feature in enumerate(iter_features(tokenize(text), ngram)):
            if (i + j) % 3:
                features.setdefault(feature, None)
            for miss in _near_misses(feature):
                features.setdefault(miss, None)
    if not features:
        features["zzz"] = None
    vocabulary = Vocabulary(list(features), ngram=ngram)
    expected = Vectorizer(vocabulary, backend="python").transform_ids(texts)
    got = Vectorizer(vocabulary, backend="cython").transform_ids(texts)
    if expected[0].tolist() != got[0].tolist() or expected[1].tolist() != got[1].tolist():
        raise AssertionError(f"compiled != reference for {texts!r} (ngram={ngram}): "
                             f"{got[1].tolist()} vs {expected[1].tolist()}")
    table = Vectorizer(vocabulary, backend="cython")._table
    size = len(vocabulary)
    weights = ((np.arange(size * 2, dtype=np.int64) * 2654435761) % 2**31 - 2**30)
    weights = weights.astype(np.int32).reshape(size, 2)
    alpha = np.full((4, 2), 2.0**-30, np.float32)
    p, known = table.score_linear(texts, weights, alpha, 0.5)
    two_steps = linear_scores(got[1], got[0], weights, alpha, 0.5)
    if p.tobytes() != two_steps.tobytes() or known.tolist() != np.diff(got[0]).tolist():
        raise AssertionError(f"score_linear != linear_scores of the ids for {texts!r}")


if __name__ == "__main__":
    # libFuzzer re-runs argv[0] for -merge: scripts/fuzz.sh names an executable wrapper here.
    argv = [os.environ.get("IMDB_EDGE_FUZZ_SELF", sys.argv[0])] + sys.argv[1:]
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()
