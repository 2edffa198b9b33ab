"""The compiled linear path (``imdb_edge._linear``, ``_vectorize_c.linear_scores``): the same
probabilities as the model's ONNX graph, exact integer sums, its guard, its input checks, and
the protobuf reader that gets the tables from the model file."""

from __future__ import annotations

import numpy as np
import pytest

import imdb_edge
from imdb_edge import _linear, _scorer, _vectorizer
from imdb_edge._models import resolve_model

from .conftest import REVIEWS
from .test_vectorizer import HOSTILE

needs_c = pytest.mark.skipif(_vectorizer._vectorize_c is None,
                             reason="compiled vectorizer not built")
# The graph's Sigmoid is onnxruntime's float32 approximation, the compiled path's a logistic
# in double precision rounded once: they differ in the last bit or two (measured: 1.2e-7 at
# most on the 25,000 IMDB test reviews, no label changed).
GRAPH_TOLERANCE = 3e-7


def _both(scorer, texts):
    """``(compiled, graph)`` probabilities of ``texts`` by one scorer."""
    tables = scorer._linear
    compiled = scorer.score(texts)
    scorer._linear = None
    try:
        graph = scorer.score(texts)
    finally:
        scorer._linear = tables
    return compiled, graph


@needs_c
def test_which_models_the_compiled_path_scores():
    assert imdb_edge.load("default").scoring == "compiled linear"
    assert imdb_edge.load("default").info["scoring"] == "compiled linear"
    assert imdb_edge.load("book").scoring == "onnxruntime"      # a network
    assert imdb_edge.load("accurate").scoring == "onnxruntime"  # Keras-exported, no tables
    assert imdb_edge.load("default", backend="python").scoring == "onnxruntime"


@needs_c
def test_compiled_path_gives_the_graphs_probabilities():
    scorer = imdb_edge.load("default")
    texts = HOSTILE + REVIEWS + ["", "😡", "Terrible.", "Not bad at all", "great " * 9000,
                                 " ".join(REVIEWS * 200)]
    compiled, graph = _both(scorer, texts)
    assert compiled.dtype == np.float32 and compiled.shape == (len(texts),)
    np.testing.assert_allclose(compiled, graph, rtol=0, atol=GRAPH_TOLERANCE)
    indptr, ids = _linear.probe_batch(scorer.vectorizer.size, scorer._linear.alpha.shape[0], 3)
    tables = scorer._linear
    np.testing.assert_allclose(tables(indptr, ids), _graph_ids(scorer, indptr, ids),
                               rtol=0, atol=GRAPH_TOLERANCE)


def _graph_ids(scorer, indptr, ids):
    tables, scorer._linear = scorer._linear, None
    try:
        return scorer._run_ids(indptr, ids)
    finally:
        scorer._linear = tables


@needs_c
@pytest.mark.data
def test_compiled_path_gives_the_graphs_probabilities_on_imdb_test(data_path):
    from imdb_edge.io._data import read_imdb    # noqa: PLC0415
    texts = list(read_imdb(data_path, splits=("test",))["test"].texts)
    compiled, graph = _both(imdb_edge.load("default"), texts)
    np.testing.assert_allclose(compiled, graph, rtol=0, atol=GRAPH_TOLERANCE)
    assert np.array_equal(compiled > 0.5, graph > 0.5)


def _random_tables(size, columns, rng):
    weights = rng.integers(-2**30, 2**30, (size, columns)).astype(np.int32)
    alpha = (rng.random((64, columns)) * 2**-31 - 2**-32).astype(np.float32)
    return weights, alpha


@needs_c
@pytest.mark.parametrize("columns", [1, 2, 3])
@pytest.mark.parametrize("preset", ["default", "book"])     # tokenizer version 2 / 1
def test_score_linear_is_linear_scores_of_transform_ids(preset, columns):
    # The fused pass (each text scored as it is walked, ids dropped) against the two steps,
    # bit for bit, with random tables, on hostile text, reviews, long and empty texts.
    table = imdb_edge.load(preset).vectorizer._table
    weights, alpha = _random_tables(table.size, columns, np.random.default_rng(columns))
    texts = HOSTILE + REVIEWS + ["", "great " * 9000, " ".join(REVIEWS * 200), "x" * 70_000,
                                 "é" * 3 + " not bad &amp; :) " * 500]
    p, known = table.score_linear(texts, weights, alpha, -0.125)
    indptr, ids = table.transform_ids(texts)
    expected = _vectorizer._vectorize_c.linear_scores(ids, indptr, weights, alpha, -0.125)
    assert p.dtype == np.float32 and known.dtype == np.int32
    np.testing.assert_array_equal(p.view(np.uint32), expected.view(np.uint32))
    np.testing.assert_array_equal(known, np.diff(indptr))
    empty = table.score_linear([], weights, alpha, 0.0)
    assert empty[0].shape == empty[1].shape == (0,)


