"""``imdb-edge``: score reviews from the command line.

Exit codes: 0 ok, 2 usage error, 1 any other failure (one line on stderr; ``--traceback``
shows the whole story). Nothing heavier than argparse is imported before it is needed, so
``--help`` and ``--version`` answer at once even where importing onnxruntime takes seconds.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys

from ._version import __version__

EPILOG = """examples:
  imdb-edge score "This movie was great" "Worst film ever, a total waste"
  imdb-edge score --file reviews.txt --format jsonl > scores.jsonl
  cat reviews.jsonl | imdb-edge score --file - --input jsonl --field text
  imdb-edge explain "A dull, lifeless script saved by one great performance"
  imdb-edge info
"""


class UsageError(Exception):
    """Wrong combination of arguments: exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imdb-edge", description="Sentiment of raw movie-review text (probability that a "
        "review is positive), on the CPU with onnxruntime.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"imdb-edge {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", help="bundled preset name, model folder or .onnx file "
                        "(default: the bundled default model)")
    common.add_argument("--threads", type=int, default=1,
                        help="chunks scored at once, 1..64; scores are identical for every "
                        "count (default: %(default)s)")
    common.add_argument("--traceback", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    score = sub.add_parser("score", parents=[common], help="score reviews",
                           description="Score reviews given as arguments or read from a file.")
    score.add_argument("texts", nargs="*", metavar="TEXT", help="reviews to score")
    score.add_argument("--file", "-f", help="read reviews from this file ('-' = stdin); in line "
                       "mode a review ends at LF (a CR before it is dropped; a lone CR is part "
                       "of the review)")
    score.add_argument("--input", choices=["auto", "lines", "jsonl", "csv"], default="auto",
                       help="file format: one review per line, JSON lines or CSV "
                       "(auto: by extension, else lines)")
    score.add_argument("--field", default="text", help="JSON lines: the review's key")
    score.add_argument("--column", default="text", help="CSV: the review's column name or 0-based index")
    score.add_argument("--format", choices=["text", "jsonl", "csv"], default="text",
                       help="output: 'probability<TAB>label', JSON lines or CSV")
    score.add_argument("--threshold", type=float, default=0.5,
                       help="label is positive above this probability (default: %(default)s)")
    score.add_argument("--batch-size", type=int, default=1024,
                       help="reviews read and scored at a time (default: %(default)s)")
    score.add_argument("--encoding-errors", choices=["strict", "replace"], default="strict",
                       help="invalid UTF-8 in the input: fail (strict) or use U+FFFD")
    score.add_argument("--progress", choices=["auto", "on", "off"], default="auto",
                       help="progress on stderr (auto: when stderr is a terminal and input a file)")

    explain = sub.add_parser("explain", parents=[common],
                             help="the words that push a review's score up or down")
    explain.add_argument("text", help="one review")
    explain.add_argument("--top", type=int, default=10,
                         help="how many features to show, >= 1 (default: %(default)s)")
    explain.add_argument("--json", action="store_true", help="print JSON")

    info = sub.add_parser("info", parents=[common], help="the model card")
    info.add_argument("--json", action="store_true", help="print JSON")

    decode = sub.add_parser("decode", parents=[common], help="feature ids back to words")
    decode.add_argument("ids", nargs="+", type=int, metavar="ID")

    _add_evaluate(sub)

    # Listed for --help only: main() hands "bench ..." to imdb_edge._bench before parsing.
    sub.add_parser("bench", help="latency and throughput beside the alternatives "
                   "(imdb-edge bench --help)")
    return parser


def _add_evaluate(sub) -> None:
    parser = sub.add_parser(
        "evaluate", help="accuracy, AUC, calibration on labeled texts",
        description="Score labeled texts with one or more models and report accuracy, ROC AUC, "
        "log loss, Brier score, expected calibration error, the confusion matrix, the best "
        "thresholds and per-class precision/recall. Input: CSV, TSV, JSON lines, Parquet "
        "(.gz read transparently) or a folder with one sub-folder per class.")
    parser.add_argument("--file", required=True, help="labeled data (file or folder)")
    parser.add_argument("--model", action="append", help="bundled preset name, model folder or "
                        ".onnx file; repeat to compare models side by side (default: the "
                        "bundled default model)")
    parser.add_argument("--threads", type=int, default=1, help="chunks scored at once, 1..64 "
                        "(default: %(default)s)")
    parser.add_argument("--traceback", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--text-column", default="text", help="default: %(default)s; JSON "
                        "lines: a.b for a nested field")
    parser.add_argument("--label-column", default="label", help="default: %(default)s")
    parser.add_argument("--format", dest="data_format",
                        choices=["csv", "tsv", "jsonl", "parquet", "folder"],
                        help="input format (default: from the name; a folder is 'folder')")
    parser.add_argument("--delimiter", help="CSV/TSV field delimiter (default: ',' or TAB)")
    parser.add_argument("--encoding", default="utf-8", help="text encoding (default: %(default)s)")
    parser.add_argument("--positive", help="the label that is the positive class (default: "
                        "the model's, or the obvious one of 1/0, true/false, pos/neg, ...)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="positive when probability > threshold (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--plots", metavar="DIR", help="write reliability.png and roc.png here "
                        "(needs matplotlib)")


# -- reading reviews ----------------------------------------------------------------------

class InputError(ValueError):
    """Bad input data: the message names the line (and byte offset where it applies)."""


def _binary_input(path: str):
    if path == "-":
        if sys.stdin is None:
            raise InputError("standard input is closed")
        return sys.stdin.buffer
    return open(path, "rb")


def _lines(handle, errors: str):
    """``(number, text)`` of each line of a binary stream, split at LF only (a CR before the
    LF is dropped, a lone CR kept) and decoded as UTF-8. Read 1 MiB at a time, so a huge
    line neither hides Ctrl-C for long nor splits anywhere but at LF.

    Raises:
        InputError: invalid UTF-8, naming the line and the byte offset in the input.
    """
    number, offset, pending = 0, 0, b""
    while True:
        block = handle.read(1 << 20)
        if not block:
            break
        pending += block
        if b"\n" not in block:
            continue
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            number += 1
            yield number, _decode(raw[:-1] if raw.endswith(b"\r") else raw, number, offset,
                                  errors)
            offset += len(raw) + 1
    if pending:
        number += 1
        yield number, _decode(pending[:-1] if pending.endswith(b"\r") else pending, number,
                              offset, errors)


def _decode(raw: bytes, number: int, offset: int, errors: str) -> str:
    try:
        return raw.decode("utf-8", errors)
    except UnicodeDecodeError as exc:
        raise InputError(f"line {number}: invalid UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
                         f"{offset + exc.start} of the input); use --encoding-errors replace "
                         "to score it anyway") from None


def _input_kind(args) -> str:
    if args.input != "auto":
        return args.input
    name = (args.file or "").lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    return "lines"


def _reviews(lines, kind: str, args):
    """Yield reviews one by one from ``(number, line)`` pairs; errors name the line."""
    if kind == "lines":
        for _, line in lines:
            yield line
    elif kind == "jsonl":
        for number, line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:   # JSONDecodeError, and e.g. integers of > 4,300 digits
                reason = getattr(exc, "msg", None) or str(exc).split(":")[0]
                raise InputError(f"line {number}: not valid JSON ({reason})") from None
            if not isinstance(record, dict) or args.field not in record:
                raise InputError(f"line {number}: no field {args.field!r}")
            if not isinstance(record[args.field], str):
                raise InputError(f"line {number}: field {args.field!r} is "
                                 f"{type(record[args.field]).__name__}, expected a string")
            yield record[args.field]
    else:
        csv.field_size_limit(2**31 - 1)   # a review may be long; memory is bounded by the line
        numbered = iter(lines)
        state = {"number": 0}

        def with_newlines():
            for number, line in numbered:
                state["number"] = number
                yield line + "\n"

        reader = csv.reader(with_newlines())
        try:
            header = next(reader, None)
            if header is None:
                return
            if args.column.isdigit():
                column = int(args.column)
            elif args.column in header:
                column = header.index(args.column)
            else:
                raise InputError(f"CSV has no column {args.column!r} "
                                 f"(columns: {', '.join(header)})")
            for row in reader:
                if column >= len(row):
                    raise InputError(f"CSV line {state['number']} has no column {args.column!r}")
                yield row[column]
        except csv.Error as exc:
            raise InputError(f"CSV line {state['number']}: {exc}") from None


def _batches(iterator, size: int):
    """Lists of up to ``size`` items; an error while reading is raised only after the items
    read before it have been handed out, so everything before a bad line is scored."""
    batch = []
    try:
        for item in iterator:
            batch.append(item)
            if len(batch) == size:
                yield batch
                batch = []
    except Exception:
        if batch:
            yield batch
        raise
    if batch:
        yield batch


# -- commands -----------------------------------------------------------------------------

def _load(args):
    return _load_model(args.model, args.threads)


def _load_model(model, threads: int):
    from ._scorer import MAX_THREADS, load

    if not 1 <= threads <= MAX_THREADS:
        raise UsageError(f"--threads must be in 1..{MAX_THREADS}")
    return load(model, threads=threads)


def _cmd_evaluate(args) -> int:
    from ._evaluate import run

    return run(args, _load_model)


def _cmd_score(args) -> int:
    if bool(args.texts) == bool(args.file):
        raise UsageError("give reviews as TEXT arguments or with --file, not both or neither")
    if args.batch_size < 1:
        raise UsageError("--batch-size must be >= 1")
    if not 0.0 <= args.threshold <= 1.0:
        raise UsageError("--threshold must be in [0, 1]")
    scorer = _load(args)
    out = sys.stdout
    if out is None:
        raise InputError("standard output is closed")
    writer = csv.writer(out, lineterminator="\n") if args.format == "csv" else None
    if writer:
        writer.writerow(["index", "probability", "label", "label_id"])
    names = scorer.labels
    progress = args.progress == "on" or (args.progress == "auto" and args.file is not None
                                         and sys.stderr.isatty())
    handle = _binary_input(args.file) if args.file else None
    try:
        source = (_reviews(_lines(handle, args.encoding_errors), _input_kind(args), args)
                  if handle else iter(args.texts))
        index = 0
        for batch in _batches(source, args.batch_size):
            probabilities = scorer.score(batch)
            for p in probabilities:
                p = float(p)
                label = int(p > args.threshold)
                if args.format == "jsonl":
                    out.write(json.dumps({"index": index, "probability": round(p, 6),
                                          "label": names[label], "label_id": label},
                                         ensure_ascii=False) + "\n")
                elif writer:
                    writer.writerow([index, f"{p:.6f}", names[label], label])
                else:
                    out.write(f"{p:.4f}\t{names[label]}\n")
                index += 1
            out.flush()
            if progress:
                print(f"\rimdb-edge: {index:,} reviews scored", end="", file=sys.stderr)
        if progress:
            print(file=sys.stderr)
    finally:
        if handle is not None and args.file != "-":
            handle.close()
    return 0


def _cmd_explain(args) -> int:
    if args.top < 1:
        raise UsageError("--top must be >= 1")
    scorer = _load(args)
    probability = float(scorer.score([args.text])[0])
    effects = scorer.explain(args.text, top=args.top)
    if args.json:
        print(json.dumps({"probability": probability, "effects": effects}, ensure_ascii=False))
        return 0
    print(f"probability {probability:.4f} ({scorer.labels[int(probability > 0.5)]})")
    if not effects:
        print("no word of this review is in the model's vocabulary")
    for item in effects:
        print(f"{item['effect']:+.4f}  {item['feature']}")
    return 0


def _cmd_info(args) -> int:
    card = _load(args).info
    if args.json:
        print(json.dumps(card, indent=2, sort_keys=True))
    else:
        width = max(len(k) for k in card)
        for key in sorted(card):
            print(f"{key:<{width}}  {card[key]}")
    return 0


def _cmd_decode(args) -> int:
    print(" ".join(_load(args).decode(args.ids)))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:   # its own options and --help; see imdb_edge/_bench.py
        from ._bench import main as bench_main

        return bench_main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    commands = {"score": _cmd_score, "explain": _cmd_explain, "info": _cmd_info,
                "decode": _cmd_decode, "evaluate": _cmd_evaluate}
    try:
        return commands[args.command](args)
    except UsageError as exc:
        parser.error(str(exc))   # exits 2
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
            print(f"imdb-edge: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
