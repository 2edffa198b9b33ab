"""``imdb-edge evaluate``: how well models score a user's labeled texts.

The file is read once, in batches, whatever the number of models; only the probabilities and
labels (12 bytes a text) are kept. Runtime dependencies only; the PNG charts need matplotlib
and are skipped with a note without it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .. import _metrics
from ..io._labeled import LabelCoder, check_text, iter_records

BATCH = 1024
# Text length buckets of the "by length" figures: whitespace-separated words, upper bounds.
LENGTH_BUCKETS = ((10, "<= 10 words"), (30, "11-30 words"), (100, "31-100 words"),
                  (None, "> 100 words"))


def by_length(words: np.ndarray, y: np.ndarray, p: np.ndarray, threshold: float) -> list[dict]:
    """Accuracy and count per length bucket (:data:`LENGTH_BUCKETS`; ``words`` per text);
    a bucket with no text has accuracy None."""
    out, low = [], 0
    for high, name in LENGTH_BUCKETS:
        mask = (words > low) if high is None else ((words > low) & (words <= high))
        if low == 0:
            mask |= words == 0
        n = int(mask.sum())
        accuracy = float(np.mean((p[mask] > threshold) == y[mask])) if n else None
        out.append({"bucket": name, "n": n, "accuracy": accuracy})
        low = high if high is not None else low
    return out


INVERTED_AUC = 0.3    # below this, a sentiment model is far likelier mislabelled than bad


def evaluate(scorers: list, path, *, text_column: str = "text", label_column: str = "label",
             fmt: str | None = None, delimiter: str | None = None, encoding: str = "utf-8",
             threshold: float = 0.5, positive: str | None = None, progress=None,
             arrays: list | None = None, csv_quoting: bool = False) -> list[dict]:
    """One report (see :func:`imdb_edge._metrics.report`) per scorer, on one pass of ``path``;
    ``(labels, probabilities)`` of each are appended to ``arrays`` when it is given.

    Raises:
        DataError: unreadable file, missing column, bad or missing label or text, one class.
    """
    coder = LabelCoder(path)
    codes: list[np.ndarray] = []
    scores: list[list[np.ndarray]] = [[] for _ in scorers]
    known: list[list[np.ndarray]] = [[] for _ in scorers]
    words: list[np.ndarray] = []
    texts: list[str] = []
    batch_codes: list[int] = []
    empty = 0

    def flush() -> None:
        for i, scorer in enumerate(scorers):
            p, k = scorer.score(texts, return_known=True)
            scores[i].append(p)
            known[i].append(k)
        codes.append(np.array(batch_codes, np.int8))
        words.append(np.array([len(t.split()) for t in texts], np.int32))
        if progress is not None:
            progress(sum(len(c) for c in codes))
        texts.clear()
        batch_codes.clear()

    for where, text, label in iter_records(path, text_column=text_column,
                                           label_column=label_column, fmt=fmt,
                                           delimiter=delimiter, encoding=encoding,
                                           csv_quoting=csv_quoting):
        text = check_text(path, where, text)
        batch_codes.append(coder.code(label, where))
        empty += not text.strip()
        texts.append(text)
        if len(texts) == BATCH:
            flush()
    if texts:
        flush()
    y_codes = np.concatenate(codes) if codes else np.zeros(0, np.int8)
    n_words = np.concatenate(words) if words else np.zeros(0, np.int32)
    reports = []
    for scorer, parts, known_parts in zip(scorers, scores, known):
        names, flip, rule = coder.order(positive, model_labels=scorer.labels)
        y = (1 - y_codes) if flip else y_codes
        p = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        report = {"model": str(scorer.path), "labels": {"negative": names[0],
                                                        "positive": names[1], "rule": rule},
                  "warnings": list(dict.fromkeys(coder.cautions)),
                  "blank_texts": empty, **_metrics.report(y, p, threshold=threshold, names=names),
                  "no_known_features": int(sum(int(np.count_nonzero(k == 0))
                                               for k in known_parts)),
                  "by_length": by_length(n_words, y, p, threshold)}
        auc = report.get("roc_auc")
        if auc is not None and auc == auc and auc < INVERTED_AUC and report["n"] >= 20:
            report["warnings"].append(
                f"ROC AUC {auc:.3f} for {scorer.path}: the scores rank the labels backwards, "
                f"as if {names[1]!r} were the model's negative class; check the labels and "
                "--positive (which names the data's label for the model's positive class)")
        reports.append(report)
        if arrays is not None:
            arrays.append((y, p))
    return reports


_ROWS = [("reviews", lambda r: f"{r['n']:,}"),
         ("positive share", lambda r: f"{r['positives'] / max(r['n'], 1):.3f}"),
         ("accuracy", lambda r: f"{r['accuracy']:.4f}"),
         ("ROC AUC", lambda r: f"{r['roc_auc']:.4f}"),
         ("log loss", lambda r: f"{r['log_loss']:.4f}"),
         ("Brier score", lambda r: f"{r['brier']:.4f}"),
         ("ECE (10 bins)", lambda r: f"{r['ece']:.4f}"),
         ("confusion tn fp fn tp", lambda r: " ".join(str(r["confusion"][k])
                                                      for k in ("tn", "fp", "fn", "tp"))),
         ("best-F1 threshold", lambda r: f"{r['best_f1']['threshold']:.4f} "
                                         f"(F1 {r['best_f1']['f1']:.4f})"),
         ("best balanced-acc. threshold",
          lambda r: f"{r['best_balanced_accuracy']['threshold']:.4f} "
                    f"({r['best_balanced_accuracy']['balanced_accuracy']:.4f})")]


def format_table(reports: list[dict]) -> str:
    """Metrics as rows, models side by side as columns."""
    rows = [("model", [os.path.basename(os.path.dirname(r["model"])) or r["model"]
                       for r in reports])]
    rows.append(("positive label", [r["labels"]["positive"] for r in reports]))
    rows += [(name, [fn(r) for r in reports]) for name, fn in _ROWS]
    rows.append(("no known feature (unknown)", [f"{r['no_known_features']:,}" for r in reports]))
    for i, (_, name) in enumerate(LENGTH_BUCKETS):
        rows.append((f"accuracy, {name} (n)",
                     [f"{r['by_length'][i]['accuracy']:.4f} ({r['by_length'][i]['n']:,})"
                      if r["by_length"][i]["n"] else "- (0)" for r in reports]))
    for side in ("negative", "positive"):
        rows.append((f"{side}: precision recall",
                     [f"{r['per_class'][r['labels'][side]]['precision']:.4f} "
                      f"{r['per_class'][r['labels'][side]]['recall']:.4f}" for r in reports]))
    width = max(len(name) for name, _ in rows)
    cols = [max(len(row[1][i]) for row in rows) for i in range(len(reports))]
    lines = [f"{name:<{width}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(values, cols))
             for name, values in rows]
    lines.append(f"threshold {reports[0]['threshold']}: positive when probability > threshold; "
                 f"{reports[0]['labels']['rule']}")
    return "\n".join(lines)


def write_plots(reports: list[dict], scores_and_labels, out_dir) -> list[Path] | str:
    """A reliability diagram and a ROC curve (PNG) for all models; a note if matplotlib is
    missing. ``scores_and_labels``: ``(y, p)`` per report, for the ROC curve."""
    try:
        import matplotlib
    except ImportError:
        return ("charts skipped: matplotlib is not installed (pip install matplotlib, or "
                "'.[plots]' in an imdb-edge checkout)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("reliability", "roc"):
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.plot([0, 1], [0, 1], ":", color="grey")
        for report, (y, p) in zip(reports, scores_and_labels):
            label = os.path.basename(os.path.dirname(report["model"])) or report["model"]
            if name == "roc":
                fpr, tpr, _ = _metrics.roc_points(y, p)
                ax.plot(fpr, tpr, label=f"{label} (AUC {report['roc_auc']:.3f})")
            else:
                rel = report["reliability"]
                used = [c > 0 for c in rel["count"]]
                ax.plot(np.array(rel["mean_probability"])[used],
                        np.array(rel["fraction_positive"])[used], "o-",
                        label=f"{label} (ECE {report['ece']:.3f})")
        ax.set_xlabel("false positive rate" if name == "roc" else "mean probability")
        ax.set_ylabel("true positive rate" if name == "roc" else "fraction positive")
        ax.set_title("ROC curve" if name == "roc" else "Reliability diagram")
        ax.legend(loc="lower right")
        fig.tight_layout()
        fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".png", dir=out_dir)
        os.close(fd)
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        os.replace(tmp, out_dir / f"{name}.png")
        written.append(out_dir / f"{name}.png")
    return written


# -- the command ----------------------------------------------------------------------------

def run(args, load) -> int:
    import json
    import sys

    if not 0.0 <= args.threshold <= 1.0:
        raise _usage("--threshold must be in [0, 1]")
    if args.delimiter is not None and len(args.delimiter) != 1:
        raise _usage("--delimiter must be one character")
    names = args.model or [None]
    scorers = [load(name, args.threads) for name in names]
    arrays: list = []
    reports = evaluate(scorers, args.file, text_column=args.text_column,
                       label_column=args.label_column, fmt=args.data_format,
                       delimiter=args.delimiter, encoding=args.encoding,
                       threshold=args.threshold, positive=args.positive, arrays=arrays,
                       csv_quoting=args.csv_quoting)
    for report in reports:
        for warning in report["warnings"]:
            print(f"imdb-edge: warning: {warning}", file=sys.stderr)
        if report["no_known_features"]:
            print(f"imdb-edge: note: {report['no_known_features']:,} of {report['n']:,} texts "
                  f"had no word the model {report['model']} knows: each was scored with the "
                  "model's prior (its bias), which says nothing about the text",
                  file=sys.stderr)
    if args.plots:
        written = write_plots(reports, arrays, args.plots)
        if isinstance(written, str):
            print(f"imdb-edge: note: {written}", file=sys.stderr)
    from ..io._output import escape_surrogates

    if args.json:
        payload = reports[0] if len(reports) == 1 else {"models": reports}
        print(escape_surrogates(json.dumps(_no_nan(payload), indent=2, ensure_ascii=False)))
    else:
        print(escape_surrogates(format_table(reports)))
    return 0


def _no_nan(value):
    """JSON has no NaN: an undefined metric (e.g. AUC with one class present) is null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def _usage(message: str) -> Exception:
    from ._errors import UsageError

    return UsageError(message)
