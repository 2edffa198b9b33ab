"""``imdb-edge bench``: latency and throughput of imdb-edge beside its peers (``_main``: the
command; ``_measure``: imdb-edge's own figures; ``_peers``; ``_report``: table and chart;
``_cli``: the CLI against the library; ``_dataset``: ``--dataset`` mode on Dask)."""

from ._main import main

__all__ = ["main"]
