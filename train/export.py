"""Export a trained Keras model to the ONNX form the runtime loads, verified before it lands.

1. tf2onnx converts a ``tf.function`` with an input signature (``from_keras`` fails on Keras 3
   models in tf2onnx 1.17) into a *dense* graph: multi-hot ``(n, V)`` -> probability.
2. That graph is rewritten into the *ids* form the runtime feeds: the first ``MatMul`` against
   the ``(V, units)`` weight becomes ``Gather`` of the rows of each text's feature ids, summed
   per text with ``ScatterND(reduction="add")`` into a zero ``(n, units)`` tensor - the same
   arithmetic as the dense product, without the 40 KB-per-review input. The rest of the graph
   is tf2onnx's, untouched.
3. Both graphs are run in onnxruntime through the runtime's own code path on the test reviews
   and compared with Keras; over ``tolerance`` nothing is written. Files land by rename, so an
   interrupted export leaves either the previous model or none.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from imdb_edge import Vocabulary, __version__
from imdb_edge import _linear, _scorer

OPSET = 17
TOLERANCE = 1e-5


class ExportError(RuntimeError):
    """The exported model does not reproduce Keras; nothing was written."""


def to_dense_onnx(model, n_features: int):
    """tf2onnx conversion of ``model`` with input ``multi_hot`` float32 ``(n, V)``."""
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, n_features), tf.float32, name=_scorer.DENSE_INPUT),)

    @tf.function(input_signature=spec)
    def serve(multi_hot):
        return {_scorer.OUTPUT: model(multi_hot, training=False)}

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=OPSET)
    return proto


def to_ids_onnx(dense):
    """Rewrite a dense graph so that it takes feature ids (see the module docstring)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.ModelProto()
    model.CopyFrom(dense)
    graph = model.graph
    if len(graph.input) != 1:
        raise ExportError(f"expected one graph input, found {len(graph.input)}")
    x = graph.input[0].name
    consumers = [node for node in graph.node if x in node.input]
    weights = {init.name: init for init in graph.initializer}
    if (len(consumers) != 1 or consumers[0].op_type != "MatMul"
            or list(consumers[0].input)[0] != x or consumers[0].input[1] not in weights):
        raise ExportError("the dense graph's input does not feed a single MatMul against a "
                          f"weight: {[(n.op_type, list(n.input)) for n in consumers]}")
    matmul = consumers[0]
    w = numpy_helper.to_array(weights[matmul.input[1]])
    units = int(w.shape[1])
    units_const = numpy_helper.from_array(np.array([units], dtype=np.int64), "ids_form/units")
    graph.initializer.append(units_const)
    new_nodes = [
        helper.make_node("Gather", [matmul.input[1], _scorer.IDS_INPUT], ["ids_form/rows_of_w"],
                         axis=0, name="ids_form/gather"),
        helper.make_node("Concat", [_scorer.COUNT_INPUT, "ids_form/units"], ["ids_form/shape"],
                         axis=0, name="ids_form/shape"),
        helper.make_node("ConstantOfShape", ["ids_form/shape"], ["ids_form/zeros"],
                         value=numpy_helper.from_array(np.zeros(1, np.float32)),
                         name="ids_form/zeros"),
        helper.make_node("ScatterND", ["ids_form/zeros", _scorer.ROWS_INPUT, "ids_form/rows_of_w"],
                         [matmul.output[0]], reduction="add", name="ids_form/sum"),
    ]
    index = list(graph.node).index(matmul)
    del graph.node[index]
    for offset, node in enumerate(new_nodes):
        graph.node.insert(index + offset, node)
    del graph.input[:]
    graph.input.extend([
        helper.make_tensor_value_info(_scorer.IDS_INPUT, TensorProto.INT32, ["nnz"]),
        helper.make_tensor_value_info(_scorer.ROWS_INPUT, TensorProto.INT64, ["nnz", 1]),
        helper.make_tensor_value_info(_scorer.COUNT_INPUT, TensorProto.INT64, [1]),
    ])
    onnx.checker.check_model(model)
    return model


