"""The evaluate command's metrics (numpy only) against scikit-learn on random data."""

import numpy as np
import pytest

from imdb_edge import _metrics

sklearn_metrics = pytest.importorskip("sklearn.metrics", reason="needs scikit-learn (test extra)")
calibration = pytest.importorskip("sklearn.calibration")


def cases():
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 100, 5000):
        y = rng.integers(0, 2, n)
        p = np.clip(rng.beta(2, 2, n) * 0.6 + 0.4 * y * rng.random(n), 0, 1)
        yield y, p.astype(np.float32)
        yield y, np.round(p, 1).astype(np.float32)          # many ties
    yield np.array([0, 1, 1, 0]), np.array([0.0, 1.0, 1.0, 0.0], np.float32)   # perfect, 0 and 1
    yield np.array([1, 0, 1]), np.array([0.5, 0.5, 0.5], np.float32)           # all tied


@pytest.mark.parametrize("y, p", list(cases()))
def test_against_scikit_learn(y, p):
    both = 0 < y.sum() < len(y)
    p64 = p.astype(np.float64)
    if both:
        assert _metrics.roc_auc(y, p) == pytest.approx(sklearn_metrics.roc_auc_score(y, p64),
                                                       abs=1e-12)
        assert _metrics.log_loss(y, p) == pytest.approx(
            sklearn_metrics.log_loss(y, p64, labels=[0, 1]), rel=1e-9)
    else:
        assert np.isnan(_metrics.roc_auc(y, p))
    assert _metrics.brier(y, p) == pytest.approx(sklearn_metrics.brier_score_loss(y, p64, labels=[0, 1]),
                                                 rel=1e-9)
    cm = _metrics.confusion(y, p, 0.5)
    pred = (p > 0.5).astype(int)
    tn, fp, fn, tp = sklearn_metrics.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    assert (cm["tn"], cm["fp"], cm["fn"], cm["tp"]) == (tn, fp, fn, tp)
    precision, recall, f1, support = sklearn_metrics.precision_recall_fscore_support(
        y, pred, labels=[0, 1], zero_division=0)
    per = _metrics.per_class(cm, ("neg", "pos"))
    for k, name in enumerate(("neg", "pos")):
        assert per[name]["precision"] == pytest.approx(precision[k])
        assert per[name]["recall"] == pytest.approx(recall[k])
        assert per[name]["f1"] == pytest.approx(f1[k])
        assert per[name]["support"] == support[k]
    rel = _metrics.reliability(y, p)
    prob_true, prob_pred = calibration.calibration_curve(y, p64, n_bins=10, strategy="uniform") \
        if both else (None, None)
    if both:
        used = np.array(rel["count"]) > 0
        np.testing.assert_allclose(np.array(rel["fraction_positive"])[used], prob_true)
        np.testing.assert_allclose(np.array(rel["mean_probability"])[used], prob_pred)
    if both:
        best = _metrics.best_thresholds(y, p)
        precision_c, recall_c, _ = sklearn_metrics.precision_recall_curve(y, p64)
        f1_curve = np.divide(2 * precision_c * recall_c, precision_c + recall_c,
                             out=np.zeros_like(precision_c), where=(precision_c + recall_c) > 0)
        assert best["best_f1"]["f1"] == pytest.approx(f1_curve.max())
        fpr, tpr, _ = sklearn_metrics.roc_curve(y, p64)
        assert best["best_balanced_accuracy"]["balanced_accuracy"] == pytest.approx(
            ((tpr + 1 - fpr) / 2).max())
        # the reported thresholds give those values with the "p > threshold" rule
        t = best["best_f1"]["threshold"]
        assert sklearn_metrics.f1_score(y, (p > t).astype(int), zero_division=0) == \
            pytest.approx(best["best_f1"]["f1"])
        t = best["best_balanced_accuracy"]["threshold"]
        assert sklearn_metrics.balanced_accuracy_score(y, (p > t).astype(int)) == pytest.approx(
            best["best_balanced_accuracy"]["balanced_accuracy"])


def test_ece_by_hand():
    y = np.array([1, 0, 1, 1])
    p = np.array([0.05, 0.05, 0.95, 0.95])   # bin 0: mean 0.05, frac 0.5; bin 9: 0.95 vs 1.0
    assert _metrics.reliability(y, p)["ece"] == pytest.approx((2 * 0.45 + 2 * 0.05) / 4)


def test_refuses_bad_inputs():
    with pytest.raises(ValueError, match="0 or 1"):
        _metrics.report(np.array([0, 2]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="finite"):
        _metrics.report(np.array([0, 1]), np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="shape"):
        _metrics.report(np.array([0, 1]), np.array([0.1]))
