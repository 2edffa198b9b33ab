"""pytest plugin (scripts/test.sh loads it when IMDB_EDGE_TEST_SKIPPED=FILE is set): writes
the node ids of the tests that were skipped and of the `train` tests that were deselected,
one a line, so that CI's training environment runs those and not the whole suite again."""

import os

_ids: list[str] = []


def pytest_deselected(items):
    _ids.extend(item.nodeid for item in items if "train" in item.keywords)


def pytest_collectreport(report):
    if report.skipped:           # a whole module skipped at import (e.g. no TensorFlow)
        _ids.append(report.nodeid)


def pytest_runtest_logreport(report):
    if report.skipped and report.when in ("setup", "call"):
        _ids.append(report.nodeid)


def pytest_sessionfinish(session):
    path = os.environ.get("IMDB_EDGE_TEST_SKIPPED")
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("".join(f"{i}\n" for i in dict.fromkeys(_ids)))
