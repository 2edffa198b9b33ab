"""Before/after in one run: this checkout against another build of imdb-edge, interleaved.

    git worktree add /tmp/base <commit> && (cd /tmp/base && python setup.py build_ext --inplace)
    python benchmarks/ab.py --baseline /tmp/base --data ../shared/data/aclImdb_v1.tar.gz

Each round measures the baseline and this checkout in fresh subprocesses, one after the other
(the order alternates), on the same reviews: ``transform_ids`` reviews/s, end-to-end
``score()`` reviews/s at batch 512 on one thread, and the single-review p50. The best of the
rounds is reported for each, with the ratio new / baseline. A hot-path change states these.
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
print(json.dumps({"vectorizer": len(texts) / vec_s, "batch512": len(texts) / e2e_s,
                  "p50_us": samples[len(samples) // 2] * 1e6, "path": imdb_edge.__file__}))
"""


def _measure(tree: Path, reviews: Path, preset: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(reviews), preset], env=env,
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
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from imdb_edge._data import read_imdb

    texts = read_imdb(args.data, splits=("test",))["test"].texts
    with tempfile.TemporaryDirectory() as tmp:
        reviews = Path(tmp) / "reviews.json"
        reviews.write_text(json.dumps(texts))
        trees = {"baseline": args.baseline.resolve(), "new": ROOT}
        best: dict[str, dict] = {}
        for round_ in range(args.rounds):
            order = ["baseline", "new"] if round_ % 2 == 0 else ["new", "baseline"]
            for name in order:
                r = _measure(trees[name], reviews, args.preset)
                print(f"round {round_ + 1} {name:<8} vectorizer {r['vectorizer']:>9,.0f}/s  "
                      f"batch 512 {r['batch512']:>9,.0f}/s  p50 {r['p50_us']:.1f} µs", flush=True)
                b = best.setdefault(name, {"vectorizer": 0, "batch512": 0, "p50_us": 1e9})
                b["vectorizer"] = max(b["vectorizer"], r["vectorizer"])
                b["batch512"] = max(b["batch512"], r["batch512"])
                b["p50_us"] = min(b["p50_us"], r["p50_us"])
    print(f"\nbest of {args.rounds} rounds, {len(texts):,} reviews, preset {args.preset!r}")
    print(f"{'':<22}{'baseline':>12}{'new':>12}{'new/baseline':>14}")
    for key, label in (("vectorizer", "transform_ids /s"), ("batch512", "score b512 /s"),
                       ("p50_us", "single p50 µs")):
        old, new = best["baseline"][key], best["new"][key]
        print(f"{label:<22}{old:>12,.1f}{new:>12,.1f}{new / old:>13.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
