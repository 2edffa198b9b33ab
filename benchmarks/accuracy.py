"""Accuracy beside the peers, in one run: every bundled preset and the tools people use for
this, on the IMDB test reviews and on each human-rated short-text set.

    python benchmarks/accuracy.py --data ../shared/data/aclImdb_v1.tar.gz \
        --short-texts ../shared/data/short-texts --out runs/accuracy [--quick]

For each model and set: accuracy, ROC AUC, expected calibration error (10 equal-width bins, as
``imdb-edge evaluate``) and texts per second (one core, batches of 512 where the tool takes
batches). Peers:

- ``vader``: vaderSentiment's ``polarity_scores``; positive when ``compound > 0``; its
  "probability" for AUC and ECE is ``(compound + 1) / 2`` (a score, not a probability).
- ``textblob``: TextBlob's pattern analyzer; positive when ``polarity > 0``; ``(polarity + 1)
  / 2`` as above.
- ``nblr``: scikit-learn NB-weighted logistic regression (CountVectorizer binary uni+bigrams,
  200,000 features, naive-Bayes log-count ratios, LogisticRegression C=1), trained here on the
  25,000 IMDB training reviews.
- ``fasttext``: fastText supervised (unigrams and bigrams, 5 epochs), trained here on the same
  reviews with this package's tokenizer.

Short-text sets (``tweets``, ``nyt``, ``amazon`` from the VADER paper): texts with
``|mean rating| >= 0.5``, positive when the mean is > 0. They are only read here, for reporting:
no model of this package trains or chooses settings on them. VADER's lexicon was tuned on the
tweets, so its tweet figure is optimistic. Writes ``accuracy.json`` and ``accuracy.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from imdb_edge import load, presets
from imdb_edge._metrics import reliability, roc_auc
from imdb_edge._tokenizer import tokenize
from imdb_edge.io._data import read_imdb

SHORT_SETS = {"tweets": "tweets_GroundTruth.txt", "nyt": "nytEditorialSnippets_GroundTruth.txt",
              "amazon": "amazonReviewSnippets_GroundTruth.txt"}
PEERS = ("vader", "textblob", "nblr", "fasttext")


def read_short(path: Path) -> tuple[list[str], np.ndarray]:
    """``ID TAB mean TAB text`` lines; texts with |mean| >= 0.5, labelled by the mean's sign."""
    texts, labels = [], []
    raw = path.read_bytes().decode("utf-8")
    for number, line in enumerate(raw.replace("\r\n", "\n").split("\n"), start=1):
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        if len(parts) != 3:
            raise SystemExit(f"{path}: line {number}: expected ID, rating and text separated "
                             "by tabs")
        mean = float(parts[1])
        if abs(mean) >= 0.5:
            texts.append(parts[2])
            labels.append(int(mean > 0))
    return texts, np.array(labels, np.int64)


def _figures(y: np.ndarray, p: np.ndarray, seconds: float) -> dict:
    p = np.clip(np.asarray(p, np.float64), 0.0, 1.0)
    return {"n": int(len(y)), "accuracy": round(float(np.mean((p > 0.5) == y)), 4),
            "roc_auc": round(roc_auc(y, p), 4), "ece": round(reliability(y, p)["ece"], 4),
            "texts_per_s": round(len(y) / seconds) if seconds > 0 else None}


def _timed(score, texts: list[str]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    p = score(texts)
    return np.asarray(p, np.float64), time.perf_counter() - start


def _batched(function, size: int = 512):
    def score(texts):
        return np.concatenate([function(texts[i:i + size]) for i in range(0, len(texts), size)])
    return score


def peer_vader(train):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return lambda texts: np.array([(analyzer.polarity_scores(t)["compound"] + 1) / 2
                                   for t in texts])


def peer_textblob(train):
    from textblob import TextBlob

    return lambda texts: np.array([(TextBlob(t).sentiment.polarity + 1) / 2 for t in texts])


def peer_nblr(train):
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = CountVectorizer(binary=True, ngram_range=(1, 2), max_features=200_000,
                                 dtype=np.float32)
    x = vectorizer.fit_transform(train.texts)
    y = train.labels.astype(np.int64)
    p = 1.0 + np.asarray(x[y == 1].sum(0)).ravel()
    q = 1.0 + np.asarray(x[y == 0].sum(0)).ravel()
    r = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x.multiply(r).tocsr(), y)
    return _batched(lambda texts: model.predict_proba(
        vectorizer.transform(texts).multiply(r).tocsr())[:, 1])


