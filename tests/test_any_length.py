"""The default preset's recipe pieces: the linear ONNX graph with its length-aware calibration
(both input forms, against numpy), the sentence splitter, the lexicon reader."""

import numpy as np
import pytest

import imdb_edge
from imdb_edge import Vocabulary, _vectorizer

pytestmark = pytest.mark.train
onnx = pytest.importorskip("onnx")
pytest.importorskip("scipy")


def test_linear_export_matches_numpy_in_both_forms(tmp_path):
    from imdb_edge_train import any_length, export

    rng = np.random.default_rng(0)
    vocab = Vocabulary(["great", "awful", "film", "xxsmile", "not good", "good"], ngram=2,
                       tokenizer_version=2)
    weights = rng.normal(size=len(vocab)).astype(np.float32)
    bias, calibration = np.float32(-0.3), (0.2, 0.4)
    texts = ["great film :)", "awful", "not good at all", "", "😡", "good good good film",
             "a great, great film " * 50]
    indptr, ids = imdb_edge.Vectorizer(vocab).transform_ids(texts)
    sums = np.array([weights[ids[indptr[i]:indptr[i + 1]]].sum() for i in range(len(texts))])
    expected = any_length.calibrated(sums, float(bias), np.diff(indptr), calibration)
    metrics = {"versions": {}}
    paths = export.export_linear(weights, bias, calibration, vocab, tmp_path / "m",
                                 test_texts=texts, expected=expected, metrics=metrics)
    scorer = imdb_edge.load(paths["model"].parent)
    got, known = scorer.score(texts, return_known=True)
    assert np.max(np.abs(got - expected)) < 1e-5
    assert got[3] == got[4] == pytest.approx(1 / (1 + np.exp(0.3)))    # no feature: the prior
    assert scorer.predict(texts, names=True).tolist()[3:5] == ["unknown", "unknown"]
    out = export.dense_from_ids(paths["model"], tmp_path / "dense.onnx")
    import onnxruntime as ort

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    multi_hot = scorer.vectorizer.transform(texts)
    dense_p = session.run(["probability"], {"multi_hot": multi_hot})[0].reshape(-1)
    assert np.max(np.abs(dense_p - expected)) < 1e-5


def test_export_refuses_a_model_that_does_not_match(tmp_path):
    from imdb_edge_train import export

    vocab = Vocabulary(["great"], tokenizer_version=2)
    with pytest.raises(export.ExportError, match="differs"):
        export.export_linear(np.ones(1, np.float32), 0.0, (1.0, 0.0), vocab, tmp_path / "m",
                             test_texts=["great"], expected=np.array([0.2]), metrics={})
    assert not (tmp_path / "m" / "model.onnx").exists()


def test_sentences_cut_at_breaks_and_sentence_ends():
    from imdb_edge_train.any_length import sentences

    text = "Great film. I loved it!<br /><br />The end? no. Yes, A 1950s gem. ok"
    assert sentences(text, 2) == ["Great film.", "I loved it!", "The end? no.",
                                  "Yes, A 1950s gem. ok"]      # no capital after: one sentence
    assert sentences("Too short. Hi.", 3) == []


def test_lexicon_entries_are_single_tokens():
    pytest.importorskip("vaderSentiment")
    from imdb_edge_train.any_length import vader_lexicon

    lexicon = vader_lexicon()
    assert lexicon["good"] > 0 > lexicon["bad"]
    assert lexicon["xxsmile"] > 0 > lexicon["xxfrown"]
    assert "o" not in lexicon            # "(-:o" is not the word "o"
    assert all(imdb_edge.tokenize(t, 2) == [t] for t in lexicon)


@pytest.mark.parametrize("calibration", [(0.3, 0.1), (0.3, 0.1, -4.0, 1.2, 0.8, 0.05)],
                         ids=["one-column", "two-columns"])
def test_linear_graph_sums_exactly_whatever_the_neighbours(tmp_path, calibration):
    """The segments form sums integer weights: a text scores to the bit the same alone, in a
    batch, at any place in it, and the quantized numpy function matches the graph, with one
    weight column or two (a gate by length between them)."""
    from imdb_edge_train import export

    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(300)]
    vocab = Vocabulary(words, tokenizer_version=2)
    columns = 1 if len(calibration) == 2 else 2
    weights = rng.normal(scale=0.7, size=(columns, len(vocab)))
    if columns == 1:
        weights = weights[0]
    texts = [" ".join(rng.choice(words, size=rng.integers(0, 120))) for _ in range(200)]
    texts += ["", "zzz unknown", "w1 " * 5000]
    tables = export.LinearTables.of(weights, -0.2, calibration)
    indptr, ids = imdb_edge.Vectorizer(vocab).transform_ids(texts)
    expected = tables.probabilities(indptr, ids)
    paths = export.export_linear(weights, -0.2, calibration, vocab, tmp_path / "m",
                                 test_texts=texts, expected=expected, metrics={})
    scorer = imdb_edge.load(paths["model"].parent)
    assert scorer.input_form == "segments"
    # the runtime knows the exporter's graph exactly (imdb_edge._linear.expected_nodes) and
    # scores it in compiled code, with the graph's probabilities
    assert scorer.scoring == ("compiled linear" if _vectorizer._vectorize_c else "onnxruntime")
    batch = scorer.score(texts)
    tables, scorer._linear = scorer._linear, None
    graph = scorer.score(texts)
    scorer._linear = tables
    assert np.max(np.abs(batch - graph)) <= 3e-7
    alone = np.array([scorer.score(t)[0] for t in texts])
    order = rng.permutation(len(texts))
    shuffled = np.empty_like(batch)
    shuffled[order] = scorer.score([texts[i] for i in order])
    assert batch.tobytes() == alone.tobytes() == shuffled.tobytes()
    assert np.max(np.abs(batch - expected)) < 1e-6
    assert batch[200] == batch[201] == np.float32(1 / (1 + np.exp(0.2)))   # no feature: prior
    # the quantization is invisible next to float32: against the unquantized function
    sums = np.stack([[column[ids[indptr[i]:indptr[i + 1]]].sum() for i in range(len(texts))]
                     for column in np.atleast_2d(weights)])
    from imdb_edge_train import any_length
    exact = any_length.calibrated(sums, -0.2, np.diff(indptr), calibration)
    assert np.max(np.abs(batch - exact)) < 1e-5
    if columns == 2:      # the gate moves a long text to the second column
        assert np.max(np.abs(exact - any_length.calibrated(sums[0], -0.2, np.diff(indptr),
                                                           calibration[:2]))) > 0.1
    dense = imdb_edge.load(paths["model"].parent / "model_dense.onnx")
    assert np.max(np.abs(dense.score(texts[:64]) - expected[:64])) < 1e-5