def contract_doc(metadata: dict, form: str) -> str:
    """The model's input/output contract, for the ONNX ``doc_string``: enough for a user of
    onnxruntime in another language, with the tokenizer spec, to score texts."""
    negative = metadata.get("label_negative", "negative")
    positive = metadata.get("label_positive", "positive")
    if form == "segments":
        inputs = (f"{_scorer.IDS_INPUT}: int32 [nnz], the feature ids of every text, text after "
                  f"text; {_scorer.STARTS_INPUT}, {_scorer.ENDS_INPUT}: int64 [n_texts], where "
                  f"text i's ids start and end (ids[{_scorer.STARTS_INPUT}[i]:"
                  f"{_scorer.ENDS_INPUT}[i]])")
    elif form == "ids":
        inputs = (f"{_scorer.IDS_INPUT}: int32 [nnz], the feature ids of every text, text after "
                  f"text; {_scorer.ROWS_INPUT}: int64 [nnz, 1], the text (0-based) each id "
                  f"belongs to; {_scorer.COUNT_INPUT}: int64 [1], the number of texts")
    else:
        inputs = (f"{_scorer.DENSE_INPUT}: float32 [n_texts, {metadata['vocabulary_size']}], "
                  "1.0 where the text has the feature, else 0.0")
    return (f"imdb-edge sentiment model ({form} form). Inputs: {inputs}. Output: "
            f"{_scorer.OUTPUT}: float32 [n_texts, 1], the probability that a text is "
            f"{positive!r} (else {negative!r}). Features: imdb-edge tokenizer version "
            f"{metadata['tokenizer_version']} (spec: docs/guides/tokenizer.md), "
            f"n-grams up to {metadata['ngram']}, each feature counted once per text, ids from "
            f"the vocabulary file (line k after the header = id k-1, checksum "
            f"{metadata['vocabulary_checksum']}).")


def add_contract(path: str | os.PathLike, form: str | None = None) -> None:
    """Write the contract into an existing model's ``doc_string`` (atomically)."""
    import onnx

    proto = onnx.load(str(path))
    metadata = {entry.key: entry.value for entry in proto.metadata_props}
    proto.doc_string = contract_doc(metadata, form or metadata.get("input_form", "ids"))
    tmp = Path(f"{path}.tmp")
    onnx.save(proto, str(tmp))
    os.replace(tmp, path)


def dense_from_ids(path: str | os.PathLike, out: str | os.PathLike, *,
                   overwrite: bool = False) -> Path:
    """The dense form of an ids-form model (the rewrite of :func:`to_ids_onnx` undone):
    ``multi_hot`` float32 ``(n, V)`` times the first weight, then the same graph. An
    existing ``out`` is replaced only with ``overwrite``, and only if it is an imdb-edge model."""
    import onnx
    from onnx import TensorProto, helper

    _check_model_file_out(Path(out), overwrite)
    model = onnx.load(str(path))
    graph = model.graph
    nodes = {node.name: node for node in graph.node}
    if "linear/picked" in nodes:
        dense = linear_dense_from_ids(model)
        metadata = {entry.key: entry.value for entry in model.metadata_props}
        metadata["input_form"] = "dense"
        _set_metadata(dense, metadata)
        dense.doc_string = contract_doc(metadata, "dense")
        onnx.checker.check_model(dense)
        out = Path(out)
        tmp = out.with_name(f".{out.name}.tmp")
        onnx.save(dense, str(tmp))
        os.replace(tmp, out)
        return out
    gather, scatter = nodes.get("ids_form/gather"), nodes.get("ids_form/sum")
    if gather is None or scatter is None:
        raise ExportError(f"{path}: not an ids-form imdb-edge model")
    weight = gather.input[0]
    matmul = helper.make_node("MatMul", [_scorer.DENSE_INPUT, weight], [scatter.output[0]],
                              name="dense_form/matmul")
    drop = {"ids_form/gather", "ids_form/shape", "ids_form/zeros", "ids_form/sum"}
    index = [n.name for n in graph.node].index("ids_form/gather")
    kept = [n for n in graph.node if n.name not in drop]
    kept.insert(index, matmul)
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.remove(next(i for i in graph.initializer if i.name == "ids_form/units"))
    size = next(i for i in graph.initializer if i.name == weight).dims[0]
    del graph.input[:]
    graph.input.extend([helper.make_tensor_value_info(_scorer.DENSE_INPUT, TensorProto.FLOAT,
                                                      ["n_texts", size])])
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    metadata["input_form"] = "dense"
    _set_metadata(model, metadata)
    model.doc_string = contract_doc(metadata, "dense")
    onnx.checker.check_model(model)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    onnx.save(model, str(tmp))
    os.replace(tmp, out)
    return out


