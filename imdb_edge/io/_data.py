"""Reading the Large Movie Review Dataset (aclImdb v1) from its archive or extracted folder.

Standard library and numpy only, so the runtime's benchmark can read the same reviews the
training package does. The official archive and its extracted folder go through one code
path: both are walked as ``aclImdb/<split>/<pos|neg>/<id>_<rating>.txt`` members.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_ENV = "IMDB_EDGE_DATA"
OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
OFFICIAL_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
ARCHIVE_NAME = "aclImdb_v1.tar.gz"
SPLITS = ("train", "test")
_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


from .._errors import DataError  # noqa: E402 - re-exported: imdb_edge.io._data.DataError


@dataclass
class Split:
    """One split: ``texts`` (list of str), ``labels`` (int8 ``(n,)``, 1 = positive),
    ``names`` (member names, for tracing a review to its file)."""

    texts: list[str]
    labels: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "imdb-edge"


def find_data(source: str | os.PathLike | None = None) -> Path:
    """The data set's location: ``source``, else ``$IMDB_EDGE_DATA``, else the cache folder.

    Raises:
        DataError: nothing is found; the message says how to get the data.
    """
    candidates: list[tuple[str, Path]] = []
    if source is not None:
        path = Path(source)
        if not path.exists():
            raise DataError(f"data set not found: {path} (expected {ARCHIVE_NAME} or the "
                            "aclImdb folder extracted from it)")
        return path
    if os.environ.get(DATA_ENV):
        candidates.append((f"${DATA_ENV}", Path(os.environ[DATA_ENV])))
    candidates.append(("cache", cache_dir() / ARCHIVE_NAME))
    for _, path in candidates:
        if path.exists():
            return path
    looked = "; ".join(f"{what}: {path}" for what, path in candidates)
    raise DataError(
        f"the IMDB data set was not found (looked at {looked}). Pass --data PATH to "
        f"{ARCHIVE_NAME} or its extracted folder, set ${DATA_ENV}, or download "
        f"{OFFICIAL_URL} into {cache_dir()} (imdb-edge-train reproduce and sweep do that "
        "with --download).")


def download(dest: Path | None = None, *, url: str = OFFICIAL_URL,
             sha256: str = OFFICIAL_SHA256, progress: bool = True) -> Path:
    """Download the official archive to the cache folder, checking its sha256.

    The file appears under its final name only once complete and verified.
    """
    dest = dest or cache_dir() / ARCHIVE_NAME
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress and sys.stderr.isatty():
                    pct = f"{100 * done / total:5.1f}%" if total else ""
                    print(f"\rdownloading {url}: {done / 1e6:6.1f} MB {pct}", end="",
                          file=sys.stderr)
        if progress and sys.stderr.isatty():
            print(file=sys.stderr)
        if digest.hexdigest() != sha256:
            raise DataError(f"downloaded {url} has sha256 {digest.hexdigest()}, "
                            f"expected {sha256}; not kept")
        os.replace(partial, dest)
        return dest
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _split_of(name: str, wanted: tuple[str, ...]):
    match = _MEMBER.search(name)
    if match is None or match.group(1) not in wanted:
        return None
    split, polarity, review_id, _ = match.groups()
    return split, polarity, int(review_id)


def read_imdb(source: str | os.PathLike | None = None, *,
              splits: tuple[str, ...] = SPLITS) -> dict[str, Split]:
    """The labelled reviews of the requested splits (``unsup`` is never read).

    Reviews come in a fixed order (positive then negative, by review id), whatever the order
    of the archive, so a seed fixes everything downstream.

    Args:
        source: ``aclImdb_v1.tar.gz``, the extracted ``aclImdb`` folder or its parent;
            None looks it up with :func:`find_data`.
        splits: any of ``"train"``, ``"test"``.

    Raises:
        DataError: missing or corrupt archive, not UTF-8, a split without pos or neg reviews.
    """
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"splits must be among {SPLITS}. Received: {split!r}")
    path = find_data(source)
    found: dict[tuple[str, str, int], tuple[str, str]] = {}
    if path.is_dir():
        root = path / "aclImdb" if (path / "aclImdb").is_dir() else path
        for split in splits:
            for polarity in ("pos", "neg"):
                folder = root / split / polarity
                if not folder.is_dir():
                    raise DataError(f"{path}: folder {split}/{polarity} is missing "
                                    "(is this the aclImdb folder?)")
                for file in folder.iterdir():
                    key = _split_of(f"aclImdb/{split}/{polarity}/{file.name}", splits)
                    if key is not None:
                        found[key] = (str(file), _decode(file.read_bytes(), file))
    else:
        try:
            with tarfile.open(path, "r:*") as archive:
                for member in archive:
                    if not member.isfile():
                        continue
                    key = _split_of(member.name, splits)
                    if key is None:
                        continue
                    data = archive.extractfile(member).read()
                    found[key] = (member.name, _decode(data, f"{path}:{member.name}"))
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"{path}: not a readable aclImdb archive ({exc})") from None
    result = {}
    for split in splits:
        texts, labels, names = [], [], []
        for polarity, label in (("pos", 1), ("neg", 0)):
            keys = sorted(k for k in found if k[0] == split and k[1] == polarity)
            if not keys:
                raise DataError(f"{path}: no {split}/{polarity} reviews found "
                                "(is this the aclImdb data set?)")
            for key in keys:
                name, text = found[key]
                names.append(name)
                texts.append(text)
                labels.append(label)
        result[split] = Split(texts, np.asarray(labels, dtype=np.int8), names)
    return result


def _decode(data: bytes, where) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not valid UTF-8 at byte {exc.start}") from None


def sha256_of(path: Path) -> str:
    """sha256 of a file, or of a folder's review files (sorted names and contents)."""
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(path.rglob("*.txt")):
            digest.update(str(file.relative_to(path)).encode())
            digest.update(file.read_bytes())
    else:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()
