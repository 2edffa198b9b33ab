import pytest

from imdb_edge import ModelError, Vectorizer, Vocabulary
from imdb_edge._vocab import _MAGIC, vocabulary_checksum

from .conftest import REVIEWS


def test_build_top_n_ties_by_code_point():
    vocab = Vocabulary.build(["b a c", "c b", "d"], size=3)
    assert vocab.features == ["b", "c", "a"]          # b:2 c:2 then a:1 < d:1
    assert Vocabulary.build(["d", "c b", "b a c"], size=3).features == vocab.features


def test_roundtrip(tmp_path):
    vocab = Vocabulary.build(REVIEWS + ["\x85odd\u2028chars"], size=500, ngram=2)
    path = vocab.save(tmp_path / "vocab.txt")
    loaded = Vocabulary.load(path)
    assert loaded.features == vocab.features and loaded.checksum == vocab.checksum
    assert loaded.ngram == 2
    assert Vectorizer.load(path).size == len(vocab)
    assert not list(tmp_path.glob(".*tmp"))


def test_checksum_covers_order_and_ngram():
    a = Vocabulary(["x", "y"])
    assert a.checksum != Vocabulary(["y", "x"]).checksum
    assert a.checksum != Vocabulary(["x", "y"], ngram=2).checksum


def _write(tmp_path, text, name="vocab.txt"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize("mutate, message", [
    (lambda t: "", "file is empty"),
    (lambda t: "hello\nworld\n", "not an imdb-edge vocabulary"),
    (lambda t: t.replace("#tokenizer_version=1", "#tokenizer_version=3"), "tokenizer version 3"),
    (lambda t: t.rsplit("\n", 3)[0] + "\n", "truncated"),
    (lambda t: t.replace("\ngreat\n", "\ngrand\n"), "checksum"),
    (lambda t: t + "the\n", "size="),
    (lambda t: t.replace("#size=", "#sise="), "bad header line"),
    (lambda t: t.replace("#ngram=2", "#ngram=x"), "must be integers"),
])
def test_bad_files(tmp_path, mutate, message):
    text = Vocabulary.build(REVIEWS, size=50, ngram=2).to_text()
    path = _write(tmp_path, mutate(text))
    with pytest.raises(ModelError, match=message) as info:
        Vocabulary.load(path)
    assert str(path) in str(info.value)


def test_duplicate_named_with_lines(tmp_path):
    vocab = Vocabulary(["a", "b"])
    text = vocab.to_text().replace("#size=2", "#size=3") + "a\n"
    with pytest.raises(ModelError, match=r"line 8: feature 'a' duplicates line 6"):
        Vocabulary.load(_write(tmp_path, text))


@pytest.mark.parametrize("ngram, bad, reason", [
    (1, "", "not a valid feature"), (1, "#x", "not a valid feature"),
    (1, "a b", "not a valid feature"), (2, "a b c", "not a valid feature"),
    (2, "a\rb", "not a valid feature"), (2, "b", "duplicates line 7"),
])
def test_each_bad_feature_named_with_its_line(tmp_path, ngram, bad, reason):
    """The structure is checked on the joined features at load; a defect must still stop the
    load and name its line (8: the third feature), wherever it is."""
    features = ["a", "b", bad, "c"]
    header = [_MAGIC, "#tokenizer_version=1", f"#ngram={ngram}", "#size=4",
              "#checksum=" + vocabulary_checksum(features, ngram, 1)]
    path = _write(tmp_path, "\n".join(header + features) + "\n")
    with pytest.raises(ModelError, match=f"line 8: .*{reason}"):
        Vocabulary.load(path)


def test_checksum_is_the_specified_bytes():
    """sha256 of the header line pair, then each feature's UTF-8 and a newline (docs/spec)."""
    import hashlib
    features = ["naïve", "not bad", "café"]
    expected = hashlib.sha256(b"tokenizer_version=2\nngram=2\n"
                              + b"".join(f.encode() + b"\n" for f in features)).hexdigest()
    assert vocabulary_checksum(features, 2, 2) == "sha256:" + expected
    assert Vocabulary(features, ngram=2, tokenizer_version=2).checksum == "sha256:" + expected


def test_missing_and_not_utf8(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        Vocabulary.load(tmp_path / "nope.txt")
    with pytest.raises(ModelError, match="not valid UTF-8"):
        Vocabulary.load(_write(tmp_path, b"#imdb-edge-vocabulary\n\xff\xfe"))


def test_constructor_checks():
    with pytest.raises(ValueError, match="duplicated"):
        Vocabulary(["a", "a"])
    with pytest.raises(ValueError, match="ngram must be"):
        Vocabulary(["a"], ngram=4)
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        Vocabulary.build(["a", 1])


def test_gzip_roundtrip_and_corrupt(tmp_path):
    vocab = Vocabulary.build(REVIEWS, size=80, ngram=2)
    path = vocab.save(tmp_path / "vocab.txt.gz")
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert Vocabulary.load(path).checksum == vocab.checksum
    assert vocab.save(tmp_path / "again.txt.gz").read_bytes() == path.read_bytes()  # reproducible
    broken = tmp_path / "broken.txt.gz"
    broken.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ModelError, match="broken.txt.gz: corrupt gzip data"):
        Vocabulary.load(broken)
