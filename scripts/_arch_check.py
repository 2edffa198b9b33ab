"""Same answers on two machines: dump them on one (x86-64), compare on the other (aarch64).

    python scripts/_arch_check.py dump --data aclImdb_v1.tar.gz --corpus fuzz/corpus OUT.npz
    python scripts/_arch_check.py compare OUT.npz

``dump`` stores the reviews (3,000 test + 3,000 train, and every fuzz-corpus input read as
text), their feature ids under both presets and their probabilities; ``compare`` recomputes
them with the imdb_edge it imports and exits 1 unless the ids are identical and every
probability is within 1e-5. Used by scripts/test-aarch64.sh; numpy and imdb_edge only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

PRESETS = ("default", "accurate")
TOLERANCE = 1e-5


def _corpus_texts(corpus: Path | None) -> list[str]:
    texts = []
    if corpus and corpus.is_dir():
        for path in sorted(corpus.rglob("*")):
            if path.is_file():
                raw = path.read_bytes()
                texts += [raw.decode("latin-1"), raw.decode("utf-8", "replace")]
    return texts


def _answers(texts: list[str]) -> dict[str, np.ndarray]:
    import imdb_edge

    out = {}
    for preset in PRESETS:
        scorer = imdb_edge.load(preset)
        if scorer.vectorizer.backend != "cython":
            raise SystemExit(f"the compiled vectorizer is not in use ({scorer.vectorizer.backend})")
        indptr, ids = scorer.vectorizer.transform_ids(texts)
        out[f"{preset}_indptr"], out[f"{preset}_ids"] = indptr, ids
        out[f"{preset}_p"] = scorer.score(texts)
    return out


def dump(args) -> int:
    texts = []
    if args.data:
        from imdb_edge.io._data import read_imdb

        data = read_imdb(args.data)
        texts = data["test"].texts[::8][:3000] + data["train"].texts[::8][:3000]
    texts += _corpus_texts(args.corpus)
    if not texts:
        raise SystemExit("no texts: give --data or a --corpus folder")
    np.savez_compressed(args.out, texts=np.array(json.dumps(texts)), **_answers(texts))
    print(f"dumped {len(texts):,} texts to {args.out}")
    return 0


def compare(args) -> int:
    saved = np.load(args.dump)
    texts = json.loads(str(saved["texts"]))
    start = time.perf_counter()
    got = _answers(texts)
    seconds = time.perf_counter() - start
    ok = True
    for preset in PRESETS:
        same_ids = (np.array_equal(got[f"{preset}_indptr"], saved[f"{preset}_indptr"])
                    and np.array_equal(got[f"{preset}_ids"], saved[f"{preset}_ids"]))
        diff = float(np.max(np.abs(got[f"{preset}_p"] - saved[f"{preset}_p"])))
        ok &= same_ids and diff <= TOLERANCE
        print(f"{preset}: {len(texts):,} texts, {int(saved[f'{preset}_ids'].size):,} ids "
              f"{'identical' if same_ids else 'DIFFERENT'}; max |Δp| {diff:.2e} "
              f"({'ok' if diff <= TOLERANCE else 'OVER'} {TOLERANCE:g})")
    from imdb_edge._memory import peak_rss_mb

    rss_mb = peak_rss_mb()
    print(f"both presets: load + vectorize + score in {seconds:.1f} s, peak RSS {rss_mb:.0f} MB")
    return 0 if ok else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--data", help="aclImdb_v1.tar.gz (without it: the corpus only)")
    d.add_argument("--corpus", type=Path)
    d.add_argument("out")
    c = sub.add_parser("compare")
    c.add_argument("dump")
    args = parser.parse_args(argv)
    return dump(args) if args.command == "dump" else compare(args)


if __name__ == "__main__":
    sys.exit(main())
