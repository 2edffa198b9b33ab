"""The "default" preset: text of any length, from a sentence to a long review.

A naive-Bayes-scaled logistic regression (Wang & Manning 2012, as the "accurate" preset) over
word and word-pair features of tokenizer version 2 (HTML references decoded, emoticons as
words, NFC), trained on what anyone can rebuild with one command:

- the 25,000 IMDB training reviews, and every sentence of each (three words or more, labelled
  with its review's label, weighted below a review: such labels are often wrong);
- a prior on the weights from the VADER lexicon (``vaderSentiment``, MIT licence, a training
  dependency only): each lexicon word's weight is pulled towards ``strength x valence``
  instead of towards 0 (the regularizer is on the learnt difference), so a word that IMDB
  rarely shows, common in tweets and product reviews, still counts; lexicon words missing from
  the IMDB vocabulary are added to it;
- a calibration that depends on the text's length: ``p = sigmoid(s / (t0 + t1 ln(1 + k)) + b)``
  with ``s`` the sum of the text's feature weights, ``k`` their number and ``b`` the bias,
  ``t0`` and ``t1`` fitted on the validation reviews and sentences (one temperature cannot
  serve a sentence and a 1,000-word review); a text with no known feature keeps the prior
  ``sigmoid(b)``;
- a second weight column for long texts, when validation says it helps: the same features'
  NB-scaled logistic regression fitted on the reviews alone by Adam (as the "accurate"
  preset, best epoch on the validation reviews), the lexicon prior's weights standing for the
  words that the reviews never show. A gate by length ``g = sigmoid(a0 + a1 ln(1 + k))``
  moves a text from the first column's sum ``s`` to this one's ``s'`` as it gets longer:
  ``p = sigmoid((1 - g) s / (t0 + t1 ln(1 + k)) + g s' / (u0 + u1 ln(1 + k)) + b)`` (each
  column its own temperature); the gate fitted on the
  validation reviews and rated words, then the temperature and bias on those and the
  validation sentences;
- the vocabulary's features counted over the training and the 50,000 unlabelled reviews.

Settings are chosen on validation data only: ~5,000 held-out training reviews (of movies that
no fitting review is about, as IMDB's test reviews are), their sentences,
and one-word texts from TextBlob's lexicon (``en-sentiment.xml``, MIT licence; independent human
polarity ratings, with |polarity| >= 0.5) as an out-of-domain check of what the lexicon prior
teaches. The test reviews are read once, for the final figures. The short-text sets of the
VADER paper are never read here.

The first column is fitted by L-BFGS (scipy) to its exact optimum: the objective is convex,
so the result does not depend on a learning rate, epochs or seeds; the review column by Adam
(Keras, seeded). The export is a plain ONNX graph (GatherElements, CumSum, the coefficients
by length from a table, Sigmoid), checked against a numpy evaluation of the same function on
every test review before it lands.

    imdb-edge-train any-length --data ../shared/data/aclImdb_v1.tar.gz --out runs/any-length [--bundle]
"""

from __future__ import annotations

import dataclasses
import os
import re
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imdb_edge import Vectorizer, Vocabulary
from imdb_edge._tokenizer import iter_features, tokenize

from .pipeline import check_run_folder, load_data, log, versions, write_json

TOKENIZER = 2
EMOTICON_PREFIX = "xx"


@dataclass
class AnyLengthConfig:
    data: str | None = None
    out: str = "runs/any-length"
    seed: int = 42
    ngram: int = 2
    vocab_size: int = 200_000
    val_size: int = 5_000
    min_sentence_words: int = 3
    l2: list[float] = field(default_factory=lambda: [3e-5, 1e-4, 3e-4, 1e-3])
    prior_strength: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.2])
    sentence_weight: list[float] = field(default_factory=lambda: [0.3, 1.0])
    # (the grid is every combination: 24 fits of ~15-40 s on one core)
    tolerance: float = 0.005      # review accuracy a setting may give up for short-text gains
    alpha: float = 1.0            # naive-Bayes smoothing
    max_iter: int = 1000
    # The review column (weights for long texts, from the reviews alone): Adam on the
    # NB-scaled features as the "accurate" recipe trains, best epoch of `review_epochs` on the
    # validation reviews; 0 leaves it out.
    review_epochs: int = 12
    review_l2: float = 1e-5
    review_learning_rate: float = 1e-3
    review_batch_size: int = 256