def peer_fasttext(train):
    import fasttext

    lines = [f"__label__{int(label)} {' '.join(tokenize(text))}\n"
             for text, label in zip(train.texts, train.labels)]
    random.Random(0).shuffle(lines)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.writelines(lines)
        path = f.name
    try:
        model = fasttext.train_supervised(path, epoch=5, lr=0.5, wordNgrams=2, thread=1, seed=0,
                                          verbose=0)
    finally:
        os.unlink(path)

    def score(texts):
        labels, probs = model.predict([" ".join(tokenize(t)) for t in texts], k=2)
        return np.array([pr[list(lab).index("__label__1")] if "__label__1" in lab else 0.0
                         for lab, pr in zip(labels, probs)])
    return _batched(score)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/accuracy.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="aclImdb_v1.tar.gz or its folder")
    parser.add_argument("--short-texts", help="folder of the *_GroundTruth.txt sets "
                        "(default: none; IMDB only)")
    parser.add_argument("--models", default=",".join(presets()),
                        help="comma-separated presets or model folders (default: %(default)s)")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"comma-separated peers, of {', '.join(PEERS)} (default: all); "
                        "'' for none")
    parser.add_argument("--quick", action="store_true",
                        help="2,000 IMDB test reviews (seeded sample) instead of 25,000")
    parser.add_argument("--out", default="runs/accuracy", help="folder for accuracy.json/.md")
    args = parser.parse_args(argv)
    peers = [p for p in args.peers.split(",") if p]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        parser.error(f"--peers: unknown {', '.join(unknown)} (known: {', '.join(PEERS)})")

    data = read_imdb(args.data)
    test = data["test"]
    texts, labels = test.texts, test.labels.astype(np.int64)
    if args.quick:
        pick = np.sort(np.random.default_rng(0).permutation(len(texts))[:2000])
        texts, labels = [texts[i] for i in pick], labels[pick]
    sets = {"imdb_test": (texts, labels)}
    if args.short_texts:
        for name, file in SHORT_SETS.items():
            sets[name] = read_short(Path(args.short_texts) / file)

    results: dict[str, dict] = {}
    for name in [m for m in args.models.split(",") if m]:
        scorer = load(name)
        score = _batched(scorer.score)
        score(texts[:512])                      # warm-up
        results[name] = {s: _figures(y, *_timed(score, t)) for s, (t, y) in sets.items()}
        print(f"{name}: {json.dumps(results[name])}", file=sys.stderr)
    for peer in peers:
        start = time.perf_counter()
        score = globals()[f"peer_{peer}"](data["train"])
        trained = time.perf_counter() - start
        results[peer] = {s: _figures(y, *_timed(score, t)) for s, (t, y) in sets.items()}
        results[peer]["setup_seconds"] = round(trained, 1)
        print(f"{peer}: {json.dumps(results[peer])}", file=sys.stderr)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"command": " ".join(["python", "benchmarks/accuracy.py", *(argv or sys.argv[1:])]),
            "quick": args.quick, "sets": {s: len(y) for s, (_, y) in sets.items()}}
    (out / "accuracy.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    table = markdown(results, list(sets))
    (out / "accuracy.md").write_text(table)
    print(table)
    return 0


def markdown(results: dict, sets: list[str]) -> str:
    """One table: accuracy / ROC AUC / ECE per set, and texts/s on the IMDB reviews."""
    head = "| model | " + " | ".join(f"{s} acc / AUC / ECE" for s in sets) + " | IMDB texts/s |"
    rule = "|---" * (len(sets) + 2) + "|"
    rows = [head, rule]
    for name, by_set in results.items():
        cells = [f"{by_set[s]['accuracy']:.3f} / {by_set[s]['roc_auc']:.3f} / "
                 f"{by_set[s]['ece']:.3f}" for s in sets]
        rows.append(f"| {name} | " + " | ".join(cells) +
                    f" | {by_set['imdb_test']['texts_per_s']:,} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
