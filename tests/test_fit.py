"""`imdb-edge-train fit`: every input format, the label rules, every refusal, a model folder
the runtime uses like a bundled one; on the real data, the accurate preset's accuracy."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import imdb_edge
from imdb_edge.cli import main as edge_main

from .fixtures import make_labeled, write_labeled

HAS_TRAINING = all(importlib.util.find_spec(m) for m in ("tensorflow", "tf2onnx"))
needs_training = pytest.mark.skipif(not HAS_TRAINING, reason="needs the train extra")
ROWS = make_labeled(110, seed=4)          # 110 texts a class: enough to train (>= 50 a class)


def script(name: str) -> str:
    found = shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} console script not installed")
    return found


def fit(tmp_path, *args, cwd=None):
    return subprocess.run([script("imdb-edge-train"), "fit", *map(str, args),
                           "--progress", "off"], capture_output=True, text=True,
                          cwd=cwd or tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


@pytest.mark.skipif(HAS_TRAINING, reason="checks the message shown without the train extra")
def test_without_training_extra_says_what_to_install(tmp_path):
    data = write_labeled(tmp_path / "d.csv", ROWS, "csv")
    result = fit(tmp_path, data, "--out", tmp_path / "m")
    assert result.returncode == 1 and "pip install '.[train]'" in result.stderr
    assert not (tmp_path / "m").exists()


@needs_training
@pytest.mark.train
@pytest.mark.parametrize("content, message", [
    ("text,label\n" + "great film,pos\n" * 200, "one class only"),
    ("review,label\n" + "great film,pos\nawful,neg\n" * 100, "no column 'text'"),
    ("text,label\n" + " ,pos\n,neg\n" * 100, "all 200 texts are empty"),
    ("text,label\n" + "great film,pos\nawful,neg\n" * 30, "at least 50 of each class"),
    ("text,label\n" + "caf\xe9,pos\n", "--encoding"),
    ("text,label\n", "no records"),
])
def test_refusals(tmp_path, content, message):
    data = tmp_path / "d.csv"
    data.write_bytes(content.encode("latin-1"))
    result = fit(tmp_path, data, "--out", tmp_path / "m")
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists() and not list(tmp_path.glob(".m.*"))


@needs_training
@pytest.mark.train
def test_refuses_existing_output_and_foreign_test_labels(tmp_path):
    data = write_labeled(tmp_path / "d.csv", ROWS, "csv")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("x")
    result = fit(tmp_path, data, "--out", tmp_path / "m")
    assert result.returncode == 1 and "--overwrite" in result.stderr
    assert (tmp_path / "m" / "keep.txt").exists()
    other = write_labeled(tmp_path / "t.csv", ROWS[:20], "csv", names=("bad", "good"))
    result = fit(tmp_path, data, "--out", tmp_path / "m2", "--test-file", other)
    assert result.returncode == 1 and "not one of the training labels" in result.stderr
    assert not (tmp_path / "m2").exists()


@needs_training
@pytest.mark.train
@pytest.mark.parametrize("name, fmt", [("d.csv", "csv"), ("d.tsv", "tsv"), ("d.jsonl", "jsonl"),
                                       ("d.csv.gz", "csv"), ("d.parquet", "parquet"),
                                       ("folder", "folder")])
def test_every_format_trains_a_usable_model(tmp_path, name, fmt):
    data = write_labeled(tmp_path / "in" / name, ROWS, fmt)
    out = tmp_path / "model"
    result = fit(tmp_path, data, "--out", out, "--recipe", "book", "--test-fraction", "0.2")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["labels"]["positive"] == "pos" and summary["test_accuracy"] > 0.8
    for file in ("model.onnx", "model_dense.onnx", "vocab.txt", "card.json", "card.md",
                 "metrics.json", "history.json", "history.png"):
        assert (out / file).is_file(), file
    card = json.loads((out / "card.json").read_text())
    assert card["data"]["records"] == len(ROWS) and card["recipe"] == "book"
    assert len(card["data"]["sha256"]) == 64 and card["data"]["bytes"] > 0
    assert card["splits"]["test"] > 0 and card["test"]["accuracy"] == summary["test_accuracy"]
    scorer = imdb_edge.load(out)
    assert scorer.labels == ("neg", "pos")
    p = scorer.score(["great wonderful superb fun", "awful boring worst dull"])
    assert p[0] > 0.5 > p[1]


@needs_training
@pytest.mark.train
def test_own_labels_everywhere_and_console_script_from_any_folder(tmp_path, capsys):
    data = write_labeled(tmp_path / "d.csv", ROWS, "csv", names=("ham", "spam"),
                         text_column="body", label_column="kind")
    out = tmp_path / "model"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = fit(tmp_path, data, "--text-column", "body", "--label-column", "kind",
                 "--recipe", "accurate", "--out", out, "--positive", "ham", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    card = json.loads((out / "card.json").read_text())
    assert card["labels"]["positive"] == "ham" and card["labels"]["negative"] == "spam"
    assert "--positive" in card["labels"]["rule"]
    scorer = imdb_edge.load(str(out))
    assert scorer.labels == ("spam", "ham")
    # the fixture's positive-word texts are labeled "spam" (names[1]), and ham is positive
    texts = ["great wonderful superb fun", "awful boring worst dull"]
    assert scorer.predict(texts, names=True).tolist() == ["spam", "ham"]
    assert edge_main(["score", "--model", str(out), *texts]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("\tspam") and lines[1].endswith("\tham")
    assert edge_main(["score", "--model", str(out), "--format", "jsonl", texts[1]]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["label"] == "ham" and record["label_id"] == 1
    assert edge_main(["info", "--model", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["label_positive"] == "ham" and info["recipe"] == "accurate"
    # evaluate maps the file's labels through the model's names
    assert edge_main(["evaluate", "--model", str(out), "--file", str(data), "--text-column",
                      "body", "--label-column", "kind", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["labels"]["positive"] == "ham" and report["accuracy"] > 0.9


@needs_training
@pytest.mark.train
def test_overwrite_replaces_an_earlier_fit_only(tmp_path):
    data = write_labeled(tmp_path / "d.jsonl", ROWS, "jsonl", names=("0", "1"))
    out = tmp_path / "m"
    assert fit(tmp_path, data, "--out", out, "--recipe", "book").returncode == 0
    first = (out / "card.json").read_text()
    again = fit(tmp_path, data, "--out", out, "--recipe", "book")
    assert again.returncode == 1 and "earlier fit; pass --overwrite" in again.stderr
    result = fit(tmp_path, data, "--out", out, "--recipe", "book", "--overwrite")
    assert result.returncode == 0, result.stderr
    assert (out / "card.json").read_text() != first and (out / "model.onnx").is_file()
    assert imdb_edge.load(out).labels == ("0", "1")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@needs_training
@pytest.mark.train
@pytest.mark.parametrize("case", ["data-inside", "notes", "model-plus-notes", "bare-model",
                                  "fake-card", "file"])
def test_overwrite_refuses_what_fit_did_not_write(tmp_path, case):
    """Issue 19 item 7: ``--overwrite --out DIR`` deleted DIR's training data and notes."""
    folder = tmp_path / "DIR"
    folder.mkdir()
    data = write_labeled((folder if case == "data-inside" else tmp_path) / "train.csv", ROWS,
                         "csv")
    keep = {"notes.txt": "my notes"}
    if case in ("model-plus-notes", "bare-model", "fake-card"):
        keep.update({"model.onnx": "x", "vocab.txt": "y"})
    if case == "model-plus-notes":
        keep["card.json"] = json.dumps({"imdb_edge_model_card": 1})
    if case in ("bare-model", "fake-card"):
        del keep["notes.txt"]
    if case == "fake-card":
        keep["card.json"] = json.dumps({"something": "else"})
    if case == "file":
        folder.rmdir()
        folder.write_text("a file")
        keep = {}
    for name, text in keep.items():
        (folder / name).write_text(text)
    before = {p.name: p.read_bytes() for p in folder.iterdir()} if folder.is_dir() else None
    result = fit(tmp_path, data, "--recipe", "book", "--overwrite", "--out", folder)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    if case == "file":
        assert "not a folder" in result.stderr and folder.read_text() == "a file"
        return
    assert "not a model folder written by fit" in result.stderr
    for name in keep:
        if name not in ("model.onnx", "vocab.txt", "card.json") or case in ("bare-model",
                                                                             "fake-card"):
            assert name in result.stderr, (name, result.stderr)
    if case == "data-inside":
        assert "train.csv" in result.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.data
