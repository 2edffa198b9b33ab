"""``imdb-edge score``: reviews in (arguments, a file or stdin, in any supported format),
probabilities and labels out, streamed in bounded memory.

Input is handled in blocks, not line by line: a block of plain lines is decoded and split in
one call each, and output is formatted a batch at a time (``imdb_edge.io._output``), so the command adds
little to the library's own cost (see the benchmark's CLI line). Only the standard library
is imported until the model is loaded.

Rules (one for every input format): a blank line is no review; a record whose text is empty
is a review (it has no known word and gets the model's bias, which the summary reports).
"""

from __future__ import annotations

import codecs
import collections
import io
import os
import select
import stat
from dataclasses import dataclass

from .._errors import DataError
from ._errors import InputError, UsageError
from ._sniff import note_lone_header, refuse_records
from ..io._labeled import (READ_ERRORS, detect_format, iter_rows, json_kind, open_binary,
                           text_encoding)
from .._labels import label_codes
from ..io._output import Output, UnwritableValue, Writer

MAX_LINE_BYTES = 64 << 20      # a longer line is refused: memory stays bounded
BLOCK = 1 << 18              # read at a time: text still in cache when it is scored (measured)
ROW_BLOCK = 1024
_TEXT_MODE_CODECS = ("utf_16", "utf_16_le", "utf_16_be", "utf_32", "utf_32_le", "utf_32_be")


@dataclass
class Block:
    """Reviews read together: texts, their input line (or row) numbers, kept ids."""

    texts: list
    lines: list | None = None
    kept: list | None = None
    done: int = 0                 # input bytes consumed so far (for progress)
    n_lines: int = 0              # input lines this block covers, blank ones included


@dataclass
class Plan:
    kind: str                     # args, lines, jsonl, csv, tsv, parquet
    field: str | None = None      # the text's field or column
    keep: str | None = None


# -- choosing the input format --------------------------------------------------------------

def plan_input(args) -> Plan:
    """The input's format from the options and the file name, refusing every combination
    that would silently ignore an option or guess."""
    text_column = getattr(args, "text_column", None)
    field_given, column_given = args.field is not None, args.column is not None
    if args.texts:
        if args.file is not None:
            raise UsageError("give reviews as TEXT arguments or with --file, not both")
        if field_given or column_given or text_column or args.keep or args.input != "auto":
            raise UsageError("--field, --column, --text-column, --keep and --input apply to "
                             "--file input, not to TEXT arguments")
        return Plan("args")
    if field_given + column_given + (text_column is not None) > 1:
        raise UsageError("--field is for JSON lines, --column for CSV/TSV/Parquet and "
                         "--text-column for either: give one")
    by_name = None
    if args.file not in (None, "-"):
        if not os.path.exists(args.file):
            raise InputError(f"{args.file}: no such file")
        if os.path.isdir(args.file):
            raise InputError(f"{args.file}: a folder, not a file; give a file (or - for "
                             "standard input)")
        try:
            by_name = detect_format(args.file)
        except DataError as exc:
            if "JSON array" in str(exc) or "no such" in str(exc):
                raise InputError(str(exc)) from None
            by_name = None                     # .txt, .log, no extension: plain lines
    if text_column is not None:                # the text's name, in whatever format
        kind = args.input if args.input != "auto" else by_name
        if kind in (None, "lines"):
            if kind is None and args.file in (None, "-"):
                raise UsageError("--text-column on standard input needs --input jsonl, csv "
                                 "or tsv")
            kind = "csv" if kind is None else kind
        if kind == "lines":
            raise UsageError("--text-column names a column or field; plain lines have none")
        return Plan(kind, text_column, args.keep)
    if args.input != "auto":
        kind = args.input
        if field_given and kind != "jsonl":
            raise UsageError(f"--field is for JSON lines, not --input {kind}; use --column")
        if column_given and kind not in ("csv", "tsv", "parquet"):
            raise UsageError(f"--column is for CSV, TSV or Parquet, not --input {kind}")
    elif field_given:
        if by_name not in (None, "jsonl"):
            raise UsageError(f"{args.file} looks like {by_name.upper()} by its name; --field "
                             "is for JSON lines (use --column, or --input jsonl)")
        kind = "jsonl"
    elif column_given:
        if by_name not in (None, "csv", "tsv", "parquet"):
            raise UsageError(f"{args.file} looks like {by_name.upper()} by its name; "
                             "--column is for CSV/TSV/Parquet (use --field, or --input csv)")
        kind = by_name or "csv"
    else:
        kind = by_name or "lines"
    if kind == "lines" and args.keep:
        raise UsageError("--keep needs a format with columns (JSON lines, CSV, TSV, Parquet)")
    if args.keep and args.format == "text":
        raise UsageError("--keep is written in --format jsonl or csv output; --format text has "
                         "no column for it")
    if kind == "parquet" and args.file == "-":
        raise UsageError("Parquet cannot be read from standard input; give its path")
    name = args.field if kind == "jsonl" else args.column
    return Plan(kind, name or "text", args.keep)


