"""Linear models scored by the compiled extension, without an onnxruntime run.

A model of the ``linear-length-calibrated`` architecture (the ``default`` preset, and what
``imdb-edge-train any-length`` exports) is a sum of per-feature integer weights and a
calibration by feature count. Its ONNX graph spends most of a short text's time on its 14-16
nodes' dispatch, and most of a batch's on materialising each id's weight, running sums and
their differences; ``_vectorize_c.linear_scores`` does the same arithmetic in one pass over
the ids, and ``FeatureTable.score_linear`` (what :meth:`CompiledLinear.score_texts` and the
Scorer call) scores each text as soon as the vectorizer has walked it, from its ids while
they are in cache, without keeping them: the same function per text, so the same bits
(``docs/guides/benchmarks.md`` has the figures).

The tables come from the model file itself: onnxruntime does not hand out initializer values
and the runtime depends on numpy and onnxruntime alone, so :func:`read_graph` reads the
protobuf fields it needs from bytes onnxruntime has already parsed and accepted. The tables
are used only if the graph is exactly the exporter's (:func:`expected_nodes`: every node's
operator, domain, inputs, outputs and attributes, every other initializer's value, no
functions), so that the graph's function is the one computed here, and if the two agree on
a probe batch. Any other model is scored by onnxruntime: the graph is the reference, this is
a faster way to the same numbers.
"""

from __future__ import annotations

import math

import numpy as np

from ._contract import ENDS_INPUT, IDS_INPUT, OUTPUT, STARTS_INPUT

ARCHITECTURE = "linear-length-calibrated"
WEIGHTS, ALPHA, BIAS, LAST = ("linear/weights32", "linear/alpha", "linear/bias",
                               "linear/last")
ROWS = 8192                   # the calibration's rows (train.export.TEMPERATURE_ROWS)
# ONNX TensorProto data types -> numpy little-endian dtypes (the only three read here).
_DTYPES = {1: np.dtype("<f4"), 6: np.dtype("<i4"), 7: np.dtype("<i8")}
_INT64, _FLOAT = 7, 1
MAX_FIELDS = 20_000           # protobuf fields read at most (the default model has 207)
PROBE_TOLERANCE = 1e-6        # |linear_scores - onnxruntime| allowed on the probe batch
_UNREADABLE = object()        # an initializer this reader does not take (typed, external)


class _Malformed(Exception):
    """Bytes that are not the protobuf this reader expects."""


def expected_nodes(columns: int) -> list[tuple]:
    """The nodes of ``train.export.linear_graph``'s ids form for 1 or 2 weight columns, as
    :func:`read_graph` gives them: ``(op_type, domain, inputs, outputs, attributes)`` with
    attributes ``((name, int value), ...)`` sorted. ``tests/test_any_length.py`` holds the
    exporter to it."""
    two = columns == 2
    axis = 1 if two else 0
    ids = "linear/ids2" if two else IDS_INPUT
    nodes = [("Cast", (WEIGHTS,), ("linear/weights",), (("to", _INT64),))]
    if two:
        nodes.append(("Expand", (IDS_INPUT, "linear/rows"), ("linear/ids2",), ()))
    nodes += [
        ("GatherElements", ("linear/weights", ids), ("linear/picked",), (("axis", axis),)),
        ("CumSum", ("linear/picked", "linear/axis"), ("linear/running",), ()),
        ("Concat", ("linear/zero", "linear/running"), ("linear/cumulative",), (("axis", axis),)),
        ("Gather", ("linear/cumulative", ENDS_INPUT), ("linear/at_end",), (("axis", axis),)),
        ("Gather", ("linear/cumulative", STARTS_INPUT), ("linear/at_start",), (("axis", axis),)),
        ("Sub", ("linear/at_end", "linear/at_start"), ("linear/sums64",), ()),
        ("Cast", ("linear/sums64",), ("linear/sums",), (("to", _FLOAT),)),
        ("Sub", (ENDS_INPUT, STARTS_INPUT), ("linear/k_int",), ()),
        ("Min", ("linear/k_int", LAST), ("linear/k_row",), ()),
        ("Gather", (ALPHA, "linear/k_row"), ("linear/coefficient",), (("axis", axis),)),
        ("Mul", ("linear/sums", "linear/coefficient"), ("linear/scaled",), ()),
    ]
    if two:
        nodes.append(("ReduceSum", ("linear/scaled", "linear/columns_axis"), ("linear/mixed",),
                      (("keepdims", 0),)))
    nodes += [
        ("Add", ("linear/mixed" if two else "linear/scaled", BIAS), ("linear/logit",), ()),
        ("Sigmoid", ("linear/logit",), ("linear/p",), ()),
        ("Unsqueeze", ("linear/p", "linear/axes1"), (OUTPUT,), ()),
    ]
    return [(op, "", inputs, outputs, attributes) for op, inputs, outputs, attributes in nodes]


