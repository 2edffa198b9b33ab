"""Issue 19: no silent loss anywhere. Each case of the issue (or a variant of it) fails on the
code before the fix; each kind is checked in every place it can happen."""

import csv
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import imdb_edge
from imdb_edge.cli import main

from .fixtures import make_labeled, write_labeled

EXE = [sys.executable, "-m", "imdb_edge"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def cli(*argv, stdin=b"", env=None, cwd=None):
    return subprocess.run(EXE + [str(a) for a in argv], input=stdin, capture_output=True,
                          timeout=300, env={**os.environ, **(env or {})}, cwd=cwd)


def no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), keys
    return dict(pairs)


# -- 1. a kept value that cannot be encoded -----------------------------------------------

SURROGATE_JSONL = ('{"id":"a","text":"great film"}\n{"id":"b\\ud800","text":"awful"}\n'
                   '{"id":"c","text":"a fine film"}\n').encode()


def test_json_lines_output_escapes_a_lone_surrogate(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_bytes(SURROGATE_JSONL)
    result = cli("score", "--file", path, "--field", "text", "--keep", "id", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    assert [r["id"] for r in records] == ["a", "b\ud800", "c"]
    assert b'"b\\ud800"' in result.stdout


@pytest.mark.parametrize("batch_size", ["1", "2", "1024"])
def test_csv_output_stops_after_every_earlier_record_naming_line_and_field(tmp_path,
                                                                           batch_size):
    path = tmp_path / "s.jsonl"
    path.write_bytes(SURROGATE_JSONL)
    result = cli("score", "--file", path, "--field", "text", "--keep", "id", "--format", "csv",
                 "--batch-size", batch_size)
    assert result.returncode == 1
    rows = list(csv.reader(io.StringIO(result.stdout.decode("utf-8"))))
    assert rows[0][:3] == ["index", "line", "id"] and [r[2] for r in rows[1:]] == ["a"]
    err = result.stderr.decode()
    assert err.count("\n") == 1 and "line 2" in err and "--keep 'id'" in err


def test_many_records_before_an_unwritable_one_are_all_written(tmp_path):
    lines = [json.dumps({"id": f"r{i}", "text": "great film"}) for i in range(2500)]
    lines[1700] = '{"id": "bad\\udc80", "text": "awful"}'
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = cli("score", "--file", path, "--field", "text", "--keep", "id", "--format", "csv")
    assert result.returncode == 1 and b"line 1701" in result.stderr
    assert len(result.stdout.decode().splitlines()) == 1 + 1700


def test_a_kept_value_that_is_nan_or_odd_stays_valid_json(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"text": ["great", "awful"], "score%": [float("nan"), 1.5]}), path)
    code, out, _ = run(capsys, "score", "--file", path, "--column", "text", "--keep",
                       "score%", "--format", "jsonl")
    assert code == 0
    records = [json.loads(line, parse_constant=lambda c: pytest.fail(c))
               for line in out.splitlines()]
    assert [r["score%"] for r in records] == ["nan", 1.5]


# -- 2. --keep named like an output column ------------------------------------------------

@pytest.mark.parametrize("name", ["label", "probability", "index", "line", "label_id",
                                  "known_features"])
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_keep_named_like_an_output_column_is_renamed_not_lost(tmp_path, capsys, name, fmt):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({name: "gold-1", "text": "great film"}) + "\n")
    code, out, err = run(capsys, "score", "--file", path, "--field", "text", "--keep", name,
                         "--format", fmt)
    assert code == 0 and f"written as 'input_{name}'" in err
    if fmt == "jsonl":
        record = json.loads(out, object_pairs_hook=no_duplicate_keys)
    else:
        header, row = list(csv.reader(io.StringIO(out)))
        assert len(header) == len(set(header))
        record = dict(zip(header, row))
    assert record[f"input_{name}"] == "gold-1" and record["label"] in ("positive", "negative")


def test_keep_with_text_output_is_refused(tmp_path, capsys):
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": 1, "text": "great"}\n')
    code, out, err = run_usage(capsys, "score", "--file", path, "--field", "text", "--keep",
                               "id")
    assert code == 2 and "--format text has no column" in err and out == ""


