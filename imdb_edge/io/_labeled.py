"""Labeled texts from a user's files: CSV, TSV, JSON lines, Parquet, or a folder per class.

One reader and one set of label rules serve ``imdb-edge evaluate`` (runtime, standard library
only; Parquet needs pyarrow) and ``imdb-edge-train fit``. Records are streamed, never held
whole, and every problem is a :class:`DataError` naming the file and the line (or row).

Label rules: the two classes of ``0/1``, ``false/true``, ``no/yes``, ``neg/pos`` and
``negative/positive`` (any case) have an obvious positive class, so a score is P(positive).
Any other two distinct strings are ordered by code point and the second is the positive
class, unless ``positive=`` names it; the order is stated in every report and model card.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import re
import sys
import zlib
from pathlib import Path
from typing import Iterator

from .._errors import DataError

FORMATS = ("csv", "tsv", "jsonl", "parquet", "folder")
KNOWN_PAIRS = (("0", "1"), ("false", "true"), ("no", "yes"), ("neg", "pos"),
               ("negative", "positive"))
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl",
               ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
MAX_FIELD_CHARS = 1 << 26    # one CSV field (a review) of at most 64 Mi characters
READ_ERRORS = (OSError, EOFError, zlib.error)   # what a truncated or corrupt .gz raises


def add_input_options(parser, *, command: str) -> None:
    """The labeled-input options shared by ``imdb-edge evaluate`` (``command="evaluate"``) and
    ``imdb-edge-train fit`` (``command="fit"``). One vocabulary with ``imdb-edge score``:
    ``--text-column`` (alias ``--column``, ``--field``), ``--input`` for the input format
    (``--format``, its old name here, still works)."""
    parser.add_argument("--text-column", "--column", "--field", dest="text_column",
                        default="text", help="the text's column, or JSON lines field (a.b for "
                        "a nested one) (default: %(default)s)")
    parser.add_argument("--label-column", default="label", help="default: %(default)s")
    parser.add_argument("--input", "--format", dest="data_format", choices=list(FORMATS),
                        help="input format (default: from the name; a folder is 'folder')")
    parser.add_argument("--delimiter", help="CSV/TSV field delimiter (default: ',' or TAB)")
    parser.add_argument("--csv-quoting", action="store_true", help="TSV: honour CSV quoting "
                        "(a field in double quotes may hold tabs and line breaks); by default "
                        "a TSV line is one record and quotes are characters")
    parser.add_argument("--encoding", default="utf-8", help="text encoding, e.g. latin-1, "
                        "utf-16 (default: %(default)s)")
    if command == "fit":
        positive = ("the label that is the positive class: the model will score the "
                    "probability of this label (default: the obvious one of 1/0, true/false, "
                    "yes/no, pos/neg, positive/negative; else the second in code-point order)")
    else:
        positive = ("the file's label that means the model's positive class, when the file's "
                    "labels are not the model's names (default: the label equal to the model's "
                    "positive label, else the obvious one of 1/0, true/false, yes/no, pos/neg, "
                    "positive/negative); refused when it contradicts the model's labels")
    parser.add_argument("--positive", help=positive)


def detect_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The input's format: ``fmt`` if given, else a folder, else by extension (``.gz`` aside)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise DataError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    path = Path(path)
    if path.is_dir():
        return "folder"
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    found = _EXTENSIONS.get(os.path.splitext(name)[1])
    if os.path.splitext(name)[1] == ".json":
        found = _sniff_json(path)
    if found is None:
        raise DataError(f"{path}: cannot tell the format from the name; pass --format "
                        f"({', '.join(FORMATS[:4])})")
    return found


def _sniff_json(path: Path) -> str:
    """A ``.json`` file holding JSON lines is read as such; a JSON array is refused."""
    with open_binary(path) as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] == b"[":
        raise DataError(f"{path}: a JSON array, not JSON lines (one object per line); "
                        f"convert it, e.g. jq -c '.[]' {path} > data.jsonl")
    return "jsonl"


def open_binary(path, *, stdin=None):
    """A binary stream of ``path`` ('-' = standard input), gunzipped if it starts with the
    gzip magic. Only regular files (and stdin) are opened: a FIFO or device is refused."""
    if str(path) == "-":
        stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise DataError("standard input is closed")
        raw = stream if hasattr(stream, "peek") else io.BufferedReader(stream)
    else:
        path = Path(path)
        if not path.exists():
            raise DataError(f"{path}: no such file")
        if not path.is_file():
            raise DataError(f"{path}: not a regular file")
        raw = open(path, "rb")
    if raw.peek(2)[:2] == b"\x1f\x8b":
        unzipped = gzip.GzipFile(fileobj=raw, mode="rb")
        try:
            unzipped.peek(1)              # the header is read and checked here
        except READ_ERRORS as exc:
            name = "standard input" if str(path) == "-" else path
            raise DataError(f"{name}: starts like gzip but is not a readable gzip stream "
                            f"({exc})") from None
        return unzipped
    return raw


def text_encoding(raw, encoding: str) -> str:
    """The codec to read with: UTF-8 drops a byte-order mark; a UTF-16 BOM switches to UTF-16
    unless another encoding was asked for."""
    plain = encoding.lower().replace("-", "").replace("_", "")
    if plain == "utf8":
        head = raw.peek(2)[:2]
        if head in (b"\xff\xfe", b"\xfe\xff"):
            return "utf-16"
        return "utf-8-sig"          # a byte-order mark is not part of the first field
    return encoding


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")   # a line with its end, as
                                                            # open(newline="") splits them


class DecodedLines:
    """The text lines of a binary stream, ends kept (LF, CRLF or CR, as ``open(newline="")``),
    decoded incrementally. A byte the codec cannot decode is a :class:`DataError` naming the
    source, the line and the byte, and each line's number is known (``number``): a reader on
    top (csv, JSON lines) can say where a record starts."""

    def __init__(self, raw, encoding: str, name, number: int = 0) -> None:
        self.raw, self.name, self.number = raw, name, number      # lines before the first
        self.codec = text_encoding(raw, encoding)
        self.decoder = codecs.getincrementaldecoder(self.codec)("strict")

    def __iter__(self):
        pending = ""
        read = getattr(self.raw, "read1", self.raw.read)
        while True:
            try:
                data = read(1 << 16)
            except READ_ERRORS as exc:   # a truncated or corrupt .gz
                raise DataError(f"{self.name}: after line {self.number}: cannot read: "
                                f"{exc}") from None
            try:
                text = self.decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                raise self._decode_error(pending, exc) from None
            pending += text
            lines = _LINE.findall(pending)
            if data and lines and not pending.endswith(("\n", "\r")):
                lines.pop()                              # the last line may go on
            if data and lines and lines[-1].endswith("\r"):
                lines.pop()                              # a CR may be half of a CRLF
            used = sum(map(len, lines))
            pending = pending[used:]
            for line in lines:
                self.number += 1
                yield line
            if not data:
                if pending:
                    self.number += 1
                    yield pending
                return

    def _decode_error(self, pending: str, exc: UnicodeDecodeError) -> DataError:
        before = exc.object[:exc.start]
        decoded = before.decode(self.codec, "replace") if before else ""
        text = pending + decoded
        line = self.number + len(_LINE.findall(text)) - (0 if text.endswith(("\n", "\r"))
                                                          else 1) + 1
        codec = "UTF-8" if self.codec.startswith("utf-8") else self.codec
        return DataError(f"{self.name}: line {max(line, 1)}: not valid {codec} text (byte "
                         f"0x{exc.object[exc.start]:02x}: {exc.reason}); pass --encoding "
                         "(e.g. latin-1, cp1252, utf-16)")


def _open_lines(path, encoding: str, name, opened: list | None = None, stdin=None):
    raw = open_binary(path, stdin=stdin)
    if opened is not None:
        opened.append(raw)
    try:
        return DecodedLines(raw, encoding, name)
    except LookupError:
        raw.close()
        raise DataError(f"unknown --encoding {encoding!r}") from None


def _field(record, name: str):
    """``record[name]``, following dots into nested JSON objects (``review.text``)."""
    if name in record:
        return True, record[name]
    value = record
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def iter_records(path, *, text_column: str = "text", label_column: str | None = "label",
                 fmt: str | None = None, delimiter: str | None = None,
                 encoding: str = "utf-8", classes: tuple[str, str] | None = None,
                 csv_quoting: bool = False) -> Iterator[tuple[str, object, object]]:
    """``(where, text, label)`` for each record; ``label`` is None when ``label_column`` is.

    ``where`` names the record for messages ("line 12", "row 40", a file path). Text and
    label come as stored (None for a missing value); :func:`check_text` and
    :class:`LabelCoder` judge them.
    """
    if str(path) != "-":
        if not Path(path).exists():
            raise DataError(f"{path}: no such file or folder")
        if detect_format(path, fmt) == "folder":
            yield from _folder(Path(path), encoding, classes)
            return
    for where, (text, label) in iter_rows(path, [text_column, label_column], fmt=fmt,
                                          delimiter=delimiter, encoding=encoding,
                                          flags=["--text-column", "--label-column"],
                                          csv_quoting=csv_quoting):
        yield where, text, label


def iter_rows(path, columns: list[str | None], *, fmt: str | None = None,
              delimiter: str | None = None, encoding: str = "utf-8",
              opened: list | None = None, stdin=None, flags: list[str] | None = None,
              csv_quoting: bool = False) -> Iterator[tuple[str, list]]:
    """``(where, values)`` of each record of a CSV, TSV, JSON lines or Parquet file ('-' =
    standard input; then ``fmt`` is needed): ``values[i]`` is ``columns[i]``'s value (None for
    a None column). A CSV column may also be a 0-based index. Blank lines are no record in
    every format. ``opened`` receives the binary stream, for progress by bytes read.
    ``flags`` names the option that gave each column, for messages.

    CSV follows the csv module's quoting (a quoted field may hold delimiters and line
    breaks; ``where`` is the line the record starts on). TSV is read as lines of tab-separated
    fields, quotes being characters, unless ``csv_quoting``. In both, a record with more or
    fewer fields than the header is an error naming its line (an unquoted delimiter inside a
    text would otherwise shift or cut it silently)."""
    if str(path) != "-":
        path = Path(path)
        if not path.exists():
            raise DataError(f"{path}: no such file or folder")
    elif fmt is None:
        raise DataError("standard input: the format must be given")
    kind = detect_format(path, fmt)
    if kind == "folder":
        raise DataError(f"{path}: a folder; give a file")
    flags = flags or [None] * len(columns)
    if kind == "parquet":
        yield from _parquet(path, columns, flags)
        return
    name = "standard input" if str(path) == "-" else path
    lines = _open_lines(path, encoding, name, opened, stdin)
    try:
        if kind == "jsonl":
            yield from _jsonl(lines, name, columns, flags)
        else:
            quoting = kind == "csv" or csv_quoting
            yield from _csv(lines, name, "\t" if kind == "tsv" and delimiter is None
                            else delimiter or ",", columns, flags, quoting)
    finally:
        if str(path) != "-":
            lines.raw.close()


def _missing(path, what: str, name: str, flag: str | None, found: list, hint: str = "") -> str:
    flag_hint = f"; pass {flag} NAME" if flag else ""
    return (f"{path}: no {what} {name!r} (found: {', '.join(map(repr, found[:20]))})"
            f"{flag_hint}{hint}")


def _csv(lines: DecodedLines, path, delimiter: str, columns: list[str | None], flags: list,
         quoting: bool):
    csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(lines, delimiter=delimiter, strict=True,
                        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE)
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: empty file (expected a header row)")
        positions = []
        for name, flag in zip(columns, flags):
            if name is None:
                positions.append(None)
            elif name in header:
                positions.append(header.index(name))
            elif name.isdigit() and int(name) < len(header):
                positions.append(int(name))
            else:
                hint = " or --delimiter" if len(header) == 1 else ""
                raise DataError(_missing(path, "column", name, flag, header, hint))
        end = lines.number
        for row in reader:
            start, end = end + 1, lines.number
            if not row:
                continue       # a blank line is no record, in every format
            if len(row) != len(header):
                where = f"line {start}" + (f"-{end}" if end > start else "")
                hint = ("; a text holding the delimiter must be quoted" if len(row) > len(header)
                        else "")
                if not quoting and any('"' in f for f in row):
                    hint += "; TSV quotes are characters unless --csv-quoting"
                raise DataError(f"{path}: {where}: {len(row)} fields, the header has "
                                f"{len(header)}{hint}")
            yield (f"line {start}", [None if c is None else row[c] for c in positions])
    except csv.Error as exc:
        raise DataError(f"{path}: line {lines.number}: malformed CSV ({exc})") from None


class JSONNumber(float):
    """A JSON number with a fraction or exponent, or NaN/Infinity: its float value, and
    ``text``, the number as the line wrote it. A kept value is written back as ``text``, so
    ``1.5e400`` (inf as a float) or ``0.10000000000000000001`` comes out as it went in."""

    __slots__ = ("text",)

    def __new__(cls, text: str) -> "JSONNumber":
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __reduce__(self):
        return JSONNumber, (self.text,)


_JSON = json.JSONDecoder(parse_float=JSONNumber, parse_constant=JSONNumber)


def json_kind(value) -> str:
    """What a value read from a record is, in JSON's words ("a number", "an array", ...)."""
    if value is None:
        return "missing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {list: "an array", dict: "an object"}.get(type(value), f"a {type(value).__name__}")