@needs_training
@pytest.mark.train
def test_imdb_as_csv_matches_the_accurate_preset(tmp_path, data_path, capsys):
    """Acceptance: fit on the train split as CSV, evaluate on the test split as CSV."""
    made = subprocess.run([script("imdb-edge-train"), "imdb-csv", "--data", str(data_path),
                           "--out", str(tmp_path / "csv")], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    result = fit(tmp_path, tmp_path / "csv" / "train.csv", "--text-column", "text",
                 "--label-column", "label", "--recipe", "accurate", "--out", tmp_path / "m")
    assert result.returncode == 0, result.stderr
    assert edge_main(["evaluate", "--model", str(tmp_path / "m"), "--file",
                      str(tmp_path / "csv" / "test.csv"), "--text-column", "text",
                      "--label-column", "label", "--json"]) == 0
    accuracy = json.loads(capsys.readouterr().out)["accuracy"]
    preset = float(imdb_edge.load("accurate").metadata["test_accuracy"])
    print(f"fit accurate on IMDB CSV: test accuracy {accuracy:.4f} (preset {preset:.4f})")
    assert abs(accuracy - preset) <= 0.005
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    assert card["peak_rss_mb_before_export"] < 2048


NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796030759.097229    4904 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "E0000 00:00:1796030765.464198    4904 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "E0000 00:00:1796030765.803902    4904 node_def_util.cc:682] NodeDef mentions attribute "
    "use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset; " + "x" * 400,
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow "
    "with the appropriate compiler flags.",
]
REAL = [
    "W0000 00:00:1796030765.803902    4904 op_kernel.cc:1857] OP_REQUIRES failed at "
    "strided_slice_op.cc:117 : INVALID_ARGUMENT: slice index 3 of dimension 0 out of bounds.",
    "E0000 00:00:1796030765.464198    4904 cuda_platform.cc:52] some other CUDA failure",
    "F0000 00:00:1796030765.464198    4904 node_def_util.cc:1] fatal: NodeDef mentions attribute",
    "Traceback (most recent call last):",
]


