"""Labels from probabilities: one rule for ``predict``, the CLI and the engines.

A text with no feature the model knows (``known_features`` 0) gets the model's prior, its
bias, as probability; that says nothing about the text, so its label claims no class:
:data:`UNKNOWN_LABEL` (code 2, ``label_id`` :data:`UNKNOWN_ID`).
"""

from __future__ import annotations

UNKNOWN_LABEL = "unknown"
"""The label of a text with no known feature."""
UNKNOWN_ID = -1
"""Its ``label_id`` (the negative label's is 0, the positive label's 1)."""
LABEL_IDS = (0, 1, UNKNOWN_ID)
"""``label_id`` by label code."""


def label_codes(p, known, threshold: float = 0.5):
    """int8 label codes ``(n,)``: 1 where ``p > threshold``, else 0, and 2 (unknown) where
    ``known`` (the texts' known-feature counts) is 0."""
    import numpy as np   # here, so that the CLI's --help loads no numpy

    codes = (np.asarray(p) > threshold).astype(np.int8)
    codes[np.asarray(known) == 0] = 2
    return codes


def label_names(codes, names: tuple[str, str]):
    """The names (object array) of label codes: ``names[0]``, ``names[1]`` or ``unknown``."""
    import numpy as np

    return np.array([*names, UNKNOWN_LABEL], dtype=object)[codes]
