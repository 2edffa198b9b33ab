"""The ``imdb-edge`` parser and its commands (all but ``bench``): see :mod:`imdb_edge.cli`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

from ._score import InputError, UsageError
from .._version import __version__

EPILOG = """examples:
  imdb-edge score "This movie was great" "Worst film ever, a total waste"
  imdb-edge score --file reviews.txt --format jsonl > scores.jsonl
  cat reviews.txt | imdb-edge score
  imdb-edge score --file reviews.jsonl --field text --keep id --format csv
  imdb-edge explain "A dull, lifeless script saved by one great performance"
  imdb-edge evaluate --file labeled.csv --model default --model accurate
  imdb-edge info

The model: --model, else $IMDB_EDGE_MODEL, else the bundled "default" (imdb-edge info lists
the bundled presets with their accuracy and speed).
"""
MAX_STDIN_REVIEW = 64 << 20     # explain - reads at most this many bytes


def build_parser() -> argparse.ArgumentParser:
    """The ``imdb-edge`` parser, every command but ``bench``'s own options (see
    :func:`imdb_edge.bench._main.build_parser`); the docs render it."""
    return _parser()[0]


def _parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(
        prog="imdb-edge", description="Sentiment of raw review text (the probability that a "
        "review is positive), on the CPU with onnxruntime.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"imdb-edge {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", help="bundled preset name, model folder or .onnx file "
                        "(default: $IMDB_EDGE_MODEL, else the bundled default model)")
    common.add_argument("--vocab", help="the vocabulary file, when it is not beside the model "
                        "as vocab.txt or vocab.txt.gz")
    common.add_argument("--threads", type=int, default=1,
                        help="chunks scored at once, 1..64; scores are identical for every "
                        "count (default: %(default)s)")
    common.add_argument("--traceback", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands = {}

    score = commands["score"] = sub.add_parser(
        "score", parents=[common], help="score reviews",
        description="Score reviews given as arguments, read from a file, or piped on standard "
        "input. A blank line is no review, in every input format. Plain lines end at LF (a CR "
        "before it is dropped); .gz input is read transparently.")
    score.add_argument("texts", nargs="*", metavar="TEXT", help="reviews to score")
    score.add_argument("--file", "-f", help="read reviews from this file ('-' = stdin, also "
                       "the default when no TEXT is given and stdin is not a terminal)")
    score.add_argument("--input", choices=["auto", "lines", "jsonl", "csv", "tsv", "parquet"],
                       default="auto", help="input format (auto: --field means JSON lines, "
                       "--column CSV; else by the file's extension; else plain lines)")
    score.add_argument("--field", help="JSON lines: the review's field, a.b for a nested one "
                       "(implies --input jsonl; default: text)")
    score.add_argument("--column", help="CSV/TSV/Parquet: the review's column name, or a "
                       "0-based index for CSV (implies --input csv; default: text)")
    score.add_argument("--keep", metavar="COLUMN", help="carry this input column or field (an "
                       "id) into JSONL/CSV output, so results join back without line numbers")
    score.add_argument("--delimiter", help="CSV/TSV field delimiter (default: ',' for CSV, TAB "
                       "for TSV)")
    score.add_argument("--encoding", default="utf-8", help="input encoding, e.g. latin-1, "
                       "cp1252, utf-16 (default: %(default)s; a UTF-16 byte-order mark is "
                       "detected)")
    score.add_argument("--format", choices=["text", "jsonl", "csv"], default="text",
                       help="output: 'probability TAB label', or JSON lines / CSV with index, "
                       "line, kept column, probability, label, label_id, known_features")
    score.add_argument("--threshold", type=float, default=0.5,
                       help="label is positive above this probability (default: %(default)s)")
    score.add_argument("--batch-size", type=int, default=1024,
                       help="reviews read and scored at a time (default: %(default)s); a "
                       "stalled pipe gets its answers without waiting for a full batch")
    score.add_argument("--encoding-errors", choices=["strict", "replace"], default="strict",
                       help="undecodable input: fail naming the line (strict) or use U+FFFD")
    score.add_argument("--progress", choices=["auto", "on", "off"], default="auto",
                       help="progress on stderr: rate, and percentage and time left for a "
                       "file (auto: when stderr is a terminal and input a file)")

    explain = commands["explain"] = sub.add_parser(
        "explain", parents=[common], help="the words that push a review's score up or down")
    explain.add_argument("text", help="one review ('-' = read it from stdin)")
    explain.add_argument("--top", type=int, default=10,
                         help="how many features to show, >= 1 (default: %(default)s)")
    explain.add_argument("--json", action="store_true", help="print JSON")

    info = commands["info"] = sub.add_parser(
        "info", parents=[common], help="the model card, and the bundled presets")
    info.add_argument("--json", action="store_true", help="print JSON")

    decode = commands["decode"] = sub.add_parser(
        "decode", parents=[common], help="feature ids back to words, one per line")
    decode.add_argument("ids", nargs="+", metavar="ID", help="feature ids (integers)")
    decode.add_argument("--json", action="store_true", help="print a JSON list")

    commands["evaluate"] = _add_evaluate(sub)

    ds = commands["score-dataset"] = sub.add_parser(
        "score-dataset", help="score a dataset on Dask (local processes or a cluster)",
        description="Score every row of Parquet, CSV or JSON lines files (a file, a folder, or "
        "an fsspec URL) on Dask and write Parquet files (one per partition) with the id (or "
        "row), probability and label. Needs the dask extra: pip install '.[dask]' in an imdb-edge checkout.")
    ds.add_argument("input", metavar="INPUT", help="file, folder or URL to read")
    ds.add_argument("output", metavar="OUTPUT", help="folder to write (must not exist unless "
                    "--overwrite)")
    ds.add_argument("--text-column", default="text", help="default: %(default)s")
    ds.add_argument("--id-column", help="carry this column into the output (default: the row "
                    "number, as 'row')")
    ds.add_argument("--scheduler", default="processes", help="processes (local worker "
                    "processes, default), threads (one process), or a distributed scheduler "
                    "address such as tcp://host:8786")
    ds.add_argument("--workers", type=int, help="local worker processes or threads (default: "
                    "the CPU count)")
    ds.add_argument("--model", help="preset name or model folder (default: $IMDB_EDGE_MODEL, "
                    "else default); workers must see the same path")
    ds.add_argument("--format", dest="data_format", choices=["parquet", "csv", "jsonl"],
                    help="input format (default: from the extension)")
    ds.add_argument("--blocksize", default="16MiB", help="CSV/JSON lines partition size "
                    "(default: %(default)s)")
    ds.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    ds.add_argument("--progress", choices=["auto", "on", "off"], default="auto",
                    help="partitions done on stderr (auto: when stderr is a terminal)")
    ds.add_argument("--traceback", action="store_true", help="show tracebacks on errors")

    # Listed for --help only: imdb_edge.cli.main() hands "bench ..." to imdb_edge.bench
    # before parsing.
    sub.add_parser("bench", help="latency and throughput beside the alternatives "
                   "(imdb-edge bench --help)")
    return parser, commands


def _add_evaluate(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "evaluate", help="accuracy, AUC, calibration on labeled texts",
        description="Score labeled texts with one or more models and report accuracy, ROC AUC, "
        "log loss, Brier score, expected calibration error, the confusion matrix, the best "
        "thresholds and per-class precision/recall. Input: CSV, TSV, JSON lines, Parquet "
        "(.gz read transparently) or a folder with one sub-folder per class.")
    parser.add_argument("--file", required=True, help="labeled data (file or folder)")
    parser.add_argument("--model", action="append", help="bundled preset name, model folder or "
                        ".onnx file; repeat to compare models side by side (default: "
                        "$IMDB_EDGE_MODEL, else the bundled default model)")
    parser.add_argument("--threads", type=int, default=1, help="chunks scored at once, 1..64 "
                        "(default: %(default)s)")
    parser.add_argument("--traceback", action="store_true", help="show tracebacks on errors")
    from ..io._labeled import add_input_options

    add_input_options(parser)
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="positive when probability > threshold (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--plots", metavar="DIR", help="write reliability.png and roc.png here "
                        "(needs matplotlib)")
    return parser


# -- commands -----------------------------------------------------------------------------

def _load(args):
    return _load_model(args.model, args.threads, getattr(args, "vocab", None))


def _load_model(model, threads: int, vocab=None):
    from .._scorer import MAX_THREADS, load

    if not 1 <= threads <= MAX_THREADS:
        raise UsageError(f"--threads must be in 1..{MAX_THREADS}")
    _announce_fallback()
    return load(model, threads=threads, vocab=vocab)


def _announce_fallback() -> None:
    """One ``imdb-edge: warning:`` line when the compiled vectorizer is missing."""
    import warnings

    from .. import _vectorizer

    if _vectorizer._vectorize_c is None and os.environ.get(_vectorizer.PURE_PYTHON_ENV) != "1":
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="imdb_edge")
        _vectorizer._warned_fallback = True
        if sys.stderr is not None:
            print("imdb-edge: warning: the compiled vectorizer is not available; using the "
                  "pure-Python one (same scores, about 25x slower)", file=sys.stderr)


def _progress(args, size):
    from ..io._progress import Progress

    enabled = args.progress == "on" or (args.progress == "auto" and args.file is not None
                                        and sys.stderr is not None and sys.stderr.isatty())
    return Progress("imdb-edge", total=size, unit="reviews", enabled=enabled)


def _cmd_score(args) -> int:
    from ._score import run

    if not args.texts and args.file is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("give reviews as TEXT arguments, with --file, or on standard "
                             "input")
        args.file = "-"
    return run(args, _load, _progress)


def _cmd_evaluate(args) -> int:
    from ._evaluate import run

    return run(args, _load_model)


def _note_line(message, *_args, **_kwargs) -> None:
    if sys.stderr is not None:
        print(f"imdb-edge: note: {message}", file=sys.stderr)


def _cmd_score_dataset(args) -> int:
    from .._models import chosen_model
    from ..engines.dataset import SlowWorkersWarning, score_dataset

    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be >= 1")
    _announce_fallback()
    with warnings.catch_warnings():
        warnings.simplefilter("always", SlowWorkersWarning)
        warnings.showwarning = _note_line
        summary = score_dataset(
            args.input, args.output, text_column=args.text_column, id_column=args.id_column,
            model=chosen_model(args.model),     # resolved here: workers may not share the env
            scheduler=args.scheduler, workers=args.workers, fmt=args.data_format,
            overwrite=args.overwrite, blocksize=args.blocksize,
            progress=args.progress == "on" or (args.progress == "auto" and sys.stderr is not
                                               None and sys.stderr.isatty()))
    print(json.dumps(summary))
    return 0


def _cmd_explain(args) -> int:
    if args.top < 1:
        raise UsageError("--top must be >= 1")
    text = args.text
    if text == "-":
        if sys.stdin is None:
            raise InputError("standard input is closed")
        data = sys.stdin.buffer.read(MAX_STDIN_REVIEW + 1)
        if len(data) > MAX_STDIN_REVIEW:
            raise InputError(f"the review on stdin is longer than {MAX_STDIN_REVIEW >> 20} MiB")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"stdin: invalid UTF-8 at byte {exc.start}") from None
    scorer = _load(args)
    probability = float(scorer.score([text])[0])
    effects = scorer.explain(text, top=args.top)
    label = scorer.labels[int(probability > 0.5)]
    if args.json:
        print(json.dumps({"probability": probability, "label": label,
                          "effects": [e.as_dict() for e in effects]}, ensure_ascii=False))
        return 0
    print(f"probability {probability:.4f} ({label})")
    if not effects:
        print("no word of this review is in the model's vocabulary")
    for item in effects:
        print(f"{item.effect:+.4f}  {item.feature}")
    return 0


def _cmd_info(args) -> int:
    card = _load(args).info
    presets = preset_table()
    if args.json:
        print(json.dumps({**card, "presets": presets}, indent=2, sort_keys=True,
                         ensure_ascii=False))
        return 0
    width = max(len(k) for k in card)
    for key in sorted(card):
        print(f"{key:<{width}}  {card[key]}")
    print("\nbundled presets (choose with --model NAME or IMDB_EDGE_MODEL=NAME):")
    for row in presets:
        print(f"  {row['name']:<10} test accuracy {row['test_accuracy']:.4f}, "
              f"{row['features']:,} features, {row['speed']}")
    return 0


def preset_table() -> list[dict]:
    """The bundled presets with their test accuracy, size and measured speed."""
    from .._models import _SPEED, presets
    from .._scorer import load

    rows = []
    for name in presets():
        scorer = load(name)
        rows.append({"name": name,
                     "test_accuracy": float(scorer.metadata.get("test_accuracy", "nan")),
                     "features": len(scorer.vectorizer.vocabulary),
                     "speed": _SPEED.get(name, "not measured")})
    return rows


def _cmd_decode(args) -> int:
    ids = []
    for value in args.ids:
        try:
            ids.append(int(value, 10))
        except ValueError:
            raise UsageError(f"ID must be an integer, not {value!r}") from None
    words = _load(args).decode(ids)
    if args.json:
        print(json.dumps(words, ensure_ascii=False))
    else:
        print("\n".join(words))
    return 0


def run(argv: list[str]) -> int:
    """Every command but ``bench`` (see :func:`imdb_edge.cli.main`)."""
    parser, commands = _parser()
    args = parser.parse_args(argv)
    run = {"score": _cmd_score, "explain": _cmd_explain, "info": _cmd_info,
           "decode": _cmd_decode, "evaluate": _cmd_evaluate,
           "score-dataset": _cmd_score_dataset}[args.command]
    try:
        return run(args)
    except UsageError as exc:
        commands[args.command].error(str(exc))   # exits 2, with the sub-command's usage
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error; silence the final flush.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("imdb-edge: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, unless asked for the traceback
        if getattr(args, "traceback", False):
            raise
        if sys.stderr is not None:
            print(f"imdb-edge: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    return 0


def _one_line(exc: BaseException) -> str:
    """An error message on one line, whatever a library put in it."""
    return " ".join(str(exc).split()) or type(exc).__name__