def _jsonl(lines: DecodedLines, path, columns: list[str | None], flags: list):
    for line in lines:
        number = lines.number
        if not line.strip():
            continue
        try:
            record = _JSON.decode(line)
        except ValueError as exc:
            reason = f"{exc.msg}: column {exc.colno}" if isinstance(exc, json.JSONDecodeError) \
                else str(exc).split(":")[0]
            hint = "; a JSON array file is not JSON lines" if number == 1 and \
                line.lstrip().startswith("[") else ""
            raise DataError(f"{path}: line {number}: not valid JSON ({reason}){hint}") from None
        if not isinstance(record, dict):
            kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
                type(record), "number")
            hint = "; a JSON array file is not JSON lines" if kind == "array" else ""
            raise DataError(f"{path}: line {number}: a JSON {kind}, expected one object per "
                            f"line{hint}")
        values = []
        for name, flag in zip(columns, flags):
            if name is None:
                values.append(None)
                continue
            found, value = _field(record, name)
            if not found:
                raise DataError(f"{path}: line {number}: " + _missing(
                    path, "field", name, flag, list(record)).split(": ", 1)[1])
            values.append(value)
        yield f"line {number}", values


def _parquet(path: Path, columns: list[str | None], flags: list):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("reading Parquet needs pyarrow: pip install pyarrow (or the parquet "
                        "extra: pip install '.[parquet]' in an imdb-edge checkout)") from None
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow's own error types
        raise DataError(f"{path}: not a readable Parquet file ({str(exc)[:160]})") from None
    names = parquet.schema_arrow.names
    wanted = [c for c in columns if c is not None]
    for name, flag in zip(columns, flags):
        if name is not None and name not in names:
            raise DataError(_missing(path, "column", name, flag, names))
    row = 0
    for batch in parquet.iter_batches(batch_size=4096, columns=list(dict.fromkeys(wanted))):
        lists = [batch.column(c).to_pylist() if c is not None else [None] * batch.num_rows
                 for c in columns]
        for values in zip(*lists):
            row += 1
            yield f"row {row}", list(values)


