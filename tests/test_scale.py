"""Scaling out (issue 14): Dask score-dataset and the Spark helpers, run for real in local
mode: bit-identical scores, every row exactly once, ids and order kept, bad rows named,
and a worker process killed mid-job."""

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import imdb_edge
from imdb_edge._errors import DataError
from imdb_edge.cli import main

from .fixtures import make_labeled

pd = pytest.importorskip("pandas", reason="needs pandas (the dask extra)")
pa = pytest.importorskip("pyarrow", reason="needs pyarrow")
import pyarrow.parquet as pq  # noqa: E402

TEXTS = [t for t, _ in make_labeled(600, seed=9)]       # 1,200 reviews
IDS = [f"id-{i:05d}" for i in range(len(TEXTS))]


def needs_dask():
    pytest.importorskip("dask.dataframe", reason="needs the dask extra")
    pytest.importorskip("distributed", reason="needs the dask extra")


def write_parquet(path, texts=TEXTS, ids=IDS, row_group_size=100):
    pq.write_table(pa.table({"id": ids, "text": texts}), path, row_group_size=row_group_size)
    return path


def read_output(folder):
    files = sorted(glob.glob(os.path.join(folder, "part-*.parquet")))
    assert files and not glob.glob(os.path.join(folder, ".*"))     # no temporary files left
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


@pytest.fixture(scope="module")
def expected():
    return imdb_edge.load().score(TEXTS)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_bit_identical_in_order_with_ids(tmp_path, expected, fmt):
    needs_dask()
    from imdb_edge.dataset import score_dataset

    frame = pd.DataFrame({"id": IDS, "text": TEXTS})
    source = tmp_path / "in"
    source.mkdir()
    if fmt == "parquet":
        write_parquet(source / "a.parquet", TEXTS[:700], IDS[:700])
        write_parquet(source / "b.parquet", TEXTS[700:], IDS[700:])
    elif fmt == "csv":
        frame.to_csv(source / "a.csv", index=False)
    else:
        frame.to_json(source / "a.jsonl", orient="records", lines=True)
    summary = score_dataset(str(source), str(tmp_path / "out"), text_column="text",
                            id_column="id", scheduler="threads", workers=2,
                            blocksize="20KiB")
    out = read_output(tmp_path / "out")
    assert summary["rows"] == len(TEXTS) and summary["partitions"] > 1
    assert out.columns.tolist() == ["id", "probability", "label"]
    assert out["id"].tolist() == IDS                               # no loss, no duplicate, order
    assert out["probability"].dtype == np.float32
    np.testing.assert_array_equal(out["probability"].to_numpy(), expected)   # bit for bit
    assert out["label"].tolist() == np.where(expected > 0.5, "positive", "negative").tolist()


def test_row_numbers_and_processes(tmp_path, expected):
    needs_dask()
    from imdb_edge.dataset import score_dataset

    write_parquet(tmp_path / "r.parquet")
    summary = score_dataset(str(tmp_path / "r.parquet"), str(tmp_path / "out"),
                            scheduler="processes", workers=2)
    out = read_output(tmp_path / "out")
    assert summary["partitions"] == 12 and out.columns.tolist() == ["row", "probability",
                                                                    "label"]
    assert out["row"].tolist() == list(range(len(TEXTS)))
    np.testing.assert_array_equal(out["probability"].to_numpy(), expected)


def test_refusals(tmp_path):
    needs_dask()
    from imdb_edge.dataset import score_dataset

    source = write_parquet(tmp_path / "r.parquet")
    with pytest.raises(DataError, match="no such file"):
        score_dataset(str(tmp_path / "none.parquet"), str(tmp_path / "o"), scheduler="threads")
    with pytest.raises(DataError, match=r"no column 'review' \(columns: 'id', 'text'\)"):
        score_dataset(str(source), str(tmp_path / "o"), text_column="review",
                      scheduler="threads")
    (tmp_path / "exists").mkdir()
    with pytest.raises(DataError, match="--overwrite"):
        score_dataset(str(source), str(tmp_path / "exists"), scheduler="threads")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["r.parquet", "r.jsonl"])