# -- data ------------------------------------------------------------------------------------

_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(A-Z0-9])")


def sentences(text: str, min_words: int = 3) -> list[str]:
    """A review cut at line breaks and at ``.!?`` + space + capital/digit/quote; pieces of
    fewer than ``min_words`` words are dropped."""
    out = []
    for paragraph in _BREAK.split(text):
        for piece in _SENTENCE_END.split(paragraph.strip()):
            piece = piece.strip()
            if len(piece.split()) >= min_words:
                out.append(piece)
    return out


def read_unlabelled(path: Path) -> list[str]:
    """The 50,000 reviews of ``train/unsup`` (archive or folder), in file-name order."""
    found = []
    if path.is_dir():
        root = path / "aclImdb" if (path / "aclImdb").is_dir() else path
        for file in sorted((root / "train" / "unsup").glob("*.txt")):
            found.append(file.read_text(encoding="utf-8"))
        return found
    with tarfile.open(path) as archive:
        members = sorted((m for m in archive if m.isfile() and m.name.endswith(".txt")
                          and m.name.startswith("aclImdb/train/unsup/")), key=lambda m: m.name)
        for member in members:
            found.append(archive.extractfile(member).read().decode("utf-8"))
    return found


_MOVIE = re.compile(r"/title/(tt\d+)/")


def movies_of(path: Path, names: list[str]) -> list[str]:
    """The IMDB title id of each review (``names`` as :func:`read_imdb` gives them), from the
    archive's ``urls_pos.txt``/``urls_neg.txt`` (line k: the review with id k)."""
    urls: dict[str, list[str]] = {}
    wanted = {f"aclImdb/train/urls_{p}.txt" for p in ("pos", "neg")}
    if path.is_dir():
        root = path / "aclImdb" if (path / "aclImdb").is_dir() else path
        for name in wanted:
            urls[name] = (root / name.removeprefix("aclImdb/")).read_text(encoding="utf-8").split("\n")
    else:
        with tarfile.open(path) as archive:
            for member in archive:
                if member.name in wanted:
                    urls[member.name] = archive.extractfile(member).read().decode("utf-8").split("\n")
    out = []
    for name in names:
        folder, file = name.rsplit("/", 2)[-2:]
        line = urls[f"aclImdb/train/urls_{folder}.txt"][int(file.split("_")[0])]
        match = _MOVIE.search(line)
        out.append(match.group(1) if match else line)
    return out


def vader_lexicon() -> dict[str, float]:
    """VADER's lexicon as ``{token: mean valence (-4..4)}``: entries that are one token of
    tokenizer version 2 (a word as written, or an emoticon's word)."""
    import vaderSentiment

    path = Path(vaderSentiment.__file__).with_name("vader_lexicon.txt")
    values: dict[str, list[float]] = {}
    for line in path.read_text(encoding="utf-8").split("\n"):
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        entry = parts[0]
        tokens = tokenize(f" {entry} ", TOKENIZER)
        if len(tokens) != 1:
            continue
        token = tokens[0]
        is_emoticon = token.startswith(EMOTICON_PREFIX) and not entry.lower().startswith("xx")
        if not is_emoticon and token != entry.lower():
            continue          # "(-:o" -> "o": punctuation lost, not the entry's meaning
        values.setdefault(token, []).append(float(parts[1]))
    return {token: float(np.mean(v)) for token, v in values.items()}


def textblob_words() -> tuple[list[str], np.ndarray]:
    """One-word validation texts: TextBlob's lexicon words with |mean polarity| >= 0.5,
    labelled by its sign (1 positive)."""
    import xml.etree.ElementTree as ET

    import textblob

    root = ET.parse(Path(textblob.__file__).parent / "en" / "en-sentiment.xml").getroot()
    polarity: dict[str, list[float]] = {}
    for word in root.iter("word"):
        form = word.get("form", "").lower()
        if form and " " not in form:
            polarity.setdefault(form, []).append(float(word.get("polarity")))
    words = sorted(w for w, v in polarity.items()
                   if abs(np.mean(v)) >= 0.5 and tokenize(w, TOKENIZER) == [w])
    return words, np.array([int(np.mean(polarity[w]) > 0) for w in words], np.int64)