def _folder(path: Path, encoding: str, classes: tuple[str, str] | None):
    subfolders = sorted(p.name for p in path.iterdir()
                        if p.is_dir() and not p.name.startswith("."))
    if classes is None:
        lowered = {name.lower(): name for name in subfolders}
        pairs = [p for p in KNOWN_PAIRS if p[0] in lowered and p[1] in lowered]
        if len(subfolders) == 2:
            classes = tuple(subfolders)
        elif len(pairs) == 1:      # e.g. aclImdb/train: neg, pos and unsup
            classes = (lowered[pairs[0][0]], lowered[pairs[0][1]])
        else:
            raise DataError(f"{path}: a folder of labeled texts needs one sub-folder per class, "
                            f"two classes; found {len(subfolders)} sub-folders "
                            f"({', '.join(subfolders[:10])}); pass --classes A,B")
    decoder_name = codecs.lookup(encoding).name
    for label in classes:
        folder = path / label
        if not folder.is_dir():
            raise DataError(f"{path}: no sub-folder {label!r}")
        for file in sorted(folder.iterdir()):
            if file.name.startswith(".") or not file.is_file():
                continue
            data = file.read_bytes()
            try:
                text = data.decode("utf-8-sig" if decoder_name == "utf-8" else encoding)
            except UnicodeDecodeError as exc:
                raise DataError(f"{file}: not valid {encoding} text ({exc.reason} at byte "
                                f"{exc.start}); pass --encoding") from None
            yield str(file), text, label


