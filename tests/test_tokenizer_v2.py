"""Tokenizer version 2: rules a-c (HTML references, emoticons, NFC) before version 1's walk;
the compiled scan that skips texts rules a-c cannot change; both backends equal."""

import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imdb_edge import Vectorizer, Vocabulary, _vectorizer
from imdb_edge._tokenizer import EMOTICON_WORDS, prepare, tokenize


@pytest.mark.parametrize("text, tokens", [
    ("Great fun :)", ["great", "fun", "xxsmile"]),
    ("great :-))) and :( then :'( ", ["great", "xxsmile", "and", "xxfrown", "then", "xxcry"]),
    ("ok ;) ;-( xD XDDD :D :P :p :/ :| :O :* =)",
     ["ok", "xxwink", "xxfrown", "xxlaugh", "xxlaugh", "xxlaugh", "xxtongue", "xxtongue",
      "xxskeptical", "xxneutral", "xxsurprise", "xxkiss", "xxsmile"]),
    ("I <3 it </3", ["i", "xxheart", "it", "xxbrokenheart"]),
    ("end:)", ["end"]),                                  # no space before: not an emoticon
    (":)end", ["end"]),                                  # no space/.,!? after: not one
    ("fun :)!", ["fun", "xxsmile"]),
    ("http://example.com :/", ["http", "example", "com", "xxskeptical"]),
    ("Tom &amp; Jerry don&#39;t &eacute;t&eacute;", ["tom", "jerry", "don't", "été"]),
    ("&lt;br /&gt;x", ["x"]),                              # a decoded line break is one too
    ("nai\u0308ve", ["naïve"]),                            # NFC: one word, as typed precomposed
    ("cafe\u0301", ["café"]),
    ("😡", []), ("", []),
])
def test_version_2_rules(text, tokens):
    assert tokenize(text, 2) == tokens


@pytest.mark.parametrize("reference", ["&#" + "1" * 5000 + ";", "&#x" + "f" * 5000, "&#00000001114112;",
                                       "&#x0000110000;"])
def test_huge_numeric_references_are_one_replacement_character(reference):
    # html.unescape alone raises ValueError past 4,300 digits (int's limit): a crash on text
    assert prepare(f"a {reference} b") == "a \ufffd b"
    assert tokenize(f"a {reference} b", 2) == ["a", "b"]
    assert prepare("&#65;&#x42;&#0000067;") == "ABC"


def test_version_1_is_unchanged_by_default():
    assert tokenize("Great fun :) don&#39;t") == ["great", "fun", "don", "39", "t"]
    assert tokenize("cafe\u0301") == ["cafe"]


def test_emoticon_words_are_tokens_of_both_versions():
    for word in EMOTICON_WORDS:
        assert tokenize(word, 1) == [word] == tokenize(word, 2)


def test_latin1_texts_are_already_nfc():
    # The compiled scan skips NFC for 1-byte texts: no two Latin-1 characters compose.
    bad = [(a, b) for a in range(256) for b in range(256)
           if unicodedata.normalize("NFC", chr(a) + chr(b)) != chr(a) + chr(b)]
    assert bad == []


EMOTICON_ALPHABET = st.sampled_from(list(":;=-o^'()[]{}<>3DPp/\\|SOo*xX&#;ab é\u0308\u00e9 .!?\n"))
TEXT = st.text(EMOTICON_ALPHABET, max_size=30) | st.text(max_size=30)


@pytest.mark.skipif(_vectorizer._vectorize_c is None, reason="compiled vectorizer not built")
@settings(max_examples=1000, deadline=None)
@given(texts=st.lists(TEXT, max_size=6))
def test_scan_flags_every_text_prepare_changes(texts):
    flagged = set(_vectorizer._vectorize_c.may_need_preparing(texts))
    for i, text in enumerate(texts):
        if i not in flagged:
            assert prepare(text) == text


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(TEXT, max_size=6))
def test_backends_agree_on_version_2(texts):
    features = sorted({f for t in texts for f in tokenize(t, 2)} | set(EMOTICON_WORDS))
    vocab = Vocabulary(features or ["x"], ngram=2, tokenizer_version=2)
    results = [Vectorizer(vocab, backend=b).transform_ids(texts) for b in _backends()]
    for indptr, ids in results[1:]:
        assert np.array_equal(indptr, results[0][0]) and np.array_equal(ids, results[0][1])
    # and the ids are the reference's: version 1 features of prepare(text)
    index = vocab.index
    for k, text in enumerate(texts):
        want = list(dict.fromkeys(index[f] for f in _features(tokenize(text, 2)) if f in index))
        assert results[0][1][results[0][0][k]:results[0][0][k + 1]].tolist() == want


def _features(tokens):
    for i, token in enumerate(tokens):
        yield token
        if i:
            yield tokens[i - 1] + " " + token


def _backends():
    return ["python"] + (["cython"] if _vectorizer._vectorize_c is not None else [])


def test_version_2_vocabulary_round_trip(tmp_path):
    vocab = Vocabulary(["great", "xxsmile"], tokenizer_version=2)
    vocab.save(tmp_path / "v.txt")
    loaded = Vocabulary.load(tmp_path / "v.txt")
    assert loaded.tokenizer_version == 2 and loaded.checksum == vocab.checksum
    assert Vocabulary(["great", "xxsmile"]).checksum != vocab.checksum   # version 1


def test_unknown_version_is_refused(tmp_path):
    with pytest.raises(ValueError, match="tokenizer_version=3"):
        Vocabulary(["a"], tokenizer_version=3)
    with pytest.raises(ValueError, match="version must be one of"):
        tokenize("a", 3)


@pytest.mark.skipif(_vectorizer._vectorize_c is None, reason="compiled vectorizer not built")
@settings(max_examples=1000, deadline=None)
@given(text=TEXT)
def test_compiled_rules_equal_the_reference(text):
    assert _vectorizer._prepare_compiled(text) == prepare(text)


@pytest.mark.skipif(_vectorizer._vectorize_c is None, reason="compiled vectorizer not built")
@pytest.mark.parametrize("text", ["Great fun :)", ":) :) :)", "a :-))) b :'( c ;) xDD <33 </3",
                                  "\u3000:(\u3000", "x :o) :oo :o", "http://x.y :/", "&amp; :P!",
                                  "\u00e9 :D, \U0001F621 ;-(."])
def test_compiled_rules_on_known_cases(text):
    assert _vectorizer._prepare_compiled(text) == prepare(text)
