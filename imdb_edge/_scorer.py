"""``Scorer``: raw text -> probability of a positive review, over onnxruntime.

onnxruntime is imported when the first model is loaded, not when ``imdb_edge`` is imported,
so ``imdb-edge --help`` and ``--version`` stay fast on small boards.
"""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path
from typing import Iterable

import numpy as np

from ._errors import ModelError
from ._models import resolve_model
from ._tokenizer import TOKENIZER_VERSION
from ._vectorizer import Vectorizer, multi_hot
from ._vocab import Vocabulary

FORMAT_VERSION = "1"
DENSE_INPUT = "multi_hot"     # float32 (n, V)
IDS_INPUT = "ids"             # int32 (nnz,): feature ids of all texts, text after text
ROWS_INPUT = "rows"           # int64 (nnz, 1): the text each id belongs to
COUNT_INPUT = "n_texts"       # int64 (1,)
OUTPUT = "probability"        # float32 (n, 1)
CHUNK = 256                   # texts vectorized and scored at a time: bounds memory (peak RSS
                              # scoring 25,000 reviews: 73 MB at 256, 93 MB at 1,024, same speed)
_OUTPUTS = [OUTPUT]
# The model's n_texts input for every chunk size, made once (read-only, shared by all calls).
_COUNTS = [np.array([n], np.int64) for n in range(CHUNK + 1)]
for _count in _COUNTS:
    _count.flags.writeable = False


def _session_options(ort, threads: int):
    options = ort.SessionOptions()
    # Explicit counts: unset ones spin and, in containers, fail to pin threads.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # The arena keeps the largest batch's buffers for good; bounded memory matters more here.
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 3
    return options