@needs_c
@pytest.mark.parametrize("call, error, message", [
    (lambda t, w, a: t.score_linear(("a",), w, a, 0.0), TypeError, "must be a list"),
    (lambda t, w, a: t.score_linear(["a", b"b"], w, a, 0.0), TypeError, r"texts\[1\] is bytes"),
    (lambda t, w, a: t.score_linear(["a"], w[:-1], a, 0.0), ValueError, "weights has"),
    (lambda t, w, a: t.score_linear(["a"], w.astype(np.int64), a, 0.0), ValueError, "weights"),
    (lambda t, w, a: t.score_linear(["a"], w, a[:, :1].copy(), 0.0), ValueError, "do not fit"),
    (lambda t, w, a: t.score_linear(["a"], w, a, float("inf")), ValueError, "bias"),
    (lambda t, w, a: t.score_linear(["a"], w.tolist(), a, 0.0), ValueError, "^weights: expected"),
    (lambda t, w, a: t.score_linear(["a"], w, None, 0.0), ValueError, "^alpha: expected"),
    (lambda t, w, a: t.score_linear(["a"], np.asfortranarray(w), a, 0.0), ValueError,
     "^weights: expected a C-contiguous"),
])
@pytest.mark.parametrize("preset", ["default", "book"])
def test_score_linear_names_what_is_wrong(preset, call, error, message):
    table = imdb_edge.load(preset).vectorizer._table
    weights, alpha = _random_tables(table.size, 2, np.random.default_rng(0))
    with pytest.raises(error, match=message) as raised:
        call(table, weights, alpha)
    assert "indptr" not in str(raised.value)       # score_linear takes none


@needs_c
def test_every_way_of_scoring_gives_the_two_step_probabilities():
    # score() on a list, a bare str, a generator, in chunks, on two threads: each is the
    # fused pass; all equal the graph-free two steps (transform_ids, then linear_scores).
    texts = HOSTILE + REVIEWS * 3 + ["", "Not bad at all", "Terrible."]
    scorer = imdb_edge.load("default")
    indptr, ids = scorer.vectorizer.transform_ids(texts)
    expected = scorer._linear(indptr, ids)
    p, known = scorer.score(texts, return_known=True)
    np.testing.assert_array_equal(p, expected)
    np.testing.assert_array_equal(known, np.diff(indptr))
    assert scorer.score(texts[-1])[0] == expected[-1]
    small = imdb_edge.load("default", chunk_size=7)
    np.testing.assert_array_equal(small.score(iter(texts)), expected)
    two = imdb_edge.load("default", chunk_size=7, threads=2)
    got, known = two.score(texts, return_known=True)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(known, np.diff(indptr))


@needs_c
def test_a_list_changed_while_it_is_scored_is_not_blamed_on_the_model(monkeypatch):
    # Another thread may append to the list while the GIL is released in the walk: the
    # scores are those of the copy the call took, not a ModelError about the model's output
    # (found by a breaker: "model gave 3 values for 4 reviews").
    scorer = imdb_edge.load("default")
    score_texts = _linear.CompiledLinear.score_texts
    texts = ["Great fun", "Dull", "Not bad at all"]

    def score_then_append(self, table, items):
        out = score_texts(self, table, items)
        items.append("appended by another thread")
        return out

    monkeypatch.setattr(_linear.CompiledLinear, "score_texts", score_then_append)
    p, known = scorer.score(texts, return_known=True)
    assert p.shape == known.shape == (3,)
    np.testing.assert_array_equal(p, scorer._linear(*scorer.vectorizer.transform_ids(texts[:3])))


@needs_c
@pytest.mark.data
def test_score_is_the_two_steps_on_imdb_test(data_path):
    from imdb_edge.io._data import read_imdb    # noqa: PLC0415
    texts = list(read_imdb(data_path, splits=("test",))["test"].texts)
    scorer = imdb_edge.load("default")
    expected = scorer._linear(*scorer.vectorizer.transform_ids(texts))
    np.testing.assert_array_equal(scorer.score(texts).view(np.uint32), expected.view(np.uint32))


