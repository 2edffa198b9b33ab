"""``explain``: which features move a review's score, by leaving each one out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_EXPLAIN_FEATURES = 20_000   # explain() is exact leave-one-out: k runs of k - 1 features
_EXPLAIN_IDS_PER_RUN = 1 << 18  # bounds explain()'s memory whatever the review's length


@dataclass(frozen=True)
class Effect:
    """One feature's effect on a review's score (see :meth:`Scorer.explain`).

    ``effect`` = score(review) - score(review without this feature): positive pushes the
    review towards the positive label. ``item["feature"]`` works too, as in the dicts
    earlier versions returned.
    """

    feature: str
    id: int
    effect: float

    def __getitem__(self, key: str):
        if key not in ("feature", "id", "effect"):
            raise KeyError(key)
        return getattr(self, key)

    def as_dict(self) -> dict:
        return {"feature": self.feature, "id": self.id, "effect": self.effect}


def leave_one_out(scorer, text: str, top: int) -> list[Effect]:
    """:meth:`imdb_edge.Scorer.explain` (see there) for ``scorer``, a :class:`Scorer`."""
    if not isinstance(text, str):
        raise TypeError(f"text must be str. Received: {type(text).__name__}")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be an int >= 1. Received: top={top!r}")
    indptr, ids = scorer.vectorizer.transform_ids([text])
    base = float(scorer._run_ids(indptr, ids)[0])
    k = len(ids)
    if k == 0:
        return []
    if k > MAX_EXPLAIN_FEATURES:
        raise ValueError(f"explain() handles reviews of up to {MAX_EXPLAIN_FEATURES:,} "
                         f"distinct known features; this one has {k:,}")
    # Leave-one-out in runs of at most _EXPLAIN_IDS_PER_RUN ids: memory linear in k.
    rows_per_run = max(1, _EXPLAIN_IDS_PER_RUN // k)
    without = np.empty(k, np.float32)
    for start in range(0, k, rows_per_run):
        stop = min(k, start + rows_per_run)
        keep = np.ones((stop - start, k), dtype=bool)
        keep[np.arange(stop - start), np.arange(start, stop)] = False
        loo_ids = np.broadcast_to(ids, keep.shape)[keep]
        loo_indptr = np.arange(stop - start + 1, dtype=np.int64) * (k - 1)
        without[start:stop] = scorer._run_ids(loo_indptr, loo_ids)
    effects = base - without
    order = np.argsort(-np.abs(effects), kind="stable")[:top]
    words = scorer.vectorizer.decode(ids[order])
    return [Effect(w, int(ids[i]), float(effects[i])) for w, i in zip(words, order)]
