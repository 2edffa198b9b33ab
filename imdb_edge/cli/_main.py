"""The ``imdb-edge`` parser and its commands (all but ``bench``): see :mod:`imdb_edge.cli`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import warnings

from ._errors import InputError, UsageError
from ._sniff import EXPLAIN_ADVICE, refuse_records
from .._labels import label_codes, label_names
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
    common.add_argument("--traceback", action="store_true", help="show tracebacks on errors")
    threads = argparse.ArgumentParser(add_help=False)
    threads.add_argument("--threads", type=int, default=1,
                         help="chunks scored at once, 1..64; scores are identical for every "
                         "count (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands = {}

    score = commands["score"] = sub.add_parser(
        "score", parents=[common, threads], help="score reviews",
        description="Score reviews given as arguments, read from a file, or piped on standard "
        "input. A blank line is no review, in every input format. Plain lines end at LF (a CR "
        "before it is dropped); .gz input is read transparently.")
    score.add_argument("texts", nargs="*", metavar="TEXT", help="reviews to score ('-' alone "
                       "= read them from standard input)")
    score.add_argument("--file", "-f", help="read reviews from this file ('-' = stdin, also "
                       "the default when no TEXT is given and stdin is not a terminal)")
    score.add_argument("--input", choices=["auto", "lines", "jsonl", "csv", "tsv", "parquet"],
                       default="auto", help="input format (auto: --field means JSON lines, "
                       "--column CSV; else by the file's extension; else plain lines)")
    score.add_argument("--field", help="JSON lines: the review's field, a.b for a nested one "
                       "(implies --input jsonl; default: text)")
    score.add_argument("--column", help="CSV/TSV/Parquet: the review's column name, or a "
                       "0-based index for CSV (implies --input csv; default: text)")
    score.add_argument("--text-column", help="the review's column or JSON lines field, in "
                       "whatever format --input or the file name gives (as in evaluate and fit)")
    score.add_argument("--keep", "--id-column", dest="keep", metavar="COLUMN",
                       help="carry this input column or field (an id) into JSONL/CSV output, "
                       "so results join back without line numbers; a name the output already "
                       "has (label, probability, ...) is written as input_NAME")
    score.add_argument("--delimiter", help="CSV/TSV field delimiter (default: ',' for CSV, TAB "
                       "for TSV)")
    score.add_argument("--csv-quoting", action="store_true", help="TSV: honour CSV quoting (a "
                       "field in double quotes may hold tabs and line breaks); by default a TSV "
                       "line is one record and quotes are characters")
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
        "explain", parents=[common, threads], help="the words that push a review's score up "
        "or down", description="The probability of one review and the features (words, word "
        "pairs) that push it up or down most, each with its effect on the logit. The review is "
        "an argument, or read from standard input ('-', or nothing with input piped).")
    explain.add_argument("text", nargs="?", help="one review ('-' or none = read it from "
                         "standard input)")
    explain.add_argument("--top", type=int, default=10,
                         help="how many features to show, >= 1 (default: %(default)s)")
    explain.add_argument("--json", action="store_true", help="print JSON")

    info = commands["info"] = sub.add_parser(
        "info", parents=[common], help="the model card, and the bundled presets")
    info.add_argument("--json", action="store_true", help="print JSON")

    decode = commands["decode"] = sub.add_parser(
        "decode", parents=[common], help="feature ids back to words, one per line",
        description="The features (words, word pairs) of the model's vocabulary with these ids "
        "(the ids a model's ids-form input takes: line k after the vocabulary's header is id "
        "k-1), one per line.")
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
    ds.add_argument("--text-column", "--column", dest="text_column", default="text",
                    help="default: %(default)s")
    ds.add_argument("--id-column", "--keep", dest="id_column", help="carry this column into "
                    "the output (default: the row number, as 'row'); a name the output already "
                    "has (probability, label) is written as input_NAME")
    ds.add_argument("--scheduler", default="processes", help="processes (local worker "
                    "processes, default), threads (one process), or a distributed scheduler "
                    "address such as tcp://host:8786")
    ds.add_argument("--workers", type=int, help="local worker processes or threads (default: "
                    "the CPU count)")
    ds.add_argument("--model", help="preset name or model folder (default: $IMDB_EDGE_MODEL, "
                    "else default); workers must see the same path")
    ds.add_argument("--input", "--format", dest="data_format",
                    choices=["parquet", "csv", "jsonl"],
                    help="input format (default: from the extension)")
    ds.add_argument("--blocksize", default="16MiB", help="CSV/JSON lines partition size, "
                    "e.g. 64MB; 0 = one partition a file (default: %(default)s)")
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

    add_input_options(parser, command="evaluate")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="positive when probability > threshold (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--plots", metavar="DIR", help="write reliability.png and roc.png here "
                        "(needs matplotlib)")
    return parser


# -- commands -----------------------------------------------------------------------------

def _load(args):
    return _load_model(args.model, getattr(args, "threads", 1), getattr(args, "vocab", None))


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
                  "pure-Python one (same scores, about 25x slower). "
                  + _vectorizer.fallback_advice(), file=sys.stderr)


def _progress(args, size):
    from ..io._progress import Progress

    enabled = args.progress == "on" or (args.progress == "auto" and args.file is not None
                                        and sys.stderr is not None and sys.stderr.isatty())
    return Progress("imdb-edge", total=size, unit="reviews", enabled=enabled)


def _cmd_score(args) -> int:
    from ._score import run

    if "-" in args.texts:
        if len(args.texts) > 1:
            raise UsageError("'-' (standard input) cannot be mixed with TEXT arguments; to "
                             "score the text '-', use --file with a file holding it")
        args.texts = []
        if args.file is not None:
            raise UsageError("give '-' or --file, not both")
        args.file = "-"
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
    from .._errors import ModelError
    from .._models import from_environment, named_by_environment

    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be >= 1")

    _announce_fallback()
    try:
        return _score_dataset(args)
    except ModelError as exc:
        raise (named_by_environment(exc) if from_environment(args.model) else exc) from None


def _score_dataset(args) -> int:
    from .._models import chosen_model
    from ..engines.dataset import SlowWorkersWarning, score_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("always", SlowWorkersWarning)
        warnings.showwarning = _note_line
        summary = score_dataset(
            args.input, args.output, text_column=args.text_column, id_column=args.id_column,
            model=chosen_model(args.model),     # resolved here: workers may not share the env
            scheduler=args.scheduler, workers=args.workers, fmt=args.data_format,
            overwrite=args.overwrite, blocksize=args.blocksize,
            worker_tracebacks=args.traceback,
            progress=args.progress == "on" or (args.progress == "auto" and sys.stderr is not
                                               None and sys.stderr.isatty()))
    print(json.dumps(summary))
    return 0


def _cmd_explain(args) -> int:
    if args.top < 1:
        raise UsageError("--top must be >= 1")
    text = args.text
    if text is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("give the review as TEXT, or on standard input ('-', or piped)")
        text = "-"
    if text == "-":
        if sys.stdin is None:
            raise InputError("standard input is closed")
        data = sys.stdin.buffer.read(MAX_STDIN_REVIEW + 1)
        if len(data) > MAX_STDIN_REVIEW:
            raise InputError(f"the review on stdin is longer than {MAX_STDIN_REVIEW >> 20} MiB")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise InputError(f"standard input: line {line}: invalid UTF-8 (byte "
                             f"0x{data[exc.start]:02x} at offset {exc.start})") from None
        refuse_records(text, EXPLAIN_ADVICE)
    scorer = _load(args)
    p, known = scorer.score([text], return_known=True)
    probability = float(p[0])
    effects = scorer.explain(text, top=args.top)
    label = label_names(label_codes(p, known), scorer.labels)[0]
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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C, so that every ``finally`` runs: a
    staging folder or temporary file is removed, never left half-written (the default action
    of SIGTERM ends the process at once)."""


