"""Training package tests: a tiny fixture data set (seconds), and the real one when present."""

import json
import os

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="training tests need the train extra (TensorFlow)")
pytest.importorskip("tf2onnx", reason="training tests need the train extra (tf2onnx)")

import imdb_edge  # noqa: E402
from imdb_edge.io._data import DataError  # noqa: E402
from train import export as export_mod  # noqa: E402
from train.cli import main as train_main  # noqa: E402
from train.pipeline import Config, reproduce  # noqa: E402

from .fixtures import make_archive  # noqa: E402

pytestmark = pytest.mark.train


def tiny_config(data, out, **overrides):
    values = dict(data=str(data), out=str(out), vocab_size=60, epochs=5, final_epochs=4,
                  learning_rate=1e-2,
                  val_size=20, batch_size=16, verbose=0, seed=7)
    values.update(overrides)
    return Config(**values)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    archive = make_archive(root / "aclImdb_v1.tar.gz", n_per_class=40)
    cfg = tiny_config(archive, root / "run")
    return cfg, reproduce(cfg)


def test_outputs(tiny_run):
    cfg, metrics = tiny_run
    out = __import__("pathlib").Path(cfg.out)
    for name in ("config.json", "history.json", "history.png", "metrics.json", "vocab.txt",
                 "model.onnx", "model_dense.onnx"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("test_loss", "test_accuracy", "validation_history", "first_10_test_probabilities",
                "data_sha256", "vocabulary_checksum", "versions"):
        assert key in saved
    assert len(saved["validation_history"]["val_accuracy"]) == cfg.epochs
    assert len(saved["first_10_test_probabilities"]) == 10
    assert saved["test_accuracy"] > 0.8          # the fixture's words separate the classes
    assert (out / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".export-*"))


def test_exported_model_loads_with_metadata(tiny_run):
    cfg, metrics = tiny_run
    scorer = imdb_edge.load(os.path.join(cfg.out, "model.onnx"))
    info = scorer.info
    assert info["input_form"] == "ids"
    assert info["vocabulary_checksum"] == metrics["vocabulary_checksum"]
    assert info["train_data_sha256"] == metrics["data_sha256"]
    assert float(info["test_accuracy"]) == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    dense = imdb_edge.load(os.path.join(cfg.out, "model_dense.onnx"))
    assert dense.input_form == "dense"
    texts = ["great wonderful film", "awful boring waste", "", "the movie"]
    np.testing.assert_allclose(scorer.score(texts), dense.score(texts), atol=1e-5)
    assert metrics["onnx_ids_max_abs_diff"] <= 1e-5 and metrics["onnx_dense_max_abs_diff"] <= 1e-5


def test_same_seed_same_results(tiny_run, tmp_path):
    cfg, metrics = tiny_run
    again = reproduce(tiny_config(cfg.data, tmp_path / "again"), export=False)
    assert again["vocabulary_checksum"] == metrics["vocabulary_checksum"]
    assert again["test_loss"] == metrics["test_loss"]
    assert again["validation_history"] == metrics["validation_history"]


def test_export_refuses_a_mismatch(tiny_run, tmp_path):
    import keras
    cfg, metrics = tiny_run
    from imdb_edge import Vocabulary
    from train.pipeline import build_model
    vocab = Vocabulary.load(os.path.join(cfg.out, "vocab.txt"))
    model = build_model(cfg, len(vocab))
    texts = ["great film", "awful film"]
    wrong = np.array([0.5, 0.5], np.float32) + 0.01
    out = tmp_path / "export"
    with pytest.raises(export_mod.ExportError, match="differs from Keras"):
        export_mod.export_model(model, vocab, out, test_texts=texts, keras_probabilities=wrong,
                                metrics={"test_loss": 1.0, "test_accuracy": 0.5})
    assert list(out.iterdir()) == []
    assert isinstance(model, keras.Model)


def test_cli_errors(tmp_path, capsys):
    assert train_main(["reproduce", "--data", str(tmp_path / "none.tar.gz"),
                       "--out", str(tmp_path / "o")]) == 1
    assert "data set not found" in capsys.readouterr().err
    bad = tmp_path / "aclImdb_v1.tar.gz"
    bad.write_bytes(b"not an archive")
    assert train_main(["reproduce", "--data", str(bad), "--out", str(tmp_path / "o")]) == 1
    assert "not a readable aclImdb archive" in capsys.readouterr().err
    partial = make_archive(tmp_path / "p.tar.gz", n_per_class=3, drop="aclImdb/train/pos")
    assert train_main(["reproduce", "--data", str(partial), "--out", str(tmp_path / "o")]) == 1
    assert "no train/pos reviews" in capsys.readouterr().err


def test_config_checks():
    with pytest.raises(ValueError, match="activation"):
        Config(activation="gelu")
    with pytest.raises(DataError):
        reproduce(Config(data="/nonexistent/x.tar.gz", out="/tmp/never"))


