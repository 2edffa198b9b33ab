"""The benchmark's dataset mode (``imdb-edge bench --dataset``): ``score-dataset`` on Dask
with 1 and 2 local worker processes against a plain loop over the same Parquet file, in one
run, with peak RSS, the 1 -> 2 worker scaling and the engine's overhead per core.

A fourth run uses a worker started as ``dask worker`` starts it, with Dask's default
``MALLOC_TRIM_THRESHOLD_=65536`` (score-dataset's own clusters leave glibc's defaults alone;
see ``imdb_edge.dataset``), to show what that setting costs.

The plain loop is what a user would write on one core: read the Parquet file, take the text
column as Python strings, score, write Parquet. Both sides write the same three columns.
The clusters are started before timing (their start-up is reported apart), so the figures
compare the work, not process creation.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings

from .._memory import peak_rss_mb


def make_file(texts: list[str], rows: int, folder: str, row_group: int = 10_000) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    reps = -(-rows // len(texts))
    data = (texts * reps)[:rows]
    path = os.path.join(folder, "reviews.parquet")
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(rows)], "text": data}), path,
                   row_group_size=row_group)
    return path


def plain_loop(path: str, out: str, model: str) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .._scorer import load

    start = time.perf_counter()
    table = pq.read_table(path, columns=["id", "text"])
    read = time.perf_counter()
    texts = table.column("text").to_pylist()
    converted = time.perf_counter()
    scorer = load(model)
    p = scorer.score(texts)
    scored = time.perf_counter()
    labels = np.array(scorer.labels, dtype=object)[(p > 0.5).astype(np.int8)]
    pq.write_table(pa.table({"id": table.column("id"), "probability": p,
                             "label": pa.array(labels.tolist(), pa.string())}), out)
    end = time.perf_counter()
    n = len(texts)
    return {"seconds": end - start, "reviews_per_s": n / (end - start),
            "read_us_per_review": 1e6 * (read - start) / n,
            "to_python_str_us_per_review": 1e6 * (converted - read) / n,
            "score_us_per_review": 1e6 * (scored - converted) / n,
            "write_us_per_review": 1e6 * (end - scored) / n}


def run_dataset_mode(texts: list[str], rows: int, model: str) -> dict:
    from distributed import Client, LocalCluster

    from ..engines.dataset import SlowWorkersWarning, local_cluster, score_dataset

    results: dict = {"rows": rows, "model": model, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as folder:
        path = make_file(texts, rows, folder)
        plain_loop(path, os.path.join(folder, "warm.parquet"), model)       # warm caches
        results["plain_loop"] = plain_loop(path, os.path.join(folder, "plain.parquet"), model)
        results["plain_loop"]["peak_rss_mb"] = peak_rss_mb()
        for key, workers, processes in (("workers_1", 1, True), ("workers_2", 2, True),
                                        ("threads_2", 2, False),
                                        ("workers_1_dask_malloc", 1, True)):
            started = time.perf_counter()
            if key.endswith("dask_malloc"):      # as `dask worker` starts them by default
                cluster = LocalCluster(n_workers=1, threads_per_worker=1,
                                       dashboard_address=None)
            else:
                cluster = local_cluster(workers, processes)    # as score-dataset does
            client = Client(cluster)
            try:
                startup = time.perf_counter() - started
                client.run(lambda: __import__("imdb_edge.engines._batch").
                           engines._batch.scorer_for(model).score(["warm up"]))
                best = None
                for attempt in range(3):
                    out = os.path.join(folder, f"out-{key}-{attempt}")
                    with warnings.catch_warnings():     # the note on Dask's default setting
                        warnings.simplefilter("ignore", SlowWorkersWarning)
                        summary = score_dataset(path, out, text_column="text", id_column="id",
                                                model=model, scheduler=cluster.scheduler_address)
                    best = min(best or summary["seconds"], summary["seconds"])
                rss = client.run(peak_rss_mb)
            finally:
                client.close()
                cluster.close()
            results[key] = {
                "seconds": best, "reviews_per_s": rows / best, "cluster_start_s": startup,
                "partitions": summary["partitions"],
                "worker_peak_rss_mb": max(rss.values())}
    plain = results["plain_loop"]["seconds"]
    one, two = results["workers_1"]["seconds"], results["workers_2"]["seconds"]
    results["scaling_1_to_2_workers"] = one / two
    results["overhead_per_core_1_worker"] = one / plain
    results["overhead_per_core_2_workers"] = 2 * two / plain
    results["scaling_1_worker_to_2_threads"] = one / results["threads_2"]["seconds"]
    results["dask_malloc_slowdown"] = results["workers_1_dask_malloc"]["seconds"] / one
    return results


def print_dataset(results: dict) -> None:
    plain = results["plain_loop"]
    print(f"\ndataset mode: {results['rows']:,} reviews in one Parquet file, model "
          f"{results['model']}, {results['cores']} cores")
    print(f"  plain loop (1 core)     {plain['reviews_per_s']:>10,.0f} reviews/s  "
          f"({plain['seconds']:.2f} s; peak RSS {plain['peak_rss_mb']:.0f} MB)")
    print(f"    per review: read {plain['read_us_per_review']:.2f} µs, to Python str "
          f"{plain['to_python_str_us_per_review']:.2f} µs, score "
          f"{plain['score_us_per_review']:.2f} µs, write {plain['write_us_per_review']:.2f} µs")
    for key, name in (("workers_1", "1 worker "), ("workers_2", "2 workers"),
                      ("threads_2", "2 threads")):
        row = results[key]
        print(f"  score-dataset {name} "
              f"{row['reviews_per_s']:>10,.0f} reviews/s  ({row['seconds']:.2f} s, "
              f"{row['partitions']} partitions; cluster start {row['cluster_start_s']:.1f} s; "
              f"worker peak RSS {row['worker_peak_rss_mb']:.0f} MB)")
    print(f"  scaling 1 -> 2 workers: {results['scaling_1_to_2_workers']:.2f}x (goal >= 1.6x); "
          f"engine time per core vs plain loop: 1 worker "
          f"{results['overhead_per_core_1_worker']:.2f}x, 2 workers "
          f"{results['overhead_per_core_2_workers']:.2f}x (goal <= 1.3x)")
    print(f"  one process with 2 threads (--scheduler threads): "
          f"{results['threads_2']['reviews_per_s'] / plain['reviews_per_s']:.2f}x the plain "
          f"loop's rate, {results['scaling_1_worker_to_2_threads']:.2f}x one worker's")
    print(f"  1 worker as `dask worker` starts it (MALLOC_TRIM_THRESHOLD_=65536): "
          f"{results['workers_1_dask_malloc']['reviews_per_s']:,.0f} reviews/s, "
          f"{results['dask_malloc_slowdown']:.2f}x the time of score-dataset's own worker")
    sys.stdout.flush()
