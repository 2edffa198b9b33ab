"""Score on Spark: the documented import path of :mod:`imdb_edge.engines.spark`.

    from imdb_edge.spark import score_udf, score_dataframe
"""

from .engines.spark import score_dataframe, score_partitions, score_udf  # noqa: F401

__all__ = ["score_udf", "score_dataframe", "score_partitions"]
