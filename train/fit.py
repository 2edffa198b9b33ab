"""``imdb-edge-train fit``: a model from a user's labeled texts, in a folder the runtime loads.

1. Read the data twice, streamed (``dataset.py``): labels and splits, feature counts, then
   sparse ids. Memory: the ids (4 bytes a feature occurrence), never a dense matrix.
2. Choose the recipe's settings on the validation split (never on the test split): vocabulary
   size and n-gram order, L2 strength (accurate), and the number of epochs.
3. Refit on fit + validation with those settings; score the test split if there is one.
4. Export (verified against Keras by ``export.py``) and write the model card, all in a
   staging folder renamed into place at the end: an interrupted run leaves nothing.

Recipes: ``book`` is the book's network (Dense(16, relu) x 2 -> sigmoid, RMSprop) on word
multi-hot input; ``accurate`` is the NB-scaled logistic regression over word uni+bigrams of
``accurate.py``. Both are trained on sparse input and exported in the runtime's ids form.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imdb_edge import Vocabulary
from imdb_edge.io._data import DataError
from imdb_edge._metrics import report as metrics_report

from . import dataset
from .accurate import build_linear, folded_keras_model, nb_ratios, scaled_matrix
from .dataset import FIT, TEST, VAL, Source
from .pipeline import log, plot_history, seed_everything, versions, write_json

RECIPES = ("book", "accurate")
SIZE_TOLERANCE = 0.001      # prefer the smaller vocabulary within this validation accuracy
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


def _feed(matrix, y: np.ndarray | None, batch: int, seed: int, shuffle: bool) -> dict:
    """``model.fit``/``predict`` arguments for a CSR matrix: the matrix itself while it is
    small (Keras converts it whole, fastest), else batches made one at a time."""
    if matrix.nnz <= WHOLE_MATRIX_NNZ:
        args = {"x": matrix, "batch_size": batch}
        if y is not None:
            args["y"] = y.astype(np.float32)
        if shuffle:
            args["shuffle"] = True
        return args
    return {"x": _batches(matrix, y, batch, seed, shuffle)}


def _batches(matrix, y: np.ndarray | None, batch: int, seed: int, shuffle: bool):
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
            return (x,) if y is None else (x, y[rows].astype(np.float32))

        def on_epoch_end(self) -> None:
            self.order = self._order()

    return Batches()


def _train(recipe: str, cand: Candidate, l2: float, fit_csr, y_fit, epochs: int, seed: int,
           validation=None, progress: bool = False):
    """``(model, history, r)``: a Keras model trained on CSR ids; ``r`` the naive-Bayes
    ratios (accurate) or None."""
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
    callbacks = []
    if validation is not None:
        val_csr, y_val = validation
        feed = _feed(scaled_matrix(*val_csr, size, r), y_val, 4096, seed, False)
        validation = feed["x"] if "y" not in feed else (feed["x"], feed["y"])
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=4))
    if progress:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: log(
            f"  epoch {e + 1}/{epochs}: loss {logs['loss']:.4f}"
            + (f", validation accuracy {logs['val_accuracy']:.4f}"
               if 'val_accuracy' in logs else ""))))
    history = model.fit(**_feed(scaled_matrix(*fit_csr, size, r), y_fit, batch, seed, True),
                        epochs=epochs, validation_data=validation, verbose=0,
                        callbacks=callbacks)
    return model, {k: [float(v) for v in vals] for k, vals in history.history.items()}, r


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
    """Train, verify, export; returns the model card (also written as ``card.json``)."""
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
    min_count = 2 if scan.per_split_class[:2].sum() >= 1000 else 1
    largest = 400_000 if cfg.recipe == "accurate" else 20_000
    full = Vocabulary(scan.counter.top(largest, min_count), ngram=ngram)
    if len(full) == 0:
        raise DataError(f"{source.path}: the texts have no words the tokenizer keeps")
    del scan.counter
    log(f"vocabulary: {len(full):,} features; pass 2: sparse ids")
    parts, sample = dataset.vectorize(
        source, full, seed=cfg.seed, test_fraction=test_fraction, val_fraction=cfg.val_fraction,
        coder=scan.coder, total=scan.n_records, progress=cfg.progress)
    test_info: dict = {"source": f"--test-fraction {test_fraction}" if test_fraction else None}
    if test_source is not None:
        parts[TEST], test_info = _test_file_part(test_source, full, scan.coder, cfg)

    def labels_of(part):
        return (1 - part.codes) if flip else part.codes.astype(np.int64)

    grid, histories = _choose(cfg, full, parts, labels_of)
    chosen = max((g for g in grid if g["val_accuracy"] >= max(x["val_accuracy"] for x in grid)
                  - SIZE_TOLERANCE), key=lambda g: (-g["vocab_size"], g["val_accuracy"]))
    cand = chosen.pop("_candidate")
    for g in grid:
        g.pop("_candidate", None)
    log(f"chosen on validation: {chosen['vocab_size']:,} features, ngram {cand.ngram}, "
        f"l2 {chosen['l2']:g}, {chosen['best_epoch']} epochs")

    # Refit on fit + validation.
    both = dataset.Part(*_concat(parts[FIT], parts[VAL]))
    y_both = labels_of(both)
    csr_both = dataset.select(both, cand.remap)
    model, _, r = _train(cfg.recipe, cand, chosen["l2"], csr_both, y_both, chosen["best_epoch"],
                         cfg.seed, progress=cfg.progress)
    vocab = Vocabulary(cand.features, ngram=cand.ngram)
    size = len(vocab)
    test_report = None
    if len(parts[TEST]):
        p_test = _predict(model, cfg.recipe, dataset.select(parts[TEST], cand.remap), size, r)
        test_report = metrics_report(labels_of(parts[TEST]), p_test, names=(neg, pos))
        log(f"test accuracy {test_report['accuracy']:.4f} on {len(parts[TEST]):,} texts")
    sample_ids = dataset.select(dataset.Part(*_head(parts[VAL], len(sample))), cand.remap)
    p_sample = _predict(model, cfg.recipe, sample_ids, size, r)

    digest, n_bytes = dataset.data_digest(source.path)
    card = {
        "imdb_edge_model_card": 1,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "recipe": cfg.recipe,
        "labels": {"negative": neg, "positive": pos, "rule": rule,
                   "score": f"probability that a text is {pos!r}"},
        "data": {"path": str(Path(source.path).resolve()), "sha256": digest, "bytes": n_bytes,
                 "format": source.fmt or _format_of(source.path),
                 "text_column": source.text_column, "label_column": source.label_column,
                 "records": scan.n_records, "blank_texts_skipped": scan.blank,
                 "class_counts": {name: int(scan.per_split_class[:, code].sum())
                                  for name, code in scan.coder.seen.items()}},
        "splits": {"fit": len(parts[FIT]), "validation": len(parts[VAL]),
                   "test": len(parts[TEST]), "test_source": test_info.get("source"),
                   "seed": cfg.seed},
        "choices": {"vocab_size": size, "ngram": cand.ngram, "l2": chosen["l2"],
                    "epochs": chosen["best_epoch"], "chosen_by": "validation accuracy; the "
                    f"smallest vocabulary within {SIZE_TOLERANCE} of the best"},
        "validation_accuracy": chosen["val_accuracy"],
        "validation_grid": grid,
        "test": test_report,
        "test_accuracy": None if test_report is None else test_report["accuracy"],
        "intended_use": f"texts like those of {Path(source.path).name}; scores outside that "
                        "domain (other topics, much shorter or longer texts) are less reliable",
        "versions": versions(),
    }
    card["seconds_before_export"] = round(time.perf_counter() - started, 1)
    card["peak_rss_mb_before_export"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    _write_model(out, overwrite, model, cfg, vocab, r, sample, p_sample, card, histories,
                 chosen, test_report)
    log(f"wrote {out} in {time.perf_counter() - started:.1f} s (peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    return card


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
    parts, _ = dataset.vectorize(test_source, full, seed=cfg.seed, test_fraction=0,
                                 val_fraction=0, coder=coder, total=scan.n_records,
                                 force_split=TEST, progress=cfg.progress)
    digest, _ = dataset.data_digest(test_source.path)
    return parts[TEST], {"source": f"{Path(test_source.path).resolve()} (sha256 {digest})"}


def _choose(cfg: FitConfig, full: Vocabulary, parts, labels_of):
    fit_part = dataset.Part(*_head(parts[FIT], min(len(parts[FIT]), cfg.grid_rows)))
    y_fit, y_val = labels_of(fit_part), labels_of(parts[VAL])
    l2s = [0.0] if cfg.recipe == "book" else \
        [1e-6, 1e-5] + ([1e-4, 1e-3] if len(y_fit) < 10_000 else [])
    max_epochs = 20 if cfg.recipe == "book" else (15 if len(y_fit) >= 5_000 else 30)
    grid, histories = [], {}
    for cand in candidates(full, cfg.recipe):
        fit_csr, val_csr = dataset.select(fit_part, cand.remap), dataset.select(parts[VAL],
                                                                                cand.remap)
        for l2 in l2s:
            _, history, _ = _train(cfg.recipe, cand, l2, fit_csr, y_fit, max_epochs, cfg.seed,
                                   validation=(val_csr, y_val))
            best = int(np.argmax(history["val_accuracy"]))
            entry = {"vocab_size": len(cand.features), "ngram": cand.ngram, "l2": l2,
                     "best_epoch": best + 1,
                     "val_accuracy": round(float(history["val_accuracy"][best]), 4),
                     "_candidate": cand}
            grid.append(entry)
            histories[(len(cand.features), cand.ngram, l2)] = history
            log(f"{cand.ngram}-gram vocabulary {len(cand.features):,}, l2 {l2:g}: validation "
                f"accuracy {entry['val_accuracy']} at epoch {best + 1}")
    return grid, histories


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
                 "data_domain": f"user data: {Path(card['data']['path']).name}",
                 "intended_use": card["intended_use"]}
        export_model(_export_form(model, cfg.recipe, len(vocab), r), vocab, staging,
                     test_texts=sample, keras_probabilities=p_sample, metrics=metrics,
                     preset=f"fit-{cfg.recipe}", dense_check_limit=64, extra_metadata=extra)
        key = (chosen["vocab_size"], chosen["ngram"], chosen["l2"])
        history = histories[key]
        write_json(staging / "history.json", history)
        plot_history(history, staging / "history.png",
                     f"{cfg.recipe} recipe, {chosen['vocab_size']:,} features "
                     f"(validation run used to choose the epochs)")
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
    test = card.get("test")
    lines = [
        f"# Model card: {card['recipe']} recipe on {Path(data['path']).name}", "",
        f"- Score: {labels['score']} ({labels['negative']!r} = 0, {labels['positive']!r} = 1; "
        f"{labels['rule']}).",
        f"- Data: `{data['path']}`, {data['bytes']:,} bytes, sha256 `{data['sha256']}`; "
        f"{data['records']:,} records, classes {json.dumps(data['class_counts'])}, "
        f"{data['blank_texts_skipped']:,} blank texts skipped.",
        f"- Splits (seed {card['splits']['seed']}): fit {card['splits']['fit']:,}, validation "
        f"{card['splits']['validation']:,}, test {card['splits']['test']:,}"
        + (f" ({card['splits']['test_source']})" if card['splits']['test_source'] else "") + ".",
        f"- Chosen on validation: {choices['vocab_size']:,} features, n-gram order "
        f"{choices['ngram']}, L2 {choices['l2']:g}, {choices['epochs']} epochs (validation "
        f"accuracy {card['validation_accuracy']:.4f}); refit on fit + validation.",
        (f"- Test: accuracy {test['accuracy']:.4f}, ROC AUC {test['roc_auc']:.4f}, log loss "
         f"{test['log_loss']:.4f} on {test['n']:,} texts." if test else
         "- Test: none (pass --test-file or --test-fraction for a held-out score)."),
        f"- Intended use: {card['intended_use']}.",
        f"- Versions: {json.dumps(card['versions'])}.", "",
    ]
    return "\n".join(lines)