def count_features(texts, ngram: int) -> dict[str, int]:
    """Document frequency of every feature."""
    import collections

    counts: collections.Counter[str] = collections.Counter()
    for text in texts:
        counts.update(set(iter_features(tokenize(text, TOKENIZER), ngram)))
    return counts


# -- model -----------------------------------------------------------------------------------

def nb_ratios(x, y: np.ndarray, alpha: float) -> np.ndarray:
    """Naive-Bayes log-count ratios, float64 ``(V,)``, of binary features ``x`` (CSR)."""
    p = alpha + np.asarray(x[y == 1].sum(0)).ravel()
    q = alpha + np.asarray(x[y == 0].sum(0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum()))


def fit_linear(x, y: np.ndarray, weight: np.ndarray, r: np.ndarray, prior: np.ndarray,
               l2: float, max_iter: int) -> tuple[np.ndarray, float]:
    """Weights ``w`` (float64 ``(V,)``) and bias of ``sigmoid(x @ w + b)`` minimizing the
    weighted mean log loss + ``l2/2 ||v||^2``, with ``w = r * v + prior``."""
    import scipy.sparse as sp
    from scipy.optimize import minimize
    from scipy.special import expit

    xs = (x @ sp.diags(r)).tocsr().astype(np.float64)
    offset = x @ prior
    y = y.astype(np.float64)
    total = float(weight.sum())

    def objective(theta):
        v, b = theta[:-1], theta[-1]
        z = xs @ v + b + offset
        loss = float(weight @ (np.logaddexp(0.0, z) - y * z)) / total + 0.5 * l2 * float(v @ v)
        g = weight * (expit(z) - y) / total
        return loss, np.concatenate([xs.T @ g + l2 * v, [g.sum()]])

    result = minimize(objective, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter})
    if not result.success:
        log(f"L-BFGS-B stopped after {result.nit} iterations: {result.message}")
    return r * result.x[:-1] + prior, float(result.x[-1])


def fit_review_weights(x, y: np.ndarray, cfg: AnyLengthConfig, epochs: int,
                       prior: np.ndarray | None = None, validation=None
                       ) -> tuple[np.ndarray, float, list[float]]:
    """Weights ``w`` (float64 ``(V,)``) and bias of an NB-scaled logistic regression on binary
    features ``x`` (CSR, reviews alone), trained by Adam from zero as the "accurate" preset is
    (its early-stopped fit beats the exact L-BFGS optimum on held-out reviews). A feature that
    no training text has takes its ``prior`` weight (the lexicon's word that reviews never
    show); the others are the reviews' alone (as an offset in training, the prior cost 0.8
    points of validation review accuracy). With ``validation = (x_val, y_val)`` the weights
    are those of the epoch with the best validation accuracy, and the list is that accuracy by
    epoch; else after ``epochs``."""
    import keras
    import scipy.sparse as sp

    from .accurate import build_linear
    from .pipeline import seed_everything

    r = nb_ratios(x, y, cfg.alpha)

    def scaled(m):
        out = (m @ sp.diags(r)).tocsr().astype(np.float32)
        out.sort_indices()
        return out

    seed_everything(cfg.seed)
    model = build_linear(x.shape[1], cfg.review_l2, cfg.review_learning_rate,
                         kernel_initializer="zeros")
    callbacks, data = [], None
    if validation is not None:
        data = (scaled(validation[0]), validation[1].astype(np.float32))
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=epochs, restore_best_weights=True))
    history = model.fit(scaled(x), y.astype(np.float32), epochs=epochs,
                        batch_size=cfg.review_batch_size, shuffle=True, validation_data=data,
                        callbacks=callbacks, verbose=0)
    kernel, bias = model.layers[-1].get_weights()
    w = r * kernel[:, 0].astype(np.float64)
    if prior is not None:
        unseen = np.diff(x.tocsc().indptr) == 0
        w[unseen] = prior[unseen]
    return w, float(bias[0]), [float(v) for v in history.history.get("val_accuracy", [])]


