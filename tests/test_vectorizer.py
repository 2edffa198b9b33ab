import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imdb_edge import Vectorizer, Vocabulary, _vectorizer
from imdb_edge._tokenizer import feature_ids, iter_features, tokenize

from .conftest import REVIEWS

HOSTILE = [
    "", " ", "\x00", "\x00\x00a\x00", "\ud800", "a\udfffb", "\ud83d\ude00", "😀" * 50,
    "a\u0301e\u0308", "ǅungla", "ß", "ẞ", "İI", "ΣΑΣ", "ﬁne", "\u2019", "'", "''a''",
    "a'", "'a", "a’’b", "<br />", "<br", "<br/", "<<br />br>", "<br<br />", "<BR>x", "\x85\u2028\u2029",
    "\r\n", "\ufeffbom", "٣٤", "tab\tsep", "\u200bzero\u200bwidth", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "A" * 5000,
    "don't " * 1000, "a b c d e f g", "rock'n'roll'", "naïve café", "\U0010ffff",
]

# Text made of pieces that exercise every rule, plus arbitrary code points.
PIECES = st.sampled_from([
    "a", "b", "ab", "the", "movie", "café", "Ǆ", "İ", "ß", "ς", "Σ", "9", "½", "_", "'", "’",
    " ", "  ", "\n", "<", ">", "/", "<br />", "<BR>", "<br/", "br", "<b", "😀", "\x00", "\ud800",
    "\u0301", "ﬁ", "ⅻ", "٣", "x'y", "n't", ".", ",", "-",
])
TEXT = st.one_of(
    st.lists(PIECES, max_size=40).map("".join),
    st.text(max_size=80),
    st.lists(st.one_of(PIECES, st.text(max_size=3)), max_size=30).map("".join),
)


def _vocab_for(texts, ngram):
    """A vocabulary holding most features of ``texts`` (so lookups mostly hit) plus others."""
    features = {}
    for text in texts:
        for feature in iter_features(tokenize(text), ngram):
            features.setdefault(feature, None)
    kept = [f for i, f in enumerate(features) if i % 4 != 3]   # leave some out
    return Vocabulary(kept + [f for f in ["zzz", "never seen"][: 1 if ngram == 1 else 2]
                              if f not in features], ngram=ngram)


needs_c = pytest.mark.skipif(_vectorizer._vectorize_c is None, reason="compiled vectorizer not built")


@needs_c
@pytest.mark.parametrize("ngram", [1, 2, 3])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(TEXT, min_size=0, max_size=8))
def test_cython_equals_reference_fuzzed(ngram, texts):
    vocab = _vocab_for(texts, ngram)
    py = Vectorizer(vocab, backend="python").transform_ids(texts)
    c = Vectorizer(vocab, backend="cython").transform_ids(texts)
    np.testing.assert_array_equal(c[0], py[0])
    np.testing.assert_array_equal(c[1], py[1])


@needs_c
@pytest.mark.parametrize("ngram", [1, 2, 3])
def test_cython_equals_reference_hostile(ngram):
    vocab = _vocab_for(HOSTILE + REVIEWS, ngram)
    py = Vectorizer(vocab, backend="python").transform_ids(HOSTILE + REVIEWS)
    c = Vectorizer(vocab, backend="cython").transform_ids(HOSTILE + REVIEWS)
    assert py[1].size > 50
    np.testing.assert_array_equal(c[0], py[0])
    np.testing.assert_array_equal(c[1], py[1])


def test_ids_are_unique_first_occurrence(backend):
    vocab = Vocabulary(["music", "great music", "fun great", "great fun", "fun", "great great",
                        "great", "unused"], ngram=2)
    vec = Vectorizer(vocab, backend=backend)
    text = "great great fun, great music"
    indptr, ids = vec.transform_ids([text])
    assert vec.decode(ids) == ["great", "great great", "fun", "great fun", "fun great", "music",
                               "great music"]
    assert list(ids) == feature_ids(text, vocab.index, 2)


def test_transform_dense(backend, small_vocab):
    vec = Vectorizer(small_vocab, backend=backend)
    dense = vec.transform(REVIEWS + [""])
    assert dense.dtype == np.float32 and dense.shape == (len(REVIEWS) + 1, len(small_vocab))
    indptr, ids = vec.transform_ids(REVIEWS + [""])
    for i in range(len(REVIEWS) + 1):
        assert set(np.flatnonzero(dense[i])) == set(ids[indptr[i]:indptr[i + 1]])
    assert dense[-1].sum() == 0
    assert set(np.unique(dense)) <= {0.0, 1.0}


def test_empty_sequence(backend, small_vocab):
    vec = Vectorizer(small_vocab, backend=backend)
    assert vec.transform([]).shape == (0, len(small_vocab))
    indptr, ids = vec.transform_ids([])
    assert indptr.tolist() == [0] and ids.size == 0