def run_usage(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_score_dataset_renames_an_id_column_named_like_an_output(tmp_path):
    pytest.importorskip("dask")
    pytest.importorskip("distributed")
    import pandas as pd

    from imdb_edge.engines.dataset import score_dataset

    path = tmp_path / "p.csv"
    path.write_text("label,text\ngold,great film\nbad,awful film\n")
    summary = score_dataset(str(path), str(tmp_path / "out"), id_column="label",
                            scheduler="threads", workers=1)
    frame = pd.read_parquet(tmp_path / "out")
    assert summary["id_column"] == "input_label"
    assert frame["input_label"].tolist() == ["gold", "bad"]
    assert set(frame["label"]) <= {"positive", "negative", "unknown"}


def test_spark_refuses_to_overwrite_a_column_and_resolves_paths(tmp_path, monkeypatch):
    pytest.importorskip("pandas", reason="needs pandas (the spark or dask extra)")
    from imdb_edge.engines import spark

    class Frame:
        columns = ["text", "label"]

    with pytest.raises(ValueError, match="already has a column 'label'.*label_column"):
        spark.score_dataframe(Frame(), "text")
    model = tmp_path / "models" / "my_copy"
    shutil.copytree(os.path.dirname(imdb_edge.load().path), model)
    monkeypatch.chdir(tmp_path)
    assert spark.executor_model("models/my_copy") == str(model)
    assert spark.executor_model("./my_copy") == "./my_copy"       # --archives: as given
    assert spark.executor_model("default") == "default"
    monkeypatch.chdir(tmp_path / "models")      # an executor's view: not there
    with pytest.raises(imdb_edge.ModelError, match=r"working directory .*--archives"):
        spark._scorer_here("nowhere/my_copy", 1)


# -- 3. CSV/TSV on standard input read as plain lines --------------------------------------

@pytest.mark.parametrize("data, hint", [
    (b"id,text\n1,A wonderful film\n", "--column text"),
    (b"review\tsentiment\nA wonderful film\tpos\n", "--column review --input tsv"),
    (b'"id","text"\n1,"A wonderful, wonderful film"\n', "--column text"),
    (b"Review Text,Rating\nA wonderful film,5\n", "--column 'Review Text'"),
    (b'Clothing ID,Age,Title,Review Text,Rating\n1,30,Nice,"Loved it, really",5\n',
     "--column 'Review Text'"),
    ("avis,évaluation\nSuperbe film,5\n".encode(), "--column"),
    ("id,レビュー\n1,素晴らしい映画\n".encode(), "--column"),
])
def test_delimited_input_with_a_header_is_not_scored_as_lines(data, hint, tmp_path):
    result = cli("score", stdin=data)
    assert result.returncode == 2 and b"--column" in result.stderr
    assert hint.encode() in result.stderr and result.stdout == b""
    (tmp_path / "r.txt").write_bytes(data)          # a file whose name says nothing
    assert cli("score", "--file", tmp_path / "r.txt").returncode == 2
    forced = cli("score", "--input", "lines", stdin=data)
    assert forced.returncode == 0 and len(forced.stdout.splitlines()) == 2


@pytest.mark.parametrize("data", [b"Great film, loved it\nAwful, just awful\n",
                                  b"A great review, loved it\nAwful, just awful\n",
                                  b"good,bad\n", b"1,2\n3,4\n", b"ok\tfine\nwell then\n"])
def test_plain_reviews_with_commas_are_still_scored(data):
    result = cli("score", stdin=data)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(data.splitlines())


# -- 4. score-dataset and quoted line breaks -----------------------------------------------

def test_score_dataset_reads_quoted_line_breaks_at_any_block_size(tmp_path):
    pytest.importorskip("dask")
    from imdb_edge.engines.dataset import read_dataset
    from imdb_edge.io._labeled import iter_rows

    path = tmp_path / "q.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i, (text, _) in enumerate(make_labeled(150, seed=9)):
            writer.writerow([f"r{i}", text.replace(" ", "\n", 2) if i % 3 == 0 else text])
    expected = [tuple(values) for _, values in iter_rows(path, ["text", "id"])]
    assert len(expected) == 300
    for blocksize in [1, 7, 100] + [1000 + 1500 * k for k in range(22)] + ["16MiB"]:
        frame = read_dataset(str(path), "text", "id", blocksize=blocksize)
        got = list(frame.compute(scheduler="sync").itertuples(index=False, name=None))
        assert got == expected, blocksize


def test_score_dataset_end_to_end_equals_score_file(tmp_path, capsys):
    pytest.importorskip("distributed")
    import pandas as pd

    from imdb_edge.engines.dataset import score_dataset

    path = tmp_path / "q.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i, (text, _) in enumerate(make_labeled(100, seed=2)):
            writer.writerow([f"r{i}", text.replace(" ", "\r\n", 1) if i % 2 else text])
    score_dataset(str(path), str(tmp_path / "out"), id_column="id", scheduler="threads",
                  workers=2, blocksize="2KiB")
    frame = pd.read_parquet(tmp_path / "out")
    code, out, _ = run(capsys, "score", "--file", path, "--column", "text", "--keep", "id",
                       "--format", "jsonl")
    records = [json.loads(line) for line in out.splitlines()]
    assert frame["id"].tolist() == [r["id"] for r in records]
    np.testing.assert_allclose(frame["probability"], [r["probability"] for r in records],
                               atol=1e-6)


def test_score_dataset_names_the_line_of_a_malformed_csv(tmp_path):
    pytest.importorskip("dask")
    from imdb_edge.engines.dataset import read_dataset

    path = tmp_path / "bad.csv"
    path.write_text("id,text\n" + "".join(f"{i},fine film\n" for i in range(200))
                    + "x,a, bad row\n")
    with pytest.raises(Exception, match=r"bad\.csv: .*line 202"):
        read_dataset(str(path), "text", "id", blocksize=300).compute(scheduler="sync")


# -- 5. relative paths ---------------------------------------------------------------------

def test_a_loaded_model_pickles_across_a_change_of_directory(tmp_path, monkeypatch):
    folder = tmp_path / "my_model"
    shutil.copytree(os.path.dirname(imdb_edge.load().path), folder)
    monkeypatch.chdir(tmp_path)
    for name in ("my_model", "./my_model", os.path.join("my_model", "model.onnx")):
        scorer = imdb_edge.load(name)
        data = pickle.dumps(scorer)
        monkeypatch.chdir("/")
        again = pickle.loads(data)
        np.testing.assert_array_equal(again.score(["great film"]), scorer.score(["great film"]))
        assert again.path.is_absolute()
        monkeypatch.chdir(tmp_path)
    vocab_name = next(p.name for p in folder.iterdir() if p.name.startswith("vocab.txt"))
    vocab_only = imdb_edge.load("my_model/model.onnx", vocab=f"my_model/{vocab_name}")
    monkeypatch.chdir("/")
    assert pickle.loads(pickle.dumps(vocab_only)).score(["great"]).shape == (1,)


def test_a_missing_model_folder_is_not_called_a_file_and_names_the_directory(tmp_path,
                                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(imdb_edge.ModelError) as exc:
        imdb_edge.load("models/my_copy")
    message = str(exc.value)
    assert "model file" not in message and str(tmp_path) in message
    with pytest.raises(imdb_edge.ModelError, match=f"working directory {tmp_path}"):
        imdb_edge.load("my_copy")


def test_score_dataset_resolves_relative_paths_where_given(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    import pandas as pd

    from imdb_edge.engines.dataset import score_dataset

    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "small.csv").write_text("id,text\n1,great film\n2,awful film\n")
    shutil.copytree(os.path.dirname(imdb_edge.load().path), tmp_path / "my_model")
    monkeypatch.chdir(tmp_path)
    summary = score_dataset("f/small.csv", "out", id_column="id", model="my_model",
                            scheduler="processes", workers=1)
    assert summary["output"] == str(tmp_path / "out")
    assert pd.read_parquet(tmp_path / "out")["id"].tolist() == ["1", "2"]


def test_workers_that_cannot_see_a_path_are_named(tmp_path):
    from imdb_edge._errors import DataError
    from imdb_edge.engines import dataset

    class Client:
        def run(self, function, *args):
            return {"tcp://10.0.0.7:4000": {"missing": {"the model": "/nfs/m"},
                                            "host": "w7", "cwd": "/home/w"}}

    with pytest.raises(DataError, match=r"the model /nfs/m is not visible to worker "
                                        r"tcp://10\.0\.0\.7:4000 \(host w7, working directory "
                                        r"/home/w\)"):
        dataset._check_workers_see(Client(), {"the model": "/nfs/m"})


# -- 6. evaluate --positive against the model -----------------------------------------------

def test_evaluate_refuses_a_positive_label_that_contradicts_the_model(tmp_path, capsys):
    data = write_labeled(tmp_path / "d.csv", make_labeled(30, seed=1), "csv")
    code, out, err = run(capsys, "evaluate", "--file", data, "--positive", "neg")
    assert code == 1 and "contradicts the model" in err and out == ""
    code, out, _ = run(capsys, "evaluate", "--file", data, "--positive", "pos", "--json")
    assert code == 0 and json.loads(out)["accuracy"] > 0.8
    digits = write_labeled(tmp_path / "n.csv", make_labeled(30, seed=1), "csv",
                           names=("0", "1"))
    code, out, err = run(capsys, "evaluate", "--file", digits, "--positive", "0", "--json")
    assert code == 0 and "warning: --positive '0'" in err
    assert json.loads(out)["warnings"]


def test_help_of_positive_speaks_of_the_model_to_be(capsys):
    from imdb_edge_train.cli import main as train_main

    with pytest.raises(SystemExit):
        train_main(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the model will score the probability of this label" in text
    assert "the model's, or" not in text


# -- 8. malformed delimited rows ------------------------------------------------------------

def test_unquoted_commas_are_an_error_naming_the_line_in_every_reader(tmp_path, capsys):
    rows = ["label,text"] + [f"{i % 2},a plain review number {i}" for i in range(20)]
    rows[12] = "1,great, really great"
    path = tmp_path / "d.csv"
    path.write_text("\n".join(rows) + "\n")
    code, _, err = run(capsys, "evaluate", "--file", path)
    assert code == 1 and "line 13: 3 fields, the header has 2" in err
    code, _, err = run(capsys, "score", "--file", path, "--column", "text")
    assert code == 1 and "line 13: 3 fields" in err
    from imdb_edge_train.dataset import Source

    from imdb_edge._errors import DataError

    with pytest.raises(DataError, match="line 13: 3 fields"):
        list(Source(str(path)).records())


def test_tsv_quotes_are_characters_unless_csv_quoting(tmp_path, capsys):
    lines = ["label\ttext"] + [f"{i % 2}\treview {i}" for i in range(20)]
    lines[11] = '1\t"starts with a quote'
    lines[12] = '0\tends with a quote"'
    path = tmp_path / "d.tsv"
    path.write_text("\n".join(lines) + "\n")
    from imdb_edge.io._labeled import iter_records

    records = list(iter_records(path))
    assert len(records) == 20
    assert records[10][1:] == ('"starts with a quote', "1")
    code, out, _ = run(capsys, "score", "--file", path, "--column", "text")
    assert code == 0 and len(out.splitlines()) == 20
    quoted = list(iter_records(path, csv_quoting=True))       # asked for: one record
    assert len(quoted) == 19 and quoted[10][0] == "line 12"


def test_a_multi_line_record_is_named_by_the_line_it_starts_on(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text('id,text\n1,"one\ntwo\nthree"\n2,fine\n')
    code, out, _ = run(capsys, "score", "--file", path, "--column", "text", "--keep", "id",
                       "--format", "jsonl")
    assert [json.loads(line)["line"] for line in out.splitlines()] == [2, 5]


# -- 11. '-' is standard input --------------------------------------------------------------

def test_dash_means_standard_input_for_score_and_explain():
    result = cli("score", "-", stdin=b"a great film\nan awful film\n")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 2
    expected = float(imdb_edge.score("a great film")[0])
    assert float(result.stdout.split(b"\t")[0]) == pytest.approx(expected, abs=1e-4)
    mixed = cli("score", "-", "another text")
    assert mixed.returncode == 2 and b"cannot be mixed" in mixed.stderr
    for argv in (["explain", "-"], ["explain"]):
        piped = cli(*argv, "--json", stdin=b"a dull film\n")
        assert piped.returncode == 0, piped.stderr
        assert json.loads(piped.stdout)["probability"] == pytest.approx(
            float(imdb_edge.score("a dull film")[0]), abs=1e-6)


# -- 12. one flag vocabulary; unknown flags get the sub-command's usage and a hint -----------

def test_unknown_flag_gets_the_sub_commands_usage_and_a_hint(capsys):
    code, _, err = run_usage(capsys, "score", "--treshold", "0.7", "great")
    assert code == 2 and "usage: imdb-edge score" in err
    assert "did you mean --threshold?" in err
    code, _, err = run_usage(capsys, "evaluate", "--file", "x.csv", "--labl-column", "y")
    assert "usage: imdb-edge evaluate" in err and "did you mean --label-column?" in err
    from imdb_edge_train.cli import main as train_main

    with pytest.raises(SystemExit):
        train_main(["fit", "d.csv", "--out", "m", "--recipie", "book"])
    err = capsys.readouterr().err
    assert "usage: imdb-edge-train fit" in err and "did you mean --recipe?" in err


def test_text_column_and_input_work_in_every_command(tmp_path, capsys):
    data = write_labeled(tmp_path / "d.jsonl", make_labeled(20, seed=3), "jsonl",
                         text_column="body")
    code, out, _ = run(capsys, "score", "--file", data, "--text-column", "body")
    assert code == 0 and len(out.splitlines()) == 40
    for flag in ("--text-column", "--column", "--field"):
        code, out, _ = run(capsys, "evaluate", "--file", data, flag, "body", "--input",
                           "jsonl", "--json")
        assert code == 0 and json.loads(out)["n"] == 40
    code, _, err = run(capsys, "evaluate", "--file", data)
    assert code == 1 and "pass --text-column NAME" in err


def test_threads_only_where_it_matters_and_every_command_has_a_description(capsys):
    for argv in (["info", "--threads", "2"], ["decode", "--threads", "2", "1"]):
        code, _, err = run_usage(capsys, *argv)
        assert code == 2 and "unrecognized arguments: --threads" in err
    for command in ("explain", "decode"):
        code, out, _ = run_usage(capsys, command, "--help")
        description = out.split("\n\n")[1]
        assert code == 0 and len(description.split()) > 8, out


# -- 13. every data error names its source and line -------------------------------------------

def test_input_errors_name_the_file_or_standard_input(tmp_path, capsys):
    path = tmp_path / "r.txt"
    path.write_bytes(b"fine\ncaf\xe9\n")
    code, out, err = run(capsys, "score", "--file", path)
    assert code == 1 and f"{path}: line 2: invalid UTF-8" in err
    assert len(out.splitlines()) == 1            # the line before it is scored
    piped = cli("score", stdin=b"fine\ncaf\xe9\n")
    assert piped.returncode == 1 and b"standard input: line 2: invalid UTF-8" in piped.stderr


def test_a_cp1252_file_names_its_line_in_fit_and_evaluate(tmp_path, capsys):
    rows = ["text,label"] + [f"review number {i} was fine,{i % 2}" for i in range(400)]
    rows[301] = "caf\xe9 society,1"
    path = tmp_path / "d.csv"
    path.write_bytes("\n".join(rows).encode("cp1252") + b"\n")
    code, _, err = run(capsys, "evaluate", "--file", path)
    assert code == 1 and f"{path}: line 302: not valid UTF-8 text (byte 0xe9" in err
    assert "utf-8-sig" not in err and "--encoding" in err
    from imdb_edge_train.dataset import Source

    with pytest.raises(Exception, match="line 302: not valid UTF-8"):
        list(Source(str(path)).records())


def test_a_model_named_by_the_environment_says_so(capsys, monkeypatch):
    monkeypatch.setenv("IMDB_EDGE_MODEL", "nosuchmodel")
    code, _, err = run(capsys, "score", "great")
    assert code == 1 and "$IMDB_EDGE_MODEL='nosuchmodel'" in err


def test_a_full_disk_names_standard_output():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    for argv in (["score", "great film"], ["info"], ["decode", "1"]):
        with open("/dev/full", "wb") as full:
            result = subprocess.run(EXE + argv, stdout=full, stderr=subprocess.PIPE,
                                    timeout=300)
        assert result.returncode == 1
        assert b"standard output: cannot write (No space left on device)" in result.stderr
        assert result.stderr.count(b"\n") == 1


def test_a_folder_or_missing_file_is_one_line_exit_1(tmp_path, capsys):
    for target in (tmp_path, tmp_path / "missing.txt"):
        code, _, err = run(capsys, "score", "--file", target)
        assert code == 1 and err.count("\n") == 1 and str(target) in err


# -- 14. score-dataset: one line, --traceback for the rest -----------------------------------

def test_score_dataset_failure_is_one_line(tmp_path):
    pytest.importorskip("distributed")
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id":1,"text":"good"}\n{"id":2,"text":null}\n')
    result = cli("score-dataset", path, tmp_path / "out", "--id-column", "id", "--workers", "1")
    assert result.returncode == 1
    assert result.stderr.decode().count("\n") == 1 and b"no text to score" in result.stderr
    assert not (tmp_path / "out").exists()


def test_score_dataset_overwrite_replaces_only_its_own_output(tmp_path):
    pytest.importorskip("distributed")
    from imdb_edge._errors import DataError
    from imdb_edge.engines.dataset import score_dataset

    path = tmp_path / "d.csv"
    path.write_text("text\ngreat\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not a score-dataset output.*notes.txt"):
        score_dataset(str(path), str(out), overwrite=True, scheduler="threads", workers=1)
    assert (out / "notes.txt").read_text() == "mine"


# -- 16. small ones ----------------------------------------------------------------------------

def test_cr_only_line_ends_are_line_ends(tmp_path, capsys):
    path = tmp_path / "mac.txt"
    path.write_bytes(b"a great film\rawful\r\rfine\r")
    code, out, err = run(capsys, "score", "--file", path)
    assert code == 0 and len(out.splitlines()) == 3 and "CR alone" in err
    piped = cli("score", "--format", "jsonl", stdin=b"a great film\rawful")
    assert [json.loads(line)["line"] for line in piped.stdout.splitlines()] == [1, 2]
    crlf = cli("score", "--format", "jsonl", stdin=b"a great film\r\nawful\r\n")
    assert [json.loads(line)["line"] for line in crlf.stdout.splitlines()] == [1, 2]
    assert b"CR alone" not in crlf.stderr


def test_empty_input_says_zero_reviews(tmp_path, capsys):
    (tmp_path / "e.txt").write_bytes(b"\n\n")
    code, out, err = run(capsys, "score", "--file", tmp_path / "e.txt")
    assert code == 0 and out == "" and "0 reviews" in err


def test_data_not_found_does_not_advise_a_flag_imdb_edge_lacks(monkeypatch, tmp_path):
    from imdb_edge.io._data import DataError, find_data

    monkeypatch.setenv("IMDB_EDGE_DATA", str(tmp_path / "none.tar.gz"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(DataError) as exc:
        find_data(None)
    assert "imdb-edge-train" in str(exc.value)


# -- 17. a read-only model folder, loaded by a user who cannot write there -------------------

def _as_nobody(runuser: str, program: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``program`` as user nobody with this environment's packages: this interpreter if
    nobody may execute it, else a system Python of the same version on the same paths."""
    import site
    import sysconfig

    paths = [os.path.dirname(os.path.dirname(os.path.abspath(imdb_edge.__file__))),
             sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
             *site.getsitepackages()]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent",
           "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
    # under scripts/test-asan.sh the extension needs the sanitizer runtimes preloaded
    env.update({k: os.environ[k] for k in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                                           "PYTHONMALLOC") if k in os.environ})
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    result = None
    for python in (sys.executable, f"/usr/bin/python{version}", "/usr/bin/python3"):
        if not os.path.exists(python):
            continue
        result = subprocess.run([runuser, "-u", "nobody", "--", python, "-c",
                                 f"import sys; assert sys.version.startswith('{version}.'); "
                                 + program, *args],
                                capture_output=True, text=True, timeout=300, env=env)
        if not result.stderr.startswith(("runuser:", "Traceback")) or \
                "imdb_edge" in result.stderr:
            return result
    pytest.skip("no Python of this version that user nobody may run: "
                + (result.stderr[:200] if result else "none found"))


def test_read_only_model_folder_loads_as_another_user(tmp_path):
    """Issue 19 item 17: as a user who cannot write to the model folder (a read-only
    mount), the model loads and scores and nothing in the folder changes."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run as another user (runuser); as non-root the folder "
                    "below is writable by its owner, the case this does not test")
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("no runuser")
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="imdb-edge-ro-", dir="/tmp"))   # pytest's is private
    try:
        os.chmod(root, 0o755)
        folder = root / "ro_model"
        shutil.copytree(os.path.dirname(imdb_edge.load().path), folder)
        for path in [folder, *folder.iterdir()]:
            os.chmod(path, 0o555 if path.is_dir() else 0o444)
        _check_read_only_load(runuser, folder)
    finally:
        for path in root.rglob("*"):
            os.chmod(path, 0o755)
        shutil.rmtree(root)


def _check_read_only_load(runuser: str, folder: Path) -> None:
    before = sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir())
    program = ("import imdb_edge; s = imdb_edge.load(sys.argv[1]); "
               "print(float(s.score(['a great film'])[0])); "
               "import pickle; print(pickle.loads(pickle.dumps(s)).path)")
    result = _as_nobody(runuser, program, str(folder))
    assert result.returncode == 0, result.stderr
    probability, path = result.stdout.split()
    assert float(probability) == pytest.approx(float(imdb_edge.score("a great film")[0]),
                                               abs=1e-6)
    assert path == str(folder / "model.onnx")
    assert sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                  for p in folder.iterdir()) == before


# -- 1, every writer: labels and ids that no output could hold -----------------------------

def test_a_label_that_is_not_valid_unicode_is_refused_naming_its_line(tmp_path, capsys):
    path = tmp_path / "lab.jsonl"
    path.write_text('{"text": "great", "label": "p\\ud800"}\n{"text": "bad", "label": "n"}\n')
    code, out, err = run(capsys, "evaluate", "--file", path)
    assert code == 1 and "line 1: label" in err and "lone surrogate" in err and out == ""


def test_score_dataset_names_the_row_of_an_id_parquet_cannot_hold(tmp_path):
    pytest.importorskip("distributed")
    from imdb_edge._errors import DataError
    from imdb_edge.engines.dataset import score_dataset

    path = tmp_path / "s.jsonl"
    path.write_bytes(SURROGATE_JSONL)
    with pytest.raises(DataError, match=r"row 1: the --id-column 'id' value 'b\\ud800'"):
        score_dataset(str(path), str(tmp_path / "out"), id_column="id", scheduler="threads",
                      workers=1)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_a_too_long_line_names_the_file(tmp_path, capsys, monkeypatch):
    from imdb_edge.cli import _score

    monkeypatch.setattr(_score, "MAX_LINE_BYTES", 1000)
    monkeypatch.setattr(_score, "BLOCK", 256)
    path = tmp_path / "long.txt"
    path.write_text("fine\n" + "word " * 400 + "\n")
    code, out, err = run(capsys, "score", "--file", path)
    assert code == 1 and f"{path}: line 2: longer than" in err


def test_score_dataset_on_a_cluster_whose_workers_run_elsewhere(tmp_path, monkeypatch):
    """Issue 19 item 5 as reported: `dask scheduler` and `dask worker` started in another
    folder; a relative input, output folder and model folder given to score-dataset."""
    pytest.importorskip("distributed")
    import socket
    import time

    import pandas as pd

    dask = shutil.which("dask", path=os.path.dirname(sys.executable)) or shutil.which("dask")
    if dask is None:
        pytest.skip("no dask command")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    address = f"tcp://127.0.0.1:{port}"
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port",
                                   str(port), "--no-dashboard"], cwd=elsewhere,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        time.sleep(2)
        processes.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1",
                                           "--no-dashboard"], cwd=elsewhere,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        work = tmp_path / "work"
        (work / "f").mkdir(parents=True)
        (work / "f" / "small.csv").write_text("id,text\n1,great film\n2,awful film\n")
        shutil.copytree(os.path.dirname(imdb_edge.load().path), work / "my_model")
        monkeypatch.chdir(work)
        from distributed import Client

        for _ in range(60):                      # until the worker has joined
            with Client(address, timeout=10) as client:
                if client.scheduler_info()["workers"]:
                    break
            time.sleep(0.5)
        result = cli("score-dataset", "f/small.csv", "out", "--id-column", "id", "--model",
                     "my_model", "--scheduler", address, cwd=work)
        assert result.returncode == 0, result.stderr
        frame = pd.read_parquet(work / "out")
        assert frame["id"].tolist() == ["1", "2"]
        np.testing.assert_allclose(frame["probability"],
                                   imdb_edge.load(work / "my_model").score(
                                       ["great film", "awful film"]), atol=0)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