def _check_model_file_out(out: Path, overwrite: bool) -> None:
    if not out.exists() and not out.is_symlink():
        return
    if out.is_dir():
        raise ExportError(f"--out {out} is a folder; give the .onnx file to write")
    if not overwrite:
        raise ExportError(f"--out {out} exists; pass --overwrite to replace it")
    import onnx

    try:
        keys = {e.key for e in onnx.load(str(out), load_external_data=False).metadata_props}
    except Exception:  # noqa: BLE001 - anything onnx cannot read is not a model of ours
        keys = set()
    if "imdb_edge.format" not in keys:
        raise ExportError(f"--out {out} is not an imdb-edge model file; --overwrite only "
                          "replaces one, so choose another --out")


def _set_metadata(proto, metadata: dict[str, str]) -> None:
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)


def export_model(model, vocab: Vocabulary, out_dir: str | os.PathLike, *,
                 test_texts: list[str], keras_probabilities: np.ndarray, metrics: dict,
                 preset: str = "default", tolerance: float = TOLERANCE,
                 dense_check_limit: int | None = None,
                 extra_metadata: dict[str, str] | None = None) -> dict[str, Path]:
    """Write ``model.onnx`` (ids form), ``model_dense.onnx`` and ``vocab.txt`` to ``out_dir``.

    Both graphs are scored with the runtime on ``test_texts`` and must match
    ``keras_probabilities`` within ``tolerance``, else :class:`ExportError` and nothing lands.
    ``dense_check_limit`` checks the dense form on only the first texts (its input is
    ``V`` floats a text: 1.6 GB a thousand texts at V = 400,000); the ids form, the one the
    runtime ships, is always checked on all.

    Returns:
        The written paths by name (``model``, ``dense``, ``vocab``).
    """
    import tf2onnx

    out_dir = Path(out_dir)
    versions = metrics.get("versions", {})
    metadata = {
        "imdb_edge.format": _scorer.FORMAT_VERSION,
        "preset": preset,
        "tokenizer_version": vocab.tokenizer_version,
        "vocabulary_checksum": vocab.checksum,
        "vocabulary_size": len(vocab),
        "ngram": vocab.ngram,
        "train_data_sha256": metrics.get("data_sha256", ""),
        **{key: f"{metrics[key]:.6f}" for key in ("test_loss", "test_accuracy")
           if metrics.get(key) is not None},
        "imdb_edge_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "tensorflow": versions.get("tensorflow", ""),
        "keras": versions.get("keras", ""),
        "tf2onnx": tf2onnx.__version__,
        "onnx_opset": OPSET,
        "seed": metrics.get("seed", ""),
        **(extra_metadata or {}),
    }
    dense = to_dense_onnx(model, len(vocab))
    ids = to_ids_onnx(dense)
    _set_metadata(dense, {**metadata, "input_form": "dense"})
    _set_metadata(ids, {**metadata, "input_form": "ids"})
    text = {k: str(v) for k, v in metadata.items()}
    dense.doc_string = contract_doc(text, "dense")
    ids.doc_string = contract_doc(text, "ids")

    return write_checked(ids, dense, vocab, out_dir, test_texts=test_texts,
                         expected=keras_probabilities, metrics=metrics, tolerance=tolerance,
                         dense_check_limit=dense_check_limit, reference="Keras")


