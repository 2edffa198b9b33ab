"""Plain-line input that is really records: JSON lines, or CSV/TSV with a header, read as
one review per line would score the header, the keys and the ids as words. ``score`` and
``explain`` refuse it (:func:`refuse_records`) and ``score`` notes a lone header-like first
line (:func:`note_lone_header`)."""

from __future__ import annotations

import json
import re
import shlex

from ._errors import UsageError


# explain reads one review: records are for score
EXPLAIN_ADVICE = ("explain reads one review: give it as TEXT, or score the file's records "
                  "with imdb-edge score")


def refuse_records(text: str, advice: str | None = None) -> None:
    """Refuse JSON lines, CSV or TSV about to be read as plain text (the header, keys and
    ids would be scored as words); ``advice`` replaces score's flags in the message."""
    _refuse_json_lines(text, advice)
    _refuse_delimited(text, advice)


def _refuse_json_lines(text: str, advice: str | None = None) -> None:
    first = text.lstrip().split("\n", 1)[0].strip()
    if first.startswith("{") and first.endswith("}"):
        try:
            is_object = isinstance(json.loads(first), dict)
        except ValueError:
            is_object = False
        if is_object:
            raise UsageError("the input looks like JSON lines (line 1 is a JSON object) but "
                             "would be scored as plain text; " + (advice or "pass --field NAME "
                             "(or --input lines to score the raw lines)"))


_HEADER_NAME = re.compile(r"[^\W\d][\w.\-]{0,63}")      # id, text, évaluation, レビュー
_TITLED_WORDS = re.compile(r"(?:[^\W\d_][\w.\-]*)(?: [^\W\d_][\w.\-]*){1,3}")
_COLUMN_WORDS = frozenset(("text", "review", "reviews", "comment", "content", "body",
                           "sentence", "title", "summary", "rating", "label", "sentiment",
                           "score", "stars", "id", "polarity", "class"))


def _header_like(names: list[str]) -> bool:
    """Whether CSV fields look like column names: each one word (``review_text``,
    ``évaluation``), or 2-4 words each starting with a capital (``Review Text``, ``Clothing
    ID``) when some name holds a usual column word; "Great film, loved it" is not a header."""
    if all(_HEADER_NAME.fullmatch(n) for n in names):
        return True
    if not any(w.lower() in _COLUMN_WORDS for n in names for w in n.split()):
        return False
    return all(_HEADER_NAME.fullmatch(n) or (_TITLED_WORDS.fullmatch(n) and all(
        w[0].isupper() for w in n.split())) for n in names)


_TEXT_COLUMN_NAMES = ("text", "review", "content", "body", "comment", "sentence")


def note_lone_header(text: str, note) -> None:
    """A first line that is only a text column's usual name (``text``, ``review``...) with
    lines after it is most likely a one-column CSV's header: it is scored as a review (it is
    also a valid line), and ``note`` says so, with the flags that skip it."""
    lines = text.lstrip("\n").split("\n", 2)
    name = lines[0].strip().strip('"')
    if len(lines) > 1 and name.lower() in _TEXT_COLUMN_NAMES:
        note(f"line 1, {lines[0].strip()!r}, looks like a CSV header and was scored as a "
             f"review; to skip it, pass --input csv --column {name}")


def _fields(line: str, delimiter: str) -> list[str]:
    """A line's CSV fields, or none where the csv module refuses it (a bare CR, a field over
    its size limit): such a line is no header, and the guess must never fail the read."""
    import csv

    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return []


def _refuse_delimited(text: str, advice: str | None = None) -> None:
    """Refuse CSV or TSV read as plain lines: a first line of two or more distinct
    identifier-like names (``id,text``, ``review<TAB>label``) with, when there is a second
    line, as many fields there."""
    lines = text.lstrip("\n").split("\n", 2)
    for delimiter, kind in (("\t", "TSV"), (",", "CSV"), (";", "CSV")):
        if delimiter not in lines[0]:
            continue
        header = _fields(lines[0], delimiter)
        names = [h.strip() for h in header]
        if len(names) < 2 or len(set(names)) != len(names) \
                or not _header_like(names) \
                or all(n.replace(".", "").replace("-", "").isdigit() for n in names):
            continue
        if len(lines) < 2 or not lines[1].strip():
            continue                   # a header alone: one line scored, nothing shifted
        second = _fields(lines[1], delimiter)
        if len(second) != len(names):
            continue
        text_name = shlex.quote(next(
            (n for n in names if n.lower() in _TEXT_COLUMN_NAMES), None) or next(
            (n for n in names if any(w.lower() in _TEXT_COLUMN_NAMES for w in n.split())),
            names[-1]))
        raise UsageError(f"the input looks like {kind} (line 1 is a header: "
                         f"{delimiter.join(names)[:80]!r}) but would be scored as plain lines, "
                         "the header and every other field included; " + (advice or
                         f"pass --column NAME (e.g. --column {text_name}"
                         f"{' --input tsv' if kind == 'TSV' else ''}"
                         f"{' --delimiter ' + repr(delimiter) if delimiter == ';' else ''})"
                         ", or --input lines to score the raw lines"))
