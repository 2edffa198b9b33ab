"""Labeled input (every format, the label rules, every refusal) and `imdb-edge evaluate`."""

import gzip
import json
import subprocess
import sys

import numpy as np
import pytest

import imdb_edge
from imdb_edge.io._labeled import LabelCoder, detect_format, iter_records
from imdb_edge.cli import main

from .fixtures import make_labeled, write_labeled

ROWS = make_labeled(30, seed=1)
FORMATS = [("data.csv", "csv"), ("data.tsv", "tsv"), ("data.jsonl", "jsonl"),
           ("data.csv.gz", "csv"), ("data.jsonl.gz", "jsonl"), ("data.parquet", "parquet"),
           ("folder", "folder")]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name, fmt", FORMATS)
def test_every_format_reads_the_same_records(tmp_path, name, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    path = write_labeled(tmp_path / name, ROWS, fmt)
    assert detect_format(path) == fmt
    got = [(text, label) for _, text, label in iter_records(path)]
    expected = [(t, ("neg", "pos")[y]) for t, y in ROWS]
    if fmt == "folder":      # one sub-folder per class: grouped by class, files in name order
        expected = sorted(expected, key=lambda r: r[1])
        got_sorted = sorted(got, key=lambda r: r[1])
        assert sorted(got_sorted) == sorted(expected)
    else:
        assert got == expected


@pytest.mark.parametrize("pair, positive", [
    (("0", "1"), "1"), (("false", "true"), "true"), (("neg", "pos"), "pos"),
    (("Negative", "POSITIVE"), "POSITIVE"), (("no", "yes"), "yes"),
    (("ham", "spam"), "spam"), (("z-bad", "a-good"), "z-bad")])
def test_label_rules(pair, positive):
    coder = LabelCoder("x")
    for value in (pair[1], pair[0], pair[1]):
        coder.code(value, "line")
    (neg, pos), flip, rule = coder.order()
    assert pos == positive and neg == (set(pair) - {positive}).pop()
    assert flip == (coder.seen[pos] == 0) and rule
    (neg2, pos2), _, rule2 = coder.order(positive=neg)
    assert pos2 == neg and "--positive" in rule2


def test_label_values_of_other_types():
    coder = LabelCoder("x")
    assert [coder.code(v, "l") for v in (True, False, True)] == [0, 1, 0]
    assert coder.order()[0] == ("false", "true")
    coder = LabelCoder("x")
    assert [coder.code(v, "l") for v in (1, 0.0, "1")] == [0, 1, 0]


@pytest.mark.parametrize("content, message", [
    ("text,label\na,pos\nb,neg\nc,maybe\n", "third label 'maybe'"),
    ("text,label\na,pos\nb,\n", "line 3: label is missing"),
    ("text,label\na,pos\nb,pos\n", "one class only"),
    ("review,label\na,pos\n", "no column 'text'"),
    ("text,label\n\"unterminated,pos\nb,neg\n", "malformed CSV"),
    ("text,label\nonly-one-field\n", "line 2: 1 fields"),
    ("", "empty file"),
])
def test_refusals_name_the_problem(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "evaluate", "--file", str(path))
    assert code == 1 and message in err and err.count("\n") == 1 and out == ""


@pytest.mark.parametrize("name, data, message", [
    ("latin.csv", "text,label\ncaf\xe9,pos\nb,neg\n".encode("latin-1"), "--encoding"),
    ("array.jsonl", b'[{"text": "a", "label": "pos"}]\n', "a JSON array file"),
    ("nofield.jsonl", b'{"review": "a", "label": "pos"}\n', "no field 'text'"),
    ("null.jsonl", b'{"text": null, "label": "pos"}\n', "text is missing"),
    ("number.jsonl", b'{"text": 5, "label": "pos"}\n', "text is a number, not a string"),
    ("broken.csv.gz", gzip.compress(b"text,label\n" + b"a,pos\n" * 1000)[:60], "cannot read"),
    ("data.xlsx", b"PK", "cannot tell the format"),
])
def test_file_refusals(tmp_path, capsys, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    code, _, err = run(capsys, "evaluate", "--file", str(path))
    assert code == 1 and message in err, err


def test_missing_file_and_folder_of_three_classes(tmp_path, capsys):
    code, _, err = run(capsys, "evaluate", "--file", str(tmp_path / "none.csv"))
    assert code == 1 and "no such file" in err
    for name in ("a", "b", "c"):
        (tmp_path / "three" / name).mkdir(parents=True)
    code, _, err = run(capsys, "evaluate", "--file", str(tmp_path / "three"))
    assert code == 1 and "found 3 sub-folders" in err


def test_encoding_option(tmp_path, capsys):
    path = tmp_path / "latin.csv"
    rows = [("café great fun", 1), ("awful dull", 0)] * 5
    path.write_bytes(("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
                     .encode("latin-1"))
    code, out, _ = run(capsys, "evaluate", "--file", str(path), "--encoding", "latin-1", "--json")
    assert code == 0 and json.loads(out)["n"] == 10


def test_nested_json_field_and_delimiter(tmp_path, capsys):
    path = tmp_path / "nested.jsonl"
    path.write_text("".join(json.dumps({"review": {"text": t}, "y": ("neg", "pos")[y]}) + "\n"
                            for t, y in ROWS), encoding="utf-8")
    code, out, _ = run(capsys, "evaluate", "--file", str(path), "--text-column", "review.text",
                       "--label-column", "y", "--json")
    assert code == 0 and json.loads(out)["n"] == len(ROWS)
    semi = tmp_path / "semi.csv"
    semi.write_text("text;label\n" + "".join(f"{t.replace(';', ' ')};{y}\n" for t, y in ROWS))
    code, out, _ = run(capsys, "evaluate", "--file", str(semi), "--delimiter", ";", "--json")
    assert code == 0 and json.loads(out)["n"] == len(ROWS)


def test_evaluate_json_matches_the_scores(tmp_path, capsys):
    path = write_labeled(tmp_path / "data.csv", ROWS, "csv")
    code, out, _ = run(capsys, "evaluate", "--model", "default", "--file", str(path),
                       "--text-column", "text", "--label-column", "label", "--json")
    report = json.loads(out)
    p = imdb_edge.load("default").score([t for t, _ in ROWS])
    y = np.array([label for _, label in ROWS])
    assert code == 0 and report["n"] == len(ROWS)
    assert report["accuracy"] == pytest.approx(np.mean((p > 0.5) == y))
    assert report["labels"] == {"negative": "neg", "positive": "pos",
                                "rule": "'pos' is positive in a neg/pos pair"}
    assert sum(report["confusion"].values()) == len(ROWS)


def test_several_models_side_by_side(tmp_path, capsys):
    path = write_labeled(tmp_path / "data.jsonl", ROWS, "jsonl", names=("0", "1"))
    code, out, _ = run(capsys, "evaluate", "--model", "default", "--model", "accurate",
                       "--file", str(path), "--json")
    reports = json.loads(out)["models"]
    assert code == 0 and len(reports) == 2
    assert all(isinstance(r["accuracy"], float) for r in reports)
    assert reports[0]["model"] != reports[1]["model"]
    code, out, _ = run(capsys, "evaluate", "--model", "default", "--model", "accurate",
                       "--file", str(path))
    header = out.splitlines()[0].split()
    assert code == 0 and header == ["model", "default", "accurate"]
    assert any(line.startswith("ROC AUC") for line in out.splitlines())


def test_one_class_present_gives_null_auc(tmp_path, capsys):
    path = tmp_path / "one.csv"
    path.write_text("text,label\ngreat,pos\nawful,pos\n")
    code, _, err = run(capsys, "evaluate", "--file", str(path), "--json")
    assert code == 1 and "one class only" in err


def test_plots(tmp_path, capsys):
    path = write_labeled(tmp_path / "data.csv", ROWS, "csv")
    code, _, err = run(capsys, "evaluate", "--file", str(path), "--plots", str(tmp_path / "png"))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert code == 0 and "matplotlib is not installed" in err
        return
    assert code == 0
    for name in ("reliability.png", "roc.png"):
        assert (tmp_path / "png" / name).read_bytes()[:4] == b"\x89PNG"


def test_parquet_without_pyarrow_says_what_to_install(tmp_path):
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1")
    code = ("import sys; sys.modules['pyarrow'] = None; sys.modules['pyarrow.parquet'] = None\n"
            "from imdb_edge.cli import main\n"
            f"sys.exit(main(['evaluate', '--file', {str(path)!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1 and "pip install pyarrow" in result.stderr


def test_usage_errors(tmp_path, capsys):
    path = write_labeled(tmp_path / "data.csv", ROWS, "csv")
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--file", str(path), "--threshold", "2"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        main(["evaluate", "--file", str(path), "--delimiter", ";;"])
    code, _, err = run(capsys, "evaluate", "--file", str(path), "--positive", "maybe")
    assert code == 1 and "--positive 'maybe' is not one of the labels" in err


def test_accuracy_by_text_length(tmp_path, capsys):
    rows = [("great", "pos"), ("awful", "neg"), ("a great film " * 5, "pos"),
            ("dull and awful, a waste " * 10, "neg"), ("a wonderful film, a joy " * 30, "pos"),
            ("", "pos")]
    path = tmp_path / "d.csv"
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    code, out, _ = run(capsys, "evaluate", "--file", str(path), "--json")
    report = json.loads(out)
    buckets = {b["bucket"]: b for b in report["by_length"]}
    assert [b["bucket"] for b in report["by_length"]] == ["<= 10 words", "11-30 words",
                                                          "31-100 words", "> 100 words"]
    assert [buckets[k]["n"] for k in buckets] == [3, 1, 1, 1]      # "" counts as 0 words
    assert sum(b["n"] for b in report["by_length"]) == report["n"] == len(rows)
    words = np.array([len(t.split()) for t, _ in rows])
    y = np.array([l == "pos" for _, l in rows])
    p = imdb_edge.score([t for t, _ in rows])
    short = words <= 10
    assert buckets["<= 10 words"]["accuracy"] == pytest.approx(np.mean((p[short] > 0.5) == y[short]))
    assert report["no_known_features"] == 1
    code, out, _ = run(capsys, "evaluate", "--file", str(path))
    assert "accuracy, <= 10 words (n)" in out and "(3)" in out


def test_bare_str_scores_as_a_one_item_list():
    text = "A wonderful film"
    assert np.array_equal(imdb_edge.score(text), imdb_edge.score([text]))
    scorer = imdb_edge.load()
    p, known = scorer.score(text, return_known=True)
    p_list, known_list = scorer.score([text], return_known=True)
    assert p.shape == (1,) and np.array_equal(p, p_list) and np.array_equal(known, known_list)
    assert known[0] >= 2