def test_any_iterable(backend, small_vocab):
    vec = Vectorizer(small_vocab, backend=backend)
    expected = vec.transform_ids(REVIEWS)
    for texts in (tuple(REVIEWS), (t for t in REVIEWS), iter(REVIEWS), np.array(REVIEWS)):
        got = vec.transform_ids(texts)
        np.testing.assert_array_equal(got[1], expected[1])


@pytest.mark.parametrize("bad, message", [
    ("a review", "not a single str"), (b"bytes", "not a single bytes"),
    (None, "Received: texts=None"), (42, "Received: int"),
])
def test_bad_container(backend, small_vocab, bad, message):
    with pytest.raises(TypeError, match=message):
        Vectorizer(small_vocab, backend=backend).transform_ids(bad)


@pytest.mark.parametrize("item, type_name", [(None, "NoneType"), (b"x", "bytes"), (3, "int")])
def test_bad_item_names_index_and_type(backend, small_vocab, item, type_name):
    with pytest.raises(TypeError, match=rf"texts\[2\] is {type_name}, expected str"):
        Vectorizer(small_vocab, backend=backend).transform_ids(["ok", "fine", item])


def test_huge_review(backend, small_vocab):
    text = ("great movie, don't miss it " * 400_000)[:10_000_000]
    indptr, ids = Vectorizer(small_vocab, backend=backend).transform_ids([text, "great"])
    assert indptr[-1] == ids.size and len(set(ids[:indptr[1]].tolist())) == indptr[1]
    assert "great" in Vectorizer(small_vocab).decode(ids[:indptr[1]])


def test_str_subclass(backend, small_vocab):
    class Text(str):
        pass
    vec = Vectorizer(small_vocab, backend=backend)
    np.testing.assert_array_equal(vec.transform_ids([Text("Great movie")])[1],
                                  vec.transform_ids(["Great movie"])[1])


def test_threads_share_one_vectorizer(backend, small_vocab):
    vec = Vectorizer(small_vocab, backend=backend)
    texts = [REVIEWS[i % len(REVIEWS)] * (1 + i % 7) for i in range(300)]
    expected = vec.transform_ids(texts)
    errors = []

    def work():
        for _ in range(20):
            got = vec.transform_ids(texts)
            if not (np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])):
                errors.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_backend_choice(small_vocab, monkeypatch):
    with pytest.raises(ValueError, match="backend must be one of"):
        Vectorizer(small_vocab, backend="rust")
    monkeypatch.setenv("IMDB_EDGE_PURE_PYTHON", "1")
    assert Vectorizer(small_vocab).backend == "python"


def test_fallback_warns_once(small_vocab, monkeypatch):
    monkeypatch.setattr(_vectorizer, "_vectorize_c", None)
    monkeypatch.setattr(_vectorizer, "_C_IMPORT_ERROR", ImportError("no compiler"))
    monkeypatch.setattr(_vectorizer, "_warned_fallback", False)
    monkeypatch.delenv("IMDB_EDGE_PURE_PYTHON", raising=False)
    with pytest.warns(RuntimeWarning, match="no compiler"):
        assert Vectorizer(small_vocab).backend == "python"
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Vectorizer(small_vocab).backend == "python"
    with pytest.raises(ImportError, match="not available"):
        Vectorizer(small_vocab, backend="cython")


def test_decode(small_vocab):
    vec = Vectorizer(small_vocab)
    assert vec.decode([0, 1]) == small_vocab.features[:2]
    with pytest.raises(IndexError, match="outside"):
        vec.decode([len(small_vocab)])


@pytest.mark.data
@needs_c
def test_parity_on_every_real_review(data_path):
    from imdb_edge.io._data import read_imdb
    data = read_imdb(data_path)
    vocab = Vocabulary.build(data["train"].texts, size=20_000, ngram=2)
    texts = data["train"].texts + data["test"].texts
    py = Vectorizer(vocab, backend="python").transform_ids(texts)
    c = Vectorizer(vocab, backend="cython").transform_ids(texts)
    np.testing.assert_array_equal(c[0], py[0])
    mismatched = int(np.sum(c[1] != py[1]))
    assert mismatched == 0, f"{mismatched} of {py[1].size} ids differ"


@pytest.mark.data
@needs_c
def test_parity_of_the_default_preset_on_every_test_review(data_path):
    # The bundled default's table is the largest the tests meet (203,695 features, bigrams
    # packed with 17-bit token slots): the compiled lookups against the reference on real text.
    from imdb_edge import load
    from imdb_edge.io._data import read_imdb
    texts = read_imdb(data_path)["test"].texts
    vocab = load("default").vectorizer.vocabulary
    py = Vectorizer(vocab, backend="python").transform_ids(texts)
    c = Vectorizer(vocab, backend="cython").transform_ids(texts)
    np.testing.assert_array_equal(c[0], py[0])
    mismatched = int(np.sum(c[1] != py[1]))
    assert mismatched == 0, f"{mismatched} of {py[1].size} ids differ"


