"""The examples of the README, of the docs (docs/**/*.md) and of `imdb-edge --help`, run as
they are written."""

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("**/*.md")) if (ROOT / "docs").is_dir() else []
pytestmark = pytest.mark.skipif(not README.exists(), reason="README.md not beside tests/")


def blocks(kind: str, path: Path = README) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def shell_env() -> dict:
    scripts = os.path.dirname(sys.executable)
    return {**os.environ, "PATH": scripts + os.pathsep + os.environ.get("PATH", ""),
            "IMDB_EDGE_MODEL": ""}


def run_pycon(path: Path) -> int:
    """Runs every pycon block of ``path`` as a doctest; returns how many examples ran."""
    parser = doctest.DocTestParser()
    tries = 0
    for number, text in enumerate(blocks("pycon", path)):
        test = parser.get_doctest(text, {}, f"{path.name} pycon block {number}", str(path), 0)
        runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
        runner.run(test)
        assert runner.failures == 0, f"{path}: pycon block {number} failed (output above)"
        tries += runner.tries
    return tries


def run_console(path: Path, cwd: Path) -> int:
    """Runs every ``$ command`` of the console blocks of ``path`` and compares its output."""
    ran = 0
    for text in blocks("console", path):
        steps = re.split(r"^\$ ", text, flags=re.M)[1:]
        for step in steps:
            command, _, expected = step.partition("\n")
            result = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                                    cwd=cwd, env=shell_env(), timeout=300)
            assert result.returncode == 0, (str(path), command, result.stderr)
            assert result.stdout == expected, (str(path), command, result.stdout, expected)
            ran += 1
    return ran


def test_python_examples():
    assert run_pycon(README) >= 5


def test_command_line_examples(tmp_path):
    assert run_console(README, tmp_path) >= 6


@pytest.mark.parametrize("path", [p for p in DOCS if blocks("pycon", p) or blocks("console", p)],
                         ids=lambda p: str(p.relative_to(ROOT / "docs")))
def test_docs_examples(path, tmp_path):
    assert run_pycon(path) + run_console(path, tmp_path) > 0


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
