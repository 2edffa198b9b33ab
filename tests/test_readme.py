"""The README's examples and `imdb-edge --help`'s examples, run as they are written."""

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
pytestmark = pytest.mark.skipif(not README.exists(), reason="README.md not beside tests/")


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def shell_env() -> dict:
    scripts = os.path.dirname(sys.executable)
    return {**os.environ, "PATH": scripts + os.pathsep + os.environ.get("PATH", ""),
            "IMDB_EDGE_MODEL": ""}


def test_python_examples():
    parser = doctest.DocTestParser()
    found = blocks("pycon")
    assert found, "no pycon block in the README"
    for number, text in enumerate(found):
        test = parser.get_doctest(text, {}, f"README pycon block {number}", str(README), 0)
        runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
        runner.run(test)
        assert runner.failures == 0 and runner.tries >= 5


def test_command_line_examples(tmp_path):
    found = blocks("console")
    assert found, "no console block in the README"
    ran = 0
    for text in found:
        steps = re.split(r"^\$ ", text, flags=re.M)[1:]
        for step in steps:
            command, _, expected = step.partition("\n")
            result = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                                    cwd=tmp_path, env=shell_env(), timeout=300)
            assert result.returncode == 0, (command, result.stderr)
            assert result.stdout == expected, (command, result.stdout, expected)
            ran += 1
    assert ran >= 6


def test_help_examples(tmp_path):
    from imdb_edge.cli import EPILOG

    (tmp_path / "reviews.txt").write_text("A wonderful film\nDull and far too long\n")
    (tmp_path / "reviews.jsonl").write_text('{"id": 1, "text": "A wonderful film"}\n')
    (tmp_path / "labeled.csv").write_text("text,label\n" + "great film,pos\nawful film,neg\n" * 5)
    commands = [line.strip() for line in EPILOG.splitlines()
                if line.strip().startswith(("imdb-edge ", "cat "))]
    assert len(commands) >= 6
    for command in commands:
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                                cwd=tmp_path, env=shell_env(), timeout=300)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout or ">" in command, command
