"""Vectorizer speed: compiled vs Python reference, 1 and 2 threads, beside str.lower().

    python benchmarks/vectorizer.py --data ../shared/data/aclImdb_v1.tar.gz [--repeats 5]
"""

import argparse
import json
import sys

from imdb_edge import load
from imdb_edge.bench._measure import bench_vectorizer, load_reviews, machine_info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data")
    parser.add_argument("--file")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    texts, source = load_reviews(args)
    result = bench_vectorizer(load(), texts, args.repeats)
    if args.json:
        print(json.dumps({"machine": machine_info(), "source": source, **result}, indent=2))
        return 0
    print(f"{len(texts):,} reviews ({result['mb']:.1f} MB UTF-8) from {source}")
    lower = result["str_lower"]
    print(f"{'':<26}{'reviews/s':>12}{'MB/s':>9}{'reviews/s':>12}{'MB/s':>9}")
    print(f"{'':<26}{'1 thread':>21}{'2 threads':>21}")
    print(f"{'str.lower() (the floor)':<26}{lower['reviews_per_s']:>12,.0f}{lower['mb_per_s']:>9.1f}")
    for backend in ("cython", "python"):
        r = result[backend]
        if "skipped" in r:
            print(f"{backend:<26} skipped: {r['skipped']}")
            continue
        print(f"{backend + ' transform_ids':<26}{r['reviews_per_s_1_thread']:>12,.0f}"
              f"{r['mb_per_s_1_thread']:>9.1f}{r['reviews_per_s_2_threads']:>12,.0f}"
              f"{r['mb_per_s_2_threads']:>9.1f}")
    if "cython_vs_str_lower" in result:
        print(f"compiled = {result['cython_vs_str_lower']:.2f}x the time of str.lower()")
    if "cython_vs_python" in result:
        print(f"compiled = {result['cython_vs_python']:.1f}x the Python reference's speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
