import numpy as np
import pytest

from imdb_edge.io._data import DataError, find_data, read_imdb

from .fixtures import make_archive, make_folder


def test_archive_and_folder_read_the_same(tmp_path):
    archive = read_imdb(make_archive(tmp_path / "a" / "aclImdb_v1.tar.gz", n_per_class=5))
    folder = read_imdb(make_folder(tmp_path / "f", n_per_class=5))
    parent = read_imdb(tmp_path / "f")
    for split in ("train", "test"):
        assert archive[split].texts == folder[split].texts == parent[split].texts
        assert len(archive[split]) == 10
        np.testing.assert_array_equal(archive[split].labels, [1] * 5 + [0] * 5)
    assert all("unsup" not in name for name in archive["train"].names)


def test_order_is_by_review_id(tmp_path):
    split = read_imdb(make_archive(tmp_path / "x.tar.gz", n_per_class=12))["train"]
    ids = [int(name.rsplit("/", 1)[1].split("_")[0]) for name in split.names[:12]]
    assert ids == list(range(12))     # numeric, not "10" < "2"


def test_missing(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="data set not found: .*nope"):
        read_imdb(tmp_path / "nope.tar.gz")
    monkeypatch.setenv("IMDB_EDGE_DATA", str(tmp_path / "absent"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="--data PATH"):
        find_data(None)


def test_env_variable(tmp_path, monkeypatch):
    path = make_archive(tmp_path / "x.tar.gz", n_per_class=2)
    monkeypatch.setenv("IMDB_EDGE_DATA", str(path))
    assert find_data(None) == path


def test_corrupt_archive(tmp_path):
    bad = tmp_path / "aclImdb_v1.tar.gz"
    bad.write_bytes(b"\x1f\x8b" + b"garbage" * 100)
    with pytest.raises(DataError, match="not a readable aclImdb archive"):
        read_imdb(bad)
    good = make_archive(tmp_path / "good.tar.gz", n_per_class=20)
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated.tar.gz"):
        read_imdb(truncated)


def test_missing_polarity(tmp_path):
    with pytest.raises(DataError, match="no test/neg reviews"):
        read_imdb(make_archive(tmp_path / "x.tar.gz", n_per_class=3, drop="aclImdb/test/neg"))
    root = make_folder(tmp_path / "f", n_per_class=2)
    for file in (root / "train" / "pos").iterdir():
        file.unlink()
    (root / "train" / "pos").rmdir()
    with pytest.raises(DataError, match="train/pos is missing"):
        read_imdb(root)


def test_empty_split_folder(tmp_path):
    root = make_folder(tmp_path / "f", n_per_class=2)
    for file in (root / "test" / "neg").iterdir():
        file.unlink()
    with pytest.raises(DataError, match="no test/neg reviews"):
        read_imdb(root)


def test_not_utf8(tmp_path):
    root = make_folder(tmp_path / "f", n_per_class=2)
    (root / "train" / "pos" / "0_9.txt").write_bytes(b"caf\xe9")
    with pytest.raises(DataError, match="0_9.txt: not valid UTF-8"):
        read_imdb(root)


def test_bad_split_name(tmp_path):
    with pytest.raises(ValueError, match="splits must be among"):
        read_imdb(tmp_path, splits=("unsup",))


def test_download_checks_sha256(tmp_path):
    import hashlib

    from imdb_edge.io._data import download
    archive = make_archive(tmp_path / "src.tar.gz", n_per_class=2)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    dest = tmp_path / "cache" / "aclImdb_v1.tar.gz"
    got = download(dest, url=archive.as_uri(), sha256=digest, progress=False)
    assert got == dest and dest.read_bytes() == archive.read_bytes()
    other = tmp_path / "cache2" / "aclImdb_v1.tar.gz"
    with pytest.raises(DataError, match="expected 0+; not kept"):
        download(other, url=archive.as_uri(), sha256="0" * 64, progress=False)
    assert not other.exists() and not list(other.parent.iterdir())
