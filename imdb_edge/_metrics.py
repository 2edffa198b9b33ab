"""Metrics of probabilities against 0/1 labels, numpy only (checked against scikit-learn in
``tests/test_metrics.py``).

A review is predicted positive when its probability is *above* the threshold, as in
:meth:`Scorer.predict` and the CLI. Thresholds reported as "best" are midpoints between two
adjacent distinct scores, so they separate the same reviews on this data and leave a margin.
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 10


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"labels {y.shape} and probabilities {p.shape} differ in shape")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if not (np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()):
        raise ValueError("probabilities must be finite and in [0, 1]")
    return y.astype(np.int64), p


def roc_auc(y, p) -> float:
    """Area under the ROC curve (ties count one half); NaN if one class is absent."""
    y, p = _check(y, p)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ranked = p[order]
    first = np.r_[True, ranked[1:] != ranked[:-1]]
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(p)]
    average_rank = (starts + ends + 1) / 2.0            # 1-based mean rank of each tie group
    ranks = np.empty(len(p))
    ranks[order] = average_rank[np.cumsum(first) - 1]
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def log_loss(y, p) -> float:
    """Mean binary cross-entropy, probabilities clipped to [eps, 1 - eps] (float64 eps)."""
    y, p = _check(y, p)
    eps = np.finfo(np.float64).eps
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def brier(y, p) -> float:
    y, p = _check(y, p)
    return float(np.mean((p - y) ** 2))


def reliability(y, p, bins: int = ECE_BINS) -> dict:
    """Equal-width bins of [0, 1] (as scikit-learn's ``calibration_curve(strategy="uniform")``):
    per bin the count, mean probability and fraction positive; ``ece`` is their weighted gap."""
    y, p = _check(y, p)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.searchsorted(edges[1:-1], p)
    count = np.bincount(index, minlength=bins)
    sum_p = np.bincount(index, weights=p, minlength=bins)
    sum_y = np.bincount(index, weights=y, minlength=bins)
    used = count > 0
    mean_p = np.divide(sum_p, count, out=np.zeros(bins), where=used)
    frac = np.divide(sum_y, count, out=np.zeros(bins), where=used)
    ece = float(np.sum(count[used] * np.abs(frac[used] - mean_p[used])) / max(len(p), 1))
    return {"ece": ece, "edges": edges.tolist(), "count": count.tolist(),
            "mean_probability": mean_p.tolist(), "fraction_positive": frac.tolist()}


def confusion(y, p, threshold: float = 0.5) -> dict:
    y, p = _check(y, p)
    pred = p > threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    return {"tn": tn, "fp": fp, "fn": fn, "tp": tp}


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def per_class(cm: dict, names: tuple[str, str]) -> dict:
    """Precision, recall, F1 and support of each class, from a confusion matrix."""
    out = {}
    for name, (hit, false_alarm, miss) in zip(names, ((cm["tn"], cm["fn"], cm["fp"]),
                                                      (cm["tp"], cm["fp"], cm["fn"]))):
        precision = _ratio(hit, hit + false_alarm)
        recall = _ratio(hit, hit + miss)
        out[name] = {"precision": precision, "recall": recall,
                     "f1": _ratio(2 * precision * recall, precision + recall),
                     "support": hit + miss}
    return out


def roc_points(y, p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, scores)``: predicting positive for ``p >= scores[k]``, from the highest
    distinct score down, after the all-negative point ``(0, 0)``."""
    y, p = _check(y, p)
    order = np.argsort(-p, kind="mergesort")
    ranked, truth = p[order], y[order]
    last = np.r_[ranked[1:] != ranked[:-1], True]       # the last review of each tie group
    tp = np.cumsum(truth)[last]
    fp = np.cumsum(1 - truth)[last]
    n_pos, n_neg = int(y.sum()), len(y) - int(y.sum())
    fpr = np.r_[0.0, fp / n_neg if n_neg else np.zeros(len(fp))]
    tpr = np.r_[0.0, tp / n_pos if n_pos else np.zeros(len(tp))]
    return fpr, tpr, np.r_[np.inf, ranked[last]]


def best_thresholds(y, p) -> dict:
    """The thresholds with the best F1 (of the positive class) and balanced accuracy."""
    y, p = _check(y, p)
    n_pos, n_neg = int(y.sum()), len(y) - int(y.sum())
    fpr, tpr, scores = roc_points(y, p)
    tp, fp = tpr * n_pos, fpr * n_neg
    fn = n_pos - tp
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(len(tp)), where=(2 * tp + fp + fn) > 0)
    balanced = (tpr + (1 - fpr)) / 2 if n_pos and n_neg else np.full(len(tp), np.nan)
    below = np.r_[scores[2:], 0.0]            # the next lower distinct score (0 past the last)

    def at(k: int) -> float:
        # p > midpoint <=> p >= scores[k]; k = 0 is "nothing positive": any p <= 1
        return 1.0 if k == 0 else float((scores[k] + below[k - 1]) / 2)

    k_f1 = int(np.argmax(f1))
    k_ba = int(np.nanargmax(balanced)) if n_pos and n_neg else 0
    return {"best_f1": {"threshold": at(k_f1), "f1": float(f1[k_f1])},
            "best_balanced_accuracy": {"threshold": at(k_ba),
                                       "balanced_accuracy": float(balanced[k_ba])}}


def report(y, p, *, threshold: float = 0.5, names: tuple[str, str] = ("negative", "positive")
           ) -> dict:
    """Every metric of ``imdb-edge evaluate`` for one model, as plain JSON-able values."""
    y, p = _check(y, p)
    cm = confusion(y, p, threshold)
    n = len(y)
    rel = reliability(y, p)
    return {
        "n": n, "positives": int(y.sum()), "threshold": threshold,
        "accuracy": _ratio(cm["tp"] + cm["tn"], n),
        "roc_auc": roc_auc(y, p), "log_loss": log_loss(y, p) if n else float("nan"),
        "brier": brier(y, p) if n else float("nan"), "ece": rel["ece"],
        "confusion": cm, "per_class": per_class(cm, names),
        **best_thresholds(y, p), "reliability": rel,
    }
