"""Latency and throughput of imdb-edge, end to end from raw text, beside the alternatives.

imdb-edge bench (or python benchmarks/latency.py in a checkout, which adds the TensorFlow
peers Keras and LiteRT). Everything is measured in one run on the same reviews with the same
thread settings; each peer runs only where it is installed (pip install "imdb-edge[bench]")
and is otherwise skipped with a one-line note. Prints a table and writes bench.json (every
figure and the machine) and bench.png to --out. Only numpy and onnxruntime are needed for
imdb-edge's own figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

BATCH_SIZES = (1, 32, 512, 4096)


# -- helpers ------------------------------------------------------------------------------

def _best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _percentiles_us(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples) * 1e6
    return {"p50_us": float(np.percentile(arr, 50)), "p95_us": float(np.percentile(arr, 95)),
            "p99_us": float(np.percentile(arr, 99)), "calls": len(samples)}


def _latency(call, texts: list[str], calls: int, warmup: int) -> dict[str, float]:
    for i in range(warmup):
        call(texts[i % len(texts)])
    samples = []
    clock = time.perf_counter
    for i in range(calls):
        text = texts[i % len(texts)]
        start = clock()
        call(text)
        samples.append(clock() - start)
    return _percentiles_us(samples)


def _throughput(score_batch, texts: list[str], batch: int, threads: int, repeats: int) -> float:
    """Reviews/s scoring ``texts`` in batches of ``batch``, spread over ``threads`` threads."""
    batches = [texts[i:i + batch] for i in range(0, len(texts), batch)]

    def run():
        if threads == 1:
            for b in batches:
                score_batch(b)
            return
        lanes = [batches[k::threads] for k in range(threads)]
        workers = [threading.Thread(target=lambda lane=lane: [score_batch(b) for b in lane])
                   for lane in lanes]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    run()  # warm-up
    return len(texts) / _best_time(run, repeats)


def machine_info() -> dict:
    import onnxruntime

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from . import __version__
    return {"cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version(), "numpy": np.__version__,
            "onnxruntime": onnxruntime.__version__, "imdb_edge": __version__,
            "platform": platform.platform()}


# -- reviews ------------------------------------------------------------------------------

def load_reviews(args) -> tuple[list[str], str]:
    if args.file:
        try:
            with open(args.file, encoding="utf-8", errors="replace") as handle:
                texts = [line.rstrip("\n") for line in handle if line.strip()]
        except OSError as exc:
            raise ValueError(f"cannot read --file {args.file}: {exc.strerror}") from None
        source = args.file
    else:
        from ._data import read_imdb
        texts = read_imdb(args.data, splits=("test",))["test"].texts
        source = f"IMDB test split ({args.data or 'found by $IMDB_EDGE_DATA / cache'})"
    if not texts:
        raise ValueError(f"no reviews to benchmark in {source}")
    rng = random.Random(0)
    texts = list(texts)
    rng.shuffle(texts)           # mix positive and negative, fixed order
    if args.limit:
        texts = texts[:args.limit]
    return texts, source


# -- imdb-edge ----------------------------------------------------------------------------

def bench_vectorizer(scorer, texts, repeats) -> dict:
    from ._vectorizer import Vectorizer

    vocab = scorer.vectorizer.vocabulary
    n_bytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    out = {"n_texts": len(texts), "mb": n_bytes / 1e6}
    lower = _best_time(lambda: [t.lower() for t in texts], repeats)
    out["str_lower"] = {"reviews_per_s": len(texts) / lower, "mb_per_s": n_bytes / 1e6 / lower}
    for backend in ("cython", "python"):
        try:
            vec = Vectorizer(vocab, backend=backend)
        except ImportError as exc:
            out[backend] = {"skipped": str(exc)}
            continue
        sample = texts if backend == "cython" else texts[:max(1, len(texts) // 5)]
        one = _best_time(lambda: vec.transform_ids(sample), repeats if backend == "cython" else 1)
        half = len(sample) // 2
        parts = [sample[:half], sample[half:]]

        def two():
            workers = [threading.Thread(target=vec.transform_ids, args=(p,)) for p in parts]
            [w.start() for w in workers]
            [w.join() for w in workers]

        both = _best_time(two, repeats if backend == "cython" else 1)
        sample_mb = sum(len(t.encode("utf-8", "surrogatepass")) for t in sample) / 1e6
        out[backend] = {"reviews_per_s_1_thread": len(sample) / one,
                        "mb_per_s_1_thread": sample_mb / one,
                        "reviews_per_s_2_threads": len(sample) / both,
                        "mb_per_s_2_threads": sample_mb / both, "n_texts": len(sample)}
    if "reviews_per_s_1_thread" in out.get("cython", {}):
        c = out["cython"]["reviews_per_s_1_thread"]
        out["cython_vs_str_lower"] = out["str_lower"]["reviews_per_s"] / c
        if "reviews_per_s_1_thread" in out.get("python", {}):
            out["cython_vs_python"] = c / out["python"]["reviews_per_s_1_thread"]
    return out


def bench_imdb_edge(scorer, texts, args) -> dict:
    cores = os.cpu_count() or 1
    out = {"single": _latency(lambda t: scorer.score([t]), texts, args.calls, args.warmup)}
    out["throughput"] = {}
    for threads in sorted({1, cores}):
        for batch in BATCH_SIZES:
            sample = texts if batch > 1 else texts[:args.calls]
            rate = _throughput(scorer.score, sample, batch, threads, args.repeats)
            out["throughput"][f"{threads}t_b{batch}"] = {"threads": threads, "batch": batch,
                                                         "reviews_per_s": rate}
    # where the time goes, batch 512, one thread
    batches = [texts[i:i + 512] for i in range(0, len(texts), 512)]
    vec = scorer.vectorizer
    t_vec = _best_time(lambda: [vec.transform_ids(b) for b in batches], args.repeats)
    encoded = [vec.transform_ids(b) for b in batches]
    t_model = _best_time(lambda: [scorer._run_ids(*e) for e in encoded], args.repeats)
    out["split_b512"] = {"vectorizer_s": t_vec, "model_s": t_model,
                         "vectorizer_share": t_vec / (t_vec + t_model)}
    return out


_COLD = r"""
import resource, sys, time
start = time.perf_counter()
import imdb_edge
scorer = imdb_edge.load({model!r})
scorer.score(["warm"])
cold = time.perf_counter() - start
start = time.perf_counter()
with open(sys.argv[1], encoding="utf-8") as handle:   # streamed, as a long input would be
    p = scorer.score(line.rstrip("\n") for line in handle)
