"""The "accurate" preset: naive-Bayes-scaled logistic regression over word n-grams.

Wang & Manning (2012) "NBSVM", in its logistic-regression form: binary unigram+bigram features
``x``, scaled by the naive-Bayes log-count ratios ``r`` of the training reviews, into one
sigmoid unit with L2 regularization on its weights ``w``. Trained with Keras on sparse input.
At export the scaling is folded into the weights (``w * r``), so the shipped model is a sparse
sum plus a bias and a sigmoid: the same ids-form graph and runtime path as the default preset.

Vocabulary size, L2 strength and epochs are chosen on a validation split of the training
reviews (the naive-Bayes ratios are computed on the fitting part only); the test reviews are
used once, for the final figure.

    python -m train.accurate --data ../shared/data/aclImdb_v1.tar.gz --out runs/accurate [--bundle]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imdb_edge import Vectorizer, Vocabulary

from .pipeline import (check_run_folder, load_data, log, seed_everything, versions,
                       write_json)


@dataclass
class AccurateConfig:
    data: str | None = None
    out: str = "runs/accurate"
    seed: int = 42
    ngram: int = 2
    vocab_sizes: list[int] = field(default_factory=lambda: [100_000, 200_000, 400_000])
    l2: list[float] = field(default_factory=lambda: [1e-6, 1e-5])
    max_epochs: int = 15
    batch_size: int = 256
    learning_rate: float = 1e-3
    alpha: float = 1.0           # naive-Bayes smoothing
    val_size: int = 5_000
    min_count: int = 2
    size_tolerance: float = 0.001
    verbose: int = 0


def nb_ratios(indptr: np.ndarray, ids: np.ndarray, labels: np.ndarray, size: int,
              alpha: float) -> np.ndarray:
    """Naive-Bayes log-count ratios r, float32 ``(size,)``, from binary features."""
    rows = np.repeat(np.arange(len(labels)), np.diff(indptr))
    positive = labels[rows] == 1
    p = alpha + np.bincount(ids[positive], minlength=size)[:size]
    q = alpha + np.bincount(ids[~positive], minlength=size)[:size]
    return np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)


def scaled_matrix(indptr, ids, size: int, r: np.ndarray | None = None):
    """CSR matrix of ``r``-scaled (``r`` None: binary) features, keeping ids below ``size``;
    built straight from the ids, without a COO copy."""
    import scipy.sparse as sp

    keep = ids < size
    if not keep.all():
        indptr = np.concatenate([[0], np.cumsum(keep)])[indptr]
        ids = ids[keep]
    values = r[ids] if r is not None else np.ones(len(ids), np.float32)
    matrix = sp.csr_matrix((values.astype(np.float32, copy=False), ids, indptr),
                           shape=(len(indptr) - 1, size))
    matrix.sort_indices()
    return matrix


def build_linear(size: int, l2: float, learning_rate: float,
                 kernel_initializer: str = "glorot_uniform"):
    """A compiled Keras logistic regression on ``size`` sparse inputs (Adam, binary
    cross-entropy, accuracy), its single Dense layer last."""
    import keras

    model = keras.Sequential([
        keras.Input(shape=(size,), sparse=True, name="scaled_ngrams"),
        keras.layers.Dense(1, activation="sigmoid", kernel_initializer=kernel_initializer,
                           kernel_regularizer=keras.regularizers.l2(l2) if l2 else None),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _fit(cfg, size, l2, x, y, epochs, validation=None):
    seed_everything(cfg.seed)
    model = build_linear(size, l2, cfg.learning_rate)
    history = model.fit(x, y, epochs=epochs, batch_size=cfg.batch_size, shuffle=True,
                        validation_data=validation, verbose=cfg.verbose)
    return model, history.history


def train_accurate(cfg: AccurateConfig, *, export: bool = True) -> dict:
    out = Path(cfg.out)
    check_run_folder(out, "python -m train.accurate",
                     marker_keys=("vocab_sizes", "l2", "max_epochs"))
    splits, data_path, data_sha = load_data(cfg.data)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", dataclasses.asdict(cfg))
    train, test = splits["train"], splits["test"]
    y_train = train.labels.astype(np.int64)

    largest = max(cfg.vocab_sizes)
    log(f"counting {cfg.ngram}-grams of the training reviews")
    full = Vocabulary.build(train.texts, size=largest, ngram=cfg.ngram, min_count=cfg.min_count)
    log(f"vocabulary: {len(full)} features (the top N of it serve every smaller size)")
    vec = Vectorizer(full)
    tr_indptr, tr_ids = vec.transform_ids(train.texts)

    # Validation split: ratios from the fitting part only.
    order = np.random.default_rng(cfg.seed).permutation(len(y_train))
    val, fit = np.sort(order[:cfg.val_size]), np.sort(order[cfg.val_size:])

    def subset(rows):
        starts, ends = tr_indptr[rows], tr_indptr[rows + 1]
        ids = np.concatenate([tr_ids[s:e] for s, e in zip(starts, ends)])
        return np.concatenate([[0], np.cumsum(ends - starts)]), ids

    fit_csr, val_csr = subset(fit), subset(val)
    grid = []
    for size, l2 in itertools.product(sorted(s for s in cfg.vocab_sizes if s <= len(full))
                                      or [len(full)], cfg.l2):
        r = nb_ratios(*fit_csr, y_train[fit], size, cfg.alpha)
        x_fit = scaled_matrix(*fit_csr, size, r)
        x_val = scaled_matrix(*val_csr, size, r)
        _, history = _fit(cfg, size, l2, x_fit, y_train[fit].astype(np.float32), cfg.max_epochs,
                          (x_val, y_train[val].astype(np.float32)))
        best = int(np.argmax(history["val_accuracy"]))
        grid.append({"vocab_size": size, "l2": l2, "best_epoch": best + 1,
                     "val_accuracy": round(float(history["val_accuracy"][best]), 4),
                     "val_accuracy_by_epoch": [round(float(v), 4) for v in history["val_accuracy"]]})
        log(f"size {size} l2 {l2:g}: best val {grid[-1]['val_accuracy']} at epoch {best + 1}")
    # The smallest vocabulary within `size_tolerance` of the best validation accuracy: a larger
    # table costs speed on the device (cache misses) for a difference the 5,000 validation
    # reviews cannot resolve (one review is 0.0002).
    best_val = max(g["val_accuracy"] for g in grid)
    chosen = max((g for g in grid if g["val_accuracy"] >= best_val - cfg.size_tolerance),
                 key=lambda g: (-g["vocab_size"], g["val_accuracy"]))
    size, l2, epochs = chosen["vocab_size"], chosen["l2"], chosen["best_epoch"]
    log(f"chosen on validation: vocab {size}, l2 {l2:g}, {epochs} epochs")

    vocab = Vocabulary(full.features[:size], ngram=cfg.ngram)
    r = nb_ratios(tr_indptr, tr_ids, y_train, size, cfg.alpha)
    model, _ = _fit(cfg, size, l2, scaled_matrix(tr_indptr, tr_ids, size, r),
                    y_train.astype(np.float32), epochs)
    te_indptr, te_ids = Vectorizer(vocab).transform_ids(test.texts)
    x_test = scaled_matrix(te_indptr, te_ids, size, r)
    test_loss, test_accuracy = model.evaluate(x_test, test.labels.astype(np.float32),
                                              batch_size=2048, verbose=0)
    probabilities = model.predict(x_test, batch_size=2048, verbose=0).reshape(-1)
    log(f"test loss {test_loss:.4f}, test accuracy {test_accuracy:.4f}")
    metrics = {"test_loss": float(test_loss), "test_accuracy": float(test_accuracy),
               "chosen": {"vocab_size": size, "l2": l2, "epochs": epochs, "ngram": cfg.ngram},
               "validation_grid": grid, "data": str(data_path), "data_sha256": data_sha,
               "vocabulary_checksum": vocab.checksum, "seed": cfg.seed, "versions": versions(),
               "first_10_test_probabilities": [round(float(p), 6) for p in probabilities[:10]]}
    if export:
        from .export import export_model

        folded = folded_keras_model(model, r)
        paths = export_model(folded, vocab, out, test_texts=test.texts,
                             keras_probabilities=probabilities, metrics=metrics,
                             preset="accurate", dense_check_limit=64)
        metrics["exported"] = {k: str(v) for k, v in paths.items()}
        metrics["model_bytes"] = os.path.getsize(paths["model"])
    write_json(out / "metrics.json", metrics)
    return metrics


def folded_keras_model(model, r: np.ndarray):
    """A dense-input Keras model computing the same function with ``w * r`` as weights."""
    import keras

    kernel, bias = model.layers[-1].get_weights()
    folded = keras.Sequential([keras.Input(shape=(len(r),)),
                               keras.layers.Dense(1, activation="sigmoid")])
    folded.layers[-1].set_weights([(kernel[:, 0] * r).reshape(-1, 1).astype(np.float32), bias])
    return folded


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.accurate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data")
    parser.add_argument("--out", default="runs/accurate")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ngram", type=int, default=2, choices=[1, 2, 3])
    parser.add_argument("--vocab-sizes", type=int, nargs="+", default=[100_000, 200_000, 400_000])
    parser.add_argument("--l2", type=float, nargs="+", default=[1e-6, 1e-5])
    parser.add_argument("--max-epochs", type=int, default=15)
    parser.add_argument("--bundle", action="store_true",
                        help="copy the model into imdb_edge/models/accurate")
    args = parser.parse_args(argv)
    cfg = AccurateConfig(data=args.data, out=args.out, seed=args.seed, ngram=args.ngram,
                         vocab_sizes=args.vocab_sizes, l2=args.l2, max_epochs=args.max_epochs,
                         verbose=2)
    from imdb_edge.io._data import DataError

    from ._quiet import native_stderr_filtered

    try:
        with native_stderr_filtered():
            metrics = train_accurate(cfg)
    except DataError as exc:
        print(f"python -m train.accurate: error: {exc}", file=sys.stderr)
        return 1
    print(f"test_accuracy={metrics['test_accuracy']:.4f} chosen={metrics['chosen']} "
          f"model_bytes={metrics.get('model_bytes')}")
    if args.bundle:
        from .export import bundle

        # the n-gram vocabulary ships gzip-compressed (4.7 MB -> 1.6 MB at 400,000 features)
        print(f"bundled into {bundle(cfg.out, 'accurate', gzip_vocabulary=True)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