def write_checked(ids, dense, vocab: Vocabulary, out_dir: Path, *, test_texts: list[str],
                  expected: np.ndarray, metrics: dict, tolerance: float,
                  dense_check_limit: int | None, reference: str) -> dict[str, Path]:
    """Stage ``model.onnx`` (ids form), the dense form and ``vocab.txt``; score both forms with
    the runtime on ``test_texts`` against ``expected`` (each form's max difference goes into
    ``metrics``); over ``tolerance`` :class:`ExportError` and nothing lands, else each file is
    renamed into ``out_dir``, the model last."""
    import onnx

    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    try:
        vocab.save(staging / "vocab.txt")
        onnx.save(ids, staging / "model.onnx")
        dense_dir = staging / "dense"
        dense_dir.mkdir()
        onnx.save(dense, dense_dir / "model.onnx")
        shutil.copy(staging / "vocab.txt", dense_dir / "vocab.txt")
        expected = np.asarray(expected, dtype=np.float32).reshape(-1)
        for name, folder in (("ids", staging), ("dense", dense_dir)):
            n = len(test_texts) if name == "ids" else (dense_check_limit or len(test_texts))
            got = _scorer.load(folder, threads=1).score(test_texts[:n])
            diff = float(np.max(np.abs(got - expected[:n]))) if len(got) else 0.0
            metrics[f"onnx_{name}_max_abs_diff"] = diff
            if not diff <= tolerance:
                raise ExportError(f"onnxruntime ({name} form) differs from {reference} by "
                                  f"{diff:.3g} > {tolerance:g} on the test reviews; model not "
                                  "written")
        paths = {"vocab": out_dir / "vocab.txt", "model": out_dir / "model.onnx",
                 "dense": out_dir / "model_dense.onnx"}
        os.replace(staging / "vocab.txt", paths["vocab"])
        os.replace(dense_dir / "model.onnx", paths["dense"])
        os.replace(staging / "model.onnx", paths["model"])   # last: the model marks completion
        return paths
    finally:
        shutil.rmtree(staging, ignore_errors=True)


BUNDLE_ROOT = Path(__file__).resolve().parent.parent / "imdb_edge" / "models"


def bundle(run_dir: str | os.PathLike, preset: str, *, gzip_vocabulary: bool = False,
           root: Path = BUNDLE_ROOT) -> Path:
    """Copy an exported model into ``imdb_edge/models/<preset>/`` (package data).

    The run's model and vocabulary must load together first (else :class:`ExportError` or
    :class:`imdb_edge.ModelError`, and the preset is untouched); then each file lands by
    rename, the vocabulary first, the model last. A large n-gram
    vocabulary ships gzip-compressed (``vocab.txt.gz``, read transparently by the runtime).
    """
    run_dir, target = Path(run_dir), Path(root) / preset
    for name in ("model.onnx", "vocab.txt"):
        if not (run_dir / name).is_file():
            raise ExportError(f"{run_dir}: no {name} to bundle (was the model exported?); "
                              f"{target} left as it was")
    # The pair must load together (checksum, tokenizer version, width) before anything in
    # the package is touched: a failed bundle leaves the preset as it was.
    _scorer.load(run_dir, threads=1)
    vocab = Vocabulary.load(run_dir / "vocab.txt")
    target.mkdir(parents=True, exist_ok=True)
    keep, drop = ("vocab.txt.gz", "vocab.txt") if gzip_vocabulary else ("vocab.txt", "vocab.txt.gz")
    staging = Path(tempfile.mkdtemp(prefix=".bundle-", dir=target))
    try:
        vocab.save(staging / keep)
        shutil.copy(run_dir / "model.onnx", staging / "model.onnx")
        os.replace(staging / keep, target / keep)
        (target / drop).unlink(missing_ok=True)
        os.replace(staging / "model.onnx", target / "model.onnx")    # last: marks completion
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# -- linear models with a length-aware calibration (the "default" preset) -----------------------