elapsed = time.perf_counter() - start
# VmHWM is this program's own peak: ru_maxrss survives exec and can report the parent's size
try:
    peak_kb = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
except (OSError, IndexError):
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(cold, elapsed, len(p), peak_kb)
"""


def bench_cold_start(texts, model) -> dict:
    """Import + load in a fresh interpreter, then peak RSS while it scores every review,
    streamed from a file (so the figure is the runtime's memory, not the input's)."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.write("\n".join(t.replace("\n", " ") for t in texts) + "\n")
        path = f.name
    try:
        runs = []
        for _ in range(3):
            result = subprocess.run([sys.executable, "-c", _COLD.format(model=model), path],
                                    capture_output=True, text=True, check=True)
            cold, elapsed, n, rss_kb = result.stdout.split()
            runs.append((float(cold), float(elapsed), int(n), int(rss_kb)))
        return {"cold_start_s": min(r[0] for r in runs),
                "cold_start_s_runs": [round(r[0], 4) for r in runs],
                "score_all_s": min(r[1] for r in runs), "n_texts": runs[0][2],
                "peak_rss_mb": min(r[3] for r in runs) / 1024}
    finally:
        os.unlink(path)


def bench_presets(names: list[str], texts, args) -> dict:
    """Each bundled preset on the same reviews: accuracy, size, speed, in one run."""
    from ._scorer import load

    out = {}
    for name in names:
        start = time.perf_counter()
        scorer = load(name, threads=1)
        load_s = time.perf_counter() - start
        info = scorer.info
        out[name] = {
            "test_accuracy": float(info.get("test_accuracy", "nan")),
            "model_bytes": os.path.getsize(scorer.path),
            "features": int(info["vocabulary_size"]), "ngram": int(info["ngram"]),
            "load_s": load_s,
            "reviews_per_s_b512": _throughput(scorer.score, texts, 512, 1, args.repeats),
            "single": _latency(lambda t: scorer.score([t]), texts, args.calls, args.warmup),
        }
    return out


