"""The command line as a newcomer meets it: one input contract, no wrong-looking-right output
(issue 12). Each test runs the installed entry point or `main()` for real."""

import gzip
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import imdb_edge
from imdb_edge.cli import main

EXE = [sys.executable, "-m", "imdb_edge"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cli(*argv, stdin=b"", env=None):
    return subprocess.run(EXE + list(argv), input=stdin, capture_output=True, timeout=300,
                          env={**os.environ, **(env or {})})


# 1. no silently ignored option, no guessed format --------------------------------------

def test_json_lines_on_stdin_are_not_scored_as_text():
    result = cli("score", "--file", "-", stdin=b'{"text": "This movie was great"}\n')
    assert result.returncode == 2 and b"looks like JSON lines" in result.stderr
    assert result.stdout == b""
    ok = cli("score", "--field", "text", stdin=b'{"text": "This movie was great"}\n')
    expected = float(imdb_edge.score("This movie was great")[0])
    assert ok.returncode == 0 and float(ok.stdout.split(b"\t")[0]) == pytest.approx(expected,
                                                                                abs=1e-4)
    raw = cli("score", "--input", "lines", stdin=b'{"text": "great"}\n')
    assert raw.returncode == 0 and len(raw.stdout.splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["score", "x", "--field", "text"], "apply to --file input"),
    (["score", "x", "--column", "text"], "apply to --file input"),
    (["score", "--file", "r.csv", "--field", "text"], "--field is for JSON lines"),
    (["score", "--file", "r.jsonl", "--column", "text"], "--column is for CSV"),
    (["score", "--file", "r.txt", "--input", "lines", "--field", "text"], "--field is for JSON"),
    (["score", "--file", "r.txt", "--keep", "id"], "--keep needs a format with columns"),
    (["score", "--file", "r.csv", "--field", "a", "--column", "b"], "give one"),
])
def test_conflicting_options_are_usage_errors(tmp_path, capsys, argv, message):
    for name in ("r.csv", "r.jsonl", "r.txt"):
        (tmp_path / name).write_text("text\nx\n")
    argv = [str(tmp_path / a) if a.startswith("r.") else a for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err
    assert "usage: imdb-edge score" in err          # the sub-command's usage (item 7)


def test_field_implies_json_lines_and_column_csv(tmp_path, capsys):
    jsonl = tmp_path / "r.txt"
    jsonl.write_text('{"t": "great film"}\n')
    code, out, _ = run(capsys, "score", "--file", str(jsonl), "--field", "t")
    assert code == 0 and out.endswith("positive\n")
    table = tmp_path / "r.data"
    table.write_text("id,t\n1,awful film\n")
    code, out, _ = run(capsys, "score", "--file", str(table), "--column", "t")
    assert code == 0 and out.endswith("negative\n")


# 2. bench keeps the error contract -----------------------------------------------------------

@pytest.mark.parametrize("argv, code, message", [
    (["bench", "--file", "/nonexistent/reviews.txt", "--quick"], 1, "cannot read --file"),
    (["bench", "--peers", "bogus"], 2, "unknown peer 'bogus'"),
    (["bench", "--peers", "keras"], 2, "python benchmarks/latency.py"),
    (["bench", "--presets", "nonesuch"], 2, "no bundled preset 'nonesuch'"),
    (["bench", "--model", "nonesuch", "--file", "reviews.txt", "--quick"], 1,
     "no bundled model"),
])
def test_bench_errors_are_one_line(tmp_path, argv, code, message):
    (tmp_path / "reviews.txt").write_text("great film\nawful film\n")
    result = subprocess.run(EXE + argv + ["--out", str(tmp_path / "o")], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == code and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_bench_data_not_an_archive(tmp_path):
    bad = tmp_path / "reviews.txt"
    bad.write_text("not an archive\n")
    result = cli("bench", "--data", str(bad), "--quick", "--out", str(tmp_path / "o"))
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(b"imdb-edge bench: error:")


def test_bench_help_is_plain_and_complete():
    result = cli("bench", "--help")
    text = result.stdout.decode()
    assert result.returncode == 0 and "``" not in text and "keras" not in text
    for option in ("--data", "--calls", "--warmup", "--repeats", "--traceback", "--out"):
        line = next(l for l in text.splitlines() if l.strip().startswith(option))
        assert len(line.split()) > 2 or option in ("--quick",), line    # has help text


# 3. stdin ----------------------------------------------------------------------------------

def test_stdin_is_read_when_no_text_is_given():
    result = cli("score", stdin=b"This movie was great\nWorst film ever, a total waste\n")
    assert result.returncode == 0
    assert [l.split(b"\t")[1] for l in result.stdout.splitlines()] == [b"positive", b"negative"]


def test_explain_reads_stdin():
    result = cli("explain", "-", "--json", stdin=b"A dull film")
    record = json.loads(result.stdout)
    assert result.returncode == 0 and record["effects"][0]["feature"] == "dull"
    assert record["probability"] == pytest.approx(float(imdb_edge.score("A dull film")[0]))


# 4. labels, ids, unknown words, blank lines -------------------------------------------------

def test_one_label_vocabulary_and_kept_ids(tmp_path, capsys):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a1", "text": "great film"}\n\n{"id": 7, "text": "awful film"}\n'
                    '{"id": null, "text": "qqqq zzzz"}\n')
    code, out, err = run(capsys, "score", "--file", str(path), "--keep", "id", "--format",
                         "jsonl")
    rows = [json.loads(l) for l in out.splitlines()]
    assert code == 0 and [r["id"] for r in rows] == ["a1", 7, None]
    assert [r["line"] for r in rows] == [1, 3, 4]
    assert [r["label"] for r in rows] == ["positive", "negative", "unknown"]   # claims no class
    assert [r["label_id"] for r in rows] == [1, 0, -1]
    known = int(imdb_edge.load().score(["great film"], return_known=True)[1][0])
    assert rows[2]["known_features"] == 0 and rows[0]["known_features"] == known >= 2
    assert "1 of 3 reviews had no word the model knows" in err
    code, out, _ = run(capsys, "score", "--file", str(path), "--keep", "id", "--format", "csv")
    lines = out.splitlines()
    assert lines[0] == "index,line,id,probability,label,label_id,known_features"
    assert lines[1].startswith("0,1,a1,") and lines[1].endswith(f",positive,1,{known}")
    assert lines[3].startswith("2,4,,") and lines[3].endswith(",unknown,-1,0")
    code, out, _ = run(capsys, "score", "--file", str(path), "--field", "text")
    assert [l.split("\t")[1] for l in out.splitlines()] == ["positive", "negative", "unknown"]


@pytest.mark.parametrize("fmt", ["text", "jsonl", "csv"])
def test_unknown_label_in_every_format_and_both_formatters(fmt):
    import numpy as np

    from imdb_edge.io._output import Writer

    writer = Writer(fmt, ("neg", "pos"), lines=False, keep=None)
    p = np.array([0.9, 0.1, 0.52], np.float32)
    from imdb_edge._labels import label_codes

    codes = label_codes(p, np.array([3, 2, 0]))
    assert codes.tolist() == [1, 0, 2]
    compiled = writer.format(0, None, p, codes, np.array([3, 2, 0]))
    reference = writer.format_python(0, None, p, codes, np.array([3, 2, 0]))
    compiled = compiled.decode() if isinstance(compiled, bytes) else compiled
    assert compiled == reference
    last = reference.splitlines()[-1]
    assert "unknown" in last and "pos" not in last and "neg" not in last
    if fmt != "text":
        assert "-1" in last


def test_predict_names_unknown_for_text_without_known_feature():
    labels = imdb_edge.predict(["A wonderful, moving film", "", "\U0001F621"], names=True)
    assert labels.tolist()[1:] == ["unknown", "unknown"] and labels[0] == "positive"
    assert imdb_edge.predict(["", "A wonderful, moving film"]).tolist() == [-1, 1]


@pytest.mark.parametrize("name, content", [
    ("r.txt", "great film\n\n   \nawful film\n"),
    ("r.jsonl", '{"text": "great film"}\n\n   \n{"text": "awful film"}\n'),
    ("r.csv", "text\ngreat film\n\n\nawful film\n"),
    ("r.tsv", "text\ngreat film\n\n\nawful film\n"),
])
def test_blank_lines_are_no_review_in_every_format(tmp_path, capsys, name, content):
    path = tmp_path / name
    path.write_text(content)
    code, out, _ = run(capsys, "score", "--file", str(path), "--format", "jsonl")
    rows = [json.loads(l) for l in out.splitlines()]
    assert code == 0 and [r["index"] for r in rows] == [0, 1]
    assert [r["label"] for r in rows] == ["positive", "negative"]


# 5. progress --------------------------------------------------------------------------------

def test_progress_into_a_file_is_not_a_line_per_batch(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("great film\n" * 20000)
    result = cli("score", "--file", str(path), "--batch-size", "16", "--progress", "on")
    lines = result.stderr.decode().splitlines()
    assert result.returncode == 0 and len(lines) <= 2          # not 1,250 batch lines
    assert "20,000 reviews" in lines[-1] and "100%" in lines[-1]


def test_progress_line_has_rate_percentage_and_eta():
    import io

    from imdb_edge.io._progress import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = Progress("x", total=1000, unit="reviews", stream=stream)
    bar.interval = 0
    bar.update(250, 250)
    text = stream.getvalue()
    assert "250 reviews" in text and "/s" in text and "25%" in text and "s left" in text


# 6. input options ----------------------------------------------------------------------------

def test_encodings(tmp_path, capsys):
    latin = tmp_path / "r.txt"
    latin.write_bytes("café great film\n".encode("latin-1"))
    code, _, err = run(capsys, "score", "--file", str(latin))
    assert code == 1 and "--encoding" in err and "line 1" in err
    code, out, _ = run(capsys, "score", "--file", str(latin), "--encoding", "latin-1")
    assert code == 0 and out.endswith("positive\n")
    utf16 = tmp_path / "u.txt"
    utf16.write_bytes("great film\r\nawful film\r\n".encode("utf-16"))     # with a BOM
    code, out, _ = run(capsys, "score", "--file", str(utf16))
    assert code == 0 and [l.split("\t")[1] for l in out.splitlines()] == ["positive",
                                                                           "negative"]
    with pytest.raises(SystemExit):
        main(["score", "--file", str(latin), "--encoding", "klingon"])


def test_delimiter_tsv_malformed_csv_nested_field(tmp_path, capsys):
    semi = tmp_path / "r.csv"
    semi.write_text("id;review\n1;great film\n")
    code, out, _ = run(capsys, "score", "--file", str(semi), "--column", "review",
                       "--delimiter", ";")
    assert code == 0 and out.endswith("positive\n")
    tsv = tmp_path / "r.tsv"
    tsv.write_text("text\tid\ngreat, film\t1\n")
    code, out, _ = run(capsys, "score", "--file", str(tsv))
    assert code == 0 and len(out.splitlines()) == 1
    broken = tmp_path / "b.csv"
    broken.write_text('text\n"great film\nawful\n')
    code, _, err = run(capsys, "score", "--file", str(broken))
    assert code == 1 and "malformed CSV" in err and "line" in err
    nested = tmp_path / "n.jsonl"
    nested.write_text('{"review": {"text": "awful film"}}\n')
    code, out, _ = run(capsys, "score", "--file", str(nested), "--field", "review.text")
    assert code == 0 and out.endswith("negative\n")


def test_vocab_option_and_missing_vocabulary_message(tmp_path, capsys):
    import shutil

    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(imdb_edge.load().path, folder / "model.onnx")
    code, _, err = run(capsys, "score", "--model", str(folder), "great")
    assert code == 1 and "vocab.txt" in err and "vocab.txt.gz" in err and "--vocab" in err
    from imdb_edge._models import resolve_model

    vocab = resolve_model(None)[1]
    code, out, _ = run(capsys, "score", "--model", str(folder), "--vocab", str(vocab), "great")
    assert code == 0 and out.strip().endswith("positive")


# 7. usage and decode -------------------------------------------------------------------------

def test_decode_refuses_non_integers(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["decode", "1.5"])
    assert exit_info.value.code == 2 and "usage: imdb-edge decode" in capsys.readouterr().err
    with pytest.raises(TypeError, match="integers"):
        imdb_edge.load().decode([1.5])
    with pytest.raises(TypeError):
        imdb_edge.load().decode([True])
    assert imdb_edge.load().decode([np.int64(0)]) == ["the"]


def test_decode_one_per_line_or_json(capsys):
    accurate = imdb_edge.load("accurate")
    bigram = next(i for i, f in enumerate(accurate.vectorizer.vocabulary.features) if " " in f)
    code, out, _ = run(capsys, "decode", "--model", "accurate", "0", str(bigram))
    assert code == 0 and out.splitlines()[1] == accurate.decode([bigram])[0]
    code, out, _ = run(capsys, "decode", "--model", "accurate", "--json", "0", str(bigram))
    assert json.loads(out) == accurate.decode([0, bigram])


# 8. API ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["score", "predict", "explain", "load"])
def test_entry_points_are_documented(name):
    doc = getattr(imdb_edge, name).__doc__
    assert "Example:" in doc and ">>>" in doc
    if name in ("score", "load"):
        assert "Args:" in doc and "Returns:" in doc and "Raises:" in doc


def test_docstring_examples_run():
    import doctest

    from imdb_edge import _default_model, _scorer

    attempted = 0
    for module in (_scorer, _default_model):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0
        attempted += result.attempted
    assert attempted >= 5


def test_top_level_predict_explain_and_typed_effects():
    assert imdb_edge.predict(["great film", "awful film"]).tolist() == [1, 0]
    effects = imdb_edge.explain("a dull film", top=2)
    assert isinstance(effects[0], imdb_edge.Effect) and effects[0].feature == "dull"
    assert effects[0]["effect"] == effects[0].effect < 0


def test_chunk_size_is_settable_and_does_not_change_scores():
    texts = [f"great film number {i}" if i % 3 else "awful" for i in range(1000)]
    small = imdb_edge.load(chunk_size=7)
    assert small.chunk_size == 7
    np.testing.assert_array_equal(small.score(iter(texts)), imdb_edge.load().score(texts))
    with pytest.raises(ValueError, match="chunk_size"):
        imdb_edge.load(chunk_size=0)


def test_default_model_from_the_environment():
    code = ("import imdb_edge; print(imdb_edge.load().info['preset'], "
            "len(imdb_edge.load().vectorizer.vocabulary))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "IMDB_EDGE_MODEL": "accurate"}, timeout=120)
    assert result.stdout.split() == ["accurate", "100000"]
    via_cli = cli("info", "--json", env={"IMDB_EDGE_MODEL": "accurate"})
    card = json.loads(via_cli.stdout)
    assert card["preset"] == "accurate"
    assert {p["name"] for p in card["presets"]} >= {"default", "accurate"}
    assert all(isinstance(p["test_accuracy"], float) for p in card["presets"])


# 12. a stalled pipe is answered at once -------------------------------------------------------

def test_stalled_pipe_gets_its_answer_before_eof():
    proc = subprocess.Popen(EXE + ["score"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"This movie was great\n")
        proc.stdin.flush()
        start = time.monotonic()
        line = proc.stdout.readline()          # before stdin is closed: no full batch needed
        assert line.endswith(b"\tpositive\n") and time.monotonic() - start < 60
        proc.stdin.write(b"Worst film ever\n")
        proc.stdin.flush()
        assert proc.stdout.readline().endswith(b"\tnegative\n")
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    assert proc.returncode == 0


# 13. gzip, JSON arrays, the fallback -------------------------------------------------------------

def test_gzip_input_is_read(tmp_path, capsys):
    path = tmp_path / "r.txt.gz"
    path.write_bytes(gzip.compress(b"great film\nawful film\n"))
    code, out, _ = run(capsys, "score", "--file", str(path))
    assert code == 0 and [l.split("\t")[1] for l in out.splitlines()] == ["positive",
                                                                           "negative"]
    piped = cli("score", stdin=gzip.compress(b"great film\n"))
    assert piped.returncode == 0 and piped.stdout.endswith(b"positive\n")


def test_json_array_file_is_refused(tmp_path, capsys):
    path = tmp_path / "r.json"
    path.write_text('[{"text": "great"}, {"text": "awful"}]')
    code, out, err = run(capsys, "score", "--file", str(path))
    assert code == 1 and "JSON array" in err and "jq" in err and out == ""
    lines = tmp_path / "l.json"
    lines.write_text('{"text": "great film"}\n')
    code, out, _ = run(capsys, "score", "--file", str(lines))
    assert code == 0 and out.endswith("positive\n")


def test_pure_python_fallback_is_one_warning_line():
    code = ("import sys, imdb_edge._vectorizer as v; v._vectorize_c = None; "
            "from imdb_edge.cli import main; sys.exit(main(['score', 'great film']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={k: v for k, v in os.environ.items()
                                              if k != "IMDB_EDGE_PURE_PYTHON"})
    assert result.returncode == 0 and result.stdout.endswith("positive\n")
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("imdb-edge: warning: the compiled vectorizer")


def test_broken_gzip_is_one_clear_error(tmp_path, capsys):
    """Found by the loaders fuzzer: gzip magic with a bad header raised BadGzipFile."""
    bad = b"\x1f\x8b\x9d0~???????????????\x08\xb2"
    for name in ("r.txt.gz", "r.csv.gz"):
        (tmp_path / name).write_bytes(bad)
        code, out, err = run(capsys, "score", "--file", str(tmp_path / name))
        assert code == 1 and "not a readable gzip stream" in err and out == ""
    piped = cli("score", stdin=bad)
    assert piped.returncode == 1 and b"not a readable gzip stream" in piped.stderr
    lines = "".join(f"review {i} great film\n" for i in range(50000))
    truncated = gzip.compress(lines.encode())[:2000]
    (tmp_path / "t.txt.gz").write_bytes(truncated)
    code, _, err = run(capsys, "score", "--file", str(tmp_path / "t.txt.gz"))
    assert code == 1 and "cannot read the input" in err
