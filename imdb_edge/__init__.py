"""imdb-edge: sentiment of raw movie-review text, scored on small CPU devices.

Depends on numpy and onnxruntime only::

    import imdb_edge
    imdb_edge.score(["A wonderful film.", "Dull and far too long."])   # float32 (2,)
    scorer = imdb_edge.load("default", threads=1)                      # a Scorer

Names are imported on first use (PEP 562), so ``import imdb_edge`` costs almost nothing and
onnxruntime is loaded only with the first model.
"""

from ._version import __version__

_LAZY = {
    "score": "_default_model", "load": "_scorer", "Scorer": "_scorer",
    "predict": "_default_model", "explain": "_default_model", "Effect": "_explain",
    "Vectorizer": "_vectorizer", "Vocabulary": "_vocab", "ModelError": "_errors",
    "tokenize": "_tokenizer", "TOKENIZER_VERSION": "_tokenizer", "presets": "_models",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imdb_edge' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"imdb_edge.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
