"""Before/after in one run: this checkout against another build of imdb-edge, interleaved.

    git worktree add /tmp/base <commit> && (cd /tmp/base && python setup.py build_ext --inplace)
    python benchmarks/ab.py --baseline /tmp/base --data ../shared/data/aclImdb_v1.tar.gz

Each round measures the baseline and this checkout in fresh subprocesses, one after the other
(the order alternates), on the same reviews: ``transform_ids`` reviews/s, end-to-end
``score()`` reviews/s at batch 512 on one thread, and the single-review p50; with ``--cli``
also ``imdb-edge score`` reviews/s (text and jsonl output, whole reviews and their first 8
words). The best of the rounds is reported for each, with the ratio new / baseline. A
hot-path change states these.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs in a subprocess whose sys.path starts with the build under test.
_MEASURE = r"""
import json, sys, time
import imdb_edge
texts = json.load(open(sys.argv[1]))
scorer = imdb_edge.load(sys.argv[2])
vec = scorer.vectorizer
assert vec.backend == "cython", vec.backend

def best(fn, repeats):
    fn()
    out = float("inf")
    for _ in range(repeats):
        t = time.perf_counter(); fn(); out = min(out, time.perf_counter() - t)
    return out

batches = [texts[i:i + 512] for i in range(0, len(texts), 512)]
vec_s = best(lambda: [vec.transform_ids(b) for b in batches], 5)
e2e_s = best(lambda: [scorer.score(b) for b in batches], 5)
samples = []
for i in range(3000):
    b = [texts[i % len(texts)]]
    t = time.perf_counter(); scorer.score(b); samples.append(time.perf_counter() - t)
samples.sort()
result = {"vectorizer": len(texts) / vec_s, "batch512": len(texts) / e2e_s,
          "p50_us": samples[len(samples) // 2] * 1e6, "path": imdb_edge.__file__}
if sys.argv[3] == "cli":
    from imdb_edge.bench._cli import bench_cli
    for name, row in bench_cli(texts, sys.argv[2], 3).items():
        short = "short" if name.startswith("first") else "whole"
        for fmt in ("text", "jsonl"):
            result[f"cli_{fmt}_{short}"] = row[f"cli_{fmt}_reviews_per_s"]
print(json.dumps(result))
"""

# (key, label, True when larger is better)
_METRICS = [("vectorizer", "transform_ids /s", True), ("batch512", "score b512 /s", True),
            ("p50_us", "single p50 µs", False)]
_CLI_METRICS = [(f"cli_{fmt}_{size}", f"CLI {fmt} {size} /s", True)
                for size in ("whole", "short") for fmt in ("text", "jsonl")]


def _measure(tree: Path, reviews: Path, preset: str, cli: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(reviews), preset,
                          "cli" if cli else "-"], env=env,
                         cwd=tempfile.gettempdir(), capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    if not result["path"].startswith(str(tree)):
        raise SystemExit(f"measured {result['path']}, not the build in {tree}")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, type=Path,
                        help="a source tree with its extension built in place")
    parser.add_argument("--data", help="aclImdb_v1.tar.gz (or its folder)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--cli", action="store_true", help="also `imdb-edge score` on whole "
                        "reviews and on their first 8 words (the benchmark's CLI line)")
    args = parser.parse_args(argv)
    metrics = _METRICS + (_CLI_METRICS if args.cli else [])
    sys.path.insert(0, str(ROOT))
    from imdb_edge.io._data import read_imdb

    texts = read_imdb(args.data, splits=("test",))["test"].texts
    with tempfile.TemporaryDirectory() as tmp:
        reviews = Path(tmp) / "reviews.json"
        reviews.write_text(json.dumps(texts))
        trees = {"baseline": args.baseline.resolve(), "new": ROOT}
        best: dict[str, dict] = {}
        for round_ in range(args.rounds):
            order = ["baseline", "new"] if round_ % 2 == 0 else ["new", "baseline"]
            for name in order:
                r = _measure(trees[name], reviews, args.preset, args.cli)
                print(f"round {round_ + 1} {name:<8} vectorizer {r['vectorizer']:>9,.0f}/s  "
                      f"batch 512 {r['batch512']:>9,.0f}/s  p50 {r['p50_us']:.1f} µs", flush=True)
                b = best.setdefault(name, {})
                for key, _, larger in metrics:
                    b[key] = (max if larger else min)(b.get(key, r[key]), r[key])
    print(f"\nbest of {args.rounds} rounds, {len(texts):,} reviews, preset {args.preset!r}")
    print(f"{'':<22}{'baseline':>12}{'new':>12}{'new/baseline':>14}")
    for key, label, _ in metrics:
        old, new = best["baseline"][key], best["new"][key]
        print(f"{label:<22}{old:>12,.1f}{new:>12,.1f}{new / old:>13.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
