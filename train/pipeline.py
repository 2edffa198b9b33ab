"""The book's IMDB experiment from raw text, as plain steps.

data -> vocabulary -> vectorize -> model -> fit (with validation) -> plot -> refit -> evaluate
-> export -> verify. The CLI (``python -m train``) composes them; each is callable alone.
TensorFlow is imported inside the functions that need it, so ``--help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imdb_edge import Vectorizer, Vocabulary, __version__
from imdb_edge.io._data import DataError, Split, find_data, read_imdb, sha256_of
from imdb_edge._vocab import write_atomic


@dataclass
class Config:
    """One run's settings; written beside its outputs as ``config.json``."""

    data: str | None = None
    out: str = "runs/reproduce"
    seed: int = 42
    vocab_size: int = 10_000
    ngram: int = 1
    hidden_layers: int = 2
    units: int = 16
    activation: str = "relu"
    loss: str = "binary_crossentropy"
    learning_rate: float = 1e-3
    batch_size: int = 512
    epochs: int = 20
    val_size: int = 10_000
    final_epochs: int = 4
    verbose: int = 2

    def __post_init__(self) -> None:
        checks = {
            "vocab_size": self.vocab_size >= 1, "hidden_layers": self.hidden_layers >= 0,
            "units": self.units >= 1, "epochs": self.epochs >= 1,
            "final_epochs": self.final_epochs >= 1, "batch_size": self.batch_size >= 1,
            "val_size": self.val_size >= 1, "ngram": 1 <= self.ngram <= 3,
            "activation": self.activation in ("relu", "tanh"),
            "loss": self.loss in ("binary_crossentropy", "mse"),
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"invalid {name}. Received: {name}={getattr(self, name)!r}")


RUN_FILES = frozenset({"config.json", "vocab.txt", "history.json", "history.png",
                       "metrics.json", "model.onnx", "model_dense.onnx"})
"""What ``reproduce`` (and ``python -m train.accurate``) write into ``--out``."""


def check_run_folder(out: str | os.PathLike, command: str, written=RUN_FILES,
                     marker: str = "config.json", marker_keys=None) -> None:
    """Refuse an ``--out`` that a rerun of ``command`` would write into but that is not an
    earlier run's folder: a file, or a folder holding anything ``command`` does not write, or
    files named like its own but without its ``marker`` (a JSON object with ``marker_keys``).
    A new or empty folder, or an earlier run's, is fine: a rerun replaces its own files.

    Raises:
        DataError: naming the folder and what it holds.
    """
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise DataError(f"--out {out} exists and is not a folder; choose another --out")
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith(".export-"))
    if not names:
        return
    foreign = [n for n in names if n not in written]
    if not foreign:
        try:
            found = json.loads((out / marker).read_text(encoding="utf-8"))
            ours = isinstance(found, dict) and set(marker_keys or ()) <= set(found)
        except (OSError, ValueError):
            ours = False
        if ours:
            return
    shown = ", ".join((foreign or names)[:8]) + (" ..." if len(foreign or names) > 8 else "")
    raise DataError(f"--out {out} is not a folder {command} wrote (it holds {shown}); "
                    f"{command} writes its files there, replacing any of the same name, so "
                    "choose a new or empty folder")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- steps ----------------------------------------------------------------------------------

def load_data(source: str | os.PathLike | None) -> tuple[dict[str, Split], Path, str]:
    """The train and test splits, where they were read from, and the source's sha256."""
    path = find_data(source)
    log(f"reading reviews from {path}")
    start = time.perf_counter()
    splits = read_imdb(path)
    digest = sha256_of(path)
    log(f"read {len(splits['train'])} train + {len(splits['test'])} test reviews "
        f"in {time.perf_counter() - start:.1f} s")
    return splits, path, digest


def build_vocabulary(texts: list[str], cfg: Config) -> Vocabulary:
    start = time.perf_counter()
    vocab = Vocabulary.build(texts, size=cfg.vocab_size, ngram=cfg.ngram)
    log(f"vocabulary: {len(vocab)} features in {time.perf_counter() - start:.1f} s "
        f"({vocab.checksum[:19]}…)")
    return vocab


def vectorize(vectorizer: Vectorizer, texts: list[str], what: str = "texts") -> np.ndarray:
    start = time.perf_counter()
    x = vectorizer.transform(texts)
    log(f"vectorized {len(texts)} {what} -> {x.shape} ({vectorizer.backend}) "
        f"in {time.perf_counter() - start:.2f} s")
    return x


def seed_everything(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds, and deterministic TF kernels."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_model(cfg: Config, n_features: int):
    """The book's network: ``hidden_layers`` x Dense(units, activation) -> Dense(1, sigmoid)."""
    import keras

    model = keras.Sequential([keras.Input(shape=(n_features,), name="multi_hot")])
    for _ in range(cfg.hidden_layers):
        model.add(keras.layers.Dense(cfg.units, activation=cfg.activation))
    model.add(keras.layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=cfg.learning_rate),
                  loss=cfg.loss, metrics=["accuracy"])
    return model


def split_validation(x: np.ndarray, y: np.ndarray, cfg: Config):
    """Shuffle with the seed, hold out the first ``val_size`` reviews for validation."""
    if cfg.val_size >= len(y):
        raise ValueError(f"val_size={cfg.val_size} leaves no training reviews out of {len(y)}")
    order = np.random.default_rng(cfg.seed).permutation(len(y))
    val, rest = order[:cfg.val_size], order[cfg.val_size:]
    return (x[rest], y[rest]), (x[val], y[val])


