"""The same tokens on every supported Python: word characters come from a table pinned to
Unicode 14.0.0 (both backends), and the lowercase mapping, which the tokenizer takes from
Python, is checked to be the one of that table's Python (CPython 3.11-3.13 agree on it)."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from imdb_edge import Vectorizer, Vocabulary
from imdb_edge._tokenizer import tokenize
from imdb_edge._unicode_table import UNICODE_VERSION, WORD_RANGES

# sha256 of chr(c).lower() + NUL for every code point but the surrogates (CPython 3.11-3.13).
LOWERCASE_SHA256 = "2a57bd2ee31776aecc042336da11b34e1b6f16cd8c587e9bcdf885218ef3a961"
# Code points whose str.isalnum() differs between Pythons (Unicode 14 vs 15/15.1), and texts
# that tripped tokenizers before.
TEXTS = ["a\U0001123Fb", "x\U00011F04y", "q\U0001E4D0r", "\u0CF3ab", "na\u00efve cafe\u0301",
         "İstanbul ΣΑΣ ß", "Great fun :) &amp; <3", "a\U00031350b", "don't rock'n'roll"]


def test_lowercase_mapping_is_the_pinned_one():
    low = "".join(chr(c).lower() + "\0" for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    assert hashlib.sha256(low.encode("utf-8", "surrogatepass")).hexdigest() == LOWERCASE_SHA256


@pytest.mark.skipif(unicodedata.unidata_version != UNICODE_VERSION,
                    reason=f"this Python has Unicode {unicodedata.unidata_version}")
def test_table_is_isalnum_of_its_unicode_version():
    table = bytearray(0x110000)
    for first, last in WORD_RANGES:
        table[first:last + 1] = b"\1" * (last - first + 1)
    assert all(table[c] == chr(c).isalnum() for c in range(0x110000))


def test_newer_letters_are_not_word_characters():
    # U+1123F is a letter in Unicode 15 (CPython 3.12+), unassigned in 14.0.
    assert tokenize("a\U0001123Fb") == ["a", "b"]
    vocab = Vocabulary(["a", "b"])
    for backend in ("python", "cython"):
        try:
            vectorizer = Vectorizer(vocab, backend=backend)
        except ImportError:
            continue
        indptr, ids = vectorizer.transform_ids(["a\U0001123Fb"])
        assert ids.tolist() == [0, 1]


def _pythons():
    found = {}
    roots = [Path(os.path.expanduser("~/.pyenv/versions")), Path("/root/.pyenv/versions")]
    for version in ("3.11", "3.12", "3.13"):
        candidates = [p / "bin" / "python3" for root in roots if os.access(root, os.R_OK)
                      for p in sorted(root.glob(f"{version}.*"))]
        exe = next((str(c) for c in candidates if os.access(c, os.X_OK)), None)
        which = shutil.which(f"python{version}")
        if exe is None and which and "/shims/" not in which:   # pyenv shims need pyenv's setup
            exe = which
        if exe:
            found[version] = exe
    return found


@pytest.mark.skipif(len(_pythons()) < 2, reason="fewer than two of CPython 3.11-3.13 found")
def test_every_python_gives_the_same_tokens():
    """The reference tokenizer (pure Python: no numpy needed) under each Python the wheels
    cover gives what this process gives, compiled path included."""
    root = Path(__file__).resolve().parent.parent
    package = Path(__import__("imdb_edge").__file__).resolve().parent.parent
    code = ("import json, sys; from imdb_edge._tokenizer import tokenize; "
            "texts = json.loads(sys.stdin.read()); "
            "print(json.dumps([[tokenize(t, v) for t in texts] for v in (1, 2)]))")
    want = [[tokenize(t, v) for t in TEXTS] for v in (1, 2)]
    for version, exe in _pythons().items():
        result = subprocess.run([exe, "-c", code], input=json.dumps(TEXTS), capture_output=True,
                                text=True, env={**os.environ, "PYTHONPATH": str(package)},
                                cwd=root)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == want, f"CPython {version}"
    features = sorted({t for group in want for tokens in group for t in tokens})
    for v in (1, 2):
        vocab = Vocabulary(features, tokenizer_version=v)
        indptr, ids = Vectorizer(vocab).transform_ids(TEXTS)
        for k, tokens in enumerate(want[v - 1]):
            expected = list(dict.fromkeys(vocab.index[t] for t in tokens))
            assert ids[indptr[k]:indptr[k + 1]].tolist() == expected
