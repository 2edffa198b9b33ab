"""The benchmark's table and chart."""


from __future__ import annotations

from pathlib import Path

import numpy as np

from ._measure import BATCH_SIZES


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
        base = presets.get("book")
        print(f"\n{'preset':<10} {'test acc':>9} {'features':>9} {'model MB':>9} {'load s':>7} "
              f"{'reviews/s b512':>15} {'p50 µs':>8} {'p99 µs':>8} {'p50 µs 8 words':>15}")
        for name, p in presets.items():
            print(f"{name:<10} {p['test_accuracy']:>9.4f} {p['features']:>9,} "
                  f"{p['model_bytes'] / 1e6:>9.2f} {p['load_s']:>7.2f} "
                  f"{p['reviews_per_s_b512']:>15,.0f} {p['single']['p50_us']:>8.1f} "
                  f"{p['single']['p99_us']:>8.1f} {p['single_short']['p50_us']:>15.1f}")
        rounds = next(iter(presets.values()))["single"].get("rounds")
        if rounds:
            print(f"(b512 and p50: each preset's best of {rounds} interleaved rounds; p99: all "
                  "their calls)")
        if base and len(presets) > 1:
            print("against book (same run, interleaved): "
                  + "; ".join(f"{name} b512 {p['reviews_per_s_b512'] / base['reviews_per_s_b512']:.2f}x, "
                              f"p50 {p['single']['p50_us'] / base['single']['p50_us']:.2f}x, "
                              f"p50 8 words {p['single_short']['p50_us'] / base['single_short']['p50_us']:.2f}x"
                              for name, p in presets.items() if name != "book"))


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
