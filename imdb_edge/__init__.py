"""imdb-edge: sentiment of raw movie-review text, scored on small CPU devices.

Depends on numpy and onnxruntime only. ``score(texts)`` gives probabilities of a positive
review on the bundled default model; ``load()`` gives a :class:`Scorer` for other models.
"""

from ._errors import ModelError
from ._tokenizer import TOKENIZER_VERSION, tokenize
from ._version import __version__
from ._vectorizer import Vectorizer
from ._vocab import Vocabulary

__all__ = [
    "ModelError",
    "TOKENIZER_VERSION",
    "Vectorizer",
    "Vocabulary",
    "__version__",
    "tokenize",
]
