"""imdb-edge on Spark: a pandas UDF for a column, or new columns on a whole DataFrame.

    from imdb_edge.spark import score_udf, score_dataframe
    df.withColumn("probability", score_udf()("text"))
    score_dataframe(df, text_column="text")     # + probability (float), label (string)

The model is loaded once per Python worker process and reused by every batch (see
``imdb_edge.engines._batch``); scores are bit-identical to ``imdb_edge.load(model).score`` (Spark's
``float`` is float32). A null or non-string text fails the job with an error naming the rows,
never a silent score. Workers need imdb-edge installed (``PYSPARK_PYTHON`` pointing at the
environment; on a cluster, ship it with ``--archives``: see the README's "Scaling out").
"""

from __future__ import annotations

import pandas as pd   # module level: pandas_udf resolves the type hints below by name

from ._batch import score_batch


def score_udf(model: str | None = "default", threads: int = 1):
    """A pandas UDF: a string column -> float probabilities."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("float")
    def imdb_edge_score(texts: pd.Series) -> pd.Series:
        return pd.Series(score_batch(texts, model=model, threads=threads))

    return imdb_edge_score


def score_partitions(text_column: str = "text", *, model: str | None = "default",
                     threads: int = 1, id_column: str | None = None):
    """A function for ``DataFrame.mapInPandas``: each pandas batch with ``probability``
    (float32) and ``label`` (the model's label name) appended."""
    def score_frames(frames):
        from ._batch import scorer_for

        from .._labels import label_codes, label_names

        labels = scorer_for(model, threads).labels
        for frame in frames:
            ids = frame[id_column] if id_column else None
            probability, known = score_batch(frame[text_column], model=model, threads=threads,
                                             ids=ids, return_known=True)
            frame = frame.copy()
            frame["probability"] = probability
            frame["label"] = label_names(label_codes(probability, known), labels)
            yield frame

    return score_frames


def score_dataframe(df, text_column: str = "text", *, model: str | None = "default",
                    threads: int = 1, id_column: str | None = None):
    """``df`` with ``probability`` (float) and ``label`` (string) columns added, computed
    with ``mapInPandas``; rows keep their order within each partition."""
    from pyspark.sql.types import FloatType, StringType, StructField, StructType

    if text_column not in df.columns:
        raise ValueError(f"no column {text_column!r} (columns: {', '.join(df.columns)})")
    schema = StructType(list(df.schema.fields) + [StructField("probability", FloatType()),
                                                  StructField("label", StringType())])
    return df.mapInPandas(score_partitions(text_column, model=model, threads=threads,
                                           id_column=id_column), schema)
