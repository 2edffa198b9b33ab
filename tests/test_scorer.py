import os
import resource
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

import imdb_edge
from imdb_edge._models import resolve_model
from imdb_edge import ModelError, Vocabulary
from imdb_edge._scorer import CHUNK

from .conftest import REVIEWS


@pytest.fixture(scope="module")
def scorer():
    return imdb_edge.load()


def test_default_model_card(scorer):
    info = scorer.info
    assert info["preset"] == "default" and info["input_form"] == "segments"
    assert info["tokenizer_version"] == 2 == scorer.vectorizer.vocabulary.tokenizer_version
    assert info["architecture"] == "linear-length-calibrated" and int(info["ngram"]) == 2
    assert float(info["test_accuracy"]) >= 0.90 and float(info["test_ece"]) <= 0.05
    assert info["vocabulary_checksum"] == scorer.vectorizer.vocabulary.checksum
    assert "any length" in info["intended_use"] and "sentence" in info["data_domain"]
    size = sum(p.stat().st_size for p in scorer.path.parent.iterdir())
    assert size <= 4_000_000                                  # model + vocabulary


def test_book_model_card():
    scorer = imdb_edge.load("book")
    info = scorer.info
    assert info["input_form"] == "ids"
    assert info["tokenizer_version"] == scorer.vectorizer.vocabulary.tokenizer_version
    assert isinstance(info["test_accuracy"], float) and isinstance(info["seed"], int)
    assert info["labels"]["positive"] == "positive" and "contract" in info
    assert int(info["vocabulary_size"]) == 10_000
    assert info["vocabulary_checksum"] == scorer.vectorizer.vocabulary.checksum
    assert float(info["test_accuracy"]) >= 0.875
    assert {"default", "book", "accurate"} <= set(imdb_edge.presets())


def test_obvious_reviews():
    p = imdb_edge.score(["This movie was great", "Worst film ever, a total waste"])
    assert p.dtype == np.float32 and p.shape == (2,)
    assert p[0] > 0.5 > p[1]


def test_bare_str_is_one_review(scorer):
    assert scorer.score("A great film").shape == (1,)
    assert scorer.score("A great film")[0] == scorer.score(["A great film"])[0]


def test_batch_equals_one_by_one(scorer):
    texts = REVIEWS * 3 + [""]
    batch = scorer.score(texts)
    single = np.array([scorer.score([t])[0] for t in texts])
    np.testing.assert_allclose(batch, single, atol=1e-6)


def test_iterables_and_chunking(scorer):
    texts = [REVIEWS[i % len(REVIEWS)] + f" {i}" for i in range(2 * CHUNK + 7)]
    expected = scorer.score(texts)
    assert expected.shape == (len(texts),)
    np.testing.assert_array_equal(scorer.score(t for t in texts), expected)
    np.testing.assert_array_equal(scorer.score(tuple(texts)), expected)
    assert scorer.score([]).shape == (0,)
    assert scorer.score(iter([])).shape == (0,)


def test_bad_items(scorer):
    texts = ["fine"] * (CHUNK + 10)
    texts[CHUNK + 3] = None
    with pytest.raises(TypeError, match=rf"texts\[{CHUNK + 3}\] is NoneType, expected str"):
        scorer.score(texts)
    with pytest.raises(TypeError, match="texts=None"):
        scorer.score(None)
    with pytest.raises(TypeError, match="decode it first"):
        scorer.score(b"bytes")
    with pytest.raises(TypeError, match="Received: int"):
        scorer.score(3)


def test_predict(scorer):
    labels = scorer.predict(["This movie was great", "Worst film ever, a total waste"])
    assert labels.tolist() == [1, 0] and labels.dtype == np.int8
    assert scorer.predict(["This movie was great"], threshold=1.0).tolist() == [0]
    with pytest.raises(ValueError, match="threshold"):
        scorer.predict(["x"], threshold=2)