# -- found by a newcomer's pass after the fixes above ---------------------------------------

def test_a_kept_value_with_a_bare_cr_is_quoted_in_csv(tmp_path):
    """csv.writer with a "\\n" terminator left a bare CR unquoted: every CSV reader then cut
    the record in two."""
    path = tmp_path / "cr.jsonl"
    path.write_text('{"id": "a\\rb", "text": "great film"}\n{"id": "c\\r\\nd", "text": "awful"}\n'
                    '{"id": "e", "text": "fine"}\n')
    result = cli("score", "--file", path, "--field", "text", "--keep", "id", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout.decode(), newline="")))
    assert [r[2] for r in rows] == ["id", "a\rb", "c\r\nd", "e"]
    assert all(len(r) == 7 for r in rows)


def test_kept_json_values_are_written_as_they_were(tmp_path):
    """A JSON number keeps its text (1.5e400 was written as "inf"); NaN stays valid JSON (a
    string); arrays, objects and booleans are JSON in CSV too, not Python's repr."""
    path = tmp_path / "k.jsonl"
    path.write_text('{"id": 1.5e400, "text": "great"}\n{"id": 0.10000000000000000001, '
                    '"text": "great"}\n{"id": NaN, "text": "great"}\n'
                    '{"id": [1, "x", true], "text": "great"}\n{"id": {"k": null}, "text": "ok"}\n'
                    '{"id": false, "text": "ok"}\n{"id": 7, "text": "ok"}\n')
    jsonl = cli("score", "--file", path, "--field", "text", "--keep", "id", "--format", "jsonl")
    assert jsonl.returncode == 0, jsonl.stderr
    lines = jsonl.stdout.decode().splitlines()
    assert '"id": 1.5e400,' in lines[0] and '"id": 0.10000000000000000001,' in lines[1]
    records = [json.loads(line, parse_constant=lambda c: pytest.fail(c)) for line in lines]
    assert [r["id"] for r in records[2:]] == ["NaN", [1, "x", True], {"k": None}, False, 7]
    table = cli("score", "--file", path, "--field", "text", "--keep", "id", "--format", "csv")
    assert table.returncode == 0, table.stderr
    rows = list(csv.reader(io.StringIO(table.stdout.decode(), newline="")))
    assert [r[2] for r in rows[1:]] == ["1.5e400", "0.10000000000000000001", "NaN",
                                        '[1, "x", true]', '{"k": null}', "false", "7"]