# -- peers --------------------------------------------------------------------------------

def peer_python_reference(scorer, texts, args):
    from ._scorer import Scorer

    ref = Scorer(scorer.path, scorer.path.with_name("vocab.txt"), backend="python")
    sample = texts[:max(512, len(texts) // 5)]
    return {"reviews_per_s_b512": _throughput(ref.score, sample, 512, 1, 1),
            "single": _latency(lambda t: ref.score([t]), texts, min(args.calls, 1000), 50),
            "note": "pure-Python reference vectorizer + the same onnxruntime model"}


def peer_sklearn(scorer, texts, args):
    from sklearn.feature_extraction.text import CountVectorizer

    vocab = scorer.vectorizer.vocabulary
    cv = CountVectorizer(binary=True, vocabulary=vocab.features, dtype=np.float32)

    def score(batch):
        csr = cv.transform(batch)
        return scorer._run_ids(csr.indptr.astype(np.int64), csr.indices.astype(np.int32))

    agree = float(np.mean((score(texts[:2000]) > 0.5) == (scorer.score(texts[:2000]) > 0.5)))
    return {"reviews_per_s_b512": _throughput(score, texts, 512, 1, 1),
            "single": _latency(lambda t: score([t]), texts, min(args.calls, 1000), 50),
            "label_agreement_with_imdb_edge": agree,
            "note": "CountVectorizer(binary=True) with its own tokenizer on our vocabulary + "
                    "the same onnxruntime model"}


def peer_fasttext(scorer, texts, args):
    import fasttext

    from ._data import read_imdb
    from ._tokenizer import tokenize

    data = read_imdb(args.data)
    lines = [f"__label__{int(label)} {' '.join(tokenize(text))}\n"
             for text, label in zip(data["train"].texts, data["train"].labels)]
    random.Random(0).shuffle(lines)   # the reader is sorted by label; SGD needs them mixed
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.writelines(lines)
        path = f.name
    try:
        model = fasttext.train_supervised(path, epoch=5, lr=0.5, wordNgrams=1, thread=1,
                                          seed=0, verbose=0)
    finally:
        os.unlink(path)
    test = data["test"]
    prepared = [" ".join(tokenize(t)) for t in test.texts]
    labels, _ = model.predict(prepared, k=1)
    accuracy = float(np.mean([lab[0] == f"__label__{int(y)}" for lab, y in zip(labels, test.labels)]))

    def score(batch):   # fastText from raw text: our tokenizer, then predict
        return model.predict([" ".join(tokenize(t)) for t in batch], k=1)

    return {"reviews_per_s_b512": _throughput(score, texts, 512, 1, 1),
            "single": _latency(lambda t: score([t]), texts, min(args.calls, 1000), 50),
            "test_accuracy": accuracy,
            "note": "a different model: fastText supervised (unigrams, 5 epochs) on the same "
                    "training reviews, with our tokenizer in Python"}


# -- report -------------------------------------------------------------------------------

def print_table(results: dict) -> None:
    edge = results["imdb_edge"]
    tp = edge["throughput"]
    cores = results["machine"]["cores"]
    print(f"\nimdb-edge bench — {results['n_reviews']:,} reviews from {results['source']}")
    m = results["machine"]
    print(f"machine: {m['cpu']} ({m['cores']} cores), Python {m['python']}, numpy {m['numpy']}, "
          f"onnxruntime {m['onnxruntime']}\n")
    s = edge["single"]
    print(f"single review, end to end: p50 {s['p50_us']:.1f} µs  p95 {s['p95_us']:.1f} µs  "
          f"p99 {s['p99_us']:.1f} µs  ({s['calls']} calls)")
    print("throughput (reviews/s):")
    print(f"  {'batch':>6} {'1 thread':>12} {f'{cores} threads':>12}")
    for batch in BATCH_SIZES:
        one = tp[f"1t_b{batch}"]["reviews_per_s"]
        many = tp.get(f"{cores}t_b{batch}", {}).get("reviews_per_s", float("nan"))
        print(f"  {batch:>6} {one:>12,.0f} {many:>12,.0f}")
    split = edge["split_b512"]
    print(f"time split at batch 512: vectorizer {100 * split['vectorizer_share']:.0f}%, "
          f"model {100 - 100 * split['vectorizer_share']:.0f}%")
    cold = results.get("cold")
    if cold:
        print(f"cold start (import + load + first score): {1000 * cold['cold_start_s']:.0f} ms; "
              f"peak RSS scoring {cold['n_texts']:,} reviews: {cold['peak_rss_mb']:.0f} MB")
    v = results["vectorizer"]
    if "reviews_per_s_1_thread" in v.get("cython", {}):
        c, lower = v["cython"], v["str_lower"]
        line = (f"vectorizer transform_ids: {c['reviews_per_s_1_thread']:,.0f} reviews/s "
                f"({c['mb_per_s_1_thread']:.0f} MB/s) 1 thread, "
                f"{c['reviews_per_s_2_threads']:,.0f} 2 threads; str.lower() "
                f"{lower['reviews_per_s']:,.0f}/s ({v['cython_vs_str_lower']:.1f}x the floor)")
        if "cython_vs_python" in v:
            line += (f"; Python reference {v['python']['reviews_per_s_1_thread']:,.0f}/s "
                     f"({v['cython_vs_python']:.0f}x slower)")
        print(line)
    base_tp = tp["1t_b512"]["reviews_per_s"]
    base_p50 = s["p50_us"]
    print(f"\n{'peer (1 thread)':<28} {'reviews/s b512':>15} {'vs imdb-edge':>13} "
          f"{'p50 µs':>10} {'vs imdb-edge':>13}  notes")
    print(f"{'imdb-edge':<28} {base_tp:>15,.0f} {'1.0x':>13} {base_p50:>10.1f} {'1.0x':>13}")
    for name, peer in results["peers"].items():
        if "skipped" in peer:
            print(f"{name:<28} skipped: {peer['skipped']}")
            continue
        extra = []
        if "test_accuracy" in peer:
            extra.append(f"test acc {peer['test_accuracy']:.4f} "
                         f"(imdb-edge {results.get('imdb_edge_test_accuracy', float('nan')):.4f})")
        if "max_abs_diff_vs_imdb_edge" in peer:
            extra.append(f"max |Δp| {peer['max_abs_diff_vs_imdb_edge']:.1e}")
        if "label_agreement_with_imdb_edge" in peer:
            extra.append(f"label agreement {peer['label_agreement_with_imdb_edge']:.3f}")
        print(f"{name:<28} {peer['reviews_per_s_b512']:>15,.0f} "
              f"{base_tp / peer['reviews_per_s_b512']:>12.1f}x {peer['single']['p50_us']:>10.1f} "
              f"{peer['single']['p50_us'] / base_p50:>12.1f}x  {'; '.join(extra)}")
    print("(vs imdb-edge: how many times slower the peer is)")
    presets = results.get("presets") or {}
    if presets:
        print(f"\n{'preset':<10} {'test acc':>9} {'features':>9} {'model MB':>9} {'load s':>7} "
              f"{'reviews/s b512':>15} {'p50 µs':>8} {'p99 µs':>8}")
        for name, p in presets.items():
            print(f"{name:<10} {p['test_accuracy']:>9.4f} {p['features']:>9,} "
                  f"{p['model_bytes'] / 1e6:>9.2f} {p['load_s']:>7.2f} "
                  f"{p['reviews_per_s_b512']:>15,.0f} {p['single']['p50_us']:>8.1f} "
                  f"{p['single']['p99_us']:>8.1f}")


def plot(results: dict, path: Path) -> str | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed: no chart"
    tp = results["imdb_edge"]["throughput"]
    cores = results["machine"]["cores"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for threads, style in ((1, "o-"), (cores, "s--")):
        ys = [tp.get(f"{threads}t_b{b}", {}).get("reviews_per_s") for b in BATCH_SIZES]
        if None not in ys:
            left.plot(BATCH_SIZES, ys, style, label=f"imdb-edge, {threads} thread(s)")
    for name, peer in results["peers"].items():
        if "reviews_per_s_b512" in peer:
            left.plot([512], [peer["reviews_per_s_b512"]], "x", markersize=9, label=name)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("batch size")
    left.set_ylabel("reviews/s (end to end, raw text)")
    left.set_title("Throughput")
    left.legend(fontsize=8)
    names = ["imdb-edge"] + [n for n, p in results["peers"].items() if "single" in p]
    singles = [results["imdb_edge"]["single"]] + [results["peers"][n]["single"] for n in names[1:]]
    x = np.arange(len(names))
    for offset, key in ((-0.25, "p50_us"), (0.0, "p95_us"), (0.25, "p99_us")):
        right.bar(x + offset, [s[key] for s in singles], width=0.25, label=key[:3])
    right.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
    right.set_yscale("log")
    right.set_ylabel("µs per single review")
    right.set_title("Single-review latency")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


# name -> (label, function(scorer, texts, args) -> figures). The TensorFlow-based peers (Keras,
# LiteRT) live in benchmarks/tf_peers.py, outside the runtime package, and are added by
# benchmarks/latency.py through ``extra_peers``.
PEERS = {
    "python": ("Python vectorizer + ORT", peer_python_reference),
    "sklearn": ("sklearn CountVectorizer + ORT", peer_sklearn),
    "fasttext": ("fastText (other model)", peer_fasttext),
}


def main(argv: list[str] | None = None, extra_peers: dict | None = None) -> int:
    registry = {**PEERS, **(extra_peers or {})}
    parser = argparse.ArgumentParser(prog="imdb-edge bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="aclImdb_v1.tar.gz or its folder: its 25,000 test reviews "
                        "are used (default: $IMDB_EDGE_DATA, then the cache folder)")
    parser.add_argument("--file", help="instead of --data: a text file, one review per line")
    parser.add_argument("--model", default="default", help="preset name or model folder to "
                        "benchmark (default: %(default)s)")
    parser.add_argument("--out", default="bench-results",
                        help="folder for bench.json and bench.png (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a few seconds: a smoke test")
    parser.add_argument("--peers", default=",".join(registry),
                        help=f"comma-separated peers to try, of {', '.join(registry)} "
                        "(default: all of them; '' = none)")
    parser.add_argument("--limit", type=int, help="use only the first N reviews")
    parser.add_argument("--presets", default="all",
                        help="bundled presets to compare, comma-separated ('all', '' = none)")
    parser.add_argument("--calls", type=int, default=2000,
                        help="single-review calls for the latency figures (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=200,
                        help="calls before timing starts (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="throughput is the best of N runs (default: %(default)s)")
    parser.add_argument("--dataset", action="store_true", help="dataset mode instead: "
                        "score-dataset (Dask) on 1 and 2 workers against a plain loop over "
                        "the same Parquet file (needs the dask extra)")
    parser.add_argument("--rows", type=int, default=250_000,
                        help="dataset mode: rows in the file (default: %(default)s)")
    parser.add_argument("--traceback", action="store_true", help="show tracebacks on errors")
    args = parser.parse_args(argv)
    unknown = [p for p in args.peers.split(",") if p and p not in registry]
    if unknown:
        parser.error(f"unknown peer {unknown[0]!r}; choose from {', '.join(registry)}"
                     + (" (keras and litert: python benchmarks/latency.py in a checkout)"
                        if unknown[0] in ("keras", "litert") else ""))
    for name in ("limit", "calls", "repeats"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be >= 1")
    if args.warmup < 0:
        parser.error("--warmup must be >= 0")
    if args.presets != "all":
        from ._models import presets as bundled

        missing = [p for p in args.presets.split(",") if p and p not in bundled()]
        if missing:
            parser.error(f"no bundled preset {missing[0]!r} (bundled: {', '.join(bundled())})")
    try:
        return _run(args, registry, parser)
    except KeyboardInterrupt:
        print("imdb-edge bench: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, as the rest of the CLI
        if args.traceback:
            raise
        print(f"imdb-edge bench: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _run_dataset(args) -> int:
    from ._bench_dataset import print_dataset, run_dataset_mode

    if args.rows < 1:
        raise ValueError("--rows must be >= 1")
    texts, source = load_reviews(args)
    print(f"dataset mode: {args.rows:,} rows from {source} ...", file=sys.stderr)
    results = {"source": source, "machine": machine_info(),
               **run_dataset_mode(texts, args.rows, args.model)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench-dataset.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_dataset(results)
    print(f"\nwrote {out / 'bench-dataset.json'}")
    return 0


def _run(args, registry: dict, parser) -> int:
    if args.quick:
        args.limit = args.limit or 2000
        args.calls, args.warmup, args.repeats = 300, 50, 1
        if args.peers == parser.get_default("peers"):
            args.peers = "python,sklearn"
    print(f"imdb-edge bench: results go to {args.out}/ (--out)", file=sys.stderr)
    if args.dataset:
        return _run_dataset(args)
    from ._scorer import load

    texts, source = load_reviews(args)
    scorer = load(args.model, threads=1)
    results = {"source": source, "n_reviews": len(texts), "machine": machine_info(),
               "quick": args.quick, "model": scorer.info}
    try:
        results["imdb_edge_test_accuracy"] = float(scorer.info["test_accuracy"])
    except (KeyError, ValueError):
        pass
    print(f"benchmarking {len(texts):,} reviews ...", file=sys.stderr)
    results["vectorizer"] = bench_vectorizer(scorer, texts, args.repeats)
    results["imdb_edge"] = bench_imdb_edge(scorer, texts, args)
    results["cold"] = bench_cold_start(texts, args.model)
    from ._models import presets as bundled
    names = bundled() if args.presets == "all" else [p for p in args.presets.split(",") if p]
    if names:
        print("presets ...", file=sys.stderr)
        results["presets"] = bench_presets(names, texts, args)
    from ._bench_cli import bench_cli

    print("CLI ...", file=sys.stderr)
    results["cli"] = bench_cli(texts, args.model, args.repeats)
    peers = {}
    wanted = [p for p in args.peers.split(",") if p]
    for name in wanted:
        label, run = registry.get(name, (name, None))
        print(f"peer {label} ...", file=sys.stderr)
        if run is None:
            peers[label] = {"skipped": "not available here" + (
                " (Keras and LiteRT: python benchmarks/latency.py, from the repository)"
                if name in ("keras", "litert") else "")}
            continue
        try:
            peers[label] = run(scorer, texts, args)
        except ImportError as exc:
            peers[label] = {"skipped": f"not installed ({exc.name or exc})"}
        except Exception as exc:  # noqa: BLE001 - a broken peer must not sink the report
            peers[label] = {"skipped": f"failed: {type(exc).__name__}: {str(exc)[:160]}"}
    results["peers"] = peers
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    note = plot(results, out / "bench.png")
    print_table(results)
    from ._bench_cli import print_cli

    print_cli(results["cli"])
    print(f"\nwrote {out / 'bench.json'}" + (f"; {note}" if note else f" and {out / 'bench.png'}"))
    return 0


def _one_line(exc: BaseException) -> str:
    """An error message on one line, whatever a library put in it."""
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