def test_list_subclass(backend, small_vocab):
    class Texts(list):
        pass
    vec = Vectorizer(small_vocab, backend=backend)
    np.testing.assert_array_equal(vec.transform_ids(Texts(REVIEWS))[1], vec.transform_ids(REVIEWS)[1])


def test_rows_output(backend, small_vocab):
    vec = Vectorizer(small_vocab, backend=backend)
    indptr, ids, rows = vec._table.transform_ids(REVIEWS + [""], True)
    expected = np.repeat(np.arange(len(REVIEWS) + 1), np.diff(indptr)).reshape(-1, 1)
    np.testing.assert_array_equal(rows, expected)
    assert rows.dtype == np.int64 and rows.shape == (ids.size, 1)


def _boundary_texts():
    """Texts whose tokens, apostrophes and line breaks straddle the 8-byte hash blocks and the
    64-character words of the compiled 1-byte walk, in ASCII and in Latin-1."""
    out = []
    pieces = ["a'b", "don't", "x''y", "'q'", "<br />", "<BR>", "<br/", "abcdefgh", "abcdefghi",
              "ABCDEFGHIJKLMNOPQ", "café", "ÉTÉ", "ß", "µ²", "9'9", "a" * 70, "b" * 64]
    for pad in range(55, 70):
        for piece in pieces:
            for tail in ("", " end", "'", "<"):
                out.append("x" * pad + " " + piece + tail)
                out.append("y" * (pad - 1) + piece + " " + piece + tail)
    out += ["a" * n for n in range(1, 20)] + ["ab'" * n for n in range(1, 50)]
    return out


@needs_c
@pytest.mark.parametrize("ngram", [1, 2])
def test_cython_equals_reference_at_block_boundaries(ngram):
    texts = _boundary_texts()
    vocab = _vocab_for(texts, ngram)
    py = Vectorizer(vocab, backend="python").transform_ids(texts)
    c = Vectorizer(vocab, backend="cython").transform_ids(texts)
    np.testing.assert_array_equal(c[0], py[0])
    np.testing.assert_array_equal(c[1], py[1])


@needs_c
@pytest.mark.parametrize("ngram", [1, 2, 3])
def test_compiled_table_built_from_odd_features_equals_reference(ngram):
    """The compiled table reads features from their own buffers (no split): curly and straight
    apostrophes, tokens of 9-16 and over 16 characters, wide characters, and features the
    tokenizer can never produce (empty, doubled or edge spaces, too many tokens) must give
    the reference's ids, and duplicates must be refused alike."""
    from imdb_edge import _vectorize_py
    c = _vectorizer._vectorize_c
    features = ["don’t", "x" * 40, "medium_word", "ǅemo" * 5, "a  b", " a", "b ", "",
                "a b c d", "naïve film", "don't stop", "ab cd ef", "超长的词语" * 4, "z",
                "film naïve", "x" * 40 + " z", "stop don’t z"]
    texts = ["I don't stop; don’t! " + "X" * 40 + " z naïve film ab cd ef " + "超长的词语" * 4
             + " z ǅemoǅemoǅemoǅemoǅemo film naïve MEDIUM_WORD stop don’t z", "", "a b", "x" * 39]
    got = c.FeatureTable(features, ngram).transform_ids(texts)
    want = _vectorize_py.FeatureTable(features, ngram).transform_ids(texts)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert len(got[1]) > ngram      # the texts do hit features
    for duplicated in (["a", "a"], ["don’t", "don't"], ["a b", "a b"]):
        with pytest.raises(ValueError, match="duplicated feature"):
            c.FeatureTable(duplicated, 2)
    with pytest.raises(TypeError, match="Expected str, got int"):
        c.FeatureTable(["a", 3], 1)


@pytest.mark.parametrize("backend", ["python", pytest.param("cython", marks=needs_c)])
def test_a_list_that_grows_while_it_is_read_gives_one_consistent_answer(backend, small_vocab):
    # Stands for another thread appending while the texts are walked: both backends work on
    # a copy taken once, so indptr and ids describe the same texts (the reference read the
    # caller's list twice, and an append between made it fail with an IndexError).
    class Growing(list):
        def __iter__(self):
            for item in list.__iter__(self):
                if len(self) < 4:
                    self.append("the movie")
                yield item

    texts = Growing(["great movie", "bad"])
    indptr, ids = Vectorizer(small_vocab, backend=backend)._table.transform_ids(texts)
    assert len(indptr) - 1 in (2, 4) and indptr[-1] == len(ids)