def test_sweep_on_fixture(tmp_path):
    from train.sweep import run_sweep
    archive = make_archive(tmp_path / "aclImdb_v1.tar.gz", n_per_class=30)
    cfg = tiny_config(archive, tmp_path / "sweep", epochs=3)
    rows = run_sweep(cfg, table_path=tmp_path / "sweep.md", variants=["baseline", "tanh"])
    assert [r["variant"] for r in rows] == ["baseline", "tanh"]
    assert all(1 <= r["best_epoch"] <= 3 and 0 <= r["test_accuracy"] <= 1 for r in rows)
    assert "| baseline |" in (tmp_path / "sweep.md").read_text()
    assert (tmp_path / "sweep" / "sweep.csv").read_text().startswith("variant,")


@pytest.mark.data
def test_real_data_reproduces_the_book(data_path, tmp_path):
    cfg = Config(data=str(data_path), out=str(tmp_path / "real"), verbose=0)
    metrics = reproduce(cfg)
    val = metrics["validation_history"]["val_accuracy"]
    assert 2 <= metrics["best_val_epoch"] <= 6
    assert val[-1] < max(val) - 0.01                  # overfitting after the peak
    assert metrics["test_accuracy"] >= 0.875
    # the runtime, on the same raw text, equals Keras (checked during export, over all 25,000)
    assert metrics["onnx_ids_max_abs_diff"] <= 1e-5
    assert metrics["onnx_dense_max_abs_diff"] <= 1e-5
    from imdb_edge.io._data import read_imdb
    test = read_imdb(data_path, splits=("test",))["test"]
    runtime = imdb_edge.load(os.path.join(cfg.out, "model.onnx")).score(test.texts[:10])
    np.testing.assert_allclose(runtime, metrics["first_10_test_probabilities"], atol=2e-6)


def test_accurate_on_fixture(tmp_path):
    from train.accurate import AccurateConfig, train_accurate
    archive = make_archive(tmp_path / "aclImdb_v1.tar.gz", n_per_class=40)
    cfg = AccurateConfig(data=str(archive), out=str(tmp_path / "acc"), vocab_sizes=[50, 200],
                         l2=[1e-6], max_epochs=6, val_size=20, batch_size=16,
                         learning_rate=0.05, min_count=1)
    metrics = train_accurate(cfg)
    assert metrics["chosen"]["ngram"] == 2 and metrics["test_accuracy"] > 0.8
    scorer = imdb_edge.load(tmp_path / "acc")
    assert scorer.vectorizer.vocabulary.ngram == 2 and scorer.info["preset"] == "accurate"
    assert metrics["onnx_ids_max_abs_diff"] <= 1e-5
    effects = scorer.explain("great wonderful film but awful ending")
    assert any(" " in e["feature"] for e in effects) or len(effects) > 0


def test_nb_ratios_sign():
    from train.accurate import nb_ratios
    indptr = np.array([0, 2, 4, 5])
    ids = np.array([0, 1, 0, 2, 2])        # feature 1 only in the positive text
    r = nb_ratios(indptr, ids, np.array([1, 0, 0]), 3, alpha=1.0)
    assert r[1] > 0 > r[2]


@pytest.mark.data
def test_real_data_accurate_beats_book_by_2_points(data_path, tmp_path):
    from train.accurate import AccurateConfig, train_accurate
    # the grid point the bundled preset's validation chose (python -m train.accurate)
    cfg = AccurateConfig(data=str(data_path), out=str(tmp_path / "acc"), vocab_sizes=[100_000],
                         l2=[1e-5], max_epochs=14)
    metrics = train_accurate(cfg)
    book_accuracy = float(imdb_edge.load("book").info["test_accuracy"])
    assert metrics["test_accuracy"] >= book_accuracy + 0.02
    assert metrics["test_accuracy"] >= 0.915
    assert metrics["model_bytes"] <= 5_000_000


def test_bundle(tiny_run, tmp_path):
    cfg, _ = tiny_run
    target = export_mod.bundle(cfg.out, "mine", gzip_vocabulary=True, root=tmp_path)
    assert sorted(p.name for p in target.iterdir()) == ["model.onnx", "vocab.txt.gz"]
    assert imdb_edge.load(target).score(["great film"]).shape == (1,)
    export_mod.bundle(cfg.out, "mine", root=tmp_path)
    assert sorted(p.name for p in target.iterdir()) == ["model.onnx", "vocab.txt"]


def test_runtime_refuses_other_tokenizer_version(tiny_run, tmp_path):
    import shutil

    import onnx
    cfg, _ = tiny_run
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(os.path.join(cfg.out, "vocab.txt"), folder / "vocab.txt")
    model = onnx.load(os.path.join(cfg.out, "model.onnx"))
    for entry in model.metadata_props:
        if entry.key == "tokenizer_version":
            entry.value = "99"
    onnx.save(model, folder / "model.onnx")
    with pytest.raises(imdb_edge.ModelError, match="tokenizer version 99; this imdb_edge implements"):
        imdb_edge.load(folder)
    del model.metadata_props[:]
    onnx.save(model, folder / "model.onnx")
    with pytest.raises(imdb_edge.ModelError, match="not an imdb-edge model"):
        imdb_edge.load(folder)


