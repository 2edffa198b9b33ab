"""``Scorer``: raw text -> probability of a positive review, over onnxruntime (or, for a
linear model with the compiled extension, the model's own tables summed in C: ``_linear``).

onnxruntime is imported when the first model is loaded, not when ``imdb_edge`` is imported,
so ``imdb-edge --help`` and ``--version`` stay fast on small boards.
"""

from __future__ import annotations

import collections
import itertools
import os
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ._contract import (COUNT_INPUT, DENSE_INPUT, ENDS_INPUT,  # noqa: F401
                        FORMAT_VERSION, IDS_INPUT, OUTPUT, ROWS_INPUT, STARTS_INPUT,
                        import_onnxruntime, model_card, session_options)
from ._errors import ModelError
from ._explain import MAX_EXPLAIN_FEATURES, Effect, leave_one_out  # noqa: F401 - re-exported
from ._files import MAX_MODEL_BYTES, read_regular_file
from ._forksafe import ForkSafeLock
from ._labels import LABEL_IDS, label_codes, label_names
from ._linear import PROBE_TOLERANCE, CompiledLinear, compiled_linear, probe_batch
from ._growing import Growing, shift_index
from ._models import (VOCAB_FILE, VOCAB_FILE_GZ, chosen_model, from_environment,
                      named_by_environment, resolve_model)
from ._tokenizer import TOKENIZER_VERSIONS
from ._vectorizer import Vectorizer, _vectorize_c, multi_hot
from ._vocab import Vocabulary

CHUNK = 256                   # texts vectorized and scored at a time: bounds memory (peak RSS
                              # scoring 25,000 reviews: 73 MB at 256, 93 MB at 1,024, same speed)
MAX_THREADS = 64
MAX_CHUNK = 1 << 16
_OUTPUTS = [OUTPUT]
# The model's n_texts input for every chunk size, made once (read-only, shared by all calls).
_COUNTS = [np.array([n], np.int64) for n in range(CHUNK + 1)]
for _count in _COUNTS:
    _count.flags.writeable = False

# A forked child inherits each Scorer's thread pool without its threads (and its lock in
# whatever state another thread left it): a threads=N scorer that had scored in the parent
# then waited forever in a fork-based multiprocessing worker. The child starts them afresh.
_SCORERS: "weakref.WeakSet[Scorer]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for scorer in list(_SCORERS):
        scorer._pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _first_non_finite_numpy(out: np.ndarray) -> int:
    bad = np.flatnonzero(~np.isfinite(out))
    return int(bad[0]) if bad.size else -1


# Index of the first NaN/inf of a float32 array, or -1: compiled where available (~0.2 µs).
_first_non_finite = getattr(_vectorize_c, "first_non_finite", _first_non_finite_numpy)