@pytest.mark.parametrize("data", [b"id,text\n1,A wonderful film\n",
                                  b'{"id": "1", "text": "A wonderful film"}\n'])
def test_explain_refuses_records_piped_as_one_review(data):
    """explain scored the header, keys and ids of piped CSV / JSON lines as words."""
    result = cli("explain", stdin=data)
    assert result.returncode == 2 and b"explain reads one review" in result.stderr, \
        result.stderr
    assert result.stdout == b""


def test_explain_labels_a_text_without_known_words_unknown():
    result = cli("explain", "\U0001F621", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["label"] == "unknown"


def test_a_lone_text_header_on_plain_lines_is_noted(capsys, monkeypatch):
    result = cli("score", stdin=b"text\nA wonderful film\n")
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 2          # it is also a valid line
    assert b"'text', looks like a CSV header" in result.stderr
    assert b"--input csv --column text" in result.stderr
    assert b"CSV header" not in cli("score", stdin=b"A wonderful film\ntext\n").stderr


def test_semicolon_header_hint_names_the_delimiter():
    result = cli("score", stdin=b"id;text\n1;A wonderful film\n")
    assert result.returncode == 2 and b"--column text --delimiter ';'" in result.stderr
    followed = cli("score", "--input", "csv", "--column", "text", "--delimiter", ";",
                   stdin=b"id;text\n1;A wonderful film\n")
    assert followed.returncode == 0 and len(followed.stdout.splitlines()) == 1


def test_record_errors_of_score_name_the_source(tmp_path):
    assert b"standard input: line 1: 'text' is a number" in cli(
        "score", "--field", "text", "--input", "jsonl", stdin=b'{"text": 1.5}\n').stderr
    path = tmp_path / "s.jsonl"
    path.write_bytes(SURROGATE_JSONL)
    result = cli("score", "--file", path, "--field", "text", "--keep", "id", "--format", "csv")
    assert result.returncode == 1 and f"{path}: line 2: the --keep 'id'".encode() in \
        result.stderr


def test_fallback_warning_names_a_source_tree(tmp_path):
    """Python run from a checkout's root imports the source tree, which has no extension: the
    warning said to reinstall with a compiler, which the user had done."""
    from imdb_edge._vectorizer import fallback_advice
    (tmp_path / "src_ext").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    assert "source tree" in fallback_advice(str(tmp_path / "imdb_edge"))
    assert "Reinstall" in fallback_advice(str(tmp_path / "elsewhere" / "imdb_edge"))


def test_score_dataset_with_a_bad_scheduler_names_the_flag_and_leaves_nothing(tmp_path):
    pytest.importorskip("distributed")
    (tmp_path / "d.csv").write_text("text\ngreat\n")
    result = cli("score-dataset", "d.csv", "out", "--scheduler", "bogus", cwd=tmp_path)
    assert result.returncode == 1 and b"--scheduler 'bogus'" in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]     # no staging folder