def test_scaled_matrix_equals_the_coo_construction():
    """fit and the accurate preset share one CSR builder (no COO copy); it keeps only ids
    below ``size`` and equals the straightforward COO construction, empty rows included."""
    import scipy.sparse as sp

    from train.accurate import scaled_matrix

    rng = np.random.default_rng(5)
    lengths = rng.integers(0, 30, 200)
    lengths[[0, 17, 199]] = 0
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = np.concatenate([rng.choice(1500, k, replace=False) for k in lengths]).astype(np.int32)
    r = rng.random(1500).astype(np.float32)
    for size in (1500, 1000, 1):
        keep = ids < size
        rows = np.repeat(np.arange(len(lengths)), lengths)[keep]
        for scale in (r, None):
            values = scale[ids[keep]] if scale is not None else np.ones(keep.sum(), np.float32)
            want = sp.csr_matrix((values, (rows, ids[keep])), shape=(len(lengths), size))
            got = scaled_matrix(indptr, ids, size, scale)
            assert got.shape == want.shape and got.dtype == np.float32
            assert (got != want).nnz == 0 and got.has_sorted_indices


# -- issue 19 item 7: commands that replace files replace only their own -------------------

def test_reproduce_and_sweep_refuse_a_folder_they_did_not_write(tmp_path):
    from train.sweep import run_sweep
    archive = make_archive(tmp_path / "aclImdb_v1.tar.gz", n_per_class=5)
    for own, run in (("config.json", reproduce), ("sweep.json", run_sweep)):
        out = tmp_path / f"out-{own}"
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        (out / own).write_text('{"mine": 1}')
        before = {p.name: p.read_text() for p in out.iterdir()}
        with pytest.raises(DataError, match=r"is not a folder .* wrote \(it holds notes.txt\)"):
            run(tiny_config(archive, out))
        (out / "notes.txt").unlink()
        del before["notes.txt"]
        # a file named like the command's own, but not written by it
        with pytest.raises(DataError, match=f"it holds {own}"):
            run(tiny_config(archive, out))
        assert {p.name: p.read_text() for p in out.iterdir()} == before


def test_an_earlier_run_folder_may_be_reused(tiny_run):
    from train.pipeline import check_run_folder
    cfg, _ = tiny_run
    check_run_folder(cfg.out, "reproduce", marker_keys=("vocab_size", "hidden_layers", "epochs"))


def test_bundle_leaves_the_preset_alone_when_the_run_is_not_a_model(tiny_run, tmp_path):
    import shutil
    cfg, _ = tiny_run
    target = export_mod.bundle(cfg.out, "mine", root=tmp_path / "models")
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    half = tmp_path / "half"
    half.mkdir()
    shutil.copy(os.path.join(cfg.out, "vocab.txt"), half / "vocab.txt")
    with pytest.raises(export_mod.ExportError, match="no model.onnx to bundle"):
        export_mod.bundle(half, "mine", root=tmp_path / "models")
    (half / "vocab.txt").write_text("not a vocabulary\n")
    shutil.copy(os.path.join(cfg.out, "model.onnx"), half / "model.onnx")
    with pytest.raises(imdb_edge.ModelError):
        export_mod.bundle(half, "mine", root=tmp_path / "models")
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before


def test_bundle_without_export_is_refused_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        train_main(["reproduce", "--no-export", "--bundle", "--data", str(tmp_path / "x"),
                    "--out", str(tmp_path / "o")])
    assert exc.value.code == 2 and "--bundle needs the export" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_imdb_csv_and_dense_form_replace_only_on_request(tiny_run, tmp_path, capsys):
    cfg, _ = tiny_run
    archive = make_archive(tmp_path / "aclImdb_v1.tar.gz", n_per_class=3)
    out = tmp_path / "csv"
    out.mkdir()
    (out / "train.csv").write_text("my own data\n")
    assert train_main(["imdb-csv", "--data", str(archive), "--out", str(out)]) == 1
    assert "already has train.csv; pass --overwrite" in capsys.readouterr().err
    assert (out / "train.csv").read_text() == "my own data\n"
    assert not (out / "test.csv").exists()
    assert train_main(["imdb-csv", "--data", str(archive), "--out", str(out),
                       "--overwrite"]) == 0
    assert (out / "train.csv").read_text().startswith("id,text,label")
    capsys.readouterr()
    mine = tmp_path / "notes.onnx"
    mine.write_text("not a model")
    model = os.path.join(cfg.out, "model.onnx")
    for extra in ([], ["--overwrite"]):
        assert train_main(["dense-form", model, "--out", str(mine), *extra]) == 1
        assert "--out" in capsys.readouterr().err and mine.read_text() == "not a model"
    dense = tmp_path / "dense.onnx"
    assert train_main(["dense-form", model, "--out", str(dense)]) == 0
    assert train_main(["dense-form", model, "--out", str(dense)]) == 1
    assert train_main(["dense-form", model, "--out", str(dense), "--overwrite"]) == 0