# -- reading ---------------------------------------------------------------------------------

def underlying_fd(raw) -> int | None:
    """The file descriptor a (possibly gzip-wrapped) binary stream reads from."""
    try:
        return getattr(raw, "fileobj", raw).fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def is_regular(fd: int | None) -> bool:
    try:
        return fd is not None and stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


def _position(fd: int | None) -> int:
    try:
        return os.lseek(fd, 0, os.SEEK_CUR) if fd is not None else 0
    except OSError:
        return 0


def _ready(fd: int) -> bool:
    """Whether more input can be read at once (a stalled pipe is not ready)."""
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def read_lines(raw, *, encoding: str, errors: str, sniff: bool, name: str = "the input",
               note=None):
    """Blocks of plain lines from a binary stream (``name`` in messages). On a pipe or
    terminal, ``None`` comes between blocks when the input stalls: the caller then scores
    what it holds, so ``tail -f log | imdb-edge score`` is answered line by line. Input whose
    lines end with CR alone (no LF before the first lone CR) is read with CR as the line end,
    and ``note`` is called with a sentence saying so."""
    codec = text_encoding(raw, encoding)
    if codecs.lookup(codec).name.replace("-", "_") in _TEXT_MODE_CODECS:
        yield from _read_wide_lines(raw, codec, errors, name)
        return
    fd = underlying_fd(raw)
    regular = is_regular(fd)
    stall_check = fd is not None and not regular and not hasattr(raw, "fileobj")
    read = getattr(raw, "read1", raw.read)
    if codec == "utf-8-sig":          # the byte-order mark is dropped below, once
        codec = "utf-8"
    number, offset, pending, first, eof = 0, 0, b"", True, False
    ends = None                        # b"\n", or b"\r" for CR-only input; None: not known yet
    while not eof:
        try:
            data = read(BLOCK)
        except READ_ERRORS as exc:          # e.g. a truncated .gz
            raise InputError(f"{name}: after line {number}: cannot read the input "
                             f"({exc})") from None
        if first and not pending and data.startswith(b"\xef\xbb\xbf"):
            data, offset = data[3:], 3
        if ends is None:
            ends = _line_ends(pending + data, final=not data)
            if ends == b"\r":
                pending = pending.replace(b"\r", b"\n")    # held while undecided
                if note is not None:
                    note(f"{name}: its lines end with CR alone (classic Mac OS); each CR is "
                         "read as a line end")
        if ends == b"\r":
            data = data.replace(b"\r", b"\n")     # one byte for one: offsets stay right
        pending += data
        if data:
            cut = pending.rfind(b"\n")
            if cut < 0:
                if len(pending) > MAX_LINE_BYTES:
                    raise InputError(f"{name}: line {number + 1}: longer than "
                                     f"{MAX_LINE_BYTES >> 20} MiB")
                continue
            complete, pending = pending[:cut], pending[cut + 1:]
        elif pending:                      # the last line, without a final LF
            complete, cut, pending, eof = pending, len(pending), b"", True
        else:
            break
        block, error = _decode_block(complete, codec, errors, number, offset, name)
        if first and sniff and block:
            refuse_records(block)
            if note is not None:
                note_lone_header(block, note)
        first = False
        if block is not None:
            piece = _block_of(block, number, _position(fd) if regular else 0)
            yield piece
        if error is not None:
            raise error
        number += piece.n_lines
        offset += cut + 1
        if stall_check and not eof and not pending and not _ready(fd):
            yield None


CR_ONLY_PROBE = 1 << 16     # bytes without an LF after which a lone CR means CR line ends


def _line_ends(head: bytes, final: bool) -> bytes | None:
    """How the input's lines end, from its first bytes: LF (CRLF too) as soon as there is an
    LF; CR when the input (or its first 64 KiB) has none but has a lone CR (not followed by
    LF); None while that cannot be told yet."""
    if b"\n" in head:
        return b"\n"
    if not final and len(head) < CR_ONLY_PROBE:
        return None
    return b"\r" if b"\r" in head.rstrip(b"\r") or (final and b"\r" in head) else b"\n"


