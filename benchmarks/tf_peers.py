"""The benchmark's TensorFlow-based peers: Keras and LiteRT running the bundled model's weights.

Kept out of the runtime package (``imdb_edge`` never imports TensorFlow); ``latency.py`` adds
them to ``imdb_edge.bench``'s peers. Both use the exact weights of the bundled ONNX model,
rebuilt as a Keras network, so the comparison is of runtimes, not of models.
"""

import os

import numpy as np

from imdb_edge.bench._measure import _latency, _throughput

_model_cache = {}


def _keras_model(scorer):
    if scorer.path not in _model_cache:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        _model_cache[scorer.path] = keras_from_onnx(scorer)
    return _model_cache[scorer.path]


def keras_from_onnx(scorer):
    """The Keras network with the bundled ONNX model's weights (same numbers, TF runtime)."""
    import keras
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(scorer.path)).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    layers, acts = [], {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid"}
    for node in graph.node:
        if node.op_type == "Gather" and node.input[0] in weights:
            layers.append({"kernel": weights[node.input[0]], "bias": None, "act": None})
        elif node.op_type == "MatMul" and node.input[1] in weights:
            layers.append({"kernel": weights[node.input[1]], "bias": None, "act": None})
        elif node.op_type == "Add" and layers and any(i in weights for i in node.input):
            layers[-1]["bias"] = weights[next(i for i in node.input if i in weights)]
        elif node.op_type in acts and layers:
            layers[-1]["act"] = acts[node.op_type]
    model = keras.Sequential([keras.Input(shape=(layers[0]["kernel"].shape[0],))])
    for spec in layers:
        units = spec["kernel"].shape[1]
        dense = keras.layers.Dense(units, activation=spec["act"])
        model.add(dense)
        bias = spec["bias"] if spec["bias"] is not None else np.zeros(units, np.float32)
        dense.set_weights([spec["kernel"], bias.reshape(units)])
    return model


def peer_keras(scorer, texts, args):
    model = _keras_model(scorer)
    vec = scorer.vectorizer

    def score(batch):
        return model.predict(vec.transform(batch), batch_size=512, verbose=0)

    diff = float(np.max(np.abs(score(texts[:512]).reshape(-1) - scorer.score(texts[:512]))))
    single = _latency(lambda t: np.asarray(model(vec.transform([t]), training=False)), texts,
                      min(args.calls, 300), 20)
    return {"reviews_per_s_b512": _throughput(score, texts[:max(2048, len(texts) // 4)], 512, 1, 1),
            "single": single, "max_abs_diff_vs_imdb_edge": diff,
            "note": "same weights in Keras 3 / TensorFlow; our vectorizer -> dense multi-hot; "
                    "predict() on batches, a direct call for single reviews"}


def peer_litert(scorer, texts, args):
    import tensorflow as tf

    model = _keras_model(scorer)
    from ai_edge_litert.interpreter import Interpreter

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    interpreter = Interpreter(model_content=converter.convert(), num_threads=1)
    inp = interpreter.get_input_details()[0]
    out_index = interpreter.get_output_details()[0]["index"]
    vec = scorer.vectorizer
    state = {"batch": None}

    def score(batch):
        x = vec.transform(batch)
        if state["batch"] != len(batch):
            interpreter.resize_tensor_input(inp["index"], x.shape)
            interpreter.allocate_tensors()
            state["batch"] = len(batch)
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(out_index)

    diff = float(np.max(np.abs(score(texts[:512]).reshape(-1) - scorer.score(texts[:512]))))
    return {"reviews_per_s_b512": _throughput(score, texts, 512, 1, 1),
            "single": _latency(lambda t: score([t]), texts, min(args.calls, 1000), 50),
            "max_abs_diff_vs_imdb_edge": diff,
            "note": "same weights converted to .tflite, ai-edge-litert interpreter, 1 thread, "
                    "dense multi-hot input"}


PEERS = {
    "keras": ("Keras/TensorFlow", peer_keras),
    "litert": ("LiteRT (.tflite)", peer_litert),
}
