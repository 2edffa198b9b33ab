"""Pure-Python twin of ``_vectorize_c``: the reference the compiled path must equal."""

from __future__ import annotations

import numpy as np

from ._tokenizer import MAX_NGRAM, feature_ids


class FeatureTable:
    """Same interface as ``_vectorize_c.FeatureTable``."""

    def __init__(self, features: list[str], ngram: int) -> None:
        if not 1 <= ngram <= MAX_NGRAM:
            raise ValueError(f"ngram must be 1..{MAX_NGRAM}")
        self.index = {feature.replace("\u2019", "'"): i for i, feature in enumerate(features)}
        if len(self.index) != len(features):
            raise ValueError("duplicated feature")
        self.size = len(features)
        self.ngram = ngram

    def transform_ids(self, texts: list, with_rows: bool = False) -> tuple[np.ndarray, ...]:
        texts = list(texts)     # a copy, as the compiled table takes: another thread may
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)     # change the caller's list
        chunks = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
            ids = feature_ids(text, self.index, self.ngram)
            chunks.append(ids)
            indptr[i + 1] = indptr[i] + len(ids)
        ids = np.fromiter((j for chunk in chunks for j in chunk), dtype=np.int32,
                          count=int(indptr[-1]))
        if with_rows:
            rows = np.repeat(np.arange(len(texts), dtype=np.int64), np.diff(indptr))
            return indptr, ids, rows.reshape(-1, 1)
        return indptr, ids