LINEAR_ARCHITECTURE = _linear.ARCHITECTURE      # the runtime scores this graph compiled


TEMPERATURE_ROWS = _linear.ROWS
WEIGHT_BITS = 30          # the largest |weight| is quantized to just under 2**30 (fits int32)


def coefficient_table(calibration: tuple[float, ...]) -> np.ndarray:
    """float64 ``(C, TEMPERATURE_ROWS)``: the factor of each weight column's sum in the logit of
    a text with k = 0, 1, .. known features (a text with more takes the last row).

    ``calibration`` is ``(t0, t1)`` for one column: ``1 / T(k)``, ``T(k) = t0 + t1 ln(1 + k)``;
    or ``(t0, t1, a0, a1, u0, u1)`` for two (any-length weights, then weights for long
    reviews): ``(1 - g(k)) / T(k)`` and ``g(k) / U(k)``, with the gate
    ``g(k) = sigmoid(a0 + a1 ln(1 + k))`` and the second column's own temperature
    ``U(k) = u0 + u1 ln(1 + k)``.
    """
    k = np.log1p(np.arange(TEMPERATURE_ROWS, dtype=np.float64))
    if len(calibration) not in (2, 6):
        raise ValueError("calibration must be (t0, t1) or (t0, t1, a0, a1, u0, u1); "
                         f"got {calibration!r}")
    temperature = calibration[0] + calibration[1] * k
    if len(calibration) == 2:
        return (1.0 / temperature)[None, :]
    gate = 1.0 / (1.0 + np.exp(-(calibration[2] + calibration[3] * k)))
    return np.stack([(1.0 - gate) / temperature, gate / (calibration[4] + calibration[5] * k)])