def _read_wide_lines(raw, codec: str, errors: str, name: str = "the input"):
    handle = io.TextIOWrapper(raw, encoding=codec, errors=errors, newline="\n")
    number, pending = 0, ""
    try:
        while True:
            data = handle.read(BLOCK)
            if not data:
                break
            pending += data
            cut = pending.rfind("\n")
            if cut < 0:
                continue
            complete, pending = pending[:cut], pending[cut + 1:]
            piece = _block_of(complete, number, 0)
            yield piece
            number += piece.n_lines
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: after line {number}: not valid {codec} ({exc.reason})") \
            from None
    except READ_ERRORS as exc:
        raise InputError(f"{name}: after line {number}: cannot read the input ({exc})") from None
    if pending:
        yield _block_of(pending, number, 0)


def _decode_block(data: bytes, codec: str, errors: str, number: int, offset: int,
                  name: str = "the input"):
    """``(text, error)``: the decoded lines, and an :class:`InputError` if a line cannot be
    decoded; ``text`` then holds the lines before it, which are still scored."""
    try:
        return data.decode(codec, errors), None
    except UnicodeDecodeError as exc:
        line = number + data.count(b"\n", 0, exc.start) + 1
        good = data.rfind(b"\n", 0, exc.start)
        codec_name = "UTF-8" if codec.startswith("utf-8") else codec
        error = InputError(f"{name}: line {line}: invalid {codec_name} (byte "
                           f"0x{data[exc.start]:02x} at offset {offset + exc.start}); use "
                           "--encoding (e.g. latin-1, cp1252, utf-16) or --encoding-errors "
                           "replace")
        return (data[:good].decode(codec, errors) if good >= 0 else None), error


def _block_of(text: str, first_line: int, done: int) -> Block:
    """Split decoded text at LF (a CR before it dropped), dropping blank lines."""
    lines = text.split("\n")
    if "\r" in text:
        lines = [t[:-1] if t.endswith("\r") else t for t in lines]
    numbers = range(first_line + 1, first_line + 1 + len(lines))
    if "" not in lines and not any(map(str.isspace, lines)):   # C-level checks, the usual case
        return Block(lines, numbers, None, done, len(lines))
    keep = [i for i, t in enumerate(lines) if t and not t.isspace()]
    return Block([lines[i] for i in keep], [numbers[i] for i in keep], None, done, len(lines))


def read_rows(path, plan: Plan, args):
    """Blocks of records from a JSON lines, CSV, TSV or Parquet input."""
    texts, lines, kept = [], [], []
    opened: list = []
    text_flag = ("--text-column" if getattr(args, "text_column", None) is not None
                 else "--field" if plan.kind == "jsonl" else "--column")
    rows = iter_rows(path, [plan.field, plan.keep], fmt=plan.kind, delimiter=args.delimiter,
                     encoding=args.encoding, opened=opened, flags=[text_flag, "--keep"],
                     csv_quoting=getattr(args, "csv_quoting", False))

    def block() -> Block:
        fd = underlying_fd(opened[0]) if opened else None
        return Block(texts, lines, kept if plan.keep else None,
                     _position(fd) if is_regular(fd) else 0)

    try:
        for where, (text, kept_value) in rows:
            if not isinstance(text, str):
                raise InputError(f"{source_name(path)}: {where}: {plan.field!r} is "
                                 f"{json_kind(text)}, expected a string")
            texts.append(text)
            lines.append(int(where.split()[1]))
            kept.append(kept_value)
            if len(texts) == ROW_BLOCK:
                yield block()
                texts, lines, kept = [], [], []
    except DataError as exc:
        if texts:
            yield block()
        raise InputError(str(exc)) from None
    except InputError:
        if texts:
            yield block()
        raise
    if texts:
        yield block()


# -- batching ------------------------------------------------------------------------------

