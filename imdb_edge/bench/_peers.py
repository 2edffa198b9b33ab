"""The benchmark's peers that need no TensorFlow: the pure-Python vectorizer, scikit-learn's
CountVectorizer and fastText, each on the same reviews."""


from __future__ import annotations

import os
import random
import tempfile

import numpy as np

from ._measure import _latency, _throughput


# -- peers --------------------------------------------------------------------------------

def peer_python_reference(scorer, texts, args):
    from .._models import resolve_model
    from .._scorer import Scorer

    ref = Scorer(scorer.path, resolve_model(scorer.path)[1], backend="python")
    sample = texts[:max(512, len(texts) // 5)]
    return {"reviews_per_s_b512": _throughput(ref.score, sample, 512, 1, 1),
            "single": _latency(lambda t: ref.score([t]), texts, min(args.calls, 1000), 50),
            "note": "pure-Python reference vectorizer + the same onnxruntime model"}


def peer_sklearn(scorer, texts, args):
    from sklearn.feature_extraction.text import CountVectorizer

    vocab = scorer.vectorizer.vocabulary
    cv = CountVectorizer(binary=True, vocabulary=vocab.features, dtype=np.float32)

    def score(batch):
        csr = cv.transform(batch)
        return scorer._run_ids(csr.indptr.astype(np.int64), csr.indices.astype(np.int32))

    agree = float(np.mean((score(texts[:2000]) > 0.5) == (scorer.score(texts[:2000]) > 0.5)))
    return {"reviews_per_s_b512": _throughput(score, texts, 512, 1, 1),
            "single": _latency(lambda t: score([t]), texts, min(args.calls, 1000), 50),
            "label_agreement_with_imdb_edge": agree,
            "note": "CountVectorizer(binary=True) with its own tokenizer on our vocabulary + "
                    "the same onnxruntime model"}


def peer_fasttext(scorer, texts, args):
    import fasttext

    from ..io._data import read_imdb
    from .._tokenizer import tokenize

    data = read_imdb(args.data)
    lines = [f"__label__{int(label)} {' '.join(tokenize(text))}\n"
             for text, label in zip(data["train"].texts, data["train"].labels)]
    random.Random(0).shuffle(lines)   # the reader is sorted by label; SGD needs them mixed
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.writelines(lines)
        path = f.name
    try:
        model = fasttext.train_supervised(path, epoch=5, lr=0.5, wordNgrams=1, thread=1,
                                          seed=0, verbose=0)
    finally:
        os.unlink(path)
    test = data["test"]
    prepared = [" ".join(tokenize(t)) for t in test.texts]
    labels, _ = model.predict(prepared, k=1)
    accuracy = float(np.mean([lab[0] == f"__label__{int(y)}" for lab, y in zip(labels, test.labels)]))

    def score(batch):   # fastText from raw text: our tokenizer, then predict
        return model.predict([" ".join(tokenize(t)) for t in batch], k=1)

    return {"reviews_per_s_b512": _throughput(score, texts, 512, 1, 1),
            "single": _latency(lambda t: score([t]), texts, min(args.calls, 1000), 50),
            "test_accuracy": accuracy,
            "note": "a different model: fastText supervised (unigrams, 5 epochs) on the same "
                    "training reviews, with our tokenizer in Python"}


def _lexicon_peer(score_one, note):
    def peer(scorer, texts, args):
        sample = texts[:max(512, len(texts) // 20)]     # ~100x slower: a twentieth suffices
        return {"reviews_per_s_b512": _throughput(lambda b: [score_one(t) for t in b],
                                                  sample, 512, 1, 1),
                "single": _latency(score_one, texts, min(args.calls, 300), 20),
                "note": note}
    return peer


def peer_vader(scorer, texts, args):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return _lexicon_peer(lambda t: analyzer.polarity_scores(t)["compound"],
                         "a different model: VADER (rules + lexicon, pure Python), "
                         "polarity_scores per text")(scorer, texts, args)


def peer_textblob(scorer, texts, args):
    from textblob import TextBlob

    return _lexicon_peer(lambda t: TextBlob(t).sentiment.polarity,
                         "a different model: TextBlob's pattern analyzer (lexicon, pure "
                         "Python), .sentiment per text")(scorer, texts, args)


# name -> (label, function(scorer, texts, args) -> figures). The TensorFlow-based peers (Keras,
# LiteRT) live in benchmarks/tf_peers.py, outside the runtime package, and are added by
# benchmarks/latency.py through ``extra_peers``.
PEERS = {
    "python": ("Python vectorizer + ORT", peer_python_reference),
    "sklearn": ("sklearn CountVectorizer + ORT", peer_sklearn),
    "fasttext": ("fastText (other model)", peer_fasttext),
    "vader": ("VADER (other model)", peer_vader),
    "textblob": ("TextBlob (other model)", peer_textblob),
}