def test_fsspec_urls(tmp_path, expected, name):
    """An fsspec URL goes through Dask's readers (here memory://, one process, and file://,
    worker processes); scores and order as from a local path."""
    needs_dask()
    fsspec = pytest.importorskip("fsspec", reason="fsspec comes with the dask extra")
    from imdb_edge.dataset import score_dataset

    frame = pd.DataFrame({"id": IDS, "text": TEXTS})
    with fsspec.open(f"memory://imdb-edge-test/{name}", "wb") as handle:
        if name.endswith(".parquet"):
            frame.to_parquet(handle, row_group_size=200)
        else:
            handle.write(frame.to_json(orient="records", lines=True).encode())
    local = tmp_path / name
    local.write_bytes(fsspec.filesystem("memory").cat(f"/imdb-edge-test/{name}"))
    for url, scheduler, out in ((f"memory://imdb-edge-test/{name}", "threads", "a"),
                                (local.as_uri(), "processes", "b")):
        summary = score_dataset(url, str(tmp_path / out), id_column="id", scheduler=scheduler,
                                workers=2, blocksize="20KiB")
        result = read_output(tmp_path / out)
        assert summary["rows"] == len(TEXTS) and result["id"].tolist() == IDS
        np.testing.assert_array_equal(result["probability"].to_numpy(), expected)
    with pytest.raises(DataError, match="cannot tell the format"):
        score_dataset("memory://imdb-edge-test/r.txt", str(tmp_path / "c"), scheduler="threads")


def test_bad_rows_are_named_and_nothing_is_written(tmp_path):
    needs_dask()
    from imdb_edge.dataset import score_dataset

    texts = list(TEXTS) * 4
    texts[5], texts[900] = None, None
    ids = [f"id-{i:05d}" for i in range(len(texts))]
    # 240 partitions: others are still being written when the first one fails, and the
    # staging folder must still be gone afterwards (it once raced with those writes)
    write_parquet(tmp_path / "r.parquet", texts, ids, row_group_size=20)
    for attempt in range(3):
        with pytest.raises(DataError) as info:
            score_dataset(str(tmp_path / "r.parquet"), str(tmp_path / "out"), id_column="id",
                          scheduler="threads", workers=2)
        assert "'id-00005' (null)" in str(info.value) or "'id-00900' (null)" in str(info.value)
        assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.tmp-*"))


def readme_dask_yaml() -> str:
    guide = Path(__file__).resolve().parent.parent / "docs" / "guides" / "scaling-out.md"
    return guide.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]