@needs_c
def test_sums_are_exact_and_independent_of_the_neighbours():
    from imdb_edge._vectorize_c import linear_scores
    rng = np.random.default_rng(1)
    size = 5000
    weights = rng.integers(-2**30, 2**30, (size, 2)).astype(np.int32)
    alpha = (rng.random((64, 2)) * 2**-31).astype(np.float32)
    counts = rng.integers(0, 300, 200)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    ids = rng.integers(0, size, indptr[-1]).astype(np.int32)
    p = linear_scores(ids, indptr, weights, alpha, 0.25)
    for t in range(len(counts)):
        mine = ids[indptr[t]:indptr[t + 1]]
        alone = linear_scores(mine, np.array([0, len(mine)], np.int64), weights, alpha, 0.25)
        assert alone.view(np.uint32)[0] == p.view(np.uint32)[t]
        sums = weights[mine].astype(np.int64).sum(0)         # exact: int64
        k = min(len(mine), 63)
        z = np.float32(np.float32(sums[0]) * alpha[k, 0]) + np.float32(np.float32(sums[1]) * alpha[k, 1])
        z = np.float32(z + np.float32(0.25))
        assert p[t] == np.float32(1 / (1 + np.exp(-np.float64(z))))


@needs_c
@pytest.mark.parametrize("change, message", [
    (lambda a: {**a, "ids": a["ids"].astype(np.int64)}, "ids"),
    (lambda a: {**a, "indptr": a["indptr"].astype(np.int32)}, "indptr"),
    (lambda a: {**a, "weights": a["weights"].astype(np.int64)}, "weights"),
    (lambda a: {**a, "alpha": a["alpha"].astype(np.float64)}, "alpha"),
    (lambda a: {**a, "alpha": a["alpha"][:, :1].copy()}, "do not fit"),
    (lambda a: {**a, "weights": np.ones((2, 5), np.int32).T}, "contiguous"),
    (lambda a: {**a, "ids": np.array([0, 1, 7], np.int32)}, "outside 0..4"),
    (lambda a: {**a, "ids": np.array([0, 1, -1], np.int32)}, "outside 0..4"),
    (lambda a: {**a, "indptr": np.array([0, 2, 1, 3], np.int64)}, "non-decreasing"),
    (lambda a: {**a, "indptr": np.array([1, 3], np.int64)}, "from 0"),
    (lambda a: {**a, "indptr": np.array([0, 2], np.int64)}, "from 0"),
    (lambda a: {**a, "indptr": np.array([], np.int64)}, "do not fit"),
    (lambda a: {**a, "weights": np.ones((0, 2), np.int32)}, "do not fit"),    # no row to read
    (lambda a: {**a, "bias": 10 ** 400}, "bias"),
    (lambda a: {**a, "bias": 1e300}, "bias"),        # beyond float32: undefined in C
    (lambda a: {**a, "bias": float("nan")}, "bias"),
    (lambda a: {**a, "bias": "0.5"}, "bias"),
])
def test_linear_scores_names_what_is_wrong(change, message):
    from imdb_edge._vectorize_c import linear_scores
    good = {"ids": np.array([0, 1, 4], np.int32), "indptr": np.array([0, 1, 3], np.int64),
            "weights": np.ones((5, 2), np.int32), "alpha": np.ones((4, 2), np.float32),
            "bias": 0.0}
    assert linear_scores(**good).shape == (2,)
    with pytest.raises(ValueError, match=message):
        linear_scores(**change(good))


def test_reader_finds_the_default_models_tables():
    path, _ = resolve_model("default")
    data = path.read_bytes()
    found = _linear.read_initializers(data, {_linear.WEIGHTS, _linear.ALPHA, _linear.BIAS, "x"})
    assert set(found) == {_linear.WEIGHTS, _linear.ALPHA, _linear.BIAS}
    scorer = imdb_edge.load("default")
    assert found[_linear.WEIGHTS].dtype == np.int32
    assert found[_linear.WEIGHTS].shape == (2, scorer.vectorizer.size)
    assert found[_linear.ALPHA].dtype == np.float32 and found[_linear.ALPHA].shape[0] == 2
    assert not found[_linear.WEIGHTS].flags.writeable
    tables = _linear.compiled_linear(data, scorer.metadata, scorer.vectorizer.size)
    assert tables is not None and tables.weights.shape == (scorer.vectorizer.size, 2)
    assert _linear.compiled_linear(data, {**scorer.metadata, "architecture": "x"}, 10) is None
    assert _linear.compiled_linear(data, scorer.metadata, scorer.vectorizer.size + 1) is None