def fit_with_validation(cfg: Config, x: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    """The 20-epoch run with a held-out validation set; returns the Keras history."""
    (x_part, y_part), (x_val, y_val) = split_validation(x, y, cfg)
    seed_everything(cfg.seed)
    model = build_model(cfg, x.shape[1])
    log(f"fitting {cfg.epochs} epochs on {len(y_part)} reviews, validating on {len(y_val)}")
    history = model.fit(x_part, y_part, epochs=cfg.epochs, batch_size=cfg.batch_size,
                        validation_data=(x_val, y_val), verbose=cfg.verbose)
    return {key: [float(v) for v in values] for key, values in history.history.items()}


def best_epoch(history: dict[str, list[float]]) -> int:
    """1-based epoch of the highest validation accuracy (the earliest on ties)."""
    return int(np.argmax(history["val_accuracy"])) + 1


def fit_final(cfg: Config, x: np.ndarray, y: np.ndarray, epochs: int | None = None):
    """A fresh model on all training reviews for ``epochs`` (default ``final_epochs``)."""
    epochs = epochs or cfg.final_epochs
    seed_everything(cfg.seed)
    model = build_model(cfg, x.shape[1])
    order = np.random.default_rng(cfg.seed).permutation(len(y))
    log(f"fitting a fresh model {epochs} epochs on all {len(y)} training reviews")
    model.fit(x[order], y[order], epochs=epochs, batch_size=cfg.batch_size, verbose=cfg.verbose)
    return model


def evaluate(model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    loss, accuracy = model.evaluate(x, y, batch_size=2048, verbose=0)
    return float(loss), float(accuracy)


def predict(model, x: np.ndarray) -> np.ndarray:
    """Probabilities, float32 ``(n,)``: a direct call in batches (no ``predict`` progress bar)."""
    out = [np.asarray(model(x[i:i + 4096], training=False)).reshape(-1)
           for i in range(0, len(x), 4096)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def plot_history(history: dict[str, list[float]], path: Path, title: str = "",
                 best: int | None = None) -> Path:
    """Two panels as in the book: loss and accuracy, training vs validation, by epoch; a
    dotted line at epoch ``best`` (default: the best validation accuracy)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = range(1, len(history["loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, label in ((ax_loss, "loss", "Loss"), (ax_acc, "accuracy", "Accuracy")):
        ax.plot(epochs, history[key], "bo", label=f"Training {label.lower()}")
        ax.plot(epochs, history[f"val_{key}"], "b-", label=f"Validation {label.lower()}")
        ax.set_xlabel("Epochs")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.set_title(f"Training and validation {label.lower()}")
        ax.legend()
    best = best or best_epoch(history)
    ax_acc.axvline(best, color="grey", linestyle=":", linewidth=1)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    out = {"python": platform.python_version(), "numpy": np.__version__,
           "tensorflow": tf.__version__, "keras": keras.__version__, "imdb_edge": __version__}
    try:
        import tf2onnx
        out["tf2onnx"] = tf2onnx.__version__
    except ImportError:
        pass
    return out


def write_json(path: Path, payload) -> None:
    from imdb_edge.io._output import escape_surrogates

    text = escape_surrogates(json.dumps(payload, indent=2, ensure_ascii=False))
    write_atomic(path, (text + "\n").encode())


# -- the whole experiment -------------------------------------------------------------------

def reproduce(cfg: Config, *, export: bool = True) -> dict:
    """Run the book's experiment and write everything to ``cfg.out``; returns the metrics."""
    out = Path(cfg.out)
    check_run_folder(out, "reproduce", marker_keys=("vocab_size", "hidden_layers", "epochs"))
    splits, data_path, data_sha = load_data(cfg.data)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", dataclasses.asdict(cfg))
    train, test = splits["train"], splits["test"]
    vocab = build_vocabulary(train.texts, cfg)
    vocab.save(out / "vocab.txt")
    vectorizer = Vectorizer(vocab)
    x_train = vectorize(vectorizer, train.texts, "training reviews")
    y_train = train.labels.astype(np.float32)
    x_test = vectorize(vectorizer, test.texts, "test reviews")
    y_test = test.labels.astype(np.float32)

    history = fit_with_validation(cfg, x_train, y_train)
    write_json(out / "history.json", history)
    plot_history(history, out / "history.png",
                 f"IMDB, {cfg.hidden_layers}x Dense({cfg.units}, {cfg.activation}), {cfg.loss}")
    peak = best_epoch(history)
    log(f"validation accuracy peaks at epoch {peak}: {history['val_accuracy'][peak - 1]:.4f}")

    model = fit_final(cfg, x_train, y_train)
    test_loss, test_accuracy = evaluate(model, x_test, y_test)
    probabilities = predict(model, x_test)
    log(f"test loss {test_loss:.4f}, test accuracy {test_accuracy:.4f}")
    metrics = {
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "final_epochs": cfg.final_epochs,
        "best_val_epoch": peak,
        "best_val_accuracy": history["val_accuracy"][peak - 1],
        "validation_history": {"val_loss": history["val_loss"],
                               "val_accuracy": history["val_accuracy"]},
        "first_10_test_probabilities": [round(float(p), 6) for p in probabilities[:10]],
        "first_10_test_files": test.names[:10],
        "first_10_test_labels": test.labels[:10].tolist(),
        "n_train": len(train), "n_test": len(test),
        "data": str(data_path), "data_sha256": data_sha,
        "vocabulary_checksum": vocab.checksum,
        "seed": cfg.seed,
        "versions": versions(),
    }
    if export:
        from .export import export_model

        paths = export_model(model, vocab, out, test_texts=test.texts,
                             keras_probabilities=probabilities, metrics=metrics)
        metrics["exported"] = {name: str(p) for name, p in paths.items()}
    write_json(out / "metrics.json", metrics)
    log(f"wrote {out}")
    return metrics