def check_text(path, where: str, text) -> str:
    """The record's text, or :class:`DataError` for a missing or non-string one."""
    if isinstance(text, str):
        return text
    what = json_kind(text) + ("" if text is None else ", not a string")
    raise DataError(f"{path}: {where}: text is {what}")


def label_name(value) -> str | None:
    """A label as a string: ``True`` -> ``"true"``, ``1.0`` -> ``"1"``; None if missing/blank."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


class LabelCoder:
    """Gives each record's label a code (0 or 1 in order of first sight) while streaming,
    refuses a third distinct label at once, and resolves the final class order at the end."""

    def __init__(self, path) -> None:
        self.path = path
        self.seen: dict[str, int] = {}
        self.counts = [0, 0]
        self.cautions: list[str] = []       # what a report must say about the label order

    def code(self, value, where: str) -> int:
        name = label_name(value)
        if name is None:
            raise DataError(f"{self.path}: {where}: label is missing")
        code = self.seen.get(name)
        if code is None:
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:        # a JSON "\ud800": it could be written nowhere
                raise DataError(f"{self.path}: {where}: label {name!r} is not valid Unicode "
                                "(a lone surrogate); fix the label") from None
            if len(self.seen) == 2:
                raise DataError(f"{self.path}: {where}: a third label {name[:40]!r} besides "
                                f"{' and '.join(map(repr, self.seen))}; two classes are needed")
            code = self.seen[name] = len(self.seen)
        self.counts[code] += 1
        return code

    def order(self, positive: str | None = None,
              model_labels: tuple[str, str] | None = None) -> tuple[tuple[str, str], bool, str]:
        """``((negative_name, positive_name), flip, rule)``: ``flip`` means code 0 is the
        positive class; ``rule`` says in words how the positive class was chosen."""
        names = list(self.seen)
        if len(names) < 2:
            only = f" (only {names[0]!r})" if names else ""
            raise DataError(f"{self.path}: one class only{only}; two labels are needed")
        if positive is not None:
            if positive not in names:
                raise DataError(f"{self.path}: --positive {positive!r} is not one of the "
                                f"labels ({', '.join(map(repr, names))})")
            if model_labels is not None:
                self._check_agrees(positive, names, model_labels)
            pos, rule = positive, "chosen with --positive"
        else:
            pos, rule = None, ""
            if model_labels is not None:
                lowered = [m.lower() for m in model_labels]
                for name in names:
                    if name.lower() == lowered[1]:
                        pos, rule = name, "the model's positive label"
                    elif name.lower() == lowered[0]:
                        pos, rule = names[1 - names.index(name)], "the model's labels"
            if pos is None:
                pair = tuple(sorted(n.lower() for n in names))
                known = [p for p in KNOWN_PAIRS if tuple(sorted(p)) == pair]
                if known:
                    pos = next(n for n in names if n.lower() == known[0][1])
                    rule = f"{known[0][1]!r} is positive in a {known[0][0]}/{known[0][1]} pair"
                elif model_labels is not None:
                    raise DataError(f"{self.path}: labels {', '.join(map(repr, names))} do not "
                                    f"match the model's ({', '.join(map(repr, model_labels))}); "
                                    "pass --positive LABEL")
                else:
                    pos = sorted(names)[1]
                    rule = (f"no obvious positive class: {pos!r}, the second in code-point "
                            "order, is positive (choose with --positive)")
        neg = names[1 - names.index(pos)]
        return (neg, pos), self.seen[pos] == 0, rule

    def _check_agrees(self, positive: str, names: list[str],
                      model_labels: tuple[str, str]) -> None:
        """Refuse a ``--positive`` that makes the model's negative label positive, or its
        positive label negative (by name, or by the words neg/negative and pos/positive):
        every metric would be silently inverted. A digit or yes/no label that contradicts
        the model's wording is allowed (a file may code "0" as good) with a caution."""
        negative_name, positive_name = (m.lower() for m in model_labels)
        other = names[1 - names.index(positive)]
        said = _polarity(positive, _WORDS)
        meant = _polarity(model_labels[1], _WORDS)
        if positive.lower() == negative_name or other.lower() == positive_name \
                or (said is not None and meant is not None and said != meant):
            raise DataError(f"{self.path}: --positive {positive!r} contradicts the model, whose "
                            f"positive label is {model_labels[1]!r} (negative "
                            f"{model_labels[0]!r}): every figure would be inverted; drop "
                            f"--positive, or give the file's label that means "
                            f"{model_labels[1]!r}")
        said = _polarity(positive, KNOWN_PAIRS)
        meant = _polarity(model_labels[1], KNOWN_PAIRS)
        if said is not None and meant is not None and said != meant:
            self.cautions.append(f"--positive {positive!r} counts the file's {positive!r} as "
                                 f"the model's {model_labels[1]!r} and {other!r} as "
                                 f"{model_labels[0]!r}; if {positive!r} means "
                                 f"{('negative', 'positive')[said]} in the file, every figure "
                                 "is inverted")


_WORDS = (("neg", "pos"), ("negative", "positive"))


def _polarity(name: str, pairs) -> int | None:
    """0 or 1 when ``name`` is the first or second word of one of ``pairs``, else None."""
    lowered = name.lower()
    for pair in pairs:
        if lowered in pair:
            return pair.index(lowered)
    return None
