"""Shared fixtures: both vectorizer backends, small vocabularies, the real data set if present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imdb_edge import Vocabulary, _vectorizer

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("IMDB_EDGE_TEST_DATA", ROOT.parent / "shared" / "data" / "aclImdb_v1.tar.gz"))
DATA_REASON = f"real data set not found at {DATA} (set IMDB_EDGE_TEST_DATA)"

REVIEWS = [
    "This movie was great! I loved it.<br /><br />The acting was superb.",
    "Worst film ever, a total waste of time. Don't watch it.",
    "An average film: good actors, bad script, and a boring ending.",
    "Café society and naïve heroes, rock'n'roll in the '50s — 10/10!",
    "I didn’t like it. The plot was bad, the ending worse.",
    "Great fun, great music, a great cast; I'd see it again.",
]


def pytest_configure(config):
    # Also declared in pyproject.toml; here too for runs from a copy of tests/ (CI, aarch64).
    config.addinivalue_line("markers", "data: needs the real data set in ../shared/data")
    config.addinivalue_line("markers", "train: needs TensorFlow (the train extra)")


def pytest_collection_modifyitems(config, items):
    needs_data = pytest.mark.skip(reason=DATA_REASON)
    for item in items:
        if "data" in item.keywords and not DATA.exists():
            item.add_marker(needs_data)


def pytest_sessionstart(session):
    # In CI a broken build must not quietly test only the pure-Python path.
    if os.environ.get("IMDB_EDGE_REQUIRE_EXTENSION") == "1" and _vectorizer._vectorize_c is None:
        raise RuntimeError(f"compiled vectorizer required but not importable: "
                           f"{_vectorizer._C_IMPORT_ERROR}")


def _backends():
    out = ["python"]
    if _vectorizer._vectorize_c is not None:
        out.append("cython")
    return out


@pytest.fixture(params=_backends())
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def data_path() -> Path:
    if not DATA.exists():
        pytest.skip(DATA_REASON)
    return DATA


@pytest.fixture(scope="session")
def small_vocab() -> Vocabulary:
    return Vocabulary.build(REVIEWS, size=1000, ngram=2)
