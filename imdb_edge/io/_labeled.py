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


def add_input_options(parser) -> None:
    """The labeled-input options shared by ``imdb-edge evaluate`` and ``imdb-edge-train fit``."""
    parser.add_argument("--text-column", default="text", help="default: %(default)s (JSON "
                        "lines: a.b for a nested field)")
    parser.add_argument("--label-column", default="label", help="default: %(default)s")
    parser.add_argument("--format", dest="data_format", choices=list(FORMATS),
                        help="input format (default: from the name; a folder is 'folder')")
    parser.add_argument("--delimiter", help="CSV/TSV field delimiter (default: ',' or TAB)")
    parser.add_argument("--encoding", default="utf-8", help="text encoding, e.g. latin-1, "
                        "utf-16 (default: %(default)s)")
    parser.add_argument("--positive", help="the label that is the positive class (default: "
                        "the model's, or the obvious one of 1/0, true/false, yes/no, pos/neg, "
                        "positive/negative; else the second in code-point order)")


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


def _open_text(path, encoding: str, opened: list | None = None, stdin=None):
    raw = open_binary(path, stdin=stdin)
    if opened is not None:
        opened.append(raw)
    return io.TextIOWrapper(raw, encoding=text_encoding(raw, encoding), errors="strict",
                            newline="")


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
                 encoding: str = "utf-8", classes: tuple[str, str] | None = None
                 ) -> Iterator[tuple[str, object, object]]:
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
                                          delimiter=delimiter, encoding=encoding):
        yield where, text, label


def iter_rows(path, columns: list[str | None], *, fmt: str | None = None,
              delimiter: str | None = None, encoding: str = "utf-8",
              opened: list | None = None, stdin=None) -> Iterator[tuple[str, list]]:
    """``(where, values)`` of each record of a CSV, TSV, JSON lines or Parquet file ('-' =
    standard input; then ``fmt`` is needed): ``values[i]`` is ``columns[i]``'s value (None for
    a None column). A CSV column may also be a 0-based index. Blank lines are no record in
    every format. ``opened`` receives the binary stream, for progress by bytes read."""
    if str(path) != "-":
        path = Path(path)
        if not path.exists():
            raise DataError(f"{path}: no such file or folder")
    elif fmt is None:
        raise DataError("standard input: the format must be given")
    kind = detect_format(path, fmt)
    if kind == "folder":
        raise DataError(f"{path}: a folder; give a file")
    if kind == "parquet":
        yield from _parquet(path, columns)
        return
    handle = _open_text(path, encoding, opened, stdin)
    name = "standard input" if str(path) == "-" else path
    try:
        try:
            if kind == "jsonl":
                yield from _jsonl(handle, name, columns)
            else:
                yield from _csv(handle, name, "\t" if kind == "tsv" and delimiter is None
                                else delimiter or ",", columns)
        except UnicodeDecodeError as exc:
            raise DataError(f"{name}: not valid {handle.encoding} text ({exc.reason}); pass "
                            "--encoding (e.g. latin-1, cp1252, utf-16)") from None
        except READ_ERRORS as exc:   # a truncated or corrupt .gz
            raise DataError(f"{name}: cannot read: {exc}") from None
    finally:
        if str(path) != "-":
            handle.close()


def _csv(handle, path, delimiter: str, columns: list[str | None]):
    csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(handle, delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: empty file (expected a header row)")
        positions = []
        for name in columns:
            if name is None:
                positions.append(None)
            elif name in header:
                positions.append(header.index(name))
            elif name.isdigit() and int(name) < len(header):
                positions.append(int(name))
            else:
                raise DataError(f"{path}: no column {name!r} (columns: "
                                f"{', '.join(map(repr, header[:20]))}); pass the right column "
                                f"name{' or --delimiter' if len(header) == 1 else ''}")
        need = max((c for c in positions if c is not None), default=0)
        for row in reader:
            if not row:
                continue       # a blank line is no record, in every format
            if len(row) <= need:
                raise DataError(f"{path}: line {reader.line_num}: {len(row)} fields, the "
                                f"header has {len(header)}")
            yield (f"line {reader.line_num}", [None if c is None else row[c] for c in positions])
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None


def _jsonl(handle, path, columns: list[str | None]):
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            reason = getattr(exc, "msg", None) or str(exc).split(":")[0]
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
        for name in columns:
            if name is None:
                values.append(None)
                continue
            found, value = _field(record, name)
            if not found:
                raise DataError(f"{path}: line {number}: no field {name!r} (fields: "
                                f"{', '.join(map(repr, list(record)[:20]))})")
            values.append(value)
        yield f"line {number}", values


def _parquet(path: Path, columns: list[str | None]):
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
    for name in wanted:
        if name not in names:
            raise DataError(f"{path}: no column {name!r} (columns: "
                            f"{', '.join(map(repr, names[:20]))})")
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
    what = "missing (null)" if text is None else f"a {type(text).__name__}, not a string"
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

    def code(self, value, where: str) -> int:
        name = label_name(value)
        if name is None:
            raise DataError(f"{self.path}: {where}: label is missing")
        code = self.seen.get(name)
        if code is None:
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