def test_explain(scorer):
    effects = scorer.explain("A great, wonderful film with a dull ending")
    words = {e["feature"]: e["effect"] for e in effects}
    assert words["great"] > 0 and words["wonderful"] > 0 and words["dull"] < 0
    magnitudes = [abs(e["effect"]) for e in effects]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert scorer.explain("zzzqqq xxyyzz") == []
    # leaving a word out really changes the score by its effect (a words-only model: removing
    # the word from the text removes exactly that feature)
    book = imdb_edge.load("book")
    base = book.score(["great film"])[0]
    effect = {e["feature"]: e["effect"] for e in book.explain("great film")}["great"]
    assert abs((base - book.score(["film"])[0]) - effect) < 1e-6


def test_decode(scorer):
    indptr, ids = scorer.vectorizer.transform_ids(["the movie"])
    assert scorer.decode(ids) == ["the", "movie", "the movie"]


def test_threads_share_one_scorer(scorer):
    texts = [REVIEWS[i % len(REVIEWS)] * (1 + i % 5) for i in range(500)]
    expected = scorer.score(texts)
    bad = []

    def work():
        for _ in range(10):
            if not np.array_equal(scorer.score(texts), expected):
                bad.append(1)

    threads = [threading.Thread(target=work) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not bad


def test_huge_review(scorer):
    p = scorer.score([("A wonderful, moving film. " * 400_000)[:10_000_000]])
    assert p.shape == (1,) and p[0] > 0.5


def test_million_short_reviews_bounded_memory(scorer):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    p = scorer.score(f"review {i} was great" for i in range(1_000_000))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert p.shape == (1_000_000,) and np.isfinite(p).all()
    assert grown_mb < 64, f"peak RSS grew by {grown_mb:.0f} MB"     # 4 MB of results


# -- bad model files ---------------------------------------------------------------------

@pytest.fixture()
def model_copy(tmp_path, scorer):
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(scorer.path, folder / "model.onnx")
    vocab = resolve_model(scorer.path)[1]
    shutil.copy(vocab, folder / vocab.name)
    return folder


def test_model_folder_and_file(model_copy, scorer):
    for model in (model_copy, model_copy / "model.onnx", str(model_copy)):
        assert imdb_edge.load(model).score(["great"])[0] == scorer.score(["great"])[0]


def test_missing_model(tmp_path):
    with pytest.raises(ModelError, match="model file not found: .*nothing.onnx"):
        imdb_edge.load(tmp_path / "nothing.onnx")
    with pytest.raises(ModelError, match="no bundled model named 'nope'"):
        imdb_edge.load("nope")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_model(model_copy, damage):
    path = model_copy / "model.onnx"
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 3], "garbage": os.urandom(5000),
                      "empty": b""}[damage])
    with pytest.raises(ModelError, match=r"model.onnx: not a loadable ONNX model"):
        imdb_edge.load(model_copy)


def test_missing_vocabulary(model_copy):
    for vocab in model_copy.glob("vocab.txt*"):
        vocab.unlink()
    with pytest.raises(ModelError, match="vocabulary file not found: .*vocab.txt"):
        imdb_edge.load(model_copy)


def test_foreign_vocabulary(model_copy, scorer):
    vocab = scorer.vectorizer.vocabulary
    Vocabulary(list(reversed(vocab.features)), ngram=vocab.ngram,
               tokenizer_version=vocab.tokenizer_version).save(model_copy / "vocab.txt")
    with pytest.raises(ModelError, match=r"vocabulary checksum sha256:\w+ does not match model"):
        imdb_edge.load(model_copy)


def test_threads_argument():
    with pytest.raises(ValueError, match="threads must be"):
        imdb_edge.load(threads=0)


def test_import_pulls_in_no_tensorflow():
    code = ("import sys, imdb_edge; imdb_edge.score(['great']); "
            "bad = [m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(os.environ.get("IMDB_EDGE_RUNTIME_ONLY") != "1",
                    reason="only in the runtime-only environment (IMDB_EDGE_RUNTIME_ONLY=1)")
