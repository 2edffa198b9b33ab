"""imdb-edge-train: train on your own labeled texts (fit), or rerun the book's IMDB
experiments (reproduce, sweep). Installed as a console script; "python -m train" does the
same from a checkout. TensorFlow is imported only by the commands that train, so without the
train extra every command still answers --help and says what to install.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys

PROG = "imdb-edge-train"
EPILOG = """TensorFlow's native log lines that are not warnings (GPU probing on a machine without
one, graph-rewriting notes) are kept off stderr; IMDB_EDGE_TF_LOGS=all shows them.

examples:
  imdb-edge-train imdb-csv --data aclImdb_v1.tar.gz --out imdb-csv
  imdb-edge-train fit imdb-csv/train.csv --text-column text --label-column label \\
      --recipe accurate --out my-model
  imdb-edge evaluate --model my-model --file imdb-csv/test.csv --text-column text \\
      --label-column label
"""


def _add_common(parser: argparse.ArgumentParser, out_default: str) -> None:
    parser.add_argument("--data", help="aclImdb_v1.tar.gz or its extracted folder "
                        "(default: $IMDB_EDGE_DATA, then the cache folder)")
    parser.add_argument("--download", action="store_true",
                        help="download the official archive to the cache folder if not found")
    parser.add_argument("--out", default=out_default, help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--vocab-size", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--final-epochs", type=int, default=4)
    parser.add_argument("--val-size", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")


def _config(args, **overrides):
    from .pipeline import Config

    fields = {f.name for f in dataclasses.fields(Config)}
    values = {k.replace("-", "_"): v for k, v in vars(args).items() if k in fields}
    values["verbose"] = 0 if args.quiet else 2
    values.update(overrides)
    return Config(**values)


def _add_fit(sub) -> None:
    fit = sub.add_parser(
        "fit", help="train a model on your labeled texts",
        description="Train on labeled texts and write a model folder that imdb_edge.load(), "
        "imdb-edge score --model and imdb-edge evaluate --model use. Settings are chosen on a "
        "validation split of DATA; --test-file or --test-fraction gives a held-out score.")
    fit.add_argument("data", metavar="DATA", help="CSV, TSV, JSON lines or Parquet file "
                     "(.gz read transparently), or a folder with one sub-folder per class")
    fit.add_argument("--out", required=True, help="model folder to write")
    fit.add_argument("--recipe", choices=["book", "accurate"], default="accurate",
                     help="book: the book's 2x16-unit network on words; accurate: NB-scaled "
                     "logistic regression on words and word pairs (default: %(default)s)")
    from imdb_edge.io._labeled import add_input_options

    add_input_options(fit, command="fit")
    fit.add_argument("--classes", help="folder input: the two class sub-folders, A,B")
    fit.add_argument("--test-file", help="labeled test data, same format rules")
    fit.add_argument("--test-fraction", type=float, default=0.0,
                     help="hold out this share of DATA as the test split (default: none)")
    fit.add_argument("--val-fraction", type=float, default=0.2,
                     help="share of DATA used to choose settings (default: %(default)s)")
    fit.add_argument("--seed", type=int, default=42)
    fit.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    fit.add_argument("--progress", choices=["auto", "on", "off"], default="auto",
                     help="progress lines on stderr (auto: when stderr is a terminal)")


def _add_imdb_csv(sub) -> None:
    cmd = sub.add_parser("imdb-csv", help="write the IMDB data set as train.csv and test.csv",
                         description="Write aclImdb's labeled reviews as CSV files (columns "
                         "id, text, label with label pos/neg): an example input for fit and "
                         "imdb-edge evaluate.")
    cmd.add_argument("--data", help="aclImdb_v1.tar.gz or its extracted folder (default: "
                     "$IMDB_EDGE_DATA, then the cache folder)")
    cmd.add_argument("--out", required=True, help="folder for train.csv and test.csv")
    cmd.add_argument("--limit", type=int, help="at most this many reviews per split "
                     "(a balanced, seeded sample)")
    cmd.add_argument("--overwrite", action="store_true",
                     help="replace train.csv and test.csv if --out already has them")


def _add_dense_form(sub) -> None:
    cmd = sub.add_parser("dense-form", help="write a model's dense form (multi-hot input), "
                         "for onnxruntime in other languages",
                         description="Write the dense form of a model: input multi_hot float32 "
                         "[n_texts, V] instead of feature ids; same scores. Needs onnx (the "
                         "train extra). The model's doc_string states the contract.")
    cmd.add_argument("model", help="preset name, model folder or model.onnx")
    cmd.add_argument("--out", required=True, help="the .onnx file to write")
    cmd.add_argument("--overwrite", action="store_true",
                     help="replace --out if it is an imdb-edge model file")


def _need_training_extra() -> str | None:
    missing = [m for m in ("tensorflow", "tf2onnx", "onnx", "scipy", "matplotlib")
               if importlib.util.find_spec(m) is None]
    if missing:
        return (f"training needs {', '.join(missing)}: the train extra, pip install "
                "'.[train]' in an imdb-edge checkout")
    return None


def build_parser() -> argparse.ArgumentParser:
    """The ``imdb-edge-train`` parser (built without TensorFlow; the docs render it)."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_fit(sub)
    _add_imdb_csv(sub)
    _add_dense_form(sub)
    rep = sub.add_parser("reproduce", help="IMDB: the book's experiment: 20-epoch validation run, "
                         "plot, 4-epoch refit, test metrics, ONNX export")
    _add_common(rep, "runs/reproduce")
    rep.add_argument("--hidden-layers", type=int, default=2)
    rep.add_argument("--units", type=int, default=16)
    rep.add_argument("--activation", choices=["relu", "tanh"], default="relu")
    rep.add_argument("--loss", choices=["binary_crossentropy", "mse"], default="binary_crossentropy")
    rep.add_argument("--no-export", action="store_true")
    rep.add_argument("--bundle", action="store_true",
                     help="also copy the exported model into imdb_edge/models/default")
    anyl = sub.add_parser(
        "any-length", help="IMDB: train the default preset (text of any length: sentences to "
        "long reviews; needs vaderSentiment and textblob, both in the train extra)",
        description="Train the bundled default preset from the IMDB archive (its unlabelled "
        "reviews included) and the VADER lexicon: NB-scaled logistic regression on words and "
        "word pairs of tokenizer version 2, every training review's sentences, a lexicon prior "
        "on the weights and a length-aware calibration, each setting chosen on validation data.")
    anyl.add_argument("--data", help="aclImdb_v1.tar.gz or its extracted folder "
                      "(default: $IMDB_EDGE_DATA, then the cache folder)")
    anyl.add_argument("--out", default="runs/any-length", help="output folder (default: %(default)s)")
    anyl.add_argument("--seed", type=int, default=42)
    anyl.add_argument("--bundle", action="store_true",
                      help="copy the model into imdb_edge/models/default")
    sw = sub.add_parser("sweep", help="IMDB: the book's further experiments: layers, units, mse, tanh")
    _add_common(sw, "runs/sweep")
    sw.add_argument("--table", help="also write the markdown table here (e.g. docs/sweep.md)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``imdb-edge-train``; SIGTERM, like Ctrl-C, stops it with every staging folder
    removed (exit 143; 130 for Ctrl-C)."""
    from imdb_edge.cli._main import sigterm_raises, stopped

    try:
        with sigterm_raises():
            return _main(argv)
    except KeyboardInterrupt as exc:
        return stopped(PROG, exc)


def _main(argv: list[str] | None = None) -> int:
    from imdb_edge.cli._main import parse_with_hints

    parser = build_parser()
    commands = next(a.choices for a in parser._actions
                    if isinstance(a, argparse._SubParsersAction))
    args = parse_with_hints(parser, commands, argv)
    if getattr(args, "bundle", False) and getattr(args, "no_export", False):
        parser.error("--bundle needs the export; drop --no-export")

    from imdb_edge.io._data import DataError

    if args.command == "imdb-csv":
        from .imdb_csv import write_imdb_csv

        try:
            for path in write_imdb_csv(args.data, args.out, limit=args.limit,
                                       overwrite=args.overwrite):
                print(path)
        except DataError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "dense-form":
        if importlib.util.find_spec("onnx") is None:
            print(f"{PROG}: error: dense-form needs onnx (not the rest of the train extra): "
                  "pip install onnx",
                  file=sys.stderr)
            return 1
        from imdb_edge._models import resolve_model
        from imdb_edge import ModelError

        from .export import ExportError, dense_from_ids

        try:
            print(dense_from_ids(resolve_model(args.model)[0], args.out,
                                 overwrite=args.overwrite))
        except (ModelError, ExportError, OSError) as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 1
        return 0
    problem = _need_training_extra()
    if problem:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
        return 1
    from ._quiet import native_stderr_filtered

    with native_stderr_filtered():
        if args.command == "fit":
            return _run_fit(parser, args)
        if args.command == "any-length":
            from .any_length import main as any_length_main

            try:
                return any_length_main(args)
            except DataError as exc:
                print(f"{PROG}: error: {exc}", file=sys.stderr)
                return 1
        return _run_imdb(args)


def _run_imdb(args) -> int:
    from imdb_edge import ModelError
    from imdb_edge.io._data import DataError, download, find_data

    from .export import ExportError

    try:
        if args.download:
            try:
                find_data(args.data)
            except DataError:
                args.data = str(download())
        if args.command == "reproduce":
            from .pipeline import reproduce

            cfg = _config(args)
            metrics = reproduce(cfg, export=not args.no_export)
            print(f"test_loss={metrics['test_loss']:.4f} test_accuracy={metrics['test_accuracy']:.4f} "
                  f"best_val_epoch={metrics['best_val_epoch']}")
            if args.bundle:
                from .export import bundle

                print(f"bundled into {bundle(cfg.out, 'book')}")
        elif args.command == "sweep":
            from .sweep import run_sweep

            run_sweep(_config(args), table_path=args.table)
    except (DataError, ModelError, ExportError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _run_fit(parser, args) -> int:
    import json

    from imdb_edge.io._data import DataError

    from .dataset import Source
    from .fit import FitConfig, fit

    classes = None
    if args.classes:
        classes = tuple(c.strip() for c in args.classes.split(","))
        if len(classes) != 2 or not all(classes):
            parser.error("--classes takes two names: A,B")
    if args.delimiter is not None and len(args.delimiter) != 1:
        parser.error("--delimiter must be one character")
    if args.test_file and args.test_fraction:
        parser.error("give --test-file or --test-fraction, not both")

    def source(path):
        return Source(path, args.text_column, args.label_column, args.data_format,
                      args.delimiter, args.encoding, classes, args.csv_quoting)

    try:
        cfg = FitConfig(recipe=args.recipe, seed=args.seed, val_fraction=args.val_fraction,
                        test_fraction=args.test_fraction, positive=args.positive,
                        progress=args.progress == "on" or (args.progress == "auto"
                                                           and sys.stderr.isatty()))
    except ValueError as exc:
        parser.error(str(exc))
    try:
        card = fit(source(args.data), args.out, cfg,
                   test_source=source(args.test_file) if args.test_file else None,
                   overwrite=args.overwrite)
    except DataError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        from imdb_edge.cli._main import stopped

        return stopped(PROG, exc, "; nothing was written")
    summary = {"out": args.out, "labels": card["labels"], "choices": card["choices"],
               "validation_roc_auc": card["validation_roc_auc"],
               "validation_accuracy": card["validation_accuracy"],
               "test_accuracy": card["test_accuracy"],
               "test_roc_auc": None if card["test"] is None else card["test"]["roc_auc"],
               "test_texts_also_in_training": card["splits"]["test_texts_also_in_training"],
               "calibration_ece": {"binning": card["calibration"]["ece_binning"],
                                   **card["calibration"]["validation"]},
               "warnings": card["warnings"]}
    from imdb_edge.io._output import escape_surrogates

    print(escape_surrogates(json.dumps(summary, ensure_ascii=False)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
