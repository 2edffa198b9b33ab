"""The benchmark's CLI line: ``imdb-edge score`` on a file against the library on the same
file, in one process (no interpreter start-up on either side), best of ``repeats``."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def _stdout_to_devnull():
    saved = sys.stdout
    with open(os.devnull, "w", encoding="utf-8") as sink:
        sys.stdout = sink
        try:
            yield
        finally:
            sys.stdout = saved


def bench_cli(texts: list[str], model: str, repeats: int, *, short_words: int = 8,
              at_least: int = 100_000) -> dict:
    """Reviews/s of ``load(model).score(open(file))`` and of ``imdb-edge score --file file``
    (text and jsonl output), both including the model's load, on the reviews as given and
    cut to their first ``short_words`` words (repeated to ``at_least`` lines, so the fixed
    costs do not dominate); ratios are CLI time over library time (1.0 = no overhead)."""
    from ._measure import _best_time as _best
    from .._scorer import load
    from ..cli._main import run as main

    reps = -(-at_least // max(len(texts), 1))
    many = (texts * reps)[:max(at_least, len(texts))]
    out = {}
    sets = {"reviews": many,
            f"first {short_words} words": [" ".join(t.split()[:short_words]) for t in many]}
    with tempfile.TemporaryDirectory() as folder:
        for name, data in sets.items():
            path = os.path.join(folder, "reviews.txt")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write("".join(t.replace("\n", " ").replace("\r", " ") + "\n"
                                     for t in data if t.strip()))

            def library():
                with open(path, encoding="utf-8") as handle:
                    load(model).score(handle)

            library()
            t_lib = _best(library, repeats)
            row = {"n": len(data), "library_reviews_per_s": len(data) / t_lib}
            for fmt in ("text", "jsonl"):
                def cli():
                    with _stdout_to_devnull():
                        code = main(["score", "--file", path, "--model", model, "--format", fmt,
                                     "--progress", "off"])
                    if code != 0:
                        raise RuntimeError(f"imdb-edge score exited {code}")

                t_cli = _best(cli, repeats)
                row[f"cli_{fmt}_reviews_per_s"] = len(data) / t_cli
                row[f"cli_{fmt}_vs_library"] = t_cli / t_lib
            out[name] = row
    return out


def print_cli(results: dict) -> None:
    print("\nCLI vs library (imdb-edge score --file F, in-process, model load included):")
    for name, row in results.items():
        print(f"  {name:<18} library {row['library_reviews_per_s']:>10,.0f}/s   "
              f"CLI text {row['cli_text_reviews_per_s']:>10,.0f}/s "
              f"({row['cli_text_vs_library']:.2f}x the time)   "
              f"CLI jsonl {row['cli_jsonl_reviews_per_s']:>10,.0f}/s "
              f"({row['cli_jsonl_vs_library']:.2f}x)")
