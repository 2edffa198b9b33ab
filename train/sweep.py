"""The book's "further experiments": depth, width, loss and activation, one table.

For each variant: the validation run (``cfg.epochs`` epochs, ``cfg.val_size`` held out) gives
the best validation accuracy and its epoch; a fresh model trained that many epochs on all
training reviews gives the test accuracy. Data and vectors are made once for all variants.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np

from imdb_edge import Vectorizer

from .pipeline import (Config, best_epoch, build_vocabulary, check_run_folder, evaluate,
                       fit_final, fit_with_validation, load_data, log, vectorize, write_json)
from imdb_edge._vocab import write_atomic

VARIANTS = {
    "baseline": {},
    "1 hidden layer": {"hidden_layers": 1},
    "3 hidden layers": {"hidden_layers": 3},
    "32 units": {"units": 32},
    "64 units": {"units": 64},
    "mse loss": {"loss": "mse"},
    "tanh": {"activation": "tanh"},
}
SWEEP_FILES = frozenset({"sweep.csv", "sweep.json", "sweep.md"})
COLUMNS = ["variant", "hidden_layers", "units", "activation", "loss", "best_val_accuracy",
           "best_epoch", "test_accuracy", "test_loss"]


def run_sweep(cfg: Config, *, table_path: str | Path | None = None,
              variants: list[str] | None = None) -> list[dict]:
    names = variants or list(VARIANTS)
    out = Path(cfg.out)
    check_run_folder(out, "sweep", written=SWEEP_FILES, marker="sweep.json",
                     marker_keys=("config", "rows"))
    splits, _, data_sha = load_data(cfg.data)
    out.mkdir(parents=True, exist_ok=True)
    vocab = build_vocabulary(splits["train"].texts, cfg)
    vectorizer = Vectorizer(vocab)
    x_train = vectorize(vectorizer, splits["train"].texts, "training reviews")
    x_test = vectorize(vectorizer, splits["test"].texts, "test reviews")
    y_train = splits["train"].labels.astype(np.float32)
    y_test = splits["test"].labels.astype(np.float32)
    rows = []
    for name in names:
        variant = dataclasses.replace(cfg, **VARIANTS[name])
        log(f"variant {name!r}")
        history = fit_with_validation(variant, x_train, y_train)
        epoch = best_epoch(history)
        model = fit_final(variant, x_train, y_train, epochs=epoch)
        test_loss, test_accuracy = evaluate(model, x_test, y_test)
        rows.append({"variant": name, "hidden_layers": variant.hidden_layers,
                     "units": variant.units, "activation": variant.activation,
                     "loss": variant.loss,
                     "best_val_accuracy": round(history["val_accuracy"][epoch - 1], 4),
                     "best_epoch": epoch, "test_accuracy": round(test_accuracy, 4),
                     "test_loss": round(test_loss, 4)})
        log(f"  best val {rows[-1]['best_val_accuracy']} at epoch {epoch}, "
            f"test {rows[-1]['test_accuracy']}")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(out / "sweep.csv", buffer.getvalue().encode())
    write_json(out / "sweep.json", {"config": dataclasses.asdict(cfg), "data_sha256": data_sha,
                                    "rows": rows})
    table = markdown_table(rows)
    write_atomic(out / "sweep.md", table.encode())
    if table_path:
        write_atomic(Path(table_path), table.encode())
    print(table)
    return rows


def markdown_table(rows: list[dict]) -> str:
    head = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
    return head + "".join("| " + " | ".join(str(row[c]) for c in COLUMNS) + " |\n"
                          for row in rows)
