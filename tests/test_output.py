"""`imdb-edge score` output: the compiled batch formatter equals the Python reference byte
for byte, refuses what it cannot format exactly, and the CLI writes the same text whatever
the path (compiled bytes to a UTF-8 stdout, text to any other encoding)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from imdb_edge.cli._score import Block, batches
from imdb_edge.io._output import Writer

try:
    from imdb_edge._vectorize_c import format_rows
except ImportError:
    format_rows = None
needs_extension = pytest.mark.skipif(format_rows is None, reason="needs the compiled extension")


def probabilities(rng, n):
    """Uniform values, every float32 bit pattern in [0, 1], and decimal ties."""
    bits = rng.integers(0, 0x3F800001, n, dtype=np.uint32).view(np.float32)
    ties = np.array([0.0, 1.0, 0.5, 0.25, 0.125, 0.00005, 0.00015, 0.99995, 0.999995,
                     5e-7, 1.5e-6, 0.0625, 0.9999999], np.float32)
    return np.concatenate([rng.random(n).astype(np.float32), bits, ties])


@needs_extension
@pytest.mark.parametrize("decimals", range(1, 7))
def test_fixed_point_equals_python_percent_f(decimals):
    p = probabilities(np.random.default_rng(decimals), 50_000)
    got = format_rows([("fixed", p, decimals), ("literal", b"\n")], len(p)).decode()
    assert got == "".join(f"%.{decimals}f\n" % x for x in p.tolist())


@needs_extension
def test_integers_equal_str():
    rng = np.random.default_rng(1)
    ints = np.concatenate([rng.integers(-2**63, 2**63 - 1, 20_000, dtype=np.int64),
                           np.array([0, -1, 9, 10, 99, 100, -100, 2**63 - 1, -2**63], np.int64)])
    got = format_rows([("int", ints), ("literal", b",")], len(ints)).decode()
    assert got == "".join(f"{i}," for i in ints.tolist())


@needs_extension
def test_choices_strings_and_no_rows():
    labels = np.array([0, 1, 1, 0], np.int8)
    texts = ["a", "é\"x", "", "\U0001F600"]
    got = format_rows([("choice", labels, (b"no", "sí".encode())), ("literal", b"|"),
                       ("str", texts), ("literal", b"\n")], 4)
    assert got.decode() == "no|a\nsí|é\"x\nsí|\nno|\U0001F600\n"
    assert format_rows([("literal", b"x")], 0) == b""
    assert format_rows([], 3) == b""


@needs_extension
@pytest.mark.parametrize("columns, message", [
    ([("fixed", np.array([np.nan], np.float32), 4)], "not in \\[0, 1\\]"),
    ([("fixed", np.array([-0.0], np.float32), 4)], "not in \\[0, 1\\]"),
    ([("fixed", np.array([1.5], np.float32), 4)], "not in \\[0, 1\\]"),
    ([("fixed", np.array([0.5], np.float32), 0)], "decimals"),
    ([("fixed", np.array([0.5], np.float32), 7)], "decimals"),
    ([("choice", np.array([2], np.int8), (b"a", b"b"))], "not in 0..1"),
    ([("choice", np.array([1], np.int8), ("a", b"b"))], "bytes"),
    ([("int", np.array([1, 2]))], "shape"),
    ([("int", np.zeros((1, 1)))], "shape"),
    ([("str", ["a", b"b"][1:])], "holds bytes"),
    ([("str", ("a",))], "list of 1 str"),
    ([("str", ["\ud800"])], "surrogate"),
    ([("nope", b"")], "unknown column kind"),
])
def test_refusals_are_value_errors(columns, message):
    with pytest.raises(ValueError, match=message):
        format_rows(columns, 1)


NAMES = [("negative", "positive"), ("bad, \"really\"", "gut\nsehr"), ("0", "1"),
         ("néga", "\U0001F600")]
KEPT = ["id-1", 'quote " and , comma', "ünïcode", 7, 2.5, None, True, {"a": [1, 2]},
        "new\nline"]


@pytest.mark.parametrize("names", NAMES)
@pytest.mark.parametrize("fmt", ["text", "jsonl", "csv"])
@pytest.mark.parametrize("keep", [None, "id"])
@pytest.mark.parametrize("lines", [True, False])
def test_writer_compiled_equals_reference(names, fmt, keep, lines):
    rng = np.random.default_rng(len(names[0]) + len(fmt))
    n = 300
    p = probabilities(rng, n)[:n]
    labels = (p > 0.5).astype(np.int8)
    known = rng.integers(0, 5000, n).astype(np.int32)
    kept = [KEPT[i % len(KEPT)] for i in range(n)] if keep else None
    for numbers in (list(range(40, 40 + n)), range(7, 7 + n)):
        block = Block([""] * n, numbers if lines else None, kept)
        writer = Writer(fmt, names, lines=lines, keep=keep)
        got = writer.format(1234, block, p, labels, known)
        want = writer.format_python(1234, block, p, labels, known)
        assert isinstance(got, bytes) == (writer.format_rows is not None)
        assert (got.decode() if isinstance(got, bytes) else got) == want
    if fmt == "jsonl" and keep:
        rows = [json.loads(line) for line in want.splitlines()]
        assert [r["id"] for r in rows[:len(KEPT)]] == KEPT


def test_a_kept_lone_surrogate_is_escaped_in_json_lines():
    """Issue 19 item 1: a kept value with a lone surrogate (legal in JSON text) is written
    escaped, on both paths, and the output is valid UTF-8 and JSON."""
    writer = Writer("jsonl", ("negative", "positive"), lines=True, keep="id")
    block = Block(["x", "y"], [1, 2], ["\ud800", "a\udfffb"])
    p = np.array([0.25, 0.75], np.float32)
    args = (0, block, p, np.array([0, 1], np.int8), np.ones(2, np.int32))
    for out in (writer.format(*args), writer.format_python(*args)):
        data = out if isinstance(out, bytes) else out.encode("utf-8")
        records = [json.loads(line) for line in data.decode("utf-8").splitlines()]
        assert [r["id"] for r in records] == ["\ud800", "a\udfffb"]
        assert b'"id": "\\ud800"' in data


def test_batches_regroup_blocks_exactly():
    rng = np.random.default_rng(3)
    blocks, expected, line = [], [], 0
    for _ in range(60):
        k = int(rng.integers(0, 900))
        texts = [f"t{line + i}" for i in range(k)]
        blocks.append(Block(texts, range(line + 1, line + 1 + k), [i for i in range(k)]))
        expected += texts
        line += k
        if rng.random() < 0.2:
            blocks.append(None)                  # a stalled pipe: hand out what is held
    out = list(batches(iter(blocks), 256))
    assert [t for b in out for t in b.texts] == expected
    assert [n for b in out for n in b.lines] == list(range(1, len(expected) + 1))
    assert all(len(b.texts) == len(b.lines) == len(b.kept) for b in out)
    assert all(0 < len(b.texts) <= 256 for b in out)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_cli_output_is_the_same_text_in_any_stdout_encoding(tmp_path, encoding):
    data = tmp_path / "r.jsonl"
    data.write_text("".join(json.dumps({"text": f"A fine film, number {i}.", "id": f"é{i}"})
                            + "\n" for i in range(3000)), encoding="utf-8")

    def run(io_encoding):
        result = subprocess.run([sys.executable, "-m", "imdb_edge", "score", "--file",
                                 str(data), "--field", "text", "--keep", "id", "--format",
                                 "jsonl"], capture_output=True, timeout=300,
                                env={**os.environ, "PYTHONIOENCODING": io_encoding})
        assert result.returncode == 0, result.stderr
        return result.stdout.decode(io_encoding)

    utf8 = run("utf-8")
    assert len(utf8.splitlines()) == 3000 and '"id": "é2999"' in utf8
    assert run(encoding) == utf8
