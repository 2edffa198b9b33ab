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

from .._labels import LABEL_IDS as _LABEL_IDS, UNKNOWN_LABEL


class Writer:
    """Formats a batch at a time. :meth:`format` gives UTF-8 bytes built in C where it can,
    else a ``str`` from :meth:`format_python`, the reference it equals byte for byte."""

    def __init__(self, fmt: str, names: tuple[str, str], *, lines: bool, keep: str | None):
        names = (*names, UNKNOWN_LABEL)
        self.fmt, self.names, self.lines, self.keep = fmt, names, lines, keep
        self.json_names = [json.dumps(n, ensure_ascii=False) for n in names]
        self.format_rows = _compiled_formatter() if not (fmt == "csv" and keep) else None
        # what every batch's columns share, encoded once
        shown = {"text": names, "jsonl": self.json_names, "csv": [_csv_cell(n) for n in names]}
        self._names = tuple(n.encode("utf-8") for n in shown[fmt])
        self._keep_key = (", " + json.dumps(keep, ensure_ascii=False) + ": ").encode("utf-8") \
            if keep else b""

    def header(self) -> str:
        if self.fmt != "csv":
            return ""
        columns = ["index"] + (["line"] if self.lines else []) + ([self.keep] if self.keep
                                                                  else [])
        return _csv_rows([columns + ["probability", "label", "label_id", "known_features"]])

    def format(self, start: int, block, p, labels, known) -> bytes | str:
        if self.format_rows is not None:
            try:
                return self.format_rows(self._columns(start, block, p, labels, known), len(p))
            except ValueError:        # e.g. a kept value that is not valid Unicode
                pass
        return self.format_python(start, block, p, labels, known)

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
                head += json.dumps(self.keep, ensure_ascii=False) + ': %s, '
                values.append([_json_value(v) for v in block.kept])
            template = head + '"probability": %.6f, "label": %s, "label_id": %d, ' \
                '"known_features": %d}\n'
            values += [p, [jn[y] for y in labels], [_LABEL_IDS[y] for y in labels], known]
            return (template * len(p)) % tuple(itertools.chain.from_iterable(zip(*values)))
        columns = [index] + ([block.lines] if self.lines else []) + \
            ([block.kept] if self.keep else [])
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
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _csv_cell(value: str) -> str:
    """One CSV field as the csv module writes it inside a row (quoted where needed)."""
    return _csv_rows([["", value, ""]])[1:-2]


def _json_value(value) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return json.dumps(str(value), ensure_ascii=False)
