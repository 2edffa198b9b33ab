"""The benchmark's measurements of imdb-edge itself: timing helpers, the reviews, the vectorizer,
throughput and latency, cold start, the presets."""


from __future__ import annotations

import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time

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


def _timed_calls(call, arguments: list) -> list[float]:
    """Seconds of each ``call(argument)``, in order."""
    samples = []
    clock = time.perf_counter
    for argument in arguments:
        start = clock()
        call(argument)
        samples.append(clock() - start)
    return samples


def _latency(call, texts: list[str], calls: int, warmup: int) -> dict[str, float]:
    for i in range(warmup):
        call(texts[i % len(texts)])
    return _percentiles_us(_timed_calls(call, [texts[i % len(texts)] for i in range(calls)]))


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
    from .. import __version__
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
        from ..io._data import read_imdb
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
    from .._vectorizer import Vectorizer

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
import sys, time
start = time.perf_counter()
import imdb_edge
scorer = imdb_edge.load({model!r})
scorer.score(["warm"])
cold = time.perf_counter() - start
start = time.perf_counter()
with open(sys.argv[1], encoding="utf-8") as handle:   # streamed, as a long input would be
    p = scorer.score(line.rstrip("\n") for line in handle)
elapsed = time.perf_counter() - start
from imdb_edge._memory import peak_rss_mb   # after the timing: not in cold
print(cold, elapsed, len(p), peak_rss_mb())
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
            cold, elapsed, n, rss_mb = result.stdout.split()
            runs.append((float(cold), float(elapsed), int(n), float(rss_mb)))
        return {"cold_start_s": min(r[0] for r in runs),
                "cold_start_s_runs": [round(r[0], 4) for r in runs],
                "score_all_s": min(r[1] for r in runs), "n_texts": runs[0][2],
                "peak_rss_mb": min(r[3] for r in runs)}
    finally:
        os.unlink(path)


SHORT_WORDS = 8     # the presets' short-text latency: each review's first 8 words


def bench_presets(names: list[str], texts, args) -> dict:
    """Each bundled preset on the same reviews, in one run: accuracy, size, load time,
    reviews/s at batch 512, and single-call latency (µs, p50/p99) on whole reviews and on
    their first :data:`SHORT_WORDS` words.

    The speed figures are interleaved: ``max(5, repeats)`` rounds, each timing every preset
    in turn (the order rotates), so a slow spell of a shared machine falls on all presets
    alike. Throughput and the p50s are each preset's best round (a round's p50 is over its
    ``calls // rounds`` calls); p99 pools every round's calls. ``warmup`` calls a preset come
    first."""
    from .._scorer import load

    out, scorers = {}, {}
    for name in names:
        start = time.perf_counter()
        scorers[name] = load(name, threads=1)
        load_s = time.perf_counter() - start
        info = scorers[name].info
        out[name] = {
            "test_accuracy": float(info.get("test_accuracy", "nan")),
            "model_bytes": os.path.getsize(scorers[name].path),
            "features": int(info["vocabulary_size"]), "ngram": int(info["ngram"]),
            "load_s": load_s, "reviews_per_s_b512": 0.0,
        }
    short = [" ".join(t.split()[:SHORT_WORDS]) for t in texts]
    rounds = max(5, args.repeats)
    per_round = max(1, args.calls // rounds)
    samples = {name: {"single": [], "single_short": []} for name in names}
    for name in names:                              # warm-up, outside the timed rounds
        for i in range(args.warmup):
            scorers[name].score([texts[i % len(texts)]])
            scorers[name].score([short[i % len(short)]])
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            score = scorers[name].score
            rate = _throughput(score, texts, 512, 1, 1)
            out[name]["reviews_per_s_b512"] = max(out[name]["reviews_per_s_b512"], rate)
            for key, pool in (("single", texts), ("single_short", short)):
                one_each = [[pool[(r * per_round + i) % len(pool)]] for i in range(per_round)]
                samples[name][key].append(_timed_calls(score, one_each))
    for name in names:
        for key, blocks in samples[name].items():
            row = _percentiles_us([t for block in blocks for t in block])
            row["p50_us"] = min(float(np.percentile(block, 50)) * 1e6 for block in blocks)
            row["rounds"] = rounds
            out[name][key] = row
    return out