def test_workers_keep_glibc_defaults_and_slow_ones_are_named(tmp_path, expected, capsys):
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536, which made scoring in a worker ~2x
    slower. score-dataset's own workers go without it; real `dask worker`s started with the
    scaling-out guide's config file do too; a cluster with a worker that has it gets one note."""
    needs_dask()
    if "MALLOC_TRIM_THRESHOLD_" in os.environ:
        pytest.skip("this environment sets MALLOC_TRIM_THRESHOLD_ itself")
    from distributed import Client

    from imdb_edge.dataset import SlowWorkersWarning, local_cluster, score_dataset

    def trim_values(client):
        return sorted(str(v) for v in
                      client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values())

    cluster = local_cluster(1)
    try:
        with Client(cluster) as client:
            assert trim_values(client) == ["None"]
    finally:
        cluster.close()

    config = tmp_path / "dask-config"
    config.mkdir()
    (config / "imdb-edge.yaml").write_text(readme_dask_yaml())
    dask = str(Path(sys.executable).parent / "dask")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    worker = [dask, "worker", address, "--nthreads", "1", "--no-dashboard"]
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port",
                                   address.rsplit(":", 1)[1], "--no-dashboard"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        processes += [subprocess.Popen(worker, env={**os.environ, "DASK_CONFIG": str(config)},
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                      subprocess.Popen(worker, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)]
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            assert trim_values(client) == ["65536", "None"]   # the default; the guide's config
        write_parquet(tmp_path / "r.parquet")
        with pytest.warns(SlowWorkersWarning, match="MALLOC_TRIM_THRESHOLD_=65536.*: null"):
            score_dataset(str(tmp_path / "r.parquet"), str(tmp_path / "out"), id_column="id",
                          scheduler=address)
        capsys.readouterr()
        assert main(["score-dataset", str(tmp_path / "r.parquet"), str(tmp_path / "cli"),
                     "--scheduler", address]) == 0
        err = capsys.readouterr().err
        assert err.count("imdb-edge: note: workers run with MALLOC_TRIM_THRESHOLD_=65536") == 1
    finally:
        for process in processes[::-1]:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
    out = read_output(tmp_path / "out")
    assert out["id"].tolist() == IDS and np.array_equal(out["probability"].to_numpy(), expected)


def test_survives_a_killed_worker(tmp_path, expected):
    """A worker process is SIGKILLed mid-job; Dask recomputes its tasks and every row still
    lands exactly once (partition files are written atomically, by name)."""
    needs_dask()
    from distributed import Client

    from imdb_edge.dataset import local_cluster, score_dataset

    many = TEXTS * 10
    ids = [f"id-{i:06d}" for i in range(len(many))]
    write_parquet(tmp_path / "r.parquet", many, ids, row_group_size=150)     # 80 partitions
    cluster = local_cluster(2)           # as score-dataset starts them, processes
    client = Client(cluster)
    try:
        pids = client.run(os.getpid)
        result = {}

        def job():
            try:
                result["summary"] = score_dataset(
                    str(tmp_path / "r.parquet"), str(tmp_path / "out"), id_column="id",
                    scheduler=cluster.scheduler_address)
            except Exception as exc:  # noqa: BLE001 - reported by the assertions below
                result["error"] = exc

        thread = threading.Thread(target=job)
        thread.start()
        deadline = time.monotonic() + 120
        while not glob.glob(str(tmp_path / ".out.tmp-*" / "part-*.parquet")):
            assert time.monotonic() < deadline and thread.is_alive(), result
            time.sleep(0.01)
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)
        thread.join(300)
        assert not thread.is_alive() and "error" not in result, result
        assert all(pid != victim for pid in client.run(os.getpid).values())
    finally:
        client.close()
        cluster.close()
    out = read_output(tmp_path / "out")
    assert result["summary"]["rows"] == len(many)
    assert out["id"].tolist() == ids
    np.testing.assert_array_equal(out["probability"].to_numpy(), np.tile(expected, 10))


def test_cli(tmp_path):
    needs_dask()
    write_parquet(tmp_path / "r.parquet")
    command = [sys.executable, "-m", "imdb_edge", "score-dataset", str(tmp_path / "r.parquet"),
               str(tmp_path / "out"), "--text-column", "text", "--id-column", "id",
               "--scheduler", "threads"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == len(TEXTS)
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "exists; pass --overwrite" in again.stderr
    assert again.stderr.count("\n") == 1


# -- Spark ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason="needs pyspark (the spark extra)")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no JVM found (Spark needs Java 17)")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("imdb-edge-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_spark_udf_and_dataframe(spark, expected):
    from imdb_edge.spark import score_dataframe, score_udf

    df = spark.createDataFrame(pd.DataFrame({"id": IDS, "text": TEXTS})).repartition(3)
    scored = df.withColumn("probability", score_udf()("text")).toPandas()
    by_id = dict(zip(IDS, expected))
    got = scored.sort_values("id")
    assert got["id"].tolist() == IDS
    np.testing.assert_array_equal(got["probability"].to_numpy(np.float32),
                                  np.array([by_id[i] for i in got["id"]], np.float32))
    full = score_dataframe(df, "text", id_column="id").toPandas().sort_values("id")
    assert full.columns.tolist() == ["id", "text", "probability", "label"]
    np.testing.assert_array_equal(full["probability"].to_numpy(np.float32), expected)
    assert full["label"].tolist() == np.where(expected > 0.5, "positive", "negative").tolist()


def test_spark_bad_row_fails_naming_it(spark):
    from imdb_edge.spark import score_dataframe

    frame = pd.DataFrame({"id": ["a", "b"], "text": ["great film", None]})
    df = spark.createDataFrame(frame, "id string, text string")
    with pytest.raises(Exception, match="have no text to score: 'b' \\(null\\)"):
        score_dataframe(df, "text", id_column="id").collect()
