"""The model contract: input and output names of an imdb-edge ONNX model, how its
session runs, and its metadata's types (ONNX metadata holds only strings)."""

from __future__ import annotations

FORMAT_VERSION = "1"
DENSE_INPUT = "multi_hot"     # float32 (n, V)
IDS_INPUT = "ids"             # int32 (nnz,): feature ids of all texts, text after text
ROWS_INPUT = "rows"           # int64 (nnz, 1): the text each id belongs to
COUNT_INPUT = "n_texts"       # int64 (1,)
STARTS_INPUT = "starts"       # int64 (n,): where each text's ids start in ids
ENDS_INPUT = "ends"           # int64 (n,): and where they end (exclusive)
OUTPUT = "probability"        # float32 (n, 1)


def session_options(ort):
    options = ort.SessionOptions()
    # One intra-op thread, always: with more, onnxruntime's ScatterND(reduction="add") (the
    # ids form of book and accurate) sums a review's rows in a racy order and scores change
    # from run to run (measured: up to 0.33 apart). Scorer(threads=n) runs n chunks at once instead, each on one thread, so every
    # thread count gives the bit-identical scores of threads=1. Explicit counts also keep
    # threads from spinning and, in containers, from failing to pin themselves.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # The arena keeps the largest batch's buffers for good; bounded memory matters more here.
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 3
    return options


def import_onnxruntime():
    import onnxruntime as ort

    # Errors reach the caller as ModelError; onnxruntime's own logger would also print a
    # coloured line on stderr for some bad models.
    ort.set_default_logger_severity(4)
    return ort


_INT_KEYS = {"vocabulary_size", "ngram", "seed", "onnx_opset", "tokenizer_version"}
_FLOAT_KEYS = {"test_accuracy", "test_loss", "validation_accuracy"}


def typed(key: str, value: str):
    """A metadata string as the number it stands for (ONNX metadata holds only strings)."""
    try:
        if key in _INT_KEYS:
            return int(value)
        if key in _FLOAT_KEYS:
            return float(value)
    except ValueError:
        pass
    return value


def model_card(scorer) -> dict:
    """:attr:`imdb_edge.Scorer.info` (see there) of ``scorer``, a :class:`Scorer`."""
    import onnxruntime as ort

    vocab = scorer.vectorizer.vocabulary
    card: dict = {}
    for key, value in scorer.metadata.items():
        card[key] = typed(key, value)
    contract = scorer._session.get_modelmeta().description
    if contract:
        card["contract"] = contract
    negative, positive = scorer.labels
    card.update(labels={"negative": negative, "positive": positive,
                        "score": f"probability that a text is {positive!r}"})
    card.setdefault("data_domain", "English movie reviews (IMDB, aclImdb v1: 25,000 "
                    "training reviews of a paragraph or more)")
    card.setdefault("intended_use", "sentiment of movie reviews and similar opinionated "
                    "text of a paragraph or more; short texts (a few words) score closer "
                    "to 0.5, so read them as weak evidence")
    card.update(path=str(scorer.path), input_form=scorer.input_form,
                vocabulary_size=len(vocab), vocabulary_checksum=vocab.checksum,
                ngram=vocab.ngram, backend=scorer.vectorizer.backend, scoring=scorer.scoring,
                threads=scorer.threads,
                chunk_size=scorer.chunk_size, onnxruntime=ort.__version__)
    return card
