"""``imdb-edge-train fit``: a model from a user's labeled texts, in a folder the runtime loads.

1. Read the data twice, streamed (``dataset.py``): labels, splits (a seeded hash of each
   text's tokens, so texts equal after normalisation share a split), feature counts and what a
   model cannot learn from (token-less or unspaced text), then sparse ids. Memory: the ids
   (4 bytes a feature occurrence) and 9 bytes a record, never a dense matrix.
2. Choose the recipe's settings on the validation split (never on the test split): vocabulary
   size and n-gram order, L2 strength (accurate), and the number of epochs, by validation ROC
   AUC each epoch (accuracy cannot rank: at 95/5 every setting "scores" 0.95). Training
   weighs each class equally.
3. Calibrate (``calibrate.py``): Platt scaling of the logit, fitted on the validation
   predictions of the chosen setting, folded into the last layer.
4. Refit on fit + validation with those settings; score the test split if there is one, and
   count its texts that also occur in the training data.
5. Say what the user must know (``warnings``: the majority-class baseline not beaten, token-less
   or unspaced text, duplicates, test texts seen in training) on stderr, in the summary and
   the card.
6. Export (verified against Keras by ``export.py``, on the calibrated model) and write the
   model card, all in a staging folder renamed into place at the end: an interrupted run
   leaves nothing.

Recipes: ``book`` is the book's network (Dense(16, relu) x 2 -> sigmoid, RMSprop) on word
multi-hot input; ``accurate`` is the NB-scaled logistic regression over word uni+bigrams of
``accurate.py``. Both are trained on sparse input and exported in the runtime's ids form.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imdb_edge import Vocabulary
from imdb_edge.io._data import DataError
from imdb_edge._metrics import log_loss, roc_auc
from imdb_edge._metrics import report as metrics_report
from imdb_edge._memory import peak_rss_mb

from . import calibrate, dataset
from .accurate import build_linear, folded_keras_model, nb_ratios, scaled_matrix
from .dataset import FIT, TEST, VAL, Source
from .pipeline import log, plot_history, seed_everything, versions, write_json

RECIPES = ("book", "accurate")
SIZE_TOLERANCE = 0.001      # prefer the smaller vocabulary within this validation ROC AUC
WHOLE_MATRIX_NNZ = 16_000_000   # above this, Keras gets one batch at a time (bounded memory;
                                # IMDB's 25,000 reviews, ~10M, train ~25% faster whole)


@dataclass
class FitConfig:
    recipe: str = "accurate"
    seed: int = 42
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    positive: str | None = None
    grid_rows: int = 100_000      # fit rows used to choose settings (all rows for the refit)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {RECIPES}. Received: {self.recipe!r}")
        if not 0 < self.val_fraction < 1 or not 0 <= self.test_fraction < 1 \
                or self.val_fraction + self.test_fraction >= 1:
            raise ValueError("need 0 < val_fraction, 0 <= test_fraction, and their sum < 1")


@dataclass
class Candidate:
    """A vocabulary to try: its features and, for each full-vocabulary id, the new id or -1."""

    features: list[str]
    ngram: int
    remap: np.ndarray


def candidates(full: Vocabulary, recipe: str) -> list[Candidate]:
    n = len(full)
    out: list[Candidate] = []

    def prefix(size: int, ngram: int) -> Candidate:
        remap = np.where(np.arange(n) < size, np.arange(n), -1).astype(np.int64)
        return Candidate(full.features[:size], ngram, remap)

    if recipe == "book":
        sizes = sorted({min(s, n) for s in (5_000, 10_000, 20_000)})
        return [prefix(s, 1) for s in sizes]
    sizes = sorted({min(s, n) for s in (100_000, 200_000, 400_000)})
    out = [prefix(s, 2) for s in sizes]
    words = np.flatnonzero([" " not in f for f in full.features])[:100_000]
    remap = np.full(n, -1, np.int64)
    remap[words] = np.arange(len(words))
    out.append(Candidate([full.features[i] for i in words], 1, remap))
    return out


# -- the two recipes on sparse input -------------------------------------------------------

def _batch(default: int, n_rows: int) -> int:
    return int(max(16, min(default, n_rows // 20)))


def _feed(matrix, y: np.ndarray | None, batch: int, seed: int, shuffle: bool,
          weights: np.ndarray | None = None) -> dict:
    """``model.fit``/``predict`` arguments for a CSR matrix: the matrix itself while it is
    small (Keras converts it whole, fastest), else batches made one at a time. ``weights``:
    a float32 sample weight per row (the class weights)."""
    if matrix.nnz <= WHOLE_MATRIX_NNZ:
        args = {"x": matrix, "batch_size": batch}
        if y is not None:
            args["y"] = y.astype(np.float32)
        if weights is not None:
            args["sample_weight"] = weights
        if shuffle:
            args["shuffle"] = True
        return args
    return {"x": _batches(matrix, y, batch, seed, shuffle, weights)}


def _batches(matrix, y: np.ndarray | None, batch: int, seed: int, shuffle: bool,
             weights: np.ndarray | None = None):
    """Keras input that makes one batch's sparse tensor at a time: the whole set is never
    converted at once (converted whole, a 1,000,000-text fit peaked at 3.7 GB)."""
    import math

    import keras
    import tensorflow as tf

    class Batches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = self._order()

        def _order(self):
            n = matrix.shape[0]
            return self.rng.permutation(n) if shuffle else np.arange(n)

        def __len__(self) -> int:
            return math.ceil(matrix.shape[0] / batch)

        def __getitem__(self, index: int):
            rows = np.sort(self.order[index * batch:(index + 1) * batch])
            part = matrix[rows].tocoo()
            x = tf.SparseTensor(np.stack([part.row, part.col], axis=1).astype(np.int64),
                                part.data, part.shape)
            if y is None:
                return (x,)
            if weights is None:
                return x, y[rows].astype(np.float32)
            return x, y[rows].astype(np.float32), weights[rows]

        def on_epoch_end(self) -> None:
            self.order = self._order()

    return Batches()


def class_weights(y: np.ndarray) -> np.ndarray:
    """Per-class weights ``n / (2 n_class)``, float64 ``(2,)``: each class weighs the same in
    the loss, so a 95/5 split cannot be won by predicting the larger class (1.0 each for equal
    classes)."""
    counts = np.bincount(np.asarray(y, np.int64), minlength=2).astype(np.float64)
    return np.where(counts > 0, len(y) / (2 * np.maximum(counts, 1)), 0.0)


def auc_standard_error(n_neg: int, n_pos: int) -> float:
    """Standard error of the ROC AUC of a model that ranks at random (Mann-Whitney)."""
    if not n_neg or not n_pos:
        return float("inf")
    return float(np.sqrt((n_neg + n_pos + 1) / (12.0 * n_neg * n_pos)))


def validation_figures(y: np.ndarray, p: np.ndarray) -> dict:
    """ROC AUC, log loss, accuracy and balanced accuracy (threshold 0.5) of ``p``."""
    y = np.asarray(y, np.int64)
    pred = p > 0.5
    recalls = [float(np.mean(pred[y == c] == c)) for c in (0, 1) if np.any(y == c)]
    return {"roc_auc": roc_auc(y, p), "log_loss": log_loss(y, p),
            "accuracy": float(np.mean(pred == y)),
            "balanced_accuracy": float(np.mean(recalls)) if recalls else float("nan")}


def _rank_key(figures: dict) -> tuple[float, float]:
    """How settings and epochs are ranked: ROC AUC (4 decimals: differences below that are
    noise on any validation split we see), then the lower log loss."""
    auc = figures["roc_auc"]
    return (round(auc, 4) if np.isfinite(auc) else 0.0, -figures["log_loss"])


def _train(recipe: str, cand: Candidate, l2: float, fit_csr, y_fit, epochs: int, seed: int,
           validation=None, progress: bool = False, patience: int = 4):
    """``(model, history, r, best)``: a Keras model trained on CSR ids with class weights;
    ``r`` the naive-Bayes ratios (accurate) or None. With ``validation`` (CSR ids, labels),
    each epoch is scored on it (:func:`validation_figures`, in ``history`` as ``val_*``),
    training stops ``patience`` epochs after the best by :func:`_rank_key`, and ``best`` holds
    that epoch (1-based), its figures and its validation probabilities; else ``best`` is
    None."""
    import keras

    size = len(cand.features)
    seed_everything(seed)
    if recipe == "accurate":
        r = nb_ratios(*fit_csr, y_fit, size, 1.0)
        model = build_linear(size, l2, 1e-3)
        batch = _batch(256, len(y_fit))
    else:
        r = None
        model = keras.Sequential([keras.Input(shape=(size,), sparse=True, name="multi_hot")]
                                 + [keras.layers.Dense(16, activation="relu") for _ in range(2)]
                                 + [keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
                      loss="binary_crossentropy", metrics=["accuracy"])
        batch = _batch(512, len(y_fit))
    weights = class_weights(y_fit)[np.asarray(y_fit, np.int64)].astype(np.float32)
    history: dict[str, list[float]] = {}
    best: dict | None = None

    val_batches = None
    if validation is not None:
        val_batches = _tensors(scaled_matrix(*validation[0], size, r))

    class Validate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            nonlocal best
            for key, value in (logs or {}).items():
                history.setdefault(key, []).append(float(value))
            if validation is None:
                return
            y_val = validation[1]
            # a direct call on tensors made once: model.predict costs ~0.5 s a call to set up
            p = np.concatenate([np.asarray(self.model(x, training=False)).reshape(-1)
                                for x in val_batches]).astype(np.float32)
            figures = validation_figures(y_val, p)
            for key, value in figures.items():
                history.setdefault(f"val_{key}", []).append(value)
            history.setdefault("val_loss", []).append(figures["log_loss"])
            if best is None or _rank_key(figures) > _rank_key(best["figures"]):
                best = {"epoch": epoch + 1, "figures": figures, "p": p}
            elif epoch + 1 - best["epoch"] >= patience:
                self.model.stop_training = True

    callbacks = [Validate()]
    if progress:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: log(
            f"  epoch {e + 1}/{epochs}: loss {logs['loss']:.4f}"
            + (f", validation ROC AUC {history['val_roc_auc'][-1]:.4f}, accuracy "
               f"{history['val_accuracy'][-1]:.4f}" if 'val_roc_auc' in history else ""))))
    model.fit(**_feed(scaled_matrix(*fit_csr, size, r), y_fit, batch, seed, True, weights),
              epochs=epochs, verbose=0, callbacks=callbacks)
    return model, history, r, best


def _tensors(matrix, rows: int = 8192) -> list:
    """A CSR matrix as sparse tensors of at most ``rows`` rows each."""
    import tensorflow as tf

    out = []
    for start in range(0, matrix.shape[0], rows):
        part = matrix[start:start + rows].tocoo()
        out.append(tf.SparseTensor(np.stack([part.row, part.col], axis=1).astype(np.int64),
                                   part.data.astype(np.float32), part.shape))
    return out


def _predict(model, recipe: str, csr, size: int, r) -> np.ndarray:
    if len(csr[0]) <= 1:
        return np.zeros(0, np.float32)
    feed = _feed(scaled_matrix(*csr, size, r), None, 4096, 0, False)
    return model.predict(**feed, verbose=0).reshape(-1).astype(np.float32)


def _export_form(model, recipe: str, size: int, r):
    """The dense-input Keras model that ``export.py`` converts."""
    import keras

    if recipe == "accurate":
        return folded_keras_model(model, r)
    dense = keras.Sequential([keras.Input(shape=(size,))]
                             + [keras.layers.Dense(16, activation="relu") for _ in range(2)]
                             + [keras.layers.Dense(1, activation="sigmoid")])
    dense.set_weights(model.get_weights())
    return dense


# -- the command ---------------------------------------------------------------------------

FIT_FILES = frozenset({"model.onnx", "model_dense.onnx", "vocab.txt", "card.json", "card.md",
                       "metrics.json", "history.json", "history.png"})
"""Everything ``fit`` writes into a model folder: the folder ``--overwrite`` may replace."""


def _listing(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


def is_fit_folder(out: Path) -> bool:
    """Whether ``out`` is a model folder that ``fit`` wrote: nothing but :data:`FIT_FILES`,
    with a model card that says so."""
    try:
        names = [p.name for p in out.iterdir()]
        card = json.loads((out / "card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (set(names) <= FIT_FILES and "model.onnx" in names and isinstance(card, dict)
            and "imdb_edge_model_card" in card)


def check_output(out: Path, overwrite: bool, inputs=()) -> None:
    """Refuse an ``--out`` that fit may not replace: a file, a folder holding anything fit did
    not write (``--overwrite`` or not), a model folder without ``--overwrite``, or a folder
    holding one of the ``inputs``. An empty folder is used as it is."""
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise DataError(f"--out {out} exists and is not a folder; choose another --out")
    names = sorted(p.name for p in out.iterdir())
    if not names:
        return
    if not is_fit_folder(out):
        foreign = [n for n in names if n not in FIT_FILES] or names
        raise DataError(f"--out {out} is not a model folder written by fit (it holds "
                        f"{_listing(foreign)}); --overwrite only replaces one, so choose "
                        "another --out")
    for path in inputs:
        resolved, folder = Path(path).resolve(), out.resolve()
        if resolved == folder or folder in resolved.parents:
            raise DataError(f"--out {out}: the input {path} is inside it; choose another --out")
    if not overwrite:
        raise DataError(f"--out {out} holds a model from an earlier fit; pass --overwrite to "
                        "replace it")


def fit(source: Source, out, cfg: FitConfig, *, test_source: Source | None = None,
        overwrite: bool = False) -> dict:
    """Train, calibrate, verify, export; returns the model card (also ``card.json``)."""
    started = time.perf_counter()
    out = Path(out)
    inputs = [source.path] + ([test_source.path] if test_source is not None else [])
    check_output(out, overwrite, inputs)
    ngram = 2 if cfg.recipe == "accurate" else 1
    test_fraction = 0.0 if test_source is not None else cfg.test_fraction
    log(f"pass 1: labels, splits and {ngram}-gram counts of {source.path}")
    scan = dataset.scan(source, ngram=ngram, seed=cfg.seed, test_fraction=test_fraction,
                        val_fraction=cfg.val_fraction, progress=cfg.progress)
    dataset.check_trainable(scan, source.path)
    (neg, pos), flip, rule = scan.coder.order(cfg.positive)
    log(f"{scan.n_records:,} records; labels: {neg!r} = 0, {pos!r} = 1 ({rule})")
    warnings = data_warnings(scan)
    for warning in warnings:
        log(f"warning: {warning}")
    logged = len(warnings)
    min_count = 2 if scan.per_split_class[:2].sum() >= 1000 else 1
    largest = 400_000 if cfg.recipe == "accurate" else 20_000
    full = Vocabulary(scan.counter.top(largest, min_count), ngram=ngram)
    if len(full) == 0:
        raise DataError(f"{source.path}: the texts have no words the tokenizer keeps")
    del scan.counter
    log(f"vocabulary: {len(full):,} features; pass 2: sparse ids")
    parts, sample = dataset.vectorize(source, full, found=scan, progress=cfg.progress)
    test_info: dict = {"source": f"--test-fraction {test_fraction}" if test_fraction else None}
    test_scan = scan
    if test_source is not None:
        parts[TEST], test_info, test_scan = _test_file_part(test_source, full, scan.coder, cfg)
    seen_in_training = test_scan.seen_in(TEST, scan.digests_of(FIT, VAL))

    def labels_of(part):
        return (1 - part.codes) if flip else part.codes.astype(np.int64)

    grid, histories, val_p = _choose(cfg, full, parts, labels_of)
    best = max(grid, key=_grid_key)
    chosen = max((g for g in grid if g["val_roc_auc"] >= best["val_roc_auc"] - SIZE_TOLERANCE),
                 key=lambda g: (-g["vocab_size"], _grid_key(g)))
    cand = chosen.pop("_candidate")
    for g in grid:
        g.pop("_candidate", None)
    log(f"chosen on validation: {chosen['vocab_size']:,} features, ngram {cand.ngram}, "
        f"l2 {chosen['l2']:g}, {chosen['best_epoch']} epochs (ROC AUC "
        f"{chosen['val_roc_auc']:.4f}, accuracy {chosen['val_accuracy']:.4f})")

    # Calibration, on the validation predictions of the model that did not see them.
    y_val = labels_of(parts[VAL])
    p_val = val_p[(chosen["vocab_size"], chosen["ngram"], chosen["l2"])]
    calibration = calibrate.fit_platt(p_val, y_val)
    p_val_calibrated = calibrate.apply(p_val, calibration)
    calibration_card = {
        "method": "Platt scaling of the model's logit z: probability = sigmoid(a * z + b), "
                  "fitted by maximum likelihood (Platt's smoothed targets) on the validation "
                  "split's probabilities of the model trained on the fit split; folded into "
                  "the exported model's last layer",
        "a": calibration["a"], "b": calibration["b"],
        "temperature": calibration["temperature"], "clamped": calibration["clamped"],
        "ece_binning": calibrate.ECE_BINNING,
        "validation": {"ece_before": calibrate.ece(y_val, p_val),
                       "ece_after": calibrate.ece(y_val, p_val_calibrated),
                       "log_loss_before": log_loss(y_val, p_val),
                       "log_loss_after": log_loss(y_val, p_val_calibrated)},
        "test": None}
    log(f"calibration on validation: a {calibration['a']:.3f}, b {calibration['b']:+.3f}; "
        f"ECE ({calibrate.ECE_BINNING}) {calibration_card['validation']['ece_before']:.4f} -> "
        f"{calibration_card['validation']['ece_after']:.4f}")
    class_counts_fit = np.bincount(labels_of(parts[FIT]), minlength=2)
    majority = int(np.argmax(class_counts_fit))
    baseline = {"majority_class": (neg, pos)[majority],
                "validation_accuracy": float(np.mean(y_val == majority)) if len(y_val) else None}
    warnings += baseline_warnings(y_val, p_val_calibrated, majority, (neg, pos), "validation")

    # Refit on fit + validation.
    both = dataset.Part(*_concat(parts[FIT], parts[VAL]))
    y_both = labels_of(both)
    csr_both = dataset.select(both, cand.remap)
    model, _, r, _ = _train(cfg.recipe, cand, chosen["l2"], csr_both, y_both,
                            chosen["best_epoch"], cfg.seed, progress=cfg.progress)
    vocab = Vocabulary(cand.features, ngram=cand.ngram)
    size = len(vocab)
    test_report = None
    test_csr = dataset.select(parts[TEST], cand.remap)
    p_test_raw = _predict(model, cfg.recipe, test_csr, size, r) if len(parts[TEST]) else None
    calibrate.fold_into_last_layer(model, calibration)
    featureless = {name: int(np.sum(np.diff(dataset.select(parts[split], cand.remap)[0]) == 0))
                   for name, split in (("fit", FIT), ("validation", VAL), ("test", TEST))}
    warnings += featureless_warnings(featureless, scan, len(parts[FIT]) + len(parts[VAL]))
    if len(parts[TEST]):
        y_test = labels_of(parts[TEST])
        p_test = _predict(model, cfg.recipe, test_csr, size, r)
        test_report = metrics_report(y_test, p_test, names=(neg, pos))
        calibration_card["test"] = {"ece_before": calibrate.ece(y_test, p_test_raw),
                                    "ece_after": calibrate.ece(y_test, p_test)}
        baseline["test_accuracy"] = float(np.mean(y_test == majority))
        warnings += baseline_warnings(y_test, p_test, majority, (neg, pos), "test")
        overlap = int(seen_in_training.sum())
        test_report["texts_also_in_training"] = overlap
        if overlap:
            new = ~seen_in_training
            test_report["new_texts"] = (metrics_report(y_test[new], p_test[new],
                                                       names=(neg, pos))
                                        if new.any() else None)
            warnings.append(overlap_warning(overlap, len(y_test), test_report["new_texts"]))
        log(f"test accuracy {test_report['accuracy']:.4f}, ROC AUC "
            f"{test_report['roc_auc']:.4f} on {len(parts[TEST]):,} texts ({overlap:,} of them "
            "also in the training data)")
    for warning in warnings[logged:]:
        log(f"warning: {warning}")
    sample_ids = dataset.select(dataset.Part(*_head(parts[VAL], len(sample))), cand.remap)
    p_sample = _predict(model, cfg.recipe, sample_ids, size, r)

    digest, n_bytes = dataset.data_digest(source.path)
    card = {
        "imdb_edge_model_card": 1,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "recipe": cfg.recipe,
        "labels": {"negative": neg, "positive": pos, "rule": rule,
                   "score": f"probability that a text is {pos!r}"},
        "warnings": warnings,
        "data": {"path": str(Path(source.path).resolve()), "sha256": digest, "bytes": n_bytes,
                 "format": source.fmt or _format_of(source.path),
                 "text_column": source.text_column, "label_column": source.label_column,
                 "records": scan.n_records, "blank_texts_skipped": scan.blank,
                 "texts_without_tokens": scan.tokenless,
                 "texts_not_space_separated": scan.unspaced,
                 "texts_without_known_features": featureless,
                 "duplicate_texts": scan.duplicates(FIT, VAL, TEST),
                 "class_counts": {name: int(scan.per_split_class[:, code].sum())
                                  for name, code in scan.coder.seen.items()}},
        "splits": {"fit": len(parts[FIT]), "validation": len(parts[VAL]),
                   "test": len(parts[TEST]), "test_source": test_info.get("source"),
                   "seed": cfg.seed,
                   "rule": "a seeded hash of each text's tokens: texts equal after the "
                           "tokenizer's normalisation share a split",
                   "test_texts_also_in_training": int(seen_in_training.sum())},
        "choices": {"vocab_size": size, "ngram": cand.ngram, "l2": chosen["l2"],
                    "epochs": chosen["best_epoch"],
                    "class_weights": dict(zip((neg, pos), class_weights(y_both).tolist())),
                    "chosen_by": "validation ROC AUC (each epoch; ties: lower log loss); the "
                    f"smallest vocabulary within {SIZE_TOLERANCE} of the best AUC. Training "
                    "weighs each class equally (class weights n / (2 n_class))"},
        "validation_accuracy": chosen["val_accuracy"],
        "validation_roc_auc": chosen["val_roc_auc"],
        "validation_grid": grid,
        "baseline": baseline,
        "calibration": calibration_card,
        "test": test_report,
        "test_accuracy": None if test_report is None else test_report["accuracy"],
        "intended_use": f"texts like those of {Path(source.path).name}; scores outside that "
                        "domain (other topics, much shorter or longer texts) are less reliable",
        "versions": versions(),
    }
    card["seconds_before_export"] = round(time.perf_counter() - started, 1)
    card["peak_rss_mb_before_export"] = round(peak_rss_mb())
    _write_model(out, overwrite, model, cfg, vocab, r, sample, p_sample, card, histories,
                 chosen, test_report)
    log(f"wrote {out} in {time.perf_counter() - started:.1f} s (peak RSS "
        f"{peak_rss_mb():.0f} MB)")
    return card


# -- what a user must be told ---------------------------------------------------------------

TOKENLESS_WARN = 0.05       # share of texts without a token past which fit warns
UNSPACED_WARN = 0.2         # share of judged texts that look unspaced past which fit warns
FEATURELESS_WARN = 0.1      # share of texts with tokens but no feature of the vocabulary
DUPLICATES_WARN = 0.1       # share of texts repeating an earlier one


def _share(n: int, total: int, what: str = "texts") -> str:
    return f"{n:,} of {total:,} {what} ({100 * n / max(total, 1):.0f} %)"


def data_warnings(scan: dataset.Scan) -> list[str]:
    """What in the data keeps a model from learning: texts without any token, text that is
    not space-separated."""
    used = int(scan.per_split_class.sum())
    out = []
    if scan.tokenless and scan.tokenless >= TOKENLESS_WARN * used:
        out.append(f"{_share(scan.tokenless, used)} have no token at all (only emoji, symbols "
                   "or punctuation): the model cannot tell them apart and gives each the same "
                   "score, its prior")
    duplicates = scan.duplicates(FIT, VAL, TEST)
    if duplicates >= DUPLICATES_WARN * used:
        out.append(f"{_share(duplicates, used)} repeat an earlier text (after the tokenizer's "
                   "normalisation): each is kept in its original's split, so they do not "
                   "inflate the validation or test figures, but they weigh more in training")
    if scan.spacing_judged and scan.unspaced >= UNSPACED_WARN * scan.spacing_judged:
        out.append(f"{_share(scan.unspaced, scan.spacing_judged)} do not look space-separated "
                   "(e.g. Japanese, Chinese, Thai): the tokenizer splits words at spaces and "
                   "punctuation only, so each clause becomes one rare token and the model "
                   "learns little; split the words with spaces before training and scoring")
    return out


def featureless_warnings(featureless: dict, scan: dataset.Scan, n_training: int) -> list[str]:
    extra = featureless["fit"] + featureless["validation"] - scan.tokenless
    if n_training and extra >= FEATURELESS_WARN * n_training:
        n = featureless["fit"] + featureless["validation"]
        return [f"{_share(n, n_training, 'training texts')} have no feature in the model's "
                "vocabulary: the model gives each of them the same score, its prior"]
    return []


def baseline_warnings(y: np.ndarray, p: np.ndarray, majority: int, names: tuple[str, str],
                      split: str) -> list[str]:
    """One warning when the model does not beat the majority-class baseline on ``split``, saying
    how: it ranks no better than chance (ROC AUC within 2 standard errors of 0.5), its
    probabilities are no better than always predicting the class shares (log loss not 1 %
    below theirs), or its labels at threshold 0.5 are no more accurate than labelling every
    text with the larger class."""
    y = np.asarray(y, np.int64)
    if len(y) == 0:
        return []
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    figures = validation_figures(y, p)
    share = float(np.mean(y == majority))
    prior = n_pos / len(y)
    baseline_loss = log_loss(y, np.full(len(y), prior)) if 0 < prior < 1 else 0.0
    auc, loss = figures["roc_auc"], figures["log_loss"]
    ranks = bool(np.isfinite(auc) and auc > 0.5 + 2 * auc_standard_error(n_neg, n_pos))
    if not ranks:
        return [f"the model does not beat the majority-class baseline on the {split} split: it "
                f"ranks texts no better than chance (ROC AUC {auc:.3f}, chance 0.5; log loss "
                f"{loss:.4f} against {baseline_loss:.4f} for always predicting the class "
                "shares): it has learnt (almost) nothing from these texts, so its scores mean "
                "little"]
    failures = []
    if not loss < 0.99 * baseline_loss:
        failures.append(f"its probabilities are no better than always predicting the class "
                        f"shares (log loss {loss:.4f} against {baseline_loss:.4f})")
    if figures["accuracy"] <= share:
        failures.append(f"its labels at threshold 0.5 (accuracy {figures['accuracy']:.4f}) are "
                        f"no better than labelling every text {names[majority]!r} ({share:.4f})")
    if not failures:
        return []
    more = (", and more texts of the smaller class would help"
            if min(n_neg, n_pos) < 0.25 * len(y) else "")
    return [f"the model does not beat the majority-class baseline on the {split} split: "
            + "; ".join(failures) + f". It does rank texts (ROC AUC {auc:.3f}): pick a "
            "threshold for your use (imdb-edge evaluate reports the best F1 and balanced-"
            f"accuracy thresholds){more}"]


def overlap_warning(overlap: int, n_test: int, new_report: dict | None) -> str:
    text = (f"{_share(overlap, n_test, 'test texts')} also occur in the training data "
            "(after the tokenizer's normalisation): the test figures are inflated by them")
    if new_report is not None:
        text += (f"; on the {new_report['n']:,} new texts only: accuracy "
                 f"{new_report['accuracy']:.4f}, ROC AUC {new_report['roc_auc']:.4f}")
    return text


def _format_of(path) -> str:
    from imdb_edge.io._labeled import detect_format

    return detect_format(path)


def _concat(a: dataset.Part, b: dataset.Part):
    indptr = np.concatenate([a.indptr, b.indptr[1:] + a.indptr[-1]])
    return indptr, np.concatenate([a.ids, b.ids]), np.concatenate([a.codes, b.codes])


def _head(part: dataset.Part, n: int):
    return part.indptr[:n + 1], part.ids[:part.indptr[n]], part.codes[:n]


def _test_file_part(test_source: Source, full, coder, cfg):
    scan = dataset.scan(test_source, ngram=1, seed=cfg.seed, test_fraction=0, val_fraction=0,
                        force_split=TEST, progress=False)
    unknown = set(scan.coder.seen) - set(coder.seen)
    if unknown:
        raise DataError(f"{test_source.path}: label {sorted(unknown)[0]!r} is not one of the "
                        f"training labels ({', '.join(map(repr, coder.seen))})")
    # the test file's records coded with the training labels' codes
    scan.coder = coder
    parts, _ = dataset.vectorize(test_source, full, found=scan, progress=cfg.progress)
    digest, _ = dataset.data_digest(test_source.path)
    return (parts[TEST], {"source": f"{Path(test_source.path).resolve()} (sha256 {digest})"},
            scan)


def _grid_key(entry: dict) -> tuple[float, float]:
    return _rank_key({"roc_auc": entry["val_roc_auc"], "log_loss": entry["val_log_loss"]})


def _choose(cfg: FitConfig, full: Vocabulary, parts, labels_of):
    """Every grid point trained on the fit split and scored on the validation split each
    epoch: ``(grid, histories, validation probabilities at each point's best epoch)``."""
    fit_part = dataset.Part(*_head(parts[FIT], min(len(parts[FIT]), cfg.grid_rows)))
    y_fit, y_val = labels_of(fit_part), labels_of(parts[VAL])
    l2s = [0.0] if cfg.recipe == "book" else \
        [1e-6, 1e-5] + ([1e-4, 1e-3] if len(y_fit) < 10_000 else [])
    max_epochs = 20 if cfg.recipe == "book" else (15 if len(y_fit) >= 5_000 else 30)
    grid, histories, val_p = [], {}, {}
    for cand in candidates(full, cfg.recipe):
        fit_csr, val_csr = dataset.select(fit_part, cand.remap), dataset.select(parts[VAL],
                                                                                cand.remap)
        for l2 in l2s:
            _, history, _, best = _train(cfg.recipe, cand, l2, fit_csr, y_fit, max_epochs,
                                         cfg.seed, validation=(val_csr, y_val))
            figures = best["figures"]
            entry = {"vocab_size": len(cand.features), "ngram": cand.ngram, "l2": l2,
                     "best_epoch": best["epoch"],
                     "val_roc_auc": round(figures["roc_auc"], 4),
                     "val_log_loss": round(figures["log_loss"], 4),
                     "val_accuracy": round(figures["accuracy"], 4),
                     "val_balanced_accuracy": round(figures["balanced_accuracy"], 4),
                     "_candidate": cand}
            grid.append(entry)
            key = (len(cand.features), cand.ngram, l2)
            histories[key] = history
            val_p[key] = best["p"]
            log(f"{cand.ngram}-gram vocabulary {len(cand.features):,}, l2 {l2:g}: validation "
                f"ROC AUC {entry['val_roc_auc']}, accuracy {entry['val_accuracy']} at epoch "
                f"{best['epoch']}")
    return grid, histories, val_p


def _write_model(out: Path, overwrite: bool, model, cfg, vocab, r, sample, p_sample, card,
                 histories, chosen, test_report) -> None:
    from .export import export_model

    shown, out = out, Path(os.path.abspath(out))     # "--out ." has a parent to stage in
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(staging, 0o777 & ~mask)     # mkdtemp makes it private; a model folder is not
    try:
        metrics = {"data_sha256": card["data"]["sha256"], "seed": cfg.seed,
                   "versions": card["versions"],
                   "test_loss": None if test_report is None else test_report["log_loss"],
                   "test_accuracy": None if test_report is None else test_report["accuracy"]}
        extra = {"recipe": cfg.recipe, "label_negative": card["labels"]["negative"],
                 "label_positive": card["labels"]["positive"],
                 "validation_accuracy": f"{card['validation_accuracy']:.4f}",
                 "validation_roc_auc": f"{card['validation_roc_auc']:.4f}",
                 "calibration": f"sigmoid({card['calibration']['a']:.6g} * logit "
                                f"{card['calibration']['b']:+.6g}), fitted on validation",
                 "data_domain": f"user data: {Path(card['data']['path']).name}",
                 "intended_use": card["intended_use"]}
        if card["warnings"]:
            extra["fit_warnings"] = " | ".join(card["warnings"])
        export_model(_export_form(model, cfg.recipe, len(vocab), r), vocab, staging,
                     test_texts=sample, keras_probabilities=p_sample, metrics=metrics,
                     preset=f"fit-{cfg.recipe}", dense_check_limit=64, extra_metadata=extra)
        key = (chosen["vocab_size"], chosen["ngram"], chosen["l2"])
        history = histories[key]
        write_json(staging / "history.json", history)
        plot_history(history, staging / "history.png",
                     f"{cfg.recipe} recipe, {chosen['vocab_size']:,} features "
                     f"(validation run used to choose the epochs)", best=chosen["best_epoch"])
        write_json(staging / "metrics.json", {"validation_grid": card["validation_grid"],
                                              "test": test_report})
        write_json(staging / "card.json", card)
        (staging / "card.md").write_text(card_markdown(card), encoding="utf-8")
        check_output(shown, overwrite)    # again: the folder may have changed while training
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / "model")
            os.replace(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def card_markdown(card: dict) -> str:
    labels, data, choices = card["labels"], card["data"], card["choices"]
    test, calibration = card.get("test"), card["calibration"]
    splits = card["splits"]
    lines = [f"# Model card: {card['recipe']} recipe on {Path(data['path']).name}", ""]
    if card["warnings"]:
        lines += ["## Warnings", ""] + [f"- {w}" for w in card["warnings"]] + [""]
    featureless = data["texts_without_known_features"]
    lines += [
        f"- Score: {labels['score']} ({labels['negative']!r} = 0, {labels['positive']!r} = 1; "
        f"{labels['rule']}).",
        f"- Data: `{data['path']}`, {data['bytes']:,} bytes, sha256 `{data['sha256']}`; "
        f"{data['records']:,} records, classes {json.dumps(data['class_counts'])}, "
        f"{data['blank_texts_skipped']:,} blank texts skipped, "
        f"{data['texts_without_tokens']:,} texts without any token, "
        f"{data['texts_not_space_separated']:,} not space-separated, "
        f"{data['duplicate_texts']:,} duplicates (after the tokenizer's normalisation); "
        f"texts without a feature of the vocabulary: fit {featureless['fit']:,}, validation "
        f"{featureless['validation']:,}, test {featureless['test']:,}.",
        f"- Splits (seed {splits['seed']}; {splits['rule']}): fit {splits['fit']:,}, "
        f"validation {splits['validation']:,}, test {splits['test']:,}"
        + (f" ({splits['test_source']})" if splits['test_source'] else "")
        + (f"; {splits['test_texts_also_in_training']:,} test texts also occur in the "
           "training data" if splits['test'] else "") + ".",
        f"- Chosen on validation: {choices['vocab_size']:,} features, n-gram order "
        f"{choices['ngram']}, L2 {choices['l2']:g}, {choices['epochs']} epochs (validation "
        f"ROC AUC {card['validation_roc_auc']:.4f}, accuracy "
        f"{card['validation_accuracy']:.4f}; {choices['chosen_by']}); class weights "
        f"{json.dumps(choices['class_weights'])}; refit on fit + validation.",
        f"- Baseline (every text {card['baseline']['majority_class']!r}): validation accuracy "
        f"{card['baseline']['validation_accuracy']:.4f}"
        + (f", test accuracy {card['baseline']['test_accuracy']:.4f}"
           if card['baseline'].get('test_accuracy') is not None else "") + ".",
        f"- Calibration: {calibration['method']}: a = {calibration['a']:.4f} (temperature "
        f"{calibration['temperature']:.4f}), b = {calibration['b']:+.4f}. Expected calibration "
        f"error ({calibration['ece_binning']}) on validation "
        f"{calibration['validation']['ece_before']:.4f} before, "
        f"{calibration['validation']['ece_after']:.4f} after"
        + (f"; on test {calibration['test']['ece_before']:.4f} before, "
           f"{calibration['test']['ece_after']:.4f} after" if calibration['test'] else "")
        + ".",
        (f"- Test: accuracy {test['accuracy']:.4f}, ROC AUC {test['roc_auc']:.4f}, log loss "
         f"{test['log_loss']:.4f} on {test['n']:,} texts." if test else
         "- Test: none (pass --test-file or --test-fraction for a held-out score)."),
        f"- Intended use: {card['intended_use']}.",
        f"- Versions: {json.dumps(card['versions'])}.", "",
    ]
    return "\n".join(lines)