class Scorer:
    """A loaded model with its vocabulary; thread-safe.

    Use :func:`imdb_edge.load` to make one.
    """

    def __init__(self, model_path: Path, vocab_path: Path, *, threads: int = 1,
                 backend: str | None = None, chunk_size: int = CHUNK) -> None:
        if not isinstance(threads, int) or isinstance(threads, bool) \
                or not 1 <= threads <= MAX_THREADS:
            raise ValueError(f"threads must be an int in 1..{MAX_THREADS}. "
                             f"Received: threads={threads!r}")
        if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) \
                or not 1 <= chunk_size <= MAX_CHUNK:
            raise ValueError(f"chunk_size must be an int in 1..{MAX_CHUNK}. "
                             f"Received: chunk_size={chunk_size!r}")
        self.chunk_size = chunk_size
        ort = import_onnxruntime()
        self.path = Path(model_path)
        model_bytes = read_regular_file(self.path, MAX_MODEL_BYTES, "model file")
        try:
            self._session = ort.InferenceSession(
                model_bytes, sess_options=session_options(ort),
                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.path}: not a loadable ONNX model ({detail})") from None
        # Passed to every run(): measured 0.6 µs faster per call than the default None.
        self._run_options = ort.RunOptions()
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        vocab_path = Path(vocab_path)
        if vocab_path.name == VOCAB_FILE and not vocab_path.exists():
            raise ModelError(f"vocabulary file not found: {vocab_path} (nor {VOCAB_FILE_GZ} "
                             "beside it; pass --vocab PATH / vocab= if it is elsewhere)")
        vocabulary = Vocabulary.load(vocab_path)
        try:
            self.vectorizer = Vectorizer(vocabulary, backend=backend)
        except (ValueError, TypeError) as exc:
            raise ModelError(f"vocabulary file {vocab_path}: {exc}") from None
        self.threads = threads
        self._origin: tuple = (str(self.path), str(vocab_path))   # load() sets a preset name
        self._backend_asked = backend
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = ForkSafeLock()
        _SCORERS.add(self)
        self._linear: CompiledLinear | None = None
        self.input_form = self._check()
        self._wants_rows = self.input_form != "segments"
        self._probe()
        self._linear = self._compiled_linear(model_bytes)

    @property
    def scoring(self) -> str:
        """How texts are scored once vectorized: ``"compiled linear"`` (a linear model's own
        tables summed by the compiled extension, see ``imdb_edge._linear``) or
        ``"onnxruntime"`` (a run of the model's graph)."""
        return "onnxruntime" if self._linear is None else "compiled linear"

    def _compiled_linear(self, model_bytes: bytes) -> CompiledLinear | None:
        """The tables of a linear model for ``linear_scores``, if the compiled vectorizer runs
        and the model's graph gives what they give on a probe batch; else None."""
        if self.input_form != "segments" or self.vectorizer.backend != "cython" \
                or not hasattr(_vectorize_c.FeatureTable, "score_linear"):
            return None
        size = len(self.vectorizer.vocabulary)
        tables = compiled_linear(model_bytes, self.metadata, size)
        if tables is None:
            return None
        indptr, ids = probe_batch(size, tables.alpha.shape[0])
        try:
            compiled = tables(indptr, ids)
        except ValueError:
            return None
        try:
            graph = self._run_ids(indptr, ids)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own types
            raise ModelError(f"{self.path}: model fails on a probe input of up to "
                             f"{int(np.diff(indptr).max())} features "
                             f"({str(exc).strip()[:160]})") from None
        if not np.all(np.abs(compiled - graph) <= PROBE_TOLERANCE):    # NaN: not equal
            return None
        return tables

    def _check(self) -> str:
        meta, vocab, path = self.metadata, self.vectorizer.vocabulary, self.path
        if meta.get("imdb_edge.format") != FORMAT_VERSION:
            raise ModelError(f"{path}: not an imdb-edge model (metadata imdb_edge.format is "
                             f"{meta.get('imdb_edge.format')!r}, expected {FORMAT_VERSION!r})")
        if meta.get("tokenizer_version") not in {str(v) for v in TOKENIZER_VERSIONS}:
            raise ModelError(f"{path}: made with tokenizer version {meta.get('tokenizer_version')}"
                             "; this imdb_edge implements versions "
                             f"{', '.join(map(str, TOKENIZER_VERSIONS))}")
        if meta.get("vocabulary_checksum") != vocab.checksum:
            raise ModelError(f"vocabulary checksum {vocab.checksum} does not match model "
                             f"{path} ({meta.get('vocabulary_checksum')}): the vocabulary file "
                             "belongs to another model")
        inputs = {i.name: i for i in self._session.get_inputs()}
        if set(inputs) in ({IDS_INPUT, ROWS_INPUT, COUNT_INPUT},
                           {IDS_INPUT, STARTS_INPUT, ENDS_INPUT}):
            form = self.input_form = "ids" if ROWS_INPUT in inputs else "segments"
            try:   # the first layer must have a row for the last feature id
                self._run_ids(np.array([0, 1], np.int64), np.array([len(vocab) - 1], np.int32))
            except Exception as exc:  # noqa: BLE001
                raise ModelError(f"{path}: model rejects feature id {len(vocab) - 1} of a "
                                 f"{len(vocab)}-feature vocabulary ({str(exc)[:120]})") from None
        elif set(inputs) == {DENSE_INPUT}:
            form = "dense"
            shape = inputs[DENSE_INPUT].shape
            if len(shape) != 2 or shape[1] != len(vocab):
                raise ModelError(f"{path}: model input {DENSE_INPUT!r} has shape {shape}; "
                                 f"expected [batch, {len(vocab)}] for this vocabulary")
        else:
            raise ModelError(f"{path}: unexpected model inputs {sorted(inputs)}")
        outputs = [o.name for o in self._session.get_outputs()]
        if OUTPUT not in outputs:
            raise ModelError(f"{path}: model has no output {OUTPUT!r} (outputs: {outputs})")
        return form

    def _probe(self) -> None:
        """Score three inputs (no feature, the first, the last) and refuse a model whose
        output is not one float32 probability per review."""
        size = len(self.vectorizer.vocabulary)
        indptr = np.array([0, 0, 1, 2], np.int64)
        ids = np.array([0, size - 1], np.int32)
        try:
            out = self._run_ids(indptr, ids)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own types
            raise ModelError(f"{self.path}: model fails on a probe input "
                             f"({str(exc).strip()[:160]})") from None
        if out.dtype != np.float32 or not np.all((out >= 0) & (out <= 1)):
            raise ModelError(f"{self.path}: model output {OUTPUT!r} is not a probability in "
                             f"[0, 1] (dtype {out.dtype}, probe values {out.tolist()[:3]})")

    # -- scoring ------------------------------------------------------------------------

    def _run_ids(self, indptr: np.ndarray, ids: np.ndarray,
                 rows: np.ndarray | None = None) -> np.ndarray:
        """Probabilities, float32 ``(n_texts,)``, of texts encoded as by ``transform_ids``
        (``rows``: int64 ``(nnz, 1)``, computed here if the model takes it and it is not
        given)."""
        n_texts = len(indptr) - 1
        if n_texts == 0:
            return np.zeros(0, np.float32)
        if self._linear is not None:      # the same checks as the graph's output
            return self._checked(self._linear(indptr, ids), n_texts)
        return self._checked(self._session.run(_OUTPUTS, self._feed(indptr, ids, rows),
                                                self._run_options)[0], n_texts)

    def _checked(self, out: np.ndarray, n_texts: int) -> np.ndarray:
        """``out``, the scores of ``n_texts`` texts, as float32 ``(n_texts,)``; ModelError if
        they are not that many finite float32 numbers."""
        if out.size != n_texts:
            raise ModelError(f"{self.path}: model gave {out.size} values (shape "
                             f"{list(out.shape)}) for {n_texts} reviews")
        out = out.reshape(-1)
        if out.dtype != np.float32:
            raise ModelError(f"{self.path}: model output {OUTPUT!r} is {out.dtype}, "
                             "expected float32")
        bad = _first_non_finite(out)
        if bad >= 0:
            raise ModelError(f"{self.path}: model gave a non-finite score ({out[bad]}) for "
                             f"review {bad} of a batch of {n_texts}")
        return out

    def _feed(self, indptr: np.ndarray, ids: np.ndarray, rows: np.ndarray | None) -> dict:
        """The graph's inputs for texts encoded as by ``transform_ids``."""
        if self.input_form == "segments":
            return {IDS_INPUT: ids, STARTS_INPUT: indptr[:-1], ENDS_INPUT: indptr[1:]}
        n_texts = len(indptr) - 1
        if rows is None:
            rows = np.repeat(np.arange(n_texts, dtype=np.int64), np.diff(indptr)).reshape(-1, 1)
        if self.input_form == "dense":
            return {DENSE_INPUT: multi_hot(n_texts, self.vectorizer.size, rows, ids)}
        count = _COUNTS[n_texts] if n_texts <= CHUNK else np.array([n_texts], np.int64)
        return {IDS_INPUT: ids, ROWS_INPUT: rows, COUNT_INPUT: count}

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
            step = self.chunk_size
            for start in range(0, len(texts), step):
                yield list(texts[start:start + step])
            return
        try:
            iterator = iter(texts)
        except TypeError:
            raise TypeError("texts must be str or an iterable of str. "
                            f"Received: {type(texts).__name__}") from None
        while chunk := list(itertools.islice(iterator, self.chunk_size)):
            yield chunk

    def score(self, texts: str | Iterable[str], *, return_known: bool = False):
        """Probability that each review is positive (of :attr:`labels`' second label).

        Args:
            texts: an iterable of ``str`` (list, tuple, generator, a file's lines), scored
                :attr:`chunk_size` at a time so memory stays bounded; a bare ``str`` is one
                review.
            return_known: also return how many of each review's features the model knows
                (int32); a review with 0 gets the model's bias, which says nothing about it.

        Returns:
            float32 ``(n_texts,)``; with ``return_known``, ``(probabilities, known)``.

        Raises:
            TypeError: ``texts`` is None or bytes, or an item is not ``str`` (the message
                names its index and type).

        Example:
            >>> scorer = load("default")
            >>> scorer.score(["A wonderful film.", "Dull and far too long."]).round(2)
            array([1.  , 0.01], dtype=float32)
        """
        if type(texts) is str:         # one review: the list path, not the chunk generator
            texts = [texts]
        if type(texts) is list and len(texts) <= self.chunk_size:   # common case, no generator
            p, known = self._score_list(texts, return_known)
            return (p, known) if return_known else p
        out = Growing(return_known)
        if self.threads == 1:
            offset = 0
            for chunk in self._chunks(texts):
                out.add(*self._score_chunk(chunk, offset))
                offset += len(chunk)
        else:
            for part in self._score_parallel(texts):
                out.add(*part)
        return out.result()

    def _score_list(self, texts: list, known: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """``(probabilities, known)`` of a list of at most :attr:`chunk_size` texts: float32
        ``(n,)`` and, if ``known``, int32 ``(n,)`` (else None)."""
        if self._linear is not None:    # vectorized and scored in one pass
            p, counts = self._linear.score_texts(self.vectorizer._table, texts)
            # len(counts), not len(texts): the call scored its own copy of the list, which
            # another thread may have changed since (the two-step path counts from indptr).
            return self._checked(p, len(counts)), (counts if known else None)
        indptr, *rest = self.vectorizer._table.transform_ids(texts, self._wants_rows)
        p = self._run_ids(indptr, *rest)
        return p, (np.diff(indptr).astype(np.int32) if known else None)

    def _score_chunk(self, chunk: list, offset: int) -> tuple[np.ndarray, np.ndarray]:
        """``(probabilities, known)`` of one chunk, both ``(len(chunk),)``."""
        try:
            return self._score_list(chunk, True)
        except TypeError as exc:
            raise shift_index(exc, offset) from None

    def _score_parallel(self, texts) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The chunks of ``texts`` scored ``threads`` at a time, yielded in order; at most
        2 x threads chunks are in flight, so memory stays bounded. Each chunk is scored
        exactly as with one thread (same boundaries, one onnxruntime thread each)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="imdb-edge")
        pending: collections.deque = collections.deque()
        offset = 0
        try:
            for chunk in self._chunks(texts):
                pending.append(self._pool.submit(self._score_chunk, chunk, offset))
                offset += len(chunk)
                if len(pending) >= 2 * self.threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()

    @property
    def labels(self) -> tuple[str, str]:
        """``(negative, positive)`` label names: the training data's for a model trained with
        ``imdb-edge-train fit``, else ``("negative", "positive")``. :meth:`score` is the
        probability of the second."""
        return (self.metadata.get("label_negative", "negative"),
                self.metadata.get("label_positive", "positive"))

    def predict(self, texts: str | Iterable[str], threshold: float = 0.5, *,
                names: bool = False) -> np.ndarray:
        """Labels: int8 ``(n_texts,)``, 1 (positive) where the probability is > ``threshold``,
        else 0, and -1 where the text has no feature the model knows (its probability is
        then the model's prior, which says nothing about it); with ``names=True`` the label
        names of :attr:`labels` instead, and ``"unknown"`` for those texts (a str array)."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1]. Received: threshold={threshold!r}")
        p, known = self.score(texts, return_known=True)
        codes = label_codes(p, known, threshold)
        if names:
            return label_names(codes, self.labels).astype(str)
        return np.asarray(LABEL_IDS, np.int8)[codes]

    def explain(self, text: str, top: int = 10) -> list[dict]:
        """The features that move this review's score most, by leaving each one out.

        For each feature present in ``text``, ``effect`` = score(text) - score(text without
        that feature): positive effects push the review towards positive. Exact for the model
        at hand, whatever its depth (unlike reading first-layer weights).

        Args:
            text: one review.
            top: how many features to return (>= 1).

        Returns:
            Up to ``top`` :class:`Effect` records (``feature``, ``id``, ``effect``), largest
            ``|effect|`` first; ``[]`` if no word of the review is known.

        Raises:
            TypeError: ``text`` is not ``str``.
            ValueError: ``top`` < 1, or more than 20,000 distinct known features (the cost
                is quadratic in them).

        Example:
            >>> scorer = load("default")
            >>> [(e.feature, round(e.effect, 3)) for e in scorer.explain("A dull film", top=1)]
            [('dull', -0.073)]
        """
        return leave_one_out(self, text, top)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Feature ids back to words (see :meth:`Vectorizer.decode`)."""
        return self.vectorizer.decode(ids)

    @property
    def info(self) -> dict:
        """The model card: metadata (numbers as numbers), the labels and what they mean, the
        data it was trained on, where it was loaded from and how it runs."""
        return model_card(self)

    def __reduce__(self):
        # A session does not pickle; how the model was loaded does. Unpickled in another
        # process (multiprocessing, joblib, Dask, Spark), the model is loaded once there and
        # shared by every later unpickle with the same arguments.
        return _cached_scorer, (self._origin, self.threads, self._backend_asked,
                                self.chunk_size)

    def __repr__(self) -> str:
        return (f"Scorer({str(self.path)!r}, input_form={self.input_form!r}, "
                f"vocabulary_size={len(self.vectorizer.vocabulary)}, threads={self.threads})")