def batches(blocks, size: int):
    """Blocks regrouped into batches of ``size`` reviews; a ``None`` (stalled input) hands out
    what is held at once. An error while reading is raised only after every review read
    before it has been handed out, so everything before a bad line is scored."""
    held: collections.deque = collections.deque()     # [block, first review not handed out]
    count = 0

    def take(n: int) -> Block:
        nonlocal count
        pieces, taken, done = [], 0, 0
        while held and taken < n:
            entry = held[0]
            b, start = entry
            k = min(n - taken, len(b.texts) - start)
            pieces.append((b, start, start + k))
            done = b.done
            if start + k == len(b.texts):
                held.popleft()
            else:
                entry[1] = start + k
            taken += k
        count -= taken
        return _joined(pieces, done)

    try:
        for block in blocks:
            if block is None:
                while count:
                    yield take(min(count, size))
                continue
            if not block.texts:
                continue
            held.append([block, 0])
            count += len(block.texts)
            while count >= size:
                yield take(size)
    except Exception:
        while count:
            yield take(min(count, size))
        raise
    while count:
        yield take(min(count, size))


def _joined(pieces: list, done: int) -> Block:
    """One block of the reviews ``block.texts[start:stop]`` of each ``(block, start, stop)``."""
    first = pieces[0][0]
    has_lines, has_kept = first.lines is not None, first.kept is not None
    if len(pieces) == 1:
        b, start, stop = pieces[0]
        return Block(b.texts[start:stop], b.lines[start:stop] if has_lines else None,
                     b.kept[start:stop] if has_kept else None, done)
    texts, lines, kept = [], [], []
    for b, start, stop in pieces:
        texts += b.texts[start:stop]
        if has_lines:
            lines += b.lines[start:stop]
        if has_kept:
            kept += b.kept[start:stop]
    return Block(texts, lines if has_lines else None, kept if has_kept else None, done)


# -- the command -----------------------------------------------------------------------------

def source_name(file) -> str:
    return "standard input" if file in (None, "-") else str(file)


def _note(message: str) -> None:
    import sys

    if sys.stderr is not None:
        print(f"imdb-edge: note: {message}", file=sys.stderr)


def run(args, load, progress_factory) -> int:
    import sys

    import numpy as np

    plan = plan_input(args)
    if args.batch_size < 1:
        raise UsageError("--batch-size must be >= 1")
    if not 0.0 <= args.threshold <= 1.0:
        raise UsageError("--threshold must be in [0, 1]")
    if args.delimiter is not None and len(args.delimiter) != 1:
        raise UsageError("--delimiter must be one character")
    try:
        codecs.lookup(args.encoding)
    except LookupError:
        raise UsageError(f"unknown --encoding {args.encoding!r}") from None
    scorer = load(args)
    out = sys.stdout
    if out is None:
        raise InputError("standard output is closed")
    raw = None
    if plan.kind == "args":
        blocks = iter([Block(list(args.texts))])
    elif plan.kind == "lines":
        try:
            raw = open_binary(args.file, stdin=getattr(sys.stdin, "buffer", None)
                              if args.file == "-" else None)
        except DataError as exc:
            raise InputError(str(exc)) from None
        blocks = read_lines(raw, encoding=args.encoding, errors=args.encoding_errors,
                            sniff=args.input == "auto", name=source_name(args.file),
                            note=_note)
    else:
        blocks = read_rows(args.file, plan, args)
    size = None
    if args.file not in (None, "-"):
        size = os.path.getsize(args.file)
    progress = progress_factory(args, size)
    writer = Writer(args.format, scorer.labels, lines=plan.kind != "args", keep=plan.keep)
    if writer.keep_as != plan.keep:
        _note(f"--keep {plan.keep}: the output has its own {plan.keep!r}, so the kept one is "
              f"written as {writer.keep_as!r}")
    out = Output(out)
    out.write(writer.header())
    index = unknown = 0
    try:
        for batch in batches(blocks, args.batch_size):
            p, known = scorer.score(batch.texts, return_known=True)
            labels = label_codes(p, known, args.threshold)
            try:
                out.write(writer.format(index, batch, p, labels, known))
            except UnwritableValue as exc:    # every record before it is written first
                out.write(exc.written)
                raise InputError(f"{source_name(args.file)}: {exc}") from None
            index += len(p)
            unknown += int(np.count_nonzero(known == 0))
            progress.update(index, batch.done)
        if index == 0:
            _note(f"0 reviews: {source_name(args.file)} has no review (blank lines are none)")
    finally:
        progress.close()
        if raw is not None and args.file != "-":
            raw.close()
        if unknown and sys.stderr is not None:
            bias = float(scorer.score([""])[0])
            print(f"imdb-edge: note: {unknown:,} of {index:,} reviews had no word the model "
                  f"knows; each scored {bias:.4f}, the model's bias, which says nothing about "
                  "the review (known_features = 0 in JSONL/CSV output)", file=sys.stderr)
    return 0