def test_runtime_env_has_no_tensorflow():
    import importlib.util
    for name in ("tensorflow", "keras", "tf2onnx"):
        assert importlib.util.find_spec(name) is None, f"{name} is installed"
    assert imdb_edge.score(["This movie was great"])[0] > 0.5


def test_list_subclass_and_numpy_strings(scorer):
    class Texts(list):
        pass
    expected = scorer.score(REVIEWS)
    np.testing.assert_array_equal(scorer.score(Texts(REVIEWS)), expected)
    np.testing.assert_array_equal(scorer.score(np.array(REVIEWS)), expected)


def test_accurate_preset():
    accurate = imdb_edge.load("accurate")
    info = accurate.info
    assert info["preset"] == "accurate" and int(info["ngram"]) == 2
    assert float(info["test_accuracy"]) >= 0.915
    assert float(info["test_accuracy"]) >= float(imdb_edge.load("book").info["test_accuracy"]) + 0.02
    assert accurate.vectorizer.vocabulary.ngram == 2
    p = accurate.score(["This movie was great", "Worst film ever, a total waste"])
    assert p[0] > 0.5 > p[1]
    assert any(" " in e["feature"] for e in accurate.explain("not bad at all, a fine film"))
    assert accurate.path.with_name("vocab.txt.gz").is_file()


@pytest.mark.parametrize("preset", ["default", "book", "accurate"])
def test_a_texts_score_does_not_depend_on_its_batch(preset):
    # A graph op whose result depends on the element's place in the batch (onnxruntime's
    # vectorized Log did, by 1 ulp) would make a text's score depend on its neighbours.
    rng = np.random.default_rng(3)
    words = " ".join(REVIEWS).split()
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 60))) for _ in range(1500)]
    scorer = imdb_edge.load(preset)
    whole = scorer.score(texts)
    for size in (1, 7, 100, 333):
        parts = np.concatenate([scorer.score(texts[i:i + size]) for i in range(0, len(texts), size)])
        assert np.array_equal(parts, whole), size


_FORK_CHILD = r"""
import multiprocessing, sys
import imdb_edge
SCORER = imdb_edge.load("default", threads=2)
TEXTS = ["a great film", "dull and far too long", "not bad at all"] * 200   # > 1 chunk
parent = SCORER.score(TEXTS)                          # the thread pool now exists

def child(_):
    return SCORER.score(TEXTS).tobytes()

with multiprocessing.get_context("fork").Pool(1) as pool:
    try:
        got = pool.map_async(child, [0]).get(timeout=60)[0]
    except multiprocessing.TimeoutError:
        print("the forked worker hung"); pool.terminate(); sys.exit(1)
print("same" if got == parent.tobytes() else "different")

# the locks of the model caches, as another thread loading a model would hold them at fork
from imdb_edge import _default_model, _scorer
from imdb_edge.engines import _batch
held = [_scorer._cache_lock, _default_model._default_lock, _batch._lock]
for lock in held:
    lock.acquire()

def loads(_):
    return (float(imdb_edge.load("book").score("great")[0]),
            float(imdb_edge.score(["great"])[0]),
            float(_batch.scorer_for("accurate").score("great")[0]))

with multiprocessing.get_context("fork").Pool(1) as pool:
    try:
        print("loaded", pool.map_async(loads, [0]).get(timeout=60)[0])
    except multiprocessing.TimeoutError:
        print("a forked worker hung on a lock"); pool.terminate(); sys.exit(1)
for lock in held:
    lock.release()
"""


def test_a_multithreaded_scorer_scores_in_a_forked_worker():
    """A threads=2 scorer that has scored in the parent scores in a fork()ed multiprocessing
    worker, bit-identically (the worker waited forever on the parent's pool), and models
    load in a worker forked while the model caches' locks were held."""
    result = subprocess.run([sys.executable, "-c", _FORK_CHILD], capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0 and result.stdout.split("\n")[0] == "same", \
        result.stdout + result.stderr[-2000:]
    assert result.stdout.split("\n")[1].startswith("loaded (")