def load(model: str | os.PathLike | None = None, *, threads: int = 1,
         backend: str | None = None, chunk_size: int = CHUNK,
         vocab: str | os.PathLike | None = None) -> Scorer:
    """Load a model.

    Args:
        model: a bundled preset name (``"default"``, ``"accurate"``), a model folder
            (``model.onnx`` + ``vocab.txt`` or ``vocab.txt.gz``), or an ``.onnx`` file with the
            vocabulary beside it. None: ``$IMDB_EDGE_MODEL`` if set, else ``"default"``.
        threads: chunks scored at once (1..64), each on one onnxruntime thread, so scores
            are bit-identical whatever the count. 1 (the default) suits a small device; more
            speeds up inputs of more than ``chunk_size`` reviews on more cores.
        backend: vectorizer backend, as in :class:`Vectorizer`.
        chunk_size: reviews vectorized and scored at a time (1..65536, default 256): bounds
            memory; larger chunks cost memory and gain little.
        vocab: the vocabulary file, when it is not beside the model.

    Returns:
        A :class:`Scorer`.

    Raises:
        ModelError: missing, truncated or foreign model or vocabulary; the message names the
            path and the problem.
        ValueError: ``threads`` or ``chunk_size`` out of range.

    Example:
        >>> scorer = load("accurate")
        >>> scorer.labels
        ('negative', 'positive')
    """
    from_env = from_environment(model)
    model = chosen_model(model)
    try:
        model_path, vocab_path = resolve_model(model)
        if vocab is not None:
            vocab_path = Path(os.path.abspath(vocab))   # as the model's: chdir-proof
        scorer = Scorer(model_path, vocab_path, threads=threads, backend=backend,
                        chunk_size=chunk_size)
    except ModelError as exc:
        if from_env:
            raise named_by_environment(exc) from None
        raise
    if vocab is None and isinstance(model, str) and model == model_path.parent.name \
            and not os.path.exists(model):
        scorer._origin = (model,)   # a preset: found again wherever it is installed
    return scorer


_cache: dict[tuple, Scorer] = {}
_cache_lock = ForkSafeLock()      # renewed in a forked child: a load may have held it


def _cached_scorer(origin: tuple, threads: int, backend: str | None,
                   chunk_size: int = CHUNK) -> Scorer:
    """The Scorer a pickle names, loaded once per process (see Scorer.__reduce__)."""
    key = (origin, threads, backend, chunk_size)
    with _cache_lock:
        scorer = _cache.get(key)
        if scorer is None:
            if len(origin) == 1:
                scorer = load(origin[0], threads=threads, backend=backend,
                              chunk_size=chunk_size)
            else:
                scorer = Scorer(Path(origin[0]), Path(origin[1]), threads=threads,
                                backend=backend, chunk_size=chunk_size)
            _cache[key] = scorer
        return scorer