class Scorer:
    """A loaded model with its vocabulary; thread-safe.

    Use :func:`imdb_edge.load` to make one.
    """

    def __init__(self, model_path: Path, vocab_path: Path, *, threads: int = 1,
                 backend: str | None = None) -> None:
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an int >= 1. Received: threads={threads!r}")
        import onnxruntime as ort

        self.path = Path(model_path)
        if not self.path.is_file():
            raise ModelError(f"model file not found: {self.path}")
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=_session_options(ort, threads),
                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.path}: not a loadable ONNX model ({detail})") from None
        # Passed to every run(): measured 0.6 µs faster per call than the default None.
        self._run_options = ort.RunOptions()
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.vectorizer = Vectorizer(Vocabulary.load(vocab_path), backend=backend)
        self.threads = threads
        self.input_form = self._check()

    def _check(self) -> str:
        meta, vocab, path = self.metadata, self.vectorizer.vocabulary, self.path
        if meta.get("imdb_edge.format") != FORMAT_VERSION:
            raise ModelError(f"{path}: not an imdb-edge model (metadata imdb_edge.format is "
                             f"{meta.get('imdb_edge.format')!r}, expected {FORMAT_VERSION!r})")
        if meta.get("tokenizer_version") != str(TOKENIZER_VERSION):
            raise ModelError(f"{path}: made with tokenizer version {meta.get('tokenizer_version')}"
                             f"; this imdb_edge implements version {TOKENIZER_VERSION}")
        if meta.get("vocabulary_checksum") != vocab.checksum:
            raise ModelError(f"vocabulary checksum {vocab.checksum} does not match model "
                             f"{path} ({meta.get('vocabulary_checksum')}): the vocabulary file "
                             "belongs to another model")
        inputs = {i.name: i for i in self._session.get_inputs()}
        if set(inputs) == {IDS_INPUT, ROWS_INPUT, COUNT_INPUT}:
            form = self.input_form = "ids"
            try:   # the first layer must have a row for the last feature id
                self._run_ids(np.array([0, 1], np.int64), np.array([len(vocab) - 1], np.int32))
            except Exception as exc:  # noqa: BLE001
                raise ModelError(f"{path}: model rejects feature id {len(vocab) - 1} of a "
                                 f"{len(vocab)}-feature vocabulary ({str(exc)[:120]})") from None
        elif set(inputs) == {DENSE_INPUT}:
            form = "dense"
            width = inputs[DENSE_INPUT].shape[-1]
            if width != len(vocab):
                raise ModelError(f"{path}: model input has width {width} but the vocabulary "
                                 f"has {len(vocab)} features")
        else:
            raise ModelError(f"{path}: unexpected model inputs {sorted(inputs)}")
        return form

    # -- scoring ------------------------------------------------------------------------

    def _run_ids(self, indptr: np.ndarray, ids: np.ndarray,
                 rows: np.ndarray | None = None) -> np.ndarray:
        """Probabilities, float32 ``(n_texts,)``, of texts encoded as by ``transform_ids``
        (``rows``: int64 ``(nnz, 1)``, computed here if not given)."""
        n_texts = len(indptr) - 1
        if n_texts == 0:
            return np.zeros(0, np.float32)
        if rows is None:
            rows = np.repeat(np.arange(n_texts, dtype=np.int64), np.diff(indptr)).reshape(-1, 1)
        if self.input_form == "dense":
            feed = {DENSE_INPUT: multi_hot(n_texts, self.vectorizer.size, rows, ids)}
        else:
            count = _COUNTS[n_texts] if n_texts <= CHUNK else np.array([n_texts], np.int64)
            feed = {IDS_INPUT: ids, ROWS_INPUT: rows, COUNT_INPUT: count}
        return self._session.run(_OUTPUTS, feed, self._run_options)[0].reshape(-1)

    def _chunks(self, texts) -> Iterable[list]:
        if isinstance(texts, str):     # documented: a bare str is one review
            yield [texts]
            return
        if isinstance(texts, (bytes, bytearray)):
            raise TypeError(f"texts must be str or an iterable of str, not "
                            f"{type(texts).__name__}; decode it first")
        if texts is None:
            raise TypeError("texts must be str or an iterable of str. Received: texts=None")
        if isinstance(texts, (list, tuple)):
            for start in range(0, len(texts), CHUNK):
                yield list(texts[start:start + CHUNK])
            return
        try:
            iterator = iter(texts)
        except TypeError:
            raise TypeError("texts must be str or an iterable of str. "
                            f"Received: {type(texts).__name__}") from None
        while chunk := list(itertools.islice(iterator, CHUNK)):
            yield chunk

    def score(self, texts: str | Iterable[str]) -> np.ndarray:
        """Probability that each review is positive.

        Args:
            texts: an iterable of ``str`` (list, tuple, generator, a file's lines), scored
                ``CHUNK`` at a time so memory stays bounded; a bare ``str`` is one review.

        Returns:
            float32 ``(n_texts,)``.

        Raises:
            TypeError: ``texts`` is None or bytes, or an item is not ``str`` (the message
                names its index and type).
        """
        table = self.vectorizer._table
        if type(texts) is list and len(texts) <= CHUNK:    # the common case, without a generator
            return self._run_ids(*table.transform_ids(texts, True))
        parts, offset = [], 0
        for chunk in self._chunks(texts):
            try:
                encoded = table.transform_ids(chunk, True)
            except TypeError as exc:
                raise _shift_index(exc, offset) from None
            parts.append(self._run_ids(*encoded))
            offset += len(chunk)
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def predict(self, texts: str | Iterable[str], threshold: float = 0.5) -> np.ndarray:
        """Labels, int8 ``(n_texts,)``: 1 (positive) where the probability is > ``threshold``."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1]. Received: threshold={threshold!r}")
        return (self.score(texts) > threshold).astype(np.int8)

    def explain(self, text: str, top: int = 10) -> list[dict]:
        """The features that move this review's score most, by leaving each one out.

        For each feature present in ``text``, ``effect`` = score(text) - score(text without
        that feature): positive effects push the review towards positive. Exact for the model
        at hand, whatever its depth (unlike reading first-layer weights).

        Returns:
            Up to ``top`` dicts ``{"feature", "id", "effect"}``, largest ``|effect|`` first.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be str. Received: {type(text).__name__}")
        indptr, ids = self.vectorizer.transform_ids([text])
        base = float(self._run_ids(indptr, ids)[0])
        k = len(ids)
        if k == 0:
            return []
        keep = ~np.eye(k, dtype=bool)
        loo_ids = np.broadcast_to(ids, (k, k))[keep].astype(np.int32)
        loo_indptr = np.arange(0, k * (k - 1) + 1, k - 1, dtype=np.int64)
        without = self._run_ids(loo_indptr, loo_ids)
        effects = base - without
        order = np.argsort(-np.abs(effects), kind="stable")[:top]
        words = self.vectorizer.decode(ids[order])
        return [{"feature": w, "id": int(ids[i]), "effect": float(effects[i])}
                for w, i in zip(words, order)]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Feature ids back to words (see :meth:`Vectorizer.decode`)."""
        return self.vectorizer.decode(ids)

    @property
    def info(self) -> dict:
        """The model card: its metadata plus where it was loaded from and how it runs."""
        import onnxruntime as ort

        vocab = self.vectorizer.vocabulary
        card = dict(self.metadata)
        card.update(path=str(self.path), input_form=self.input_form,
                    vocabulary_size=len(vocab), vocabulary_checksum=vocab.checksum,
                    ngram=vocab.ngram, backend=self.vectorizer.backend, threads=self.threads,
                    onnxruntime=ort.__version__)
        return card

    def __repr__(self) -> str:
        return (f"Scorer({str(self.path)!r}, input_form={self.input_form!r}, "
                f"vocabulary_size={len(self.vectorizer.vocabulary)}, threads={self.threads})")


def _shift_index(exc: TypeError, offset: int) -> TypeError:
    """Re-number ``texts[i]`` in a chunk's error message to the index in the whole input."""
    message = str(exc)
    if offset and message.startswith("texts["):
        index, rest = message[6:].split("]", 1)
        message = f"texts[{int(index) + offset}]{rest}"
    return TypeError(message)


def load(model: str | os.PathLike | None = None, *, threads: int = 1,
         backend: str | None = None) -> Scorer:
    """Load a model.

    Args:
        model: a bundled preset name (``"default"``), a model folder (``model.onnx`` +
            ``vocab.txt``), or an ``.onnx`` file with ``vocab.txt`` beside it; None is the
            bundled default.
        threads: onnxruntime intra-op threads. 1 (the default) suits a small device and
            batches of a few hundred reviews; give more for large batches on more cores.
        backend: vectorizer backend, as in :class:`Vectorizer`.

    Raises:
        ModelError: missing, truncated or foreign model or vocabulary; the message names the
            path and the problem.
    """
    model_path, vocab_path = resolve_model(model)
    return Scorer(model_path, vocab_path, threads=threads, backend=backend)


_default: Scorer | None = None
_default_lock = threading.Lock()


def score(texts: str | Iterable[str]) -> np.ndarray:
    """:meth:`Scorer.score` on the bundled default model (loaded once, then reused)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = load()
    return _default.score(texts)