def calibrated(sums: np.ndarray, bias: float, known: np.ndarray,
               calibration: tuple[float, ...]) -> np.ndarray:
    """``sigmoid(sum_c coefficient[c, k] * s_c + bias)``, float64 ``(n,)``: ``sums`` float
    ``(n,)`` (one weight column) or ``(2, n)``, the sums of each text's feature weights, and
    the coefficients of :func:`export.coefficient_table` for ``known`` (capped at its last row).
    One column: ``s / (t0 + t1 ln(1 + k))``. A text with no known feature keeps the model's
    prior, ``sigmoid(bias)``."""
    from scipy.special import expit

    from .export import TEMPERATURE_ROWS, coefficient_table

    table = coefficient_table(calibration)
    k = np.minimum(known, TEMPERATURE_ROWS - 1)
    return expit((table[:, k] * np.atleast_2d(sums)).sum(0) + bias)


def fit_calibration(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                    bias: float | None = None, gate: tuple[float, float] | None = None
                    ) -> tuple[tuple[float, ...], float]:
    """The calibration and bias minimizing the mean of each part's log loss; parts are
    ``(sums, known, y)`` with ``sums`` ``(n,)`` or ``(2, n)`` as :func:`calibrated` takes them.

    One column: ``(t0, t1)``, with ``bias`` kept. Two: ``(t0, t1, a0, a1, u0, u1)`` (see
    :func:`export.coefficient_table`) and the bias are fitted together (the second column's
    own bias is not in its sums), or with the gate ``(a0, a1)`` given, the rest.

    The loss uses the coefficients in float64, not the exported float32 table: L-BFGS-B's
    finite differences of a float32-rounded function are noise, and it stopped at a worse
    point (sentence ECE 0.050 against 0.016 on the same validation data)."""
    from scipy.optimize import minimize
    from scipy.special import expit

    from .export import TEMPERATURE_ROWS

    two = np.ndim(parts[0][0]) == 2
    prepared = [(np.atleast_2d(s), np.log1p(np.minimum(k, TEMPERATURE_ROWS - 1)), y)
                for s, k, y in parts]
    # name: (start, bounds); the fitted ones are those not given
    spec = {"t0": (1.0, (0.01, 20.0)), "t1": (0.0, (-2.0, 5.0))}
    if two:
        spec.update({"a0": (0.0, (-50.0, 50.0)), "a1": (0.0, (-20.0, 20.0)),
                     "u0": (1.0, (0.01, 20.0)), "u1": (0.0, (-2.0, 5.0)),
                     "bias": (0.0 if bias is None else bias, (-5.0, 5.0))})
    given = {"bias": bias} if not two else {}
    if gate:
        given.update(a0=gate[0], a1=gate[1])
    names = [n for n in spec if n not in given]

    def full(theta) -> dict:
        return {**given, **dict(zip(names, theta))}

    def loss(theta):
        v = full(theta)
        total = 0.0
        for s, logk, y in prepared:
            z = s[0] / (v["t0"] + v["t1"] * logk) + v["bias"]
            if two:
                g = expit(v["a0"] + v["a1"] * logk)
                z = (1 - g) * (z - v["bias"]) + g * s[1] / (v["u0"] + v["u1"] * logk) + v["bias"]
            total += float(np.mean(np.logaddexp(0.0, z) - y * z))
        return total / len(parts)

    result = minimize(loss, np.array([spec[n][0] for n in names]), method="L-BFGS-B",
                      bounds=[spec[n][1] for n in names])
    v = {k: float(x) for k, x in full(result.x).items()}
    order = ("t0", "t1", "a0", "a1", "u0", "u1") if two else ("t0", "t1")
    return tuple(v[n] for n in order), v["bias"]


def ece(y: np.ndarray, p: np.ndarray) -> float:
    """Expected calibration error, as ``imdb-edge evaluate`` reports it (10 equal-width bins)."""
    from imdb_edge._metrics import reliability

    return reliability(y, p)["ece"]


