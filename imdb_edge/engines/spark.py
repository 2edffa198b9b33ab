"""imdb-edge on Spark: a pandas UDF for a column, or new columns on a whole DataFrame.

    from imdb_edge.spark import score_udf, score_dataframe
    df.withColumn("probability", score_udf()("text"))
    score_dataframe(df, text_column="text")     # + probability (float), label (string)

The model is loaded once per Python worker process and reused by every batch (see
``imdb_edge.engines._batch``); scores are bit-identical to ``imdb_edge.load(model).score`` (Spark's
``float`` is float32). A null or non-string text fails the job with an error naming the rows,
never a silent score. Workers need imdb-edge installed (``PYSPARK_PYTHON`` pointing at the
environment; on a cluster, ship it with ``--archives``: see docs/guides/scaling-out.md).
"""

from __future__ import annotations

import os

import pandas as pd   # module level: pandas_udf resolves the type hints below by name

from ._batch import score_batch


def score_udf(model: str | None = "default", threads: int = 1):
    """A pandas UDF: a string column -> float probabilities."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("float")
    def imdb_edge_score(texts: pd.Series) -> pd.Series:
        return pd.Series(score_batch(texts, model=model, threads=threads))

    return imdb_edge_score


SHIP_HINT = ("a model folder must exist on every executor: ship it with spark-submit "
             "--archives my_model.tgz#my_model (a .tgz of the folder's files) and pass "
             "model='./my_model', or put it on a file system every node mounts")


def executor_model(model: str | None) -> str | None:
    """The model as the executors should look it up: a preset name as it is; a path that
    starts with ``./`` as it is (relative to each executor's working directory, where
    ``--archives`` unpacks); any other relative path that exists here made absolute, where
    the user gave it (local mode and shared file systems then need nothing more)."""
    from .._models import is_preset_name

    if model is None or is_preset_name(model) or str(model).startswith("./"):
        return model
    return os.path.abspath(model) if os.path.exists(model) else model


def _scorer_here(model, threads):
    """The executor's scorer, or an error that says which executor looked where."""
    from ._batch import scorer_for
    from .._errors import ModelError

    try:
        return scorer_for(model, threads)
    except ModelError as exc:
        raise ModelError(f"{exc} (Spark executor, working directory {os.getcwd()}); "
                         f"{SHIP_HINT}") from None


def score_partitions(text_column: str = "text", *, model: str | None = "default",
                     threads: int = 1, id_column: str | None = None,
                     probability_column: str = "probability", label_column: str = "label"):
    """A function for ``DataFrame.mapInPandas``: each pandas batch with ``probability``
    (float32) and ``label`` (the model's label name) appended, under the given names."""
    def score_frames(frames):
        from .._labels import label_codes, label_names

        labels = _scorer_here(model, threads).labels
        for frame in frames:
            ids = frame[id_column] if id_column else None
            probability, known = score_batch(frame[text_column], model=model, threads=threads,
                                             ids=ids, return_known=True)
            frame = frame.copy()
            frame[probability_column] = probability
            frame[label_column] = label_names(label_codes(probability, known), labels)
            yield frame

    return score_frames


def score_dataframe(df, text_column: str = "text", *, model: str | None = "default",
                    threads: int = 1, id_column: str | None = None,
                    probability_column: str = "probability", label_column: str = "label"):
    """``df`` with ``probability`` (float) and ``label`` (string) columns added, computed
    with ``mapInPandas``; rows keep their order within each partition.

    ``model``: a preset name; a folder path, made absolute here if it exists here (local
    mode, shared file systems); or ``./name`` for a folder shipped to every executor with
    ``--archives name.tgz#name``. An executor that cannot find it fails naming its working
    directory. A column of ``df`` named like an output column is refused (pass
    ``probability_column`` / ``label_column`` to name the outputs otherwise): nothing of
    ``df`` is overwritten.
    """
    if text_column not in df.columns:
        raise ValueError(f"no column {text_column!r} (columns: {', '.join(df.columns)})")
    for name, argument in ((probability_column, "probability_column"),
                           (label_column, "label_column")):
        if name in df.columns:
            raise ValueError(f"df already has a column {name!r}; it would be overwritten: pass "
                             f"{argument}='...' to name the output otherwise. Received: "
                             f"{argument}={name!r}")
    if probability_column == label_column:
        raise ValueError("probability_column and label_column must differ")
    model = executor_model(model)
    from pyspark.sql.types import FloatType, StringType, StructField, StructType

    schema = StructType(list(df.schema.fields) + [StructField(probability_column, FloatType()),
                                                  StructField(label_column, StringType())])
    return df.mapInPandas(score_partitions(text_column, model=model, threads=threads,
                                           id_column=id_column,
                                           probability_column=probability_column,
                                           label_column=label_column), schema)