def _expected_constants(columns: int) -> dict[str, np.ndarray]:
    """The exporter's small initializers and their values."""
    two = columns == 2
    out = {LAST: np.array(ROWS - 1, np.int64), "linear/axes1": np.array([1], np.int64),
           "linear/axis": np.array(1 if two else 0, np.int64),
           "linear/zero": np.zeros((2, 1) if two else 1, np.int64)}
    if two:
        out.update({"linear/rows": np.array([2, 1], np.int64),
                    "linear/columns_axis": np.array([0], np.int64)})
    return out


def _varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise _Malformed("truncated or overlong varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _fields(data: memoryview, budget: list[int]):
    """``(field number, wire type, value)`` of each field of one protobuf message: an int for
    varints, a memoryview for length-delimited fields, None for fixed-width ones. Each field
    spends one of ``budget[0]``: a file padded with millions of fields onnxruntime skips in C
    would take this Python loop minutes."""
    at = 0
    while at < len(data):
        budget[0] -= 1
        if budget[0] < 0:
            raise _Malformed(f"more than {MAX_FIELDS:,} protobuf fields (the exporter writes "
                             "a few hundred)")
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            length, at = _varint(data, at)
            if at + length > len(data):
                raise _Malformed("a length-delimited field runs past its message")
            value, at = data[at:at + length], at + length
        elif wire in (1, 5):
            at, value = at + (8 if wire == 1 else 4), None
        else:
            raise _Malformed(f"wire type {wire}")
        yield number, wire, value


def read_graph(model_bytes: bytes) -> tuple[dict, list[tuple], bool]:
    """An ONNX model's main graph as this module checks it: its initializers by name (a
    read-only numpy array for float32, int32 and int64 ones stored as ``raw_data``, else an
    opaque marker; a name held twice is dropped and marked), its nodes in order as
    ``(op_type, domain, inputs, outputs, attributes)`` (attributes: sorted ``(name, int)``
    pairs, ``(name, None)`` for any attribute that is not one int), and whether the model
    has anything else that could change what the graph computes (local functions, sparse
    initializers).

    Raises:
        ValueError: the bytes are not a protobuf message of that shape.
    """
    found: dict = {}
    nodes: list[tuple] = []
    other = False
    budget = [MAX_FIELDS]
    try:
        for number, wire, value in _fields(memoryview(model_bytes), budget):
            if number == 25:                     # ModelProto.functions
                other = True
            if number != 7 or wire != 2:
                continue
            for field, kind, message in _fields(value, budget):
                if field == 1 and kind == 2:
                    nodes.append(_node(message, budget))
                elif field == 5 and kind == 2:
                    name, array = _tensor(message, budget)
                    found[name] = _UNREADABLE if name in found else array
                elif field == 15:                # GraphProto.sparse_initializer
                    other = True
    except _Malformed as exc:
        raise ValueError(f"not an ONNX model this reader understands: {exc}") from None
    return found, nodes, other


def read_initializers(model_bytes: bytes, names: set[str]) -> dict[str, np.ndarray]:
    """The initializers called ``names`` that :func:`read_graph` reads as arrays.

    Raises:
        ValueError: the bytes are not a protobuf message of that shape.
    """
    found = read_graph(model_bytes)[0]
    return {name: found[name] for name in names
            if isinstance(found.get(name, _UNREADABLE), np.ndarray)}


def _text(value) -> str:
    return bytes(value).decode("utf-8", "replace")


def _node(message: memoryview, budget: list[int]) -> tuple:
    op_type, domain, inputs, outputs, attributes = "", "", [], [], []
    for tag, tag_wire, value in _fields(message, budget):
        if tag == 1 and tag_wire == 2:
            inputs.append(_text(value))
        elif tag == 2 and tag_wire == 2:
            outputs.append(_text(value))
        elif tag == 4 and tag_wire == 2:
            op_type = _text(value)
        elif tag == 7 and tag_wire == 2:
            domain = _text(value)
        elif tag == 5 and tag_wire == 2:
            attributes.append(_attribute(value, budget))
        elif tag not in (3, 6):                  # name, doc_string: no effect
            attributes.append(("?", None))
    return op_type, domain, tuple(inputs), tuple(outputs), tuple(sorted(attributes, key=str))


def _attribute(message: memoryview, budget: list[int]) -> tuple[str, int | None]:
    name, integer, kind, other = "", None, None, False
    for tag, tag_wire, value in _fields(message, budget):
        if tag == 1 and tag_wire == 2:
            name = _text(value)
        elif tag == 3 and tag_wire == 0:
            integer = value
        elif tag == 20 and tag_wire == 0:
            kind = value
        elif tag != 13:                          # doc_string
            other = True
    return name, (integer if kind == 2 and not other else None)   # AttributeProto.INT


def _tensor(message: memoryview, budget: list[int]) -> tuple[str | None, object]:
    dims, dtype, name, raw, plain = [], None, None, None, True
    for tag, tag_wire, value in _fields(message, budget):
        if tag == 1 and tag_wire == 0:
            dims.append(value)
        elif tag == 1 and tag_wire == 2:        # packed dims
            at = 0
            while at < len(value):
                budget[0] -= 1
                if budget[0] < 0:
                    raise _Malformed(f"more than {MAX_FIELDS:,} protobuf fields")
                dim, at = _varint(value, at)
                dims.append(dim)
        elif tag == 2 and tag_wire == 0:
            dtype = _DTYPES.get(value)
        elif tag == 8 and tag_wire == 2:
            name = _text(value)
        elif tag == 9 and tag_wire == 2:
            raw = value
        elif tag == 14 and tag_wire == 0:
            plain = plain and value == 0         # 1: EXTERNAL
        elif tag != 12:                          # doc_string; typed data, segments: not ours
            plain = False
    if dtype is None or raw is None or not plain:
        return name, _UNREADABLE
    if math.prod(dims) * dtype.itemsize != len(raw):      # exact: Python ints
        raise _Malformed(f"initializer {name!r}: {len(raw)} bytes for shape {dims}")
    array = np.frombuffer(raw, dtype).reshape(dims).astype(dtype.newbyteorder("="))
    array.flags.writeable = False
    return name, array


class CompiledLinear:
    """What ``_vectorize_c.linear_scores`` needs: ``weights`` int32 ``(V, C)``, ``alpha``
    float32 ``(R, C)``, ``bias`` float32."""

    __slots__ = ("weights", "alpha", "bias")

    def __init__(self, weights: np.ndarray, alpha: np.ndarray, bias: float) -> None:
        self.weights, self.alpha, self.bias = weights, alpha, bias

    def __call__(self, indptr: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """float32 ``(n_texts,)`` probabilities of texts encoded as by ``transform_ids``."""
        from . import _vectorize_c
        return _vectorize_c.linear_scores(ids, indptr, self.weights, self.alpha, self.bias)

    def score_texts(self, table, texts: list) -> tuple[np.ndarray, np.ndarray]:
        """``(probabilities, known)`` of ``texts`` (a list of ``str``): float32 and int32
        ``(n_texts,)``, vectorized by ``table`` (the compiled ``FeatureTable`` of the model's
        vocabulary, or its tokenizer-version-2 wrapper) and scored in the same pass, equal
        bit for bit to this object called on ``table.transform_ids(texts)``.

        Raises:
            TypeError: ``texts`` is not a list, or an item is not a ``str``.
        """
        return table.score_linear(texts, self.weights, self.alpha, self.bias)


def compiled_linear(model_bytes: bytes, metadata: dict, size: int) -> CompiledLinear | None:
    """The compiled scorer of a linear model whose vocabulary has ``size`` features, or None
    when the model is not one (by its metadata), its graph is not exactly the exporter's (see
    the module's docstring) or its tables are not what the exporter writes (then onnxruntime
    scores it)."""
    if metadata.get("architecture") != ARCHITECTURE:
        return None
    try:
        found, nodes, other = read_graph(model_bytes)
    except ValueError:
        return None
    columns = next((c for c in (1, 2) if nodes == expected_nodes(c)), None)
    if columns is None or other:
        return None
    constants = _expected_constants(columns)
    if set(found) != {WEIGHTS, ALPHA, BIAS} | set(constants):
        return None
    for name, value in constants.items():
        got = found[name]
        if not (isinstance(got, np.ndarray) and got.dtype == value.dtype
                and got.shape == value.shape and np.array_equal(got, value)):
            return None
    weights, alpha, bias = found[WEIGHTS], found[ALPHA], found[BIAS]
    shape = (columns, size) if columns == 2 else (size,)
    if not all(isinstance(a, np.ndarray) for a in (weights, alpha, bias)) \
            or weights.dtype != np.int32 or weights.shape != shape \
            or alpha.dtype != np.float32 or alpha.shape != shape[:-1] + (ROWS,) \
            or bias.dtype != np.float32 or bias.shape != () \
            or not (np.isfinite(alpha).all() and np.isfinite(bias)):
        return None
    return CompiledLinear(np.ascontiguousarray(np.atleast_2d(weights).T),
                          np.ascontiguousarray(np.atleast_2d(alpha).T), float(bias))


def probe_batch(size: int, rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(indptr, ids)`` of texts that exercise a linear model's every path: no feature,
    the first and the last feature, every count up to and past the calibration's last row
    (``rows``), ids drawn at random from ``0..size-1``."""
    rng = np.random.default_rng(seed)
    counts = [0, 1, 1, *rng.integers(2, 400, 40), rows - 1, rows, rows + 5]
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    ids = rng.integers(0, size, int(indptr[-1])).astype(np.int32)
    ids[0], ids[1] = 0, size - 1
    return indptr, ids