@dataclasses.dataclass(frozen=True)
class LinearTables:
    """A linear model with a length-aware calibration, as the exported graph computes it:
    ``p = sigmoid(sum_c alpha[c, k] * q_c + bias)``, ``q_c`` the sum of the text's quantized
    weights of column ``c`` (exact, int64) and ``k`` its number of known features (capped at
    ``TEMPERATURE_ROWS - 1``).

    Attributes:
        weights: int64 ``(C, V)``, ``round(w * 2**shift)``; C is 1 or 2.
        shift: the binary scale of the weights (one for every column).
        alpha: float32 ``(C, TEMPERATURE_ROWS)``, ``2**-shift`` times :func:`coefficient_table`.
        bias: float32, the logit of a text with no known feature.
    """
    weights: np.ndarray
    shift: int
    alpha: np.ndarray
    bias: np.float32

    @classmethod
    def of(cls, weights: np.ndarray, bias: float, calibration: tuple[float, ...]) -> "LinearTables":
        """Quantize float ``weights`` ``(V,)`` or ``(C, V)`` of the function
        ``sigmoid(sum_c coefficient_table(calibration)[c, k] * s_c + bias)``."""
        weights = np.atleast_2d(np.asarray(weights, np.float64))
        table = coefficient_table(calibration)
        if len(weights) != len(table):
            raise ValueError(f"{len(weights)} weight columns for a calibration of {len(table)}")
        largest = max(float(np.abs(weights).max(initial=0.0)), 1e-30)
        shift = int(np.floor(np.log2(2.0 ** WEIGHT_BITS / largest)))
        return cls(np.rint(weights * 2.0 ** shift).astype(np.int64), shift,
                   (2.0 ** -shift * table).astype(np.float32), np.float32(bias))

    def probabilities(self, indptr: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """The graph's function in numpy, float64 ``(n,)``, of texts encoded as by
        ``transform_ids``."""
        cumulative = np.concatenate([np.zeros((len(self.weights), 1), np.int64),
                                     np.cumsum(self.weights[:, ids], axis=1)], axis=1)
        sums = (cumulative[:, indptr[1:]] - cumulative[:, indptr[:-1]]).astype(np.float32)
        k = np.minimum(np.diff(indptr), TEMPERATURE_ROWS - 1)
        terms = (sums * self.alpha[:, k]).astype(np.float32)   # the graph's float32 Mul
        logit = terms[0] if len(terms) == 1 else terms.sum(0, dtype=np.float32)
        return 1.0 / (1.0 + np.exp(-(logit.astype(np.float64) + self.bias)))


def linear_graph(tables: LinearTables, form: str = "ids"):
    """ONNX graph of :class:`LinearTables`, in the ids (``ids``, ``starts``, ``ends``) or the
    dense input form.

    Ids form: each id's quantized weight is picked (GatherElements: ~10x faster per id than
    Gather in onnxruntime 1.32), the picks are summed along the batch as int64 (CumSum) and
    each text's sum is the difference of the running sum at its end and its start. Integer
    sums are exact, so a text's score does not depend on its neighbours or on the order of
    the additions. One weight column: 14 nodes at run time (the Cast of the int32 weights to
    int64 is folded when onnxruntime loads the model), so a short text's run costs about what
    the book's network does; two columns: the ids are expanded to both rows (``[2, nnz]``) and
    the two products summed, 16 nodes. The coefficients by feature count come from a table
    (computed once here), not from Log in the graph: onnxruntime's vectorized Log gives a
    value that depends on the element's place in the batch.
    """
    from onnx import TensorProto, helper, numpy_helper

    T, N = numpy_helper.from_array, helper.make_node
    columns, size = tables.weights.shape
    two = columns == 2
    init = [T(np.array(tables.bias, np.float32), "linear/bias"),
            T(np.array(TEMPERATURE_ROWS - 1, np.int64), "linear/last"),
            T(np.array([1], np.int64), "linear/axes1")]
    if form == "ids":
        axis = 1 if two else 0              # the axis along the ids
        inputs = [helper.make_tensor_value_info(_scorer.IDS_INPUT, TensorProto.INT32, ["nnz"]),
                  helper.make_tensor_value_info(_scorer.STARTS_INPUT, TensorProto.INT64,
                                                ["n_texts"]),
                  helper.make_tensor_value_info(_scorer.ENDS_INPUT, TensorProto.INT64,
                                                ["n_texts"])]
        # The weights are stored as int32 (|w| < 2**WEIGHT_BITS) and cast to int64 for the
        # exact running sums: onnxruntime folds the Cast of a constant when it loads the
        # model, so the file is half the size and scoring costs the same.
        weights64 = tables.weights if two else tables.weights[0]
        if np.abs(weights64).max(initial=0) >= 2 ** 31:
            raise ExportError(f"quantized weights up to {np.abs(weights64).max()} do not fit "
                              f"int32 (LinearTables.of keeps them under 2**{WEIGHT_BITS})")
        weights32 = weights64.astype(np.int32)
        init += [T(weights32, "linear/weights32"),
                 T(tables.alpha if two else tables.alpha[0], "linear/alpha"),
                 T(np.array(axis, np.int64), "linear/axis"),
                 T(np.zeros((2, 1) if two else 1, np.int64), "linear/zero")]
        ids = _scorer.IDS_INPUT
        nodes = [N("Cast", ["linear/weights32"], ["linear/weights"], to=TensorProto.INT64,
                   name="linear/weights")]
        if two:
            init.append(T(np.array([2, 1], np.int64), "linear/rows"))
            nodes.append(N("Expand", [ids, "linear/rows"], ["linear/ids2"], name="linear/ids2"))
            ids = "linear/ids2"
        nodes += [
            N("GatherElements", ["linear/weights", ids], ["linear/picked"], axis=axis,
              name="linear/picked"),
            N("CumSum", ["linear/picked", "linear/axis"], ["linear/running"],
              name="linear/running"),
            N("Concat", ["linear/zero", "linear/running"], ["linear/cumulative"], axis=axis,
              name="linear/cumulative"),
            N("Gather", ["linear/cumulative", _scorer.ENDS_INPUT], ["linear/at_end"], axis=axis,
              name="linear/at_end"),
            N("Gather", ["linear/cumulative", _scorer.STARTS_INPUT], ["linear/at_start"],
              axis=axis, name="linear/at_start"),
            N("Sub", ["linear/at_end", "linear/at_start"], ["linear/sums64"],
              name="linear/sums64"),
            N("Cast", ["linear/sums64"], ["linear/sums"], to=TensorProto.FLOAT,
              name="linear/sums"),
            N("Sub", [_scorer.ENDS_INPUT, _scorer.STARTS_INPUT], ["linear/k_int"],
              name="linear/count"),
        ]
    else:
        axis = 1 if two else 0              # the axis along the texts of the coefficients
        inputs = [helper.make_tensor_value_info(_scorer.DENSE_INPUT, TensorProto.FLOAT,
                                                ["n_texts", size])]
        init.append(T(tables.weights.astype(np.float32).T.copy(), "linear/weights"))
        init.append(T(tables.alpha.T.copy() if two else tables.alpha[0], "linear/alpha"))
        nodes = [   # two columns: sums and coefficients [n, 2]; one: [n]
            N("MatMul", [_scorer.DENSE_INPUT, "linear/weights"],
              ["linear/sums" if two else "linear/sums_column"], name="linear/matmul"),
            N("ReduceSum", [_scorer.DENSE_INPUT, "linear/axes1"], ["linear/known"], keepdims=0,
              name="linear/count"),
            N("Cast", ["linear/known"], ["linear/k_int"], to=TensorProto.INT64,
              name="linear/k_int"),
        ]
        if not two:
            nodes.insert(1, N("Squeeze", ["linear/sums_column", "linear/axes1"], ["linear/sums"],
                              name="linear/sums"))
    nodes += [
        N("Min", ["linear/k_int", "linear/last"], ["linear/k_row"], name="linear/k_row"),
        N("Gather", ["linear/alpha", "linear/k_row"], ["linear/coefficient"],
          axis=1 if (two and form == "ids") else 0, name="linear/coefficient"),
        N("Mul", ["linear/sums", "linear/coefficient"], ["linear/scaled"], name="linear/scaled"),
    ]
    if two:
        init.append(T(np.array([0 if form == "ids" else 1], np.int64), "linear/columns_axis"))
        nodes.append(N("ReduceSum", ["linear/scaled", "linear/columns_axis"], ["linear/mixed"],
                       keepdims=0, name="linear/mixed"))
    nodes += [
        N("Add", ["linear/mixed" if two else "linear/scaled", "linear/bias"], ["linear/logit"],
          name="linear/logit"),
        N("Sigmoid", ["linear/logit"], ["linear/p"], name="linear/sigmoid"),
        N("Unsqueeze", ["linear/p", "linear/axes1"], [_scorer.OUTPUT], name="linear/column"),
    ]
    output = helper.make_tensor_value_info(_scorer.OUTPUT, TensorProto.FLOAT, ["n_texts", 1])
    graph = helper.make_graph(nodes, "imdb_edge_linear", inputs, [output], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="imdb-edge-train")
    model.ir_version = 8
    return model


def tables_of(proto) -> LinearTables:
    """The :class:`LinearTables` of a linear model written by :func:`export_linear`."""
    from onnx import numpy_helper

    init = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    shift = next((int(e.value) for e in proto.metadata_props if e.key == "weight_shift"), 0)
    weights = init["linear/weights32" if "linear/weights32" in init else "linear/weights"]
    return LinearTables(np.atleast_2d(weights).astype(np.int64), shift,
                        np.atleast_2d(init["linear/alpha"]), np.float32(init["linear/bias"]))


def linear_dense_from_ids(proto):
    """The dense form of a linear model written by :func:`export_linear`."""
    return linear_graph(tables_of(proto), "dense")


LINEAR_DATA_DOMAIN = ("English movie reviews (IMDB, aclImdb v1: the 25,000 training reviews and "
                      "every sentence of each), with the VADER lexicon (vaderSentiment, MIT) as "
                      "a prior on the weights of its words")


def linear_trainer(metrics: dict) -> str:
    """The card's ``trainer`` of a linear model fitted by scipy (``metrics["versions"]``)."""
    return "scipy L-BFGS-B " + metrics.get("versions", {}).get("scipy", "")


def export_linear(weights: np.ndarray, bias: float, calibration: tuple[float, ...],
                  vocab: Vocabulary, out_dir: str | os.PathLike, *, test_texts: list[str],
                  expected: np.ndarray, metrics: dict, preset: str = "default",
                  tolerance: float = TOLERANCE, dense_check_limit: int = 64) -> dict[str, Path]:
    """Write ``model.onnx`` (ids form), ``model_dense.onnx`` and ``vocab.txt`` of a linear
    model: ``sigmoid(sum_c coefficient_table(calibration)[c, k] * s_c + bias)`` of the weights
    (float ``(V,)``, or ``(2, V)`` with ``calibration = (t0, t1, a0, a1, u0, u1)``; quantized as
    :class:`LinearTables` says). Both forms are scored with the runtime on ``test_texts`` and
    must match ``expected`` (a numpy evaluation of the same function) within ``tolerance``,
    else :class:`ExportError` and nothing lands."""
    import onnx

    out_dir = Path(out_dir)
    tables = LinearTables.of(weights, bias, calibration)
    metadata = {
        "imdb_edge.format": _scorer.FORMAT_VERSION,
        "preset": preset,
        "architecture": LINEAR_ARCHITECTURE,
        "tokenizer_version": vocab.tokenizer_version,
        "vocabulary_checksum": vocab.checksum,
        "vocabulary_size": len(vocab),
        "ngram": vocab.ngram,
        "train_data_sha256": metrics.get("data_sha256", ""),
        **{key: f"{metrics[key]:.6f}" for key in ("test_loss", "test_accuracy", "test_ece")
           if metrics.get(key) is not None},
        "calibration": " ".join(f"{name}={value:.6f}" for name, value
                                in zip(("t0", "t1", "a0", "a1", "u0", "u1"), calibration)),
        "weight_shift": tables.shift,
        "data_domain": metrics.get("data_domain", LINEAR_DATA_DOMAIN),
        "intended_use": "sentiment of English opinionated text of any length, from a "
                        "sentence or a one-line comment to a long review; calibrated by "
                        "length on held-out reviews and their sentences; a text with no known "
                        "feature is labelled 'unknown'",
        "imdb_edge_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "trainer": metrics.get("trainer", linear_trainer(metrics)),
        "onnx_opset": OPSET,
        "seed": metrics.get("seed", ""),
    }
    ids = linear_graph(tables, "ids")
    dense = linear_graph(tables, "dense")
    _set_metadata(ids, {**metadata, "input_form": "segments"})
    _set_metadata(dense, {**metadata, "input_form": "dense"})
    text = {k: str(v) for k, v in metadata.items()}
    ids.doc_string = contract_doc(text, "segments")
    dense.doc_string = contract_doc(text, "dense")
    onnx.checker.check_model(ids)
    onnx.checker.check_model(dense)
    return write_checked(ids, dense, vocab, out_dir, test_texts=test_texts, expected=expected,
                         metrics=metrics, tolerance=tolerance,
                         dense_check_limit=dense_check_limit, reference="the numpy model")