def test_native_noise_filter_keeps_real_lines(tmp_path):
    """Issue 19 item 15: TensorFlow's native noise is dropped, anything else passes through,
    and Python's own stderr lines arrive too (written to descriptor 2 as TF does)."""
    program = (
        "import os, sys, warnings\n"
        "from imdb_edge_train._quiet import native_stderr_filtered\n"
        f"lines = {NOISE + REAL!r}\n"
        "with native_stderr_filtered():\n"
        "    for line in lines:\n"
        "        os.write(2, (line + '\\n').encode())\n"
        "    print('python line', file=sys.stderr)\n"
        "    warnings.warn('a real python warning')\n"
        "    os.write(2, b'no newline at the end')\n"
        "print('after', file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode == 0, result.stderr
    for line in NOISE:
        assert line[:60] not in result.stderr
    for line in REAL + ["python line", "a real python warning", "no newline at the end",
                        "after"]:
        assert line in result.stderr


@needs_training
@pytest.mark.train
@pytest.mark.parametrize("level", [None, "2"])
def test_fit_prints_no_tensorflow_noise(tmp_path, level):
    data = write_labeled(tmp_path / "d.csv", ROWS, "csv")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",
                                                              "IMDB_EDGE_TF_LOGS")}
    if level:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    result = subprocess.run([script("imdb-edge-train"), "fit", str(data), "--recipe", "book",
                             "--out", str(tmp_path / "m"), "--progress", "off"],
                            capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    for noise in ("cuInit", "NodeDef mentions attribute", "absl::InitializeLog", "E0000",
                  "I0000", "cuda"):
        assert noise not in result.stderr, result.stderr
    assert "pass 1: labels" in result.stderr and "wrote " in result.stderr


# -- issue 19 items 9 and 10, issue 18 item 7: what fit chooses on, warns about, calibrates --

@needs_training
@pytest.mark.train
def test_imbalanced_duplicated_leaky_data_is_handled_and_reported(tmp_path):
    """95/5 classes: class weights and a ranking measure give a model that finds the smaller
    class (the old choice by accuracy kept "every text negative"); duplicates counted; test
    texts that occur in the training data (after normalisation) counted, and the figures on
    the new ones given; the model calibrated (ECE before and after)."""
    rows = make_labeled(1000, seed=11)
    rows = [r for r in rows if r[1] == 0] + [r for r in rows if r[1] == 1][:55]
    random_rows = __import__("random").Random(3)
    random_rows.shuffle(rows)
    train_rows = rows + rows[:60]                                  # 60 exact duplicates
    data = write_labeled(tmp_path / "train.csv", train_rows, "csv")
    fresh = [r for r in make_labeled(120, seed=12)]
    fresh = [r for r in fresh if r[1] == 0][:60] + [r for r in fresh if r[1] == 1][:60]
    seen = [(t.upper() + "!!", y) for t, y in rows[:40]]            # same after normalising
    test = write_labeled(tmp_path / "test.csv", fresh + seen, "csv")
    out = tmp_path / "m"
    result = fit(tmp_path, data, "--out", out, "--recipe", "book", "--test-file", test)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    card = json.loads((out / "card.json").read_text())
    assert "ROC AUC" in card["choices"]["chosen_by"]
    weights = card["choices"]["class_weights"]
    assert weights["pos"] > 5 * weights["neg"]
    assert card["test"]["confusion"]["tp"] > 0 and card["test"]["roc_auc"] > 0.9
    assert card["data"]["duplicate_texts"] == 60
    assert card["splits"]["test_texts_also_in_training"] == 40
    assert summary["test_texts_also_in_training"] == 40
    assert card["test"]["new_texts"]["n"] == 120
    overlap = [w for w in card["warnings"] if "also occur in the training data" in w]
    assert len(overlap) == 1 and "40 of 160 test texts" in overlap[0]
    assert overlap[0] in summary["warnings"] and "40 of 160 test texts" in result.stderr
    assert "40 of 160 test texts" in (out / "card.md").read_text()
    calibration = card["calibration"]
    assert calibration["ece_binning"].startswith("10 equal-width bins of [0, 1]")
    assert set(calibration["validation"]) >= {"ece_before", "ece_after"}
    assert calibration["validation"]["log_loss_after"] <= calibration["validation"]["log_loss_before"]
    assert set(calibration["test"]) == {"ece_before", "ece_after"}
    assert "Expected calibration error (10 equal-width bins" in (out / "card.md").read_text()
    info = imdb_edge.load(out).info
    assert info["calibration"].startswith("sigmoid(")


@needs_training
@pytest.mark.train
def test_a_model_that_learnt_nothing_is_reported(tmp_path):
    """Random labels, 30 % emoji-only texts, 30 % text without spaces: each is said in the
    output, on stderr and in the card."""
    rng = __import__("random").Random(5)
    texts = [t for t, _ in make_labeled(150, seed=13)]
    kana = ["この映画は", "本当に", "素晴らしかった", "俳優の演技も", "最高で", "退屈で",
            "最後まで", "見るのがつらかった", "音楽も良かった"]
    texts += ["".join(rng.choice(kana) for _ in range(6)) + "。" for _ in range(130)]
    texts += [rng.choice(["😀👍", "🙂🙂", "😡", "💩💩", "🎬🍿"]) for _ in range(130)]
    rows = [(t, rng.randint(0, 1)) for t in texts]
    rng.shuffle(rows)
    data = write_labeled(tmp_path / "d.csv", rows, "csv")
    out = tmp_path / "m"
    result = fit(tmp_path, data, "--out", out, "--recipe", "book", "--val-fraction", "0.4")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    card = json.loads((out / "card.json").read_text())
    assert card["data"]["texts_without_tokens"] == 130
    assert card["data"]["texts_not_space_separated"] == 130
    markdown = (out / "card.md").read_text()
    for needle in ("does not beat the majority-class baseline", "have no token at all",
                   "do not look space-separated"):
        found = [w for w in card["warnings"] if needle in w]
        assert len(found) == 1, (needle, card["warnings"])
        assert found[0] in summary["warnings"] and needle in result.stderr
        assert needle in markdown
    assert "fit_warnings" in imdb_edge.load(out).info


@needs_training
@pytest.mark.train
def test_calibration_folds_into_the_last_layer():
    import keras

    from imdb_edge_train.calibrate import apply, fold_into_last_layer

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    x = np.random.default_rng(0).random((50, 6)).astype(np.float32) * 4
    before = np.asarray(model(x)).reshape(-1)
    calibration = {"a": 0.37, "b": -0.8}
    fold_into_last_layer(model, calibration)
    after = np.asarray(model(x)).reshape(-1)
    np.testing.assert_allclose(after, apply(before, calibration), atol=2e-6)
