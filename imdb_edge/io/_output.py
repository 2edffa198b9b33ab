"""``imdb-edge score``'s output, a batch at a time: ``text`` (probability TAB label),
``jsonl`` or ``csv`` (index, line, kept column, probability, label, label_id,
known_features).

Labels: 1 (the model's positive label name, ``label_id`` 1), 0 (its negative one,
``label_id`` 0) or, for a text with no feature the model knows, 2: ``unknown``
(:data:`UNKNOWN_LABEL`, ``label_id`` -1), which claims no class; its probability is the
model's prior (the bias); see :mod:`imdb_edge._labels`.

Formatting one line per review with Python's ``%`` cost as much as scoring short reviews,
so each batch's lines are built in C by the extension's ``format_rows``, byte for byte what
:meth:`Writer.format_python` (the reference, and the fallback) gives; ``tests/test_output.py``
compares the two.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import os
import re

from .._labels import LABEL_IDS as _LABEL_IDS, UNKNOWN_LABEL
from ._labeled import JSONNumber

OUTPUT_COLUMNS = ("index", "line", "probability", "label", "label_id", "known_features")
"""The columns (JSON keys) ``score`` writes itself; a kept column of one of these names is
written as ``input_<name>``, so that neither value is lost."""


class UnwritableValue(ValueError):
    """A value that the output format cannot hold (CSV is UTF-8 text: a lone surrogate has no
    encoding). ``written`` is the batch's output up to the record before it, which the caller
    writes before reporting the error."""

    def __init__(self, message: str, written: str = "") -> None:
        super().__init__(message)
        self.written = written


def kept_name(keep: str | None) -> str | None:
    """The name a kept column gets in the output (see :data:`OUTPUT_COLUMNS`)."""
    return f"input_{keep}" if keep in OUTPUT_COLUMNS else keep


class Writer:
    """Formats a batch at a time. :meth:`format` gives UTF-8 bytes built in C where it can,
    else a ``str`` from :meth:`format_python`, the reference it equals byte for byte.

    Every string written comes from untrusted input or model metadata: JSON lines escape a
    lone surrogate (``\\ud800``), as JSON allows; CSV and text cannot hold one, so the batch
    is written up to the record before it and :class:`UnwritableValue` names its line and
    field."""

    def __init__(self, fmt: str, names: tuple[str, str], *, lines: bool, keep: str | None):
        names = (*names, UNKNOWN_LABEL)
        self.fmt, self.names, self.lines, self.keep = fmt, names, lines, keep
        self.keep_as = kept_name(keep)
        self.json_names = [json_text(n) for n in names]
        self.format_rows = _compiled_formatter() if not (fmt == "csv" and keep) else None
        # what every batch's columns share, encoded once
        shown = {"text": names, "jsonl": self.json_names, "csv": [_csv_cell(n) for n in names]}
        self._names = tuple(_utf8(n, "a label name") for n in shown[fmt])
        self._keep_key = (", " + json_text(self.keep_as) + ": ").encode("utf-8") \
            if keep else b""

    def header(self) -> str:
        if self.fmt != "csv":
            return ""
        columns = ["index"] + (["line"] if self.lines else []) + ([self.keep_as] if self.keep
                                                                  else [])
        if self.keep:
            _utf8(self.keep_as, "the --keep column's name")
        return _csv_rows([columns + ["probability", "label", "label_id", "known_features"]])

    def format(self, start: int, block, p, labels, known) -> bytes | str:
        if self.fmt == "csv" and self.keep:
            self._check_csv(start, block, p, labels, known)
        if self.format_rows is not None:
            try:
                return self.format_rows(self._columns(start, block, p, labels, known), len(p))
            except ValueError:        # e.g. a kept value that is not valid Unicode
                pass
        return self.format_python(start, block, p, labels, known)

    def _check_csv(self, start: int, block, p, labels, known) -> None:
        """Raise :class:`UnwritableValue` at the first kept value CSV cannot hold, with the
        batch's rows before it."""
        for i, value in enumerate(block.kept):
            text = _csv_kept(value)
            if text is None:
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                where = f"line {block.lines[i]}" if self.lines else f"review {start + i}"
                head = self.format_python(start, _Slice(block, i), p[:i], labels[:i],
                                          known[:i]) if i else ""
                raise UnwritableValue(
                    f"{where}: the --keep {self.keep!r} value {text!r} cannot be written as CSV "
                    f"(UTF-8 has no encoding for {exc.object[exc.start]!r}, a lone "
                    "surrogate); every record before it was written; --format jsonl writes "
                    "it escaped", head) from None

    def _columns(self, start: int, block, p, labels, known) -> list:
        """``format_rows``'s columns for one batch, in :meth:`format_python`'s layout."""
        import numpy as np

        label = ("choice", labels, self._names)
        if self.fmt == "text":
            return [("fixed", p, 4), ("literal", b"\t"), label, ("literal", b"\n")]
        index = ("int", np.arange(start, start + len(p), dtype=np.int64))
        lines = ("int", _int64(block.lines)) if self.lines else None
        label_id = ("choice", labels, tuple(str(i).encode() for i in _LABEL_IDS))
        if self.fmt == "jsonl":
            columns = [("literal", b'{"index": '), index]
            if lines:
                columns += [("literal", b', "line": '), lines]
            if self.keep:
                columns += [("literal", self._keep_key),
                            ("str", [_json_value(v) for v in block.kept])]
            return columns + [("literal", b', "probability": '), ("fixed", p, 6),
                              ("literal", b', "label": '), label,
                              ("literal", b', "label_id": '), label_id,
                              ("literal", b', "known_features": '), ("int", known),
                              ("literal", b"}\n")]
        comma = ("literal", b",")
        columns = [index] + ([comma, lines] if lines else [])
        return columns + [comma, ("fixed", p, 6), comma, label, comma, label_id, comma,
                          ("int", known), ("literal", b"\n")]

    def format_python(self, start: int, block, p, labels, known) -> str:
        p, labels, known = p.tolist(), labels.tolist(), known.tolist()
        names = self.names
        if self.fmt == "text":     # one % over the batch: no per-row Python call
            return ("%.4f\t%s\n" * len(p)) % tuple(itertools.chain.from_iterable(
                zip(p, [names[y] for y in labels])))
        index = range(start, start + len(p))
        if self.fmt == "jsonl":
            jn = self.json_names
            head = '{"index": %d, '
            values = [index]
            if self.lines:
                head += '"line": %d, '
                values.append(block.lines)
            if self.keep:
                head += json_text(self.keep_as).replace("%", "%%") + ': %s, '
                values.append([_json_value(v) for v in block.kept])
            template = head + '"probability": %.6f, "label": %s, "label_id": %d, ' \
                '"known_features": %d}\n'
            values += [p, [jn[y] for y in labels], [_LABEL_IDS[y] for y in labels], known]
            return (template * len(p)) % tuple(itertools.chain.from_iterable(zip(*values)))
        columns = [index] + ([block.lines] if self.lines else []) + \
            ([[_csv_kept(v) for v in block.kept]] if self.keep else [])
        return _csv_rows(zip(*columns, [f"{q:.6f}" for q in p], [names[y] for y in labels],
                             [_LABEL_IDS[y] for y in labels], known))


