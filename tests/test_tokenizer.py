import pytest

from imdb_edge import tokenize


@pytest.mark.parametrize("text, tokens", [
    ("Hello, World!", ["hello", "world"]),
    ("don't stop", ["don't", "stop"]),
    ("I didn’t", ["i", "didn't"]),                     # U+2019 becomes '
    ("rock'n'roll", ["rock'n'roll"]),
    ("'hello' students' 'tis", ["hello", "students", "tis"]),
    ("a''b", ["a", "b"]),
    ("Café NAÏVE Ærøskøbing", ["café", "naïve", "ærøskøbing"]),
    ("line<br />break<BR>x<br/>y<br   />z", ["line", "break", "x", "y", "z"]),
    ("<br", ["br"]), ("<br x>", ["br", "x"]), ("<b>bold</b>", ["b", "bold", "b"]),
    ("1950s 10/10 3.5", ["1950s", "10", "10", "3", "5"]),
    ("snake_case", ["snake", "case"]),
    ("emoji😀inside", ["emoji", "inside"]),
    ("nul\x00char", ["nul", "char"]),
    ("Ⅻ ½ ٣", ["ⅻ", "½", "٣"]),                       # numerics of any script are word chars
    ("İstanbul", ["i", "stanbul"]),                    # lower() gives i + U+0307, a mark
    ("cafe\u0301", ["cafe"]),                          # not normalized: the mark separates
    ("", []), ("   \n\t ", []),
])
def test_tokenize_rules(text, tokens):
    assert tokenize(text) == tokens
