"""Scoring at scale on other engines: Dask (:mod:`imdb_edge.engines.dataset`, also importable
as :mod:`imdb_edge.dataset`) and Spark (:mod:`imdb_edge.engines.spark`, also
:mod:`imdb_edge.spark`); ``_batch`` is the per-worker scoring both share."""
