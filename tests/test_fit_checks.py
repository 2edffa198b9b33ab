"""What ``fit`` checks and tells, without training (no TensorFlow): calibration, splits that keep
normalised duplicates together, token-less and unspaced text, the majority-class baseline."""

import random

import numpy as np
import pytest

from imdb_edge._metrics import log_loss
from imdb_edge_train import calibrate
from imdb_edge_train.dataset import FIT, TEST, VAL, Source, looks_unspaced, scan, split_of, text_digest
from imdb_edge._tokenizer import tokenize

from .fixtures import make_labeled, write_labeled


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _labels(z, seed=0):
    return (np.random.default_rng(seed).random(len(z)) < _sigmoid(z)).astype(np.int64)


@pytest.mark.parametrize("scale, shift", [(4.0, 0.0), (0.3, 0.0), (1.0, 2.0), (3.0, -1.5)])
def test_platt_fixes_over_and_under_confidence_and_shift(scale, shift):
    """Issue 18 item 7: the calibrated probabilities have a lower ECE (evaluate's bins)
    and log loss than over-confident, under-confident or shifted ones."""
    z = np.random.default_rng(1).normal(0, 2, 4000)
    y = _labels(z)
    p = _sigmoid(scale * z + shift).astype(np.float32)
    calibration = calibrate.fit_platt(p, y)
    assert calibration["a"] == pytest.approx(1 / scale, rel=0.15)
    assert calibration["b"] == pytest.approx(-shift / scale, abs=0.15)
    after = calibrate.apply(p, calibration)
    assert calibrate.ece(y, after) < calibrate.ece(y, p)
    assert calibrate.ece(y, after) < 0.03
    assert log_loss(y, after) < log_loss(y, p)


def test_platt_stays_finite_on_separable_and_useless_scores():
    y = np.array([0] * 50 + [1] * 50)
    separable = np.r_[np.full(50, 0.2), np.full(50, 0.8)].astype(np.float32)
    calibration = calibrate.fit_platt(separable, y)
    assert np.isfinite([calibration["a"], calibration["b"]]).all()
    assert calibration["a"] <= calibrate.A_RANGE[1]
    noise = np.random.default_rng(0).random(100).astype(np.float32)
    useless = calibrate.fit_platt(noise, np.random.default_rng(1).integers(0, 2, 100))
    assert calibrate.A_RANGE[0] <= useless["a"] <= calibrate.A_RANGE[1]
    p = calibrate.apply(noise, useless)
    assert np.all(np.diff(p[np.argsort(noise)]) >= 0)     # the order is kept


def test_ece_is_the_one_evaluate_reports():
    from imdb_edge._metrics import report

    rng = np.random.default_rng(2)
    y, p = rng.integers(0, 2, 300), rng.random(300)
    assert calibrate.ece(y, p) == report(y, p)["ece"]
    # 0.03 and 0.06 share a bin of 10 equal-width bins
    assert calibrate.ece(np.array([0, 1]), np.array([0.03, 0.06])) == pytest.approx(0.455)
    assert calibrate.ECE_BINNING.startswith("10 equal-width bins of [0, 1]")


def test_same_text_after_normalisation_same_split():
    """Issue 19 item 10: case, punctuation, spacing and <br /> do not separate duplicates."""
    variants = ["A great film, truly great!", "a GREAT film... truly great", "a great<br />film "
                "truly\tgreat", "  A great film truly great  "]
    digests = {text_digest(" ".join(tokenize(t)), 42) for t in variants}
    assert len(digests) == 1
    assert text_digest("a great film truly great", 7) != digests.pop()
    splits = {split_of(text_digest(f"text number {i}", 3), 0.2, 0.3) for i in range(400)}
    assert splits == {FIT, VAL, TEST}


def test_scan_keeps_duplicates_in_one_split_and_counts_what_cannot_be_learnt(tmp_path):
    rng = random.Random(0)
    rows = make_labeled(150, seed=1)
    noisy = [(t.upper().replace(" ", "  ") + "!!", y) for t, y in rows]   # same after normalising
    emoji = [("😀👍", 1), ("🙂 🙂", 0), ("...", 1)]
    japanese = [("この映画は本当に素晴らしかった。俳優の演技も最高で、音楽も良かった。", 1),
                ("物語が退屈で最後まで見るのがつらかった。", 0)]
    data = rows + noisy + emoji * 10 + japanese * 20
    rng.shuffle(data)
    path = write_labeled(tmp_path / "d.csv", data, "csv")
    found = scan(Source(str(path)), ngram=1, seed=42, test_fraction=0.2, val_fraction=0.2,
                 progress=False)
    assert found.tokenless == 30
    assert found.unspaced == 40 and found.spacing_judged == len(data) - 30
    split_of_text = {}
    used = [s for s in found.splits if s >= 0]
    for (text, _), split in zip(data, used):
        key = " ".join(tokenize(text)) or None
        if key is not None:
            assert split_of_text.setdefault(key, split) == split, text
    assert len(set(used)) == 3
    # every noisy copy repeats its original (the Japanese and emoji texts repeat too)
    assert found.duplicates(FIT, VAL, TEST) == len(noisy) + 2 * 19
    assert not found.seen_in(TEST, found.digests_of(FIT, VAL)).any()


@pytest.mark.parametrize("text, expected", [
    ("This film was great and the acting superb, I loved every minute of it.", False),
    ("Die Schauspielerleistungen waren hervorragend, die Filmmusik unvergesslich.", False),
    ("Elokuvan näyttelijäsuoritukset olivat erinomaisia ja musiikki unohtumatonta.", False),
    ("이 영화는 정말 훌륭했습니다. 배우들의 연기도 최고였어요.", False),
    ("この映画は本当に素晴らしかった。俳優の演技も最高で、音楽も良かった。", True),
    ("这部电影非常精彩，演员的表演也很出色。", True),
    ("ภาพยนตร์เรื่องนี้ยอดเยี่ยมมาก นักแสดงเล่นได้ดีมาก", True),
    ("Thisfilmwasgreatandtheactingsuperb, Ilovedeveryminuteofit.", True),
    ("ok", None),
])
def test_looks_unspaced(text, expected):
    assert looks_unspaced(tokenize(text)) is expected


def test_baseline_warnings():
    from imdb_edge_train.fit import baseline_warnings

    rng = np.random.default_rng(0)
    y = (rng.random(1000) < 0.3).astype(np.int64)
    names = ("neg", "pos")
    chance = baseline_warnings(y, rng.random(1000), 0, names, "validation")
    assert len(chance) == 1 and "no better than chance" in chance[0]
    z = rng.normal(0, 1, 1000) + 0.8 * (2 * y - 1)
    ranks_but_majority = baseline_warnings(y, 0.3 + 0.15 * np.tanh(z), 0, names, "test")
    assert len(ranks_but_majority) == 1 and "labelling every text 'neg'" in \
        ranks_but_majority[0] and "does rank texts" in ranks_but_majority[0]
    good = _sigmoid(3 * (2 * y - 1) + rng.normal(0, 1, 1000))
    assert baseline_warnings(y, good, 0, names, "validation") == []


def test_class_weights_balance_the_classes():
    from imdb_edge_train.fit import class_weights

    y = np.array([0] * 95 + [1] * 5)
    w = class_weights(y)
    assert w[y].sum() == pytest.approx(len(y))
    assert w[0] * 95 == pytest.approx(w[1] * 5)
    assert class_weights(np.array([0, 1, 0, 1])).tolist() == [1.0, 1.0]
