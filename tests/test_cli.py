import json
import subprocess
import sys

import pytest

import imdb_edge

from imdb_edge import __version__
from imdb_edge.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_score_texts(capsys):
    code, out, _ = run(capsys, "score", "This movie was great", "Worst film ever, a total waste")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert float(lines[0].split("\t")[0]) > 0.5 and lines[0].endswith("positive")
    assert float(lines[1].split("\t")[0]) < 0.5 and lines[1].endswith("negative")


def test_score_file_formats(tmp_path, capsys):
    lines = tmp_path / "r.txt"
    lines.write_text("great film\nawful, boring film\n\n", encoding="utf-8")
    code, out, _ = run(capsys, "score", "--file", str(lines), "--format", "jsonl")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["index"] for r in records] == [0, 1]    # a blank line is no review
    assert [r["line"] for r in records] == [1, 2]
    assert records[0]["label"] == "positive" and records[1]["label"] == "negative"
    assert records[0]["label_id"] == 1 and records[1]["label_id"] == 0

    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text('{"review": "great film"}\n{"review": "awful film"}\n', encoding="utf-8")
    code, out, _ = run(capsys, "score", "-f", str(jsonl), "--field", "review", "--format", "csv")
    rows = out.splitlines()
    assert code == 0 and rows[0] == "index,line,probability,label,label_id,known_features" and len(rows) == 3

    table = tmp_path / "r.csv"
    table.write_text('id,text\n1,"great, great film"\n2,"awful\nfilm"\n', encoding="utf-8")
    code, out, _ = run(capsys, "score", "-f", str(table), "--column", "text")
    assert code == 0 and len(out.splitlines()) == 2


def test_score_bad_inputs(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\ncaf\xe9 bad\n")
    code, _, err = run(capsys, "score", "-f", str(bad))
    assert code == 1 and "invalid UTF-8" in err and "Traceback" not in err
    code, out, _ = run(capsys, "score", "-f", str(bad), "--encoding-errors", "replace")
    assert code == 0 and len(out.splitlines()) == 2
    jsonl = tmp_path / "x.jsonl"
    jsonl.write_text('{"text": "ok"}\n{"text": 3}\n', encoding="utf-8")
    code, _, err = run(capsys, "score", "-f", str(jsonl))
    assert code == 1 and "line 2" in err
    code, _, err = run(capsys, "score", "-f", str(tmp_path / "missing.txt"))
    assert code == 1 and "missing.txt" in err
    code, _, err = run(capsys, "score", "x", "--model", str(tmp_path / "none.onnx"))
    assert code == 1 and "model file not found" in err


@pytest.mark.parametrize("argv", [["score", "x", "--field", "text"], ["score", "x", "--file", "f"],
                                  ["bogus"],
                                  ["score", "x", "--threshold", "3"]])
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_info_explain_decode(capsys):
    code, out, _ = run(capsys, "info", "--json")
    assert code == 0 and json.loads(out)["input_form"] == "segments"
    code, out, _ = run(capsys, "explain", "a great film with a dull ending", "--json")
    effects = {e["feature"]: e["effect"] for e in json.loads(out)["effects"]}
    assert effects["great"] > 0 > effects["dull"]
    code, out, _ = run(capsys, "decode", "0", "1")
    assert code == 0 and len(out.split()) == 2


def test_entry_point_stdin_and_version():
    exe = [sys.executable, "-m", "imdb_edge"]
    out = subprocess.run(exe + ["--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout
    out = subprocess.run(exe + ["score", "--file", "-"], input="great film\nawful film\n",
                         capture_output=True, text=True)
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 2
    out = subprocess.run(exe + ["score", "x", "--model", "/nonexistent/m.onnx"],
                         capture_output=True, text=True)
    assert out.returncode == 1 and out.stderr.count("\n") == 1


def test_help_does_not_import_onnxruntime():
    code = ("import sys; from imdb_edge.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit: pass\n"
            "sys.exit(1 if 'onnxruntime' in sys.modules or 'numpy' in sys.modules else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0


def test_accurate_model_option(capsys):
    code, out, _ = run(capsys, "score", "--model", "accurate", "This movie was great",
                       "Worst film ever, a total waste")
    lines = out.splitlines()
    assert code == 0 and lines[0].endswith("positive") and lines[1].endswith("negative")


def test_bench_command(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["bench", "--help"])
    assert info.value.code == 0 and "imdb-edge bench" in capsys.readouterr().out
    from .fixtures import make_files
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("\n".join(t for n, t in make_files(30).items() if n.endswith(".txt")),
                       encoding="utf-8")
    code, out, _ = run(capsys, "bench", "--quick", "--file", str(reviews), "--peers", "python",
                       "--presets", "default,book", "--calls", "60", "--warmup", "5",
                       "--out", str(tmp_path / "b"))
    assert code == 0 and "single review, end to end" in out and "Python vectorizer" in out
    results = json.loads((tmp_path / "b" / "bench.json").read_text())
    assert results["imdb_edge"]["throughput"]["1t_b512"]["reviews_per_s"] > 0
    assert results["cold"]["peak_rss_mb"] > 0 and results["presets"]["default"]["features"] == \
        len(imdb_edge.load("default").vectorizer.vocabulary)
    for preset in ("default", "book"):      # interleaved rounds: every call of each is pooled
        row = results["presets"][preset]
        assert row["single"]["calls"] == row["single_short"]["calls"] >= 3
        assert row["single_short"]["p50_us"] > 0 and row["reviews_per_s_b512"] > 0
    assert "against book (same run, interleaved): default b512 " in out
    assert "each preset's best of 5 interleaved rounds" in out