def _int64(values):
    import numpy as np

    if isinstance(values, range):
        return np.arange(values.start, values.stop, values.step, dtype=np.int64)
    return np.asarray(values, dtype=np.int64)


def _compiled_formatter():
    try:
        from .._vectorize_c import format_rows
    except ImportError:                   # no compiled extension: Writer.format_python
        return None
    return format_rows


class Output:
    """Standard output taking what :meth:`Writer.format` gives: bytes go straight to the
    binary buffer when the stream encodes UTF-8 (no decode and re-encode), else as text."""

    def __init__(self, out):
        self.out = out
        encoding = getattr(out, "encoding", None) or ""
        try:
            utf8 = codecs.lookup(encoding).name == "utf-8"
        except LookupError:
            utf8 = False
        self.binary = getattr(out, "buffer", None) if utf8 and os.name != "nt" else None

    def write(self, chunk: bytes | str) -> None:
        if isinstance(chunk, str):
            self.out.write(chunk)
        elif self.binary is not None:     # the text layer is empty: every write flushes
            self.binary.write(chunk)
        else:
            self.out.write(chunk.decode("utf-8"))
        self.out.flush()


def _csv_rows(rows) -> str:
    """Rows as CSV records ending in ``\n``. The csv module quotes a field holding a
    character of its line terminator only: with ``\n``, a bare CR would be written unquoted
    and any reader would cut the record there. Rows holding one are written with a ``\r\n``
    writer (which quotes it), each record's terminator then made ``\n``."""
    rows = list(rows)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    out = buffer.getvalue()
    if "\r" not in out:
        return out
    buffer = io.StringIO()
    crlf = csv.writer(buffer, lineterminator="\r\n")
    records = []
    for row in rows:
        crlf.writerow(row)
        records.append(buffer.getvalue()[:-2] + "\n")
        buffer.seek(0)
        buffer.truncate()
    return "".join(records)


def _csv_kept(value):
    """A kept value as a CSV field: text as it is, null as an empty field, anything else
    (a JSON number, boolean, array or object) as its JSON text, not Python's repr."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, JSONNumber):
        return value.text
    return _json_value(value)


def _csv_cell(value: str) -> str:
    """One CSV field as the csv module writes it inside a row (quoted where needed)."""
    return _csv_rows([["", value, ""]])[1:-2]


class _Slice:
    """The first ``n`` records of a block (for the rows written before a bad one)."""

    def __init__(self, block, n: int) -> None:
        self.texts = block.texts[:n]
        self.lines = block.lines[:n] if block.lines is not None else None
        self.kept = block.kept[:n] if block.kept is not None else None


_SURROGATE = re.compile("[\ud800-\udfff]")


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate written as its ``\\uXXXX`` escape: valid UTF-8, and
    inside a JSON string the same character (e.g. a file name from a non-UTF-8 argv byte)."""
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def json_text(value) -> str:
    """``json.dumps(value, ensure_ascii=False)`` that is always valid UTF-8: a lone surrogate
    (legal in JSON text, e.g. read from ``"\\ud800"``) is written as its escape."""
    return escape_surrogates(json.dumps(value, ensure_ascii=False, allow_nan=False))


def _json_value(value) -> str:
    if isinstance(value, JSONNumber):      # a number read from JSON: as it was written,
        if value.text[-1].isdigit():        # but NaN and Infinity, which JSON does not
            return value.text               # allow, as strings
        return json_text(value.text)
    try:
        return json_text(value)
    except (TypeError, ValueError):       # not JSON-able, or NaN/inf: its text
        return json_text(str(value))


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnwritableValue(f"{what}, {text!r}, cannot be written as UTF-8 (a lone "
                              f"surrogate, {exc.object[exc.start]!r})") from None