def _raise_terminated(signum, frame):
    raise Terminated()


def stopped(prog: str, exc: KeyboardInterrupt, detail: str = "") -> int:
    """Say on stderr that ``prog`` was interrupted (Ctrl-C) or terminated (SIGTERM), and
    return the exit code: 130 or 143, as a shell reports a process ended by that signal."""
    terminated = isinstance(exc, Terminated)
    if sys.stderr is not None:
        print(f"{prog}: {'terminated' if terminated else 'interrupted'}{detail}",
              file=sys.stderr)
    return 143 if terminated else 130


@contextlib.contextmanager
def sigterm_raises():
    """Within: SIGTERM raises :class:`Terminated` (main thread only; else nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(argv: list[str]) -> int:
    """Every command but ``bench`` (see :func:`imdb_edge.cli.main`)."""
    parser, commands = _parser()
    args = parse_with_hints(parser, commands, argv)
    run = {"score": _cmd_score, "explain": _cmd_explain, "info": _cmd_info,
           "decode": _cmd_decode, "evaluate": _cmd_evaluate,
           "score-dataset": _cmd_score_dataset}[args.command]
    with sigterm_raises():
        return _run(args, run, commands)


def _run(args, run, commands) -> int:
    stdout = sys.stdout
    try:
        if stdout is not None:
            sys.stdout = GuardedStream(stdout, "standard output")
        code = run(args)
        if stdout is not None:
            sys.stdout.flush()           # a full disk is reported here, not at exit
        return code
    except UsageError as exc:
        commands[args.command].error(str(exc))   # exits 2, with the sub-command's usage
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error; silence the final flush.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as exc:
        return stopped("imdb-edge", exc)
    except Exception as exc:  # noqa: BLE001 - one line, unless asked for the traceback
        if getattr(args, "traceback", False):
            raise
        if sys.stderr is not None:
            print(f"imdb-edge: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        if stdout is not None:
            sys.stdout = stdout
    return 0


class OutputError(OSError):
    """Writing the results failed (a full disk, a lost mount): the message names the stream."""


class GuardedStream:
    """A text stream (and its ``buffer``) whose failed writes say which stream failed:
    ``standard output: cannot write (No space left on device)``, not a bare ``[Errno 28]``.
    A closed pipe stays :class:`BrokenPipeError` (the reader went away: not an error)."""

    def __init__(self, stream, name: str) -> None:
        self._stream, self._name = stream, name

    def _guard(self, call, *args):
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"{self._name}: cannot write ({exc.strerror or exc})") from None

    def write(self, data):
        return self._guard(self._stream.write, data)

    def flush(self):
        return self._guard(self._stream.flush)

    @property
    def buffer(self):
        inner = getattr(self._stream, "buffer", None)
        return None if inner is None else GuardedStream(inner, self._name)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def parse_with_hints(parser, commands: dict, argv):
    """``parser.parse_args(argv)``, except that an unknown option of a sub-command is reported
    with that sub-command's usage and the closest option it has ("did you mean"), not the
    top-level usage."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        command = commands.get(getattr(args, "command", None), parser)
        command.error(unknown_arguments(command, extras))
    return args


def unknown_arguments(parser, extras: list[str]) -> str:
    import difflib

    known = [o for action in parser._actions for o in action.option_strings]
    message = f"unrecognized arguments: {' '.join(extras)}"
    for extra in extras:
        if extra.startswith("-"):
            close = difflib.get_close_matches(extra.split("=", 1)[0], known, n=1, cutoff=0.6)
            if close:
                return f"{message} (did you mean {close[0]}?)"
    return message


def _one_line(exc: BaseException) -> str:
    """An error message on one line, whatever a library put in it."""
    return " ".join(str(exc).split()) or type(exc).__name__

