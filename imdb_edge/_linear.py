"""Linear models scored by the compiled extension, without an onnxruntime run.

A model of the ``linear-length-calibrated`` architecture (the ``default`` and ``accurate``
presets, and what ``imdb-edge-train fit`` and ``any-length`` export) is a sum of per-feature
integer weights and a calibration by feature count. Its ONNX graph spends most of a short
text's time on its 14-16 nodes' dispatch, and most of a batch's on materialising each id's
weight, running sums and their differences; ``_vectorize_c.linear_scores`` does the same
arithmetic in one pass over the ids (``docs/benchmarks.md`` has the figures).

The tables come from the model file itself: onnxruntime does not hand out initializer values
and the runtime depends on numpy and onnxruntime alone, so :func:`read_initializers` reads the
few protobuf fields it needs from bytes onnxruntime has already parsed and accepted. A model
whose tables cannot be read this way, or whose graph disagrees with them on a probe batch, is
scored by onnxruntime as before: the graph is the reference, this is a faster way to the
same numbers.
"""

from __future__ import annotations

import math

import numpy as np

ARCHITECTURE = "linear-length-calibrated"
WEIGHTS, ALPHA, BIAS, LAST = ("linear/weights32", "linear/alpha", "linear/bias",
                               "linear/last")
# The exporter's graphs (train.export.linear_graph, ids form), one and two weight columns: a
# model is scored here only if its nodes are these, in this order, wired to the tables read.
_ONE = ("Cast", "GatherElements", "CumSum", "Concat", "Gather", "Gather", "Sub", "Cast", "Sub",
        "Min", "Gather", "Mul", "Add", "Sigmoid", "Unsqueeze")
_TWO = (_ONE[:1] + ("Expand",) + _ONE[1:12] + ("ReduceSum",) + _ONE[12:])
# ONNX TensorProto data types -> numpy little-endian dtypes (the only three read here).
_DTYPES = {1: np.dtype("<f4"), 6: np.dtype("<i4"), 7: np.dtype("<i8")}
PROBE_TOLERANCE = 1e-6        # |linear_scores - onnxruntime| allowed on the probe batch


class _Malformed(Exception):
    """Bytes that are not the protobuf this reader expects."""


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


def _fields(data: memoryview):
    """``(field number, wire type, value)`` of each field of one protobuf message: an int for
    varints, a memoryview for length-delimited fields, None for fixed-width ones."""
    at = 0
    while at < len(data):
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


def read_graph(model_bytes: bytes, names: set[str]
               ) -> tuple[dict[str, np.ndarray], list[tuple[str, tuple[str, ...]]]]:
    """The initializers called ``names`` of an ONNX model's main graph, as read-only numpy
    arrays (float32, int32 or int64, stored as ``raw_data``), and the graph's nodes as
    ``(op_type, inputs)`` in order. A name that is absent, stored otherwise (typed fields,
    external data), of another type or held by more than one initializer is missing from
    the result.

    Reads ModelProto.graph (field 7), GraphProto.node (1) and initializer (5), NodeProto's
    input (1) and op_type (4), and TensorProto's dims (1), data_type (2), name (8),
    raw_data (9) and data_location (14) only.

    Raises:
        ValueError: the bytes are not a protobuf message of that shape.
    """
    found: dict[str, np.ndarray] = {}
    seen: set[str] = set()
    nodes: list[tuple[str, tuple[str, ...]]] = []
    try:
        for number, wire, graph in _fields(memoryview(model_bytes)):
            if number != 7 or wire != 2:
                continue
            for field, kind, message in _fields(graph):
                if field == 1 and kind == 2:
                    nodes.append(_node(message))
                elif field == 5 and kind == 2:
                    name, array = _tensor(message, names)
                    if name in seen:
                        found.pop(name, None)       # two initializers of one name: neither
                    elif array is not None:
                        found[name] = array
                    seen.add(name)
    except _Malformed as exc:
        raise ValueError(f"not an ONNX model this reader understands: {exc}") from None
    return found, nodes


def read_initializers(model_bytes: bytes, names: set[str]) -> dict[str, np.ndarray]:
    """The initializers of :func:`read_graph` alone."""
    return read_graph(model_bytes, names)[0]


def _node(message: memoryview) -> tuple[str, tuple[str, ...]]:
    op_type, inputs = "", []
    for tag, tag_wire, value in _fields(message):
        if tag == 1 and tag_wire == 2:
            inputs.append(bytes(value).decode("utf-8", "replace"))
        elif tag == 4 and tag_wire == 2:
            op_type = bytes(value).decode("utf-8", "replace")
    return op_type, tuple(inputs)


def _tensor(message: memoryview, names: set[str]) -> tuple[str | None, np.ndarray | None]:
    dims, dtype, name, raw, external = [], None, None, None, False
    for tag, tag_wire, value in _fields(message):
        if tag == 1 and tag_wire == 0:
            dims.append(value)
        elif tag == 1 and tag_wire == 2:        # packed dims
            at = 0
            while at < len(value):
                dim, at = _varint(value, at)
                dims.append(dim)
        elif tag == 2 and tag_wire == 0:
            dtype = _DTYPES.get(value)
        elif tag == 8 and tag_wire == 2:
            name = bytes(value).decode("utf-8", "replace")
        elif tag == 9 and tag_wire == 2:
            raw = value
        elif tag == 14 and tag_wire == 0:
            external = value == 1
    if name not in names or dtype is None or raw is None or external:
        return name, None
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


def compiled_linear(model_bytes: bytes, metadata: dict, size: int) -> CompiledLinear | None:
    """The compiled scorer of a linear model whose vocabulary has ``size`` features, or None
    when the model is not one (by its metadata), its graph is not the exporter's (its nodes,
    and the tables they read), or its tables are not what the exporter writes (then
    onnxruntime scores it)."""
    if metadata.get("architecture") != ARCHITECTURE:
        return None
    try:
        found, nodes = read_graph(model_bytes, {WEIGHTS, ALPHA, BIAS, LAST})
    except ValueError:
        return None
    if set(found) != {WEIGHTS, ALPHA, BIAS, LAST}:
        return None
    ops = tuple(op for op, _ in nodes)
    wired = {(op, name) for op, inputs in nodes for name in inputs}
    if ops not in (_ONE, _TWO) or nodes[0] != ("Cast", (WEIGHTS,)) or not {
            ("Gather", ALPHA), ("Add", BIAS), ("Min", LAST)} <= wired:
        return None
    weights, alpha = np.atleast_2d(found[WEIGHTS]), np.atleast_2d(found[ALPHA])
    bias, last = found[BIAS], found[LAST]
    columns = 2 if ops == _TWO else 1
    if weights.dtype != np.int32 or alpha.dtype != np.float32 or bias.shape != () \
            or bias.dtype != np.float32 or last.shape != () or weights.ndim != 2 \
            or alpha.ndim != 2 or weights.shape != (columns, size) \
            or alpha.shape[0] != columns or int(last) != alpha.shape[1] - 1 \
            or not (np.isfinite(alpha).all() and np.isfinite(bias)):
        return None
    return CompiledLinear(np.ascontiguousarray(weights.T), np.ascontiguousarray(alpha.T),
                          float(bias))


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