def test_sigterm_stops_score_dataset_with_nothing_half_written(tmp_path):
    """SIGTERM's default action ended the process at once, leaving a hidden staging folder of
    partial output; now it unwinds like Ctrl-C (exit 143)."""
    pytest.importorskip("distributed")
    import signal
    import time

    rows = "".join(f"{i},A wonderful film, truly moving. Well acted and shot.\n"
                   for i in range(200_000))
    (tmp_path / "d.csv").write_text("id,text\n" + rows.replace(",A", ',"A').replace(".\n", '."\n'))
    process = subprocess.Popen(EXE + ["score-dataset", "d.csv", "out", "--workers", "1",
                                      "--blocksize", "256KiB"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        staged = [p for p in tmp_path.glob(".out.tmp-*/*")]
        if staged:
            break
        time.sleep(0.2)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143 and b"terminated" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


def test_score_dataset_reads_gzip_and_refuses_files_it_would_skip(tmp_path):
    """.csv.gz was 'cannot tell the format' (and read as CSV with --input csv); a folder's
    files of another or no known format were skipped or misread without a word."""
    pytest.importorskip("distributed")
    import gzip

    import pandas as pd

    (tmp_path / "in.csv.gz").write_bytes(gzip.compress(b"id,text\n1,great\n2,awful\n"))
    (tmp_path / "in.jsonl.gz").write_bytes(gzip.compress(
        b'{"id": 1, "text": "great"}\n{"id": 2, "text": "awful"}\n'))
    for name in ("in.csv.gz", "in.jsonl.gz"):
        result = cli("score-dataset", name, f"out-{name}", "--id-column", "id", "--workers",
                     "1", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        frame = pd.read_parquet(tmp_path / f"out-{name}")
        assert frame["label"].tolist() == ["positive", "negative"]
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.csv").write_text("text\ngreat\n")
    (folder / "b.parquet").write_bytes((tmp_path / "out-in.csv.gz" / "part-00000.parquet")
                                       .read_bytes())
    result = cli("score-dataset", "f", "o", "--input", "csv", cwd=tmp_path)
    assert result.returncode == 1 and b"also holds b.parquet" in result.stderr
    (folder / "b.parquet").unlink()
    (folder / "notes.txt").write_text("not data")
    result = cli("score-dataset", "f", "o", cwd=tmp_path)
    assert result.returncode == 1 and b"cannot tell the format of notes.txt" in result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, message", [
    (["out.txt", "--overwrite"], b"out.txt is a file"),
    (["o", "--blocksize", "abc"], b"--blocksize 'abc' is not a size"),
    (["o", "--blocksize", "-5"], b"--blocksize '-5' is not a size"),
])
def test_score_dataset_names_a_bad_output_or_blocksize(tmp_path, args, message):
    pytest.importorskip("distributed")
    (tmp_path / "d.csv").write_text("text\ngreat\n")
    (tmp_path / "out.txt").write_text("mine")
    result = cli("score-dataset", "d.csv", *args, cwd=tmp_path)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert (tmp_path / "out.txt").read_text() == "mine" and not (tmp_path / "o").exists()


def test_evaluate_warns_when_the_labels_rank_backwards(tmp_path, capsys):
    """--positive naming the data's negative label (labels the model does not know) gave
    accuracy 0.0000 and AUC 0.0000 without a word."""
    rows = "".join('good,"A wonderful film, truly great"\n' if i % 2 else
                   'bad,"Awful and boring, a waste"\n' for i in range(40))
    path = tmp_path / "gb.csv"
    path.write_text("label,text\n" + rows)
    code, out, err = run(capsys, "evaluate", "--file", path, "--positive", "bad", "--json")
    assert code == 0 and "rank the labels backwards" in err
    assert any("backwards" in w for w in json.loads(out)["warnings"])
    code, out, err = run(capsys, "evaluate", "--file", path, "--positive", "good", "--json")
    assert code == 0 and "backwards" not in err


def test_bad_json_names_the_column():
    result = cli("score", "--field", "text", "--input", "jsonl", stdin=b'{"text": "a\tb"}\n')
    assert result.returncode == 1
    assert b"line 1: not valid JSON (Invalid control character at: column 12)" in result.stderr


@pytest.mark.parametrize("data", [b"\t\x00\r]\n\r[~\x01\x00\x00\x89%",     # found by the fuzzer
                                  b"a,b\rc\nd,e\n", b"x," + b"y" * 200_000 + b"\nz,w\n"])
def test_the_header_guess_never_fails_a_read(data):
    """The guess at a CSV header ran csv.reader on the first lines, which raises on a bare CR
    in a field or a field over its size limit: plain lines must still be read."""
    result = cli("score", "--encoding-errors", "replace", stdin=data)
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
