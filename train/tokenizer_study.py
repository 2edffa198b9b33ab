"""Which tokenizer rule? Validation accuracy of the book's model under candidate rules.

``python -m train.tokenizer_study --data PATH [--seeds 1 2 3]`` prints a markdown table. Only
the training reviews are used (15,000 to fit, 10,000 held out, as in the book); the test set is
not touched. Each candidate gets its own top-10,000 vocabulary.
"""

from __future__ import annotations

import argparse
import collections
import re

import numpy as np

from imdb_edge import tokenize as tokenize_v1

from .pipeline import Config, best_epoch, fit_with_validation, load_data, log

_BR = re.compile(r"<br */?>")
_ASCII = re.compile(r"[a-z0-9']+")
_SPLIT_APOSTROPHE = re.compile(r"[^\W_]+")


def book_regex(text: str) -> list[str]:
    """The NOTES baseline: ASCII [a-z0-9']+ after lowercasing and removing <br />."""
    return _ASCII.findall(_BR.sub(" ", text.lower()))


def unicode_split_apostrophes(text: str) -> list[str]:
    """Unicode word characters; apostrophes always separate ("don't" -> "don", "t")."""
    return _SPLIT_APOSTROPHE.findall(_BR.sub(" ", text.lower()))


CANDIDATES = {
    "v1: Unicode words, inner apostrophes kept (shipped)": tokenize_v1,
    "ASCII [a-z0-9']+ (book-style regex)": book_regex,
    "Unicode words, apostrophes split": unicode_split_apostrophes,
}


def multi_hot(token_lists: list[list[str]], size: int, vocab: list[str] | None = None):
    if vocab is None:
        counts = collections.Counter(t for tokens in token_lists for t in tokens)
        vocab = [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]]
    index = {t: i for i, t in enumerate(vocab)}
    x = np.zeros((len(token_lists), len(vocab)), np.float32)
    for row, tokens in enumerate(token_lists):
        ids = [index[t] for t in tokens if t in index]
        x[row, ids] = 1.0
    return x, vocab


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.tokenizer_study", description=__doc__)
    parser.add_argument("--data")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args(argv)
    splits, _, _ = load_data(args.data)
    train = splits["train"]
    y = train.labels.astype(np.float32)
    rows = []
    for name, tokenize in CANDIDATES.items():
        tokens = [tokenize(t) for t in train.texts]
        x, _ = multi_hot(tokens, 10_000)
        best, at4 = [], []
        for seed in args.seeds:
            history = fit_with_validation(Config(seed=seed, verbose=0), x, y)
            best.append(max(history["val_accuracy"]))
            at4.append(history["val_accuracy"][3])
            log(f"{name} seed {seed}: best {best[-1]:.4f} (epoch {best_epoch(history)}), "
                f"epoch 4 {at4[-1]:.4f}")
        rows.append((name, np.mean(best), np.std(best), np.mean(at4)))
    print(f"\nvalidation accuracy, mean over seeds {args.seeds} (10,000 held-out training reviews)\n")
    print("| rule | best epoch, mean | ± sd | epoch 4, mean |\n|---|---|---|---|")
    for name, mean, sd, four in rows:
        print(f"| {name} | {mean:.4f} | {sd:.4f} | {four:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