def _scores(y: np.ndarray, p: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score

    return {"n": int(len(y)), "accuracy": round(float(((p > 0.5) == y).mean()), 4),
            "roc_auc": round(float(roc_auc_score(y, p)), 4), "ece": round(ece(y, p), 4)}


# -- the recipe ------------------------------------------------------------------------------

def train_any_length(cfg: AnyLengthConfig, *, export: bool = True) -> dict:
    import scipy.sparse as sp
    from scipy.special import expit

    start = time.perf_counter()
    out = Path(cfg.out)
    check_run_folder(out, "any-length",
                     marker_keys=("prior_strength", "sentence_weight", "min_sentence_words"))
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", dataclasses.asdict(cfg))
    splits, data_path, data_sha = load_data(cfg.data)
    train, test = splits["train"], splits["test"]
    y_train = train.labels.astype(np.int64)
    unlabelled = read_unlabelled(data_path)
    log(f"{len(unlabelled)} unlabelled reviews")

    # Validation reviews are of other movies than the fitting ones, as the test reviews are:
    # a random split shares movies (names, plots) and flatters large n-gram vocabularies.
    movies = np.array(movies_of(data_path, train.names))
    titles = np.unique(movies)
    rng = np.random.default_rng(cfg.seed)
    chosen_titles, count = set(), 0
    per_title = {t: n for t, n in zip(*np.unique(movies, return_counts=True))}
    for title in titles[rng.permutation(len(titles))]:
        if count >= cfg.val_size:
            break
        chosen_titles.add(title)
        count += per_title[title]
    in_val = np.isin(movies, list(chosen_titles))
    val, fit = np.flatnonzero(in_val), np.flatnonzero(~in_val)
    log(f"validation: {len(val)} reviews of {len(chosen_titles)} movies; fitting: {len(fit)} "
        f"reviews of {len(titles) - len(chosen_titles)} other movies")

    lexicon = vader_lexicon()
    log(f"VADER lexicon: {len(lexicon)} one-token entries")

    def vocabulary_of(rows) -> Vocabulary:
        counts = count_features([train.texts[i] for i in rows] + unlabelled, cfg.ngram)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        features = [f for f, _ in ranked[:cfg.vocab_size]]
        have = set(features)
        features += sorted(t for t in lexicon if t not in have)
        return Vocabulary(features, ngram=cfg.ngram, tokenizer_version=TOKENIZER)

    def design(vec: Vectorizer, texts: list[str]):
        indptr, ids = vec.transform_ids(texts)
        return sp.csr_matrix((np.ones(len(ids)), ids, indptr), shape=(len(texts), vec.size))

    def with_sentences(rows):
        texts = [train.texts[i] for i in rows]
        cut = [sentences(t, cfg.min_sentence_words) for t in texts]
        flat = [s for piece in cut for s in piece]
        labels = np.repeat(y_train[rows], [len(c) for c in cut])
        return texts, flat, labels

    def prior_of(vocab: Vocabulary, strength: float) -> np.ndarray:
        prior = np.zeros(len(vocab))
        for token, valence in lexicon.items():
            prior[vocab.index[token]] = strength * valence
        return prior

    # ---- choose settings on validation ----
    log("counting features (fitting reviews + unlabelled reviews)")
    vocab = vocabulary_of(fit)
    vec = Vectorizer(vocab)
    fit_texts, fit_sents, fit_sent_y = with_sentences(fit)
    val_texts, val_sents, val_sent_y = with_sentences(val)
    words, words_y = textblob_words()
    x_fit_r, x_fit_s = design(vec, fit_texts), design(vec, fit_sents)
    x_val_r, x_val_s, x_words = design(vec, val_texts), design(vec, val_sents), design(vec, words)
    known_words = np.asarray(x_words.sum(1)).ravel() > 0
    y_fit_r, y_val_r = y_train[fit], y_train[val]
    log(f"validation: {len(val_texts)} reviews, {len(val_sents)} sentences, "
        f"{int(known_words.sum())} of {len(words)} TextBlob words known")
    x_fit = sp.vstack([x_fit_r, x_fit_s]).tocsr()
    y_fit = np.concatenate([y_fit_r, fit_sent_y])
    r = nb_ratios(x_fit, y_fit, cfg.alpha)
    emoticon_columns = np.array([vocab.index[t] for t in vocab.features
                                 if t.startswith(EMOTICON_PREFIX) and t in lexicon])

    def evaluate(l2, strength, sentence_weight, drop_emoticons=False):
        weight = np.concatenate([np.ones(len(y_fit_r)), np.full(len(fit_sent_y), sentence_weight)])
        keep = weight > 0
        x = x_fit[keep]
        if drop_emoticons:
            x = x.tolil()
            x[:, emoticon_columns] = 0
            x = x.tocsr()
        w, b = fit_linear(x, y_fit[keep], weight[keep], r, prior_of(vocab, strength),
                          l2, cfg.max_iter)
        if drop_emoticons:
            w = w.copy()
            w[emoticon_columns] = 0
        row = {"l2": l2, "prior_strength": strength, "sentence_weight": sentence_weight,
               "reviews": _scores(y_val_r, expit(x_val_r @ w + b)),
               "sentences": _scores(val_sent_y, expit(x_val_s @ w + b)),
               "words": _scores(words_y[known_words], expit(x_words[known_words] @ w + b))}
        if drop_emoticons:
            row["without_emoticon_features"] = True
        log(f"l2 {l2:g} prior {strength:g} sentences {sentence_weight:g}"
            f"{' (no emoticons)' if drop_emoticons else ''}: reviews "
            f"{row['reviews']['accuracy']:.4f}, sentences AUC {row['sentences']['roc_auc']:.4f}, "
            f"words AUC {row['words']['roc_auc']:.4f}")
        return row, (w, b)

    def pick(rows):
        """Among settings within ``tolerance`` of the best validation review accuracy of the
        whole grid, the one with the best sum of sentence and word ROC AUC."""
        best = max(row["reviews"]["accuracy"] for row, _ in rows)
        eligible = [item for item in rows if item[0]["reviews"]["accuracy"] >= best - cfg.tolerance]
        return max(eligible, key=lambda item: item[0]["sentences"]["roc_auc"]
                   + item[0]["words"]["roc_auc"])

    grid = [evaluate(l2, strength, weight) for l2 in cfg.l2 for strength in cfg.prior_strength
            for weight in cfg.sentence_weight]
    chosen = pick(grid)
    l2, strength, weight = (chosen[0]["l2"], chosen[0]["prior_strength"],
                            chosen[0]["sentence_weight"])
    log(f"chosen on validation: l2 {l2:g}, prior {strength:g}, sentences {weight:g}")
    ablation, _ = evaluate(l2, strength, weight, drop_emoticons=True)
    w, b = chosen[1]

    # calibration on the validation reviews and sentences
    known_r = np.diff(x_val_r.indptr)
    known_s = np.diff(x_val_s.indptr)
    known_w = np.diff(x_words.indptr)[known_words]
    s_r, s_s = x_val_r @ w, x_val_s @ w
    single, _ = fit_calibration([(s_r, known_r, y_val_r), (s_s, known_s, val_sent_y)], b)
    calibration = {
        "t0": round(single[0], 6), "t1": round(single[1], 6),
        "reviews_ece_before": round(ece(y_val_r, expit(s_r + b)), 4),
        "reviews_ece_after": round(ece(y_val_r, calibrated(s_r, b, known_r, single)), 4),
        "sentences_ece_before": round(ece(val_sent_y, expit(s_s + b)), 4),
        "sentences_ece_after": round(ece(val_sent_y, calibrated(s_s, b, known_s, single)), 4)}
    log(f"calibration t0 {single[0]:.4f} t1 {single[1]:.4f}: {calibration}")
    final_calibration, final_bias = single, b

    # ---- a second weight column for long texts: the reviews alone, Adam (validation) ----
    review_column = None
    if cfg.review_epochs:
        log("review column: NB-LR on the fitting reviews alone, Adam, epochs on validation")
        # the lexicon prior's weights for the words reviews never show: this column may
        # score short texts, and out of the movies' domain they need the lexicon's words
        w_b, b_b, history = fit_review_weights(x_fit_r, y_fit_r, cfg, cfg.review_epochs,
                                             prior_of(vocab, strength), (x_val_r, y_val_r))
        epochs = int(np.argmax(history)) + 1
        s2_r, s2_s = np.stack([s_r, x_val_r @ w_b]), np.stack([s_s, x_val_s @ w_b])
        s2_w = np.stack([x_words[known_words] @ w, x_words[known_words] @ w_b])
        # The gate is fitted on the reviews and the rated words: the reviews say from which
        # length the review column is the better one, and the words that it rates words
        # out of the movies' domain worse (alone: see "alone" below). The IMDB sentences,
        # whose labels are their review's, gain little from it at any length and would pull
        # every short text to it. The temperature and bias are then fitted on all three.
        gate_fit, _ = fit_calibration([(s2_r, known_r, y_val_r),
                                       (s2_w, known_w, words_y[known_words])])
        mixed_calibration, mixed_bias = fit_calibration(
            [(s2_r, known_r, y_val_r), (s2_s, known_s, val_sent_y),
             (s2_w, known_w, words_y[known_words])], gate=gate_fit[2:])
        review_column = {
            "l2": cfg.review_l2, "learning_rate": cfg.review_learning_rate,
            "prior_strength": strength,
            "batch_size": cfg.review_batch_size, "epochs": epochs,
            "val_reviews_accuracy_by_epoch": [round(float(v), 4) for v in history],
            "calibration": {**{name: round(value, 6) for name, value in
                               zip(("t0", "t1", "a0", "a1", "u0", "u1"), mixed_calibration)},
                            "bias": round(mixed_bias, 6)},
            "alone": {"reviews": _scores(y_val_r, expit(s2_r[1] + b_b)),
                      "sentences": _scores(val_sent_y, expit(s2_s[1] + b_b)),
                      "words": _scores(words_y[known_words], expit(s2_w[1] + b_b))},
            "one_column": {
                "reviews": _scores(y_val_r, calibrated(s_r, b, known_r, single)),
                "sentences": _scores(val_sent_y, calibrated(s_s, b, known_s, single)),
                "words": _scores(words_y[known_words],
                                 calibrated(s2_w[0], b, known_w, single))},
            "two_columns": {
                "reviews": _scores(y_val_r, calibrated(s2_r, mixed_bias, known_r,
                                                       mixed_calibration)),
                "sentences": _scores(val_sent_y, calibrated(s2_s, mixed_bias, known_s,
                                                            mixed_calibration)),
                "words": _scores(words_y[known_words],
                                 calibrated(s2_w, mixed_bias, known_w, mixed_calibration))}}
        one, two = review_column["one_column"], review_column["two_columns"]
        # Kept only if validation says so: more reviews right, short texts no worse.
        review_column["kept"] = bool(
            two["reviews"]["accuracy"] > one["reviews"]["accuracy"]
            and two["sentences"]["roc_auc"] >= one["sentences"]["roc_auc"] - 0.002
            and two["words"]["roc_auc"] >= one["words"]["roc_auc"] - 0.002)
        log(f"review column ({epochs} epochs): validation reviews "
            f"{one['reviews']['accuracy']} -> {two['reviews']['accuracy']}, sentences AUC "
            f"{one['sentences']['roc_auc']} -> {two['sentences']['roc_auc']}, words AUC "
            f"{one['words']['roc_auc']} -> {two['words']['roc_auc']}: "
            f"{'kept' if review_column['kept'] else 'dropped'}")
        if review_column["kept"]:
            final_calibration, final_bias = mixed_calibration, mixed_bias
            calibration.update({
                "two_columns": review_column["calibration"],
                "reviews_ece_two_columns": two["reviews"]["ece"],
                "sentences_ece_two_columns": two["sentences"]["ece"]})

    # ---- refit on all training reviews with the chosen settings ----
    log("refitting on all 25,000 training reviews and their sentences")
    vocab = vocabulary_of(np.arange(len(y_train)))
    vec = Vectorizer(vocab)
    all_texts, all_sents, all_sent_y = with_sentences(np.arange(len(y_train)))
    x_reviews = design(vec, all_texts)
    x_all = sp.vstack([x_reviews, design(vec, all_sents)]).tocsr()
    y_all = np.concatenate([y_train, all_sent_y])
    sample_weight = np.concatenate([np.ones(len(y_train)), np.full(len(all_sent_y), weight)])
    keep = sample_weight > 0
    r_all = nb_ratios(x_all, y_all, cfg.alpha)
    w, b = fit_linear(x_all[keep], y_all[keep], sample_weight[keep], r_all,
                      prior_of(vocab, strength), l2, cfg.max_iter)
    weights = w[None, :]
    two_columns = bool(review_column and review_column["kept"])
    if two_columns:
        log(f"refitting the review column on all 25,000 reviews ({review_column['epochs']} epochs)")
        w_b, _, _ = fit_review_weights(x_reviews, y_train, cfg, review_column["epochs"],
                                       prior_of(vocab, strength))
        weights = np.stack([w, w_b])
    w32, b32 = weights.astype(np.float32), np.float32(final_bias if two_columns else b)

    x_test = design(vec, test.texts).astype(np.float32)
    known_test = np.diff(x_test.indptr)
    p_test = calibrated(np.stack([x_test @ column for column in w32]), float(b32), known_test,
                        final_calibration)
    y_test = test.labels.astype(np.int64)
    test_metrics = _scores(y_test, p_test)
    test_sents = [s for t in test.texts for s in sentences(t, cfg.min_sentence_words)]
    log(f"test: {test_metrics}")
    metrics = {
        "test_accuracy": test_metrics["accuracy"], "test_roc_auc": test_metrics["roc_auc"],
        "test_ece": test_metrics["ece"],
        "test_loss": float(-np.mean(y_test * np.log(np.clip(p_test, 1e-12, 1))
                                    + (1 - y_test) * np.log(np.clip(1 - p_test, 1e-12, 1)))),
        "chosen": {"l2": l2, "prior_strength": strength, "sentence_weight": weight,
                   "vocab_size": len(vocab), "ngram": cfg.ngram, "tokenizer_version": TOKENIZER},
        "validation_grid": [row for row, _ in grid], "emoticon_ablation": ablation,
        "calibration": calibration, "review_column": review_column,
        "training": {"reviews": len(y_train), "sentences": len(all_sent_y),
                     "unlabelled_reviews_counted": len(unlabelled),
                     "lexicon_entries": len(lexicon), "validation_reviews": int(len(val)),
                     "validation_movies": len(chosen_titles),
                     "test_sentences_not_used": len(test_sents)},
        "data": str(data_path), "data_sha256": data_sha, "seed": cfg.seed,
        "vocabulary_checksum": vocab.checksum, "versions": _versions(),
        "seconds": round(time.perf_counter() - start, 1)}
    if export:
        from .export import LINEAR_DATA_DOMAIN, export_linear, linear_trainer

        if two_columns:
            metrics["data_domain"] = (LINEAR_DATA_DOMAIN + "; a second weight column, from the "
                                      "reviews alone, takes over as a text gets longer")
            metrics["trainer"] = (f"{linear_trainer(metrics)}; review column: Keras Adam "
                                  f"{metrics['versions'].get('keras', '')}")
        paths = export_linear(w32, b32, final_calibration, vocab,
                              out, test_texts=test.texts,
                              expected=p_test.astype(np.float32), metrics=metrics,
                              preset="default")
        metrics["exported"] = {k: str(v) for k, v in paths.items()}
        metrics["model_bytes"] = os.path.getsize(paths["model"])
    write_json(out / "metrics.json", metrics)
    return metrics


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {**versions(), **{name: version(name) for name in
                             ("scipy", "scikit-learn", "vaderSentiment", "textblob")}}


def main(args) -> int:
    cfg = AnyLengthConfig(data=args.data, out=args.out, seed=args.seed)
    metrics = train_any_length(cfg)
    print(f"test_accuracy={metrics['test_accuracy']:.4f} test_ece={metrics['test_ece']:.4f} "
          f"chosen={metrics['chosen']} model_bytes={metrics.get('model_bytes')}")
    if args.bundle:
        from .export import bundle

        print(f"bundled into {bundle(cfg.out, 'default', gzip_vocabulary=True)}")
    return 0
