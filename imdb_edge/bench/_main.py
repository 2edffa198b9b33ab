"""Latency and throughput of imdb-edge, end to end from raw text, beside the alternatives.

imdb-edge bench (or python benchmarks/latency.py in a checkout, which adds the TensorFlow
peers Keras and LiteRT). Everything is measured in one run on the same reviews with the same
thread settings; each peer runs only where it is installed (the bench extra: pip install
".[bench]" in a checkout) and is otherwise skipped with a one-line note. Prints a table and writes bench.json (every
figure and the machine) and bench.png to --out. Only numpy and onnxruntime are needed for
imdb-edge's own figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._measure import load_reviews, machine_info
from ._measure import bench_cold_start, bench_imdb_edge, bench_presets, bench_vectorizer
from ._peers import PEERS
from ._report import plot, print_table


def build_parser(registry: dict | None = None) -> argparse.ArgumentParser:
    """The ``imdb-edge bench`` parser; ``registry`` maps peer names to (label, function),
    default :data:`PEERS`."""
    registry = PEERS if registry is None else registry
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
    return parser


def main(argv: list[str] | None = None, extra_peers: dict | None = None) -> int:
    registry = {**PEERS, **(extra_peers or {})}
    parser = build_parser(registry)
    from ..cli._main import parse_with_hints

    args = parse_with_hints(parser, {}, argv)
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
        from .._models import presets as bundled

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
    from ._dataset import print_dataset, run_dataset_mode

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
    from .._scorer import load

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
    from .._models import presets as bundled
    names = bundled() if args.presets == "all" else [p for p in args.presets.split(",") if p]
    if names:
        print("presets ...", file=sys.stderr)
        results["presets"] = bench_presets(names, texts, args)
    from ._cli import bench_cli

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
    from ._cli import print_cli

    print_cli(results["cli"])
    print(f"\nwrote {out / 'bench.json'}" + (f"; {note}" if note else f" and {out / 'bench.png'}"))
    return 0


def _one_line(exc: BaseException) -> str:
    """An error message on one line, whatever a library put in it."""
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