def test_reader_never_fails_otherwise_than_by_valueerror():
    path, _ = resolve_model("default")
    data = path.read_bytes()
    rng = np.random.default_rng(2)
    cuts = [0, 1, 2, 5, 17, *rng.integers(0, len(data), 40)]
    for cut in cuts:
        try:
            _linear.read_initializers(data[:cut], {_linear.WEIGHTS})
        except ValueError as exc:
            assert "not an ONNX model" in str(exc)
    for _ in range(40):
        junk = bytearray(data[:4096])
        for at in rng.integers(0, len(junk), 8):
            junk[at] = int(rng.integers(0, 256))
        try:
            _linear.read_initializers(bytes(junk), {_linear.WEIGHTS})
        except ValueError as exc:
            assert "not an ONNX model" in str(exc)
    assert _linear.read_initializers(b"\x3a\x02\x2a\x00", {"a"}) == {}   # graph, empty tensor


@needs_c
def test_tables_that_disagree_with_the_graph_are_not_used(monkeypatch):
    real = _linear.compiled_linear

    def off_by_a_little(*args):
        tables = real(*args)
        return _linear.CompiledLinear(tables.weights, tables.alpha, tables.bias + 1e-3)

    monkeypatch.setattr(_scorer, "compiled_linear", off_by_a_little)
    scorer = imdb_edge.load("default")
    assert scorer.scoring == "onnxruntime"
    monkeypatch.setattr(_scorer, "compiled_linear", real)
    assert imdb_edge.load("default").scoring == "compiled linear"


# -- hostile model files: the compiled path is used only for the exporter's own graph --------

def _edited_default(tmp_path, edit):
    """A copy of the bundled default model folder with ``edit(model_proto)`` applied."""
    onnx = pytest.importorskip("onnx", reason="editing a model needs onnx (the train extra)")
    import shutil   # noqa: PLC0415
    path, _ = resolve_model("default")
    folder = tmp_path / "edited"
    shutil.copytree(path.parent, folder)
    model = onnx.load(str(folder / "model.onnx"))
    edit(model)
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    return folder


def _set(model, name, array):
    from onnx import numpy_helper   # noqa: PLC0415
    tensor = next(t for t in model.graph.initializer if t.name == name)
    tensor.CopyFrom(numpy_helper.from_array(array, name))


def _get(model, name):
    from onnx import numpy_helper   # noqa: PLC0415
    return numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == name))


def _decoy(name, value):
    """The graph reads ``name`` from a renamed copy; the file's ``name`` holds ``value``."""
    def edit(model):
        from onnx import numpy_helper   # noqa: PLC0415
        real = _get(model, name)
        _set(model, name, real)
        tensor = next(t for t in model.graph.initializer if t.name == name)
        tensor.name = name + "_real"
        for node in model.graph.node:
            node.input[:] = [name + "_real" if i == name else i for i in node.input]
        model.graph.initializer.append(numpy_helper.from_array(
            np.full_like(real, value), name))
    return edit


def _alpha_row_nan(model):
    alpha = _get(model, _linear.ALPHA).copy()
    alpha[:, 1000] = np.nan
    _set(model, _linear.ALPHA, alpha)


def _last(value):
    return lambda model: _set(model, _linear.LAST, np.array(value, np.int64))


def _hidden_weights(model):
    """GatherElements reads a hidden int64 copy of the weights in which one word the probe
    batch does not hold has the opposite sign, not the Cast of linear/weights32."""
    from onnx import numpy_helper   # noqa: PLC0415
    weights = _get(model, _linear.WEIGHTS).astype(np.int64)
    weights[:, _word_outside_the_probe()] *= -21
    model.graph.initializer.append(numpy_helper.from_array(weights, "hidden"))
    node = next(n for n in model.graph.node if n.op_type == "GatherElements")
    node.input[0] = "hidden"


def _custom_domain(model):
    """GatherElements in a domain of the model's own, defined by a function that changes
    one word's weight."""
    from onnx import helper, numpy_helper   # noqa: PLC0415
    delta = np.zeros(_get(model, _linear.WEIGHTS).shape, np.int64)
    delta[:, _word_outside_the_probe()] = 1 << 40
    model.functions.append(helper.make_function(
        "mine", "GatherElements", ["data", "idx"], ["out"],
        [helper.make_node("Constant", [], ["delta"], value=numpy_helper.from_array(delta)),
         helper.make_node("GatherElements", ["delta", "idx"], ["moved"], axis=1),
         helper.make_node("GatherElements", ["data", "idx"], ["picked"], axis=1),
         helper.make_node("Add", ["picked", "moved"], ["out"])],
        opset_imports=[helper.make_opsetid("", 17)]))
    model.opset_import.append(helper.make_opsetid("mine", 1))
    node = next(n for n in model.graph.node if n.op_type == "GatherElements")
    node.domain = "mine"
    del node.attribute[:]