def test_calibration_fit_recovers_the_temperature_that_made_the_labels():
    """Labels drawn from ``sigmoid(s / (0.01 + 0.21 ln(1 + k)) - 0.09)``: the fit finds that
    temperature (on the float32 table's rounded loss it stayed at its start, t0 1, t1 0)."""
    from scipy.special import expit

    from imdb_edge_train import any_length

    rng = np.random.default_rng(0)
    parts = []
    for n, most in ((5_000, 600), (50_000, 40)):          # reviews, sentences
        k = rng.integers(1, most, n)
        s = rng.normal(scale=0.7 * np.sqrt(k), size=n)
        y = (rng.random(n) < expit(s / (0.01 + 0.21 * np.log1p(k)) - 0.09)).astype(float)
        parts.append((s, k, y))
    (t0, t1), bias = any_length.fit_calibration(parts, -0.09)
    assert t0 == pytest.approx(0.01, abs=0.02) and t1 == pytest.approx(0.21, abs=0.02)
    assert bias == -0.09


def test_calibration_fit_recovers_the_gate_between_two_columns():
    """Labels drawn from the two-column function: the fit finds its gate, temperature and bias."""
    from scipy.special import expit

    from imdb_edge_train import any_length

    rng = np.random.default_rng(2)
    truth, true_bias = (0.05, 0.2, -5.0, 1.3, 0.5, 0.1), 0.1
    parts = []
    for n, most in ((20_000, 600), (50_000, 40)):
        k = rng.integers(1, most, n)
        s = rng.normal(scale=0.7 * np.sqrt(k), size=(2, n))
        p = any_length.calibrated(s, true_bias, k, truth)
        parts.append((s, k, (rng.random(n) < p).astype(float)))
    fitted, bias = any_length.fit_calibration(parts)
    assert np.allclose(fitted, truth, atol=[0.05, 0.05, 1.0, 0.25, 0.15, 0.05]), fitted
    assert bias == pytest.approx(true_bias, abs=0.1)
    # the gate given: the rest is fitted around it
    refitted, _ = any_length.fit_calibration(parts, gate=truth[2:4])
    assert refitted[2:4] == truth[2:4]
    assert np.allclose(refitted, truth, atol=[0.05, 0.05, 0, 0, 0.15, 0.05]), refitted


def test_review_weights_are_those_of_the_best_validation_epoch():
    """fit_review_weights returns the best epoch's weights, not the last epoch's."""
    pytest.importorskip("keras")
    import scipy.sparse as sp
    from scipy.special import expit

    from imdb_edge_train import any_length

    rng = np.random.default_rng(3)
    n, v = 600, 400
    truth = rng.normal(size=v)
    x = sp.random(n, v, density=0.05, random_state=4, format="csr")
    x.data[:] = 1.0
    y = (rng.random(n) < expit(x @ truth)).astype(np.int64)
    cfg = any_length.AnyLengthConfig(review_learning_rate=0.05, review_batch_size=32)
    w, b, history = any_length.fit_review_weights(x[:400], y[:400], cfg, 8,
                                                  validation=(x[400:], y[400:]))
    assert len(history) == 8 and max(history) > 0.6
    assert max(history) - history[-1] > 0.012   # the last epoch is not the best: restore matters
    # the prior: a feature no training text has takes its prior weight
    x = x.tolil()
    x[:, 7] = 0
    x = x.tocsr()
    x.eliminate_zeros()
    prior = np.zeros(v)
    prior[7], prior[8] = 0.8, -0.3
    w, _, _ = any_length.fit_review_weights(x[:400], y[:400], cfg, 2, prior)
    w0, _, _ = any_length.fit_review_weights(x[:400], y[:400], cfg, 2)
    assert w[7] == 0.8 and w0[7] == 0.0          # unseen: the prior's weight, else none
    assert w[8] == w0[8] != -0.3                 # seen: the reviews' weight alone
    got = float(((expit(x[400:] @ w + b) > 0.5) == y[400:]).mean())
    # within one of the 200 validation texts (Keras's float32 logits near 0 may round the
    # other way), and not the last epoch's
    assert got == pytest.approx(max(history), abs=0.0051) and got > history[-1] + 0.006


def test_weights_that_do_not_fit_int32_are_refused():
    from imdb_edge_train import export

    tables = export.LinearTables(np.array([[2 ** 31, 0, -5]], np.int64), 0,
                                 np.ones((1, export.TEMPERATURE_ROWS), np.float32), np.float32(0))
    with pytest.raises(export.ExportError, match="do not fit int32"):
        export.linear_graph(tables, "ids")