def _word_outside_the_probe() -> int:
    scorer = imdb_edge.load("default")
    probed = set(_linear.probe_batch(scorer.vectorizer.size, _linear.ROWS)[1].tolist())
    return next(int(i) for i in scorer.vectorizer.transform_ids(
        ["wonderful superb brilliant masterpiece"])[1] if int(i) not in probed)


def _alpha_rows(rows):
    """A calibration table of ``rows`` rows, the graph's cap at its last: consistent, but
    not the exporter's (and a large one would make the probe batch large)."""
    def edit(model):
        alpha = _get(model, _linear.ALPHA)
        _set(model, _linear.ALPHA, np.concatenate(
            [alpha, np.repeat(alpha[:, -1:], rows - alpha.shape[1], axis=1)], axis=1))
        _set(model, _linear.LAST, np.array(rows - 1, np.int64))
    return edit


def _extra_node(model):
    from onnx import helper   # noqa: PLC0415
    output = model.graph.node[-1].output[0]
    model.graph.node[-1].output[0] = output + "_inner"
    model.graph.node.append(helper.make_node("Identity", [output + "_inner"], [output]))


@needs_c
@pytest.mark.parametrize("edit", [
    _decoy(_linear.ALPHA, np.nan),           # NaN tables the graph does not use
    _decoy(_linear.BIAS, np.nan),
    _decoy(_linear.ALPHA, 1.0),              # finite tables the graph does not use
    _alpha_row_nan,                          # a NaN the probe batch does not reach
    _last(1000),                             # the graph caps the count elsewhere
    _last(10 ** 6),                          # past the calibration's rows
    _alpha_rows(20_000),
    _extra_node,                             # not the exporter's graph
    _hidden_weights,                         # the exporter's operators, other wiring
    _custom_domain,                          # the exporter's names, another operator
], ids=["decoy-alpha-nan", "decoy-bias-nan", "decoy-alpha", "alpha-row-nan", "last-1000",
        "last-1e6", "rows-20000", "extra-node", "hidden-weights", "custom-domain"])
def test_a_model_unlike_the_exporters_runs_in_onnxruntime(tmp_path, edit):
    scorer = imdb_edge.load(_edited_default(tmp_path, edit))
    assert scorer.scoring == "onnxruntime"
    texts = REVIEWS + ["wonderful superb brilliant masterpiece"]
    p = scorer.score(texts)
    assert np.isfinite(p).all()
    np.testing.assert_array_equal(p, _graph_ids(scorer, *scorer.vectorizer.transform_ids(texts)))


@needs_c
def test_the_compiled_path_checks_its_output_as_the_graphs(monkeypatch):
    scorer = imdb_edge.load("default")
    tables = scorer._linear
    alpha = tables.alpha.copy()
    alpha[0] = np.inf                      # a text with no feature: 0 x inf = NaN
    scorer._linear = _linear.CompiledLinear(tables.weights, alpha, tables.bias)
    assert np.isfinite(scorer.score(REVIEWS)).all()
    with pytest.raises(imdb_edge.ModelError, match="non-finite score"):
        scorer.score(REVIEWS + [""])


def test_reader_reads_the_exporters_graph():
    path, _ = resolve_model("default")
    found, nodes, other = _linear.read_graph(path.read_bytes())
    assert nodes == _linear.expected_nodes(2) and not other
    assert int(found[_linear.LAST]) == _linear.ROWS - 1
    assert found[_linear.WEIGHTS].shape == (2, imdb_edge.load("default").vectorizer.size)


@needs_c
def test_a_padded_model_file_is_not_read_field_by_field(tmp_path):
    """Fields onnxruntime skips in C (here 30,000 unknown top-level ones) would cost this
    reader's Python loop ~0.6 µs each: beyond MAX_FIELDS it stops, and the graph runs."""
    import shutil   # noqa: PLC0415
    path, _ = resolve_model("default")
    padded = path.read_bytes() + b"\x78\x00" * 30_000        # field 15, varint 0
    with pytest.raises(ValueError, match="more than 20,000 protobuf fields"):
        _linear.read_graph(padded)
    folder = tmp_path / "padded"
    shutil.copytree(path.parent, folder)
    (folder / "model.onnx").write_bytes(padded)
    scorer = imdb_edge.load(folder)
    assert scorer.scoring == "onnxruntime"
    np.testing.assert_allclose(scorer.score(REVIEWS), imdb_edge.load("default").score(REVIEWS),
                               rtol=0, atol=GRAPH_TOLERANCE)
