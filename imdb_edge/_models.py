"""Where models live: bundled presets (``imdb_edge/models/<name>/``) or user folders.

A model folder holds ``model.onnx`` and ``vocab.txt`` (or ``vocab.txt.gz``). A model can be
named by preset name, by its folder, or by its ``.onnx`` file (the vocabulary is then the
``vocab.txt[.gz]`` beside it).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from ._errors import ModelError

DEFAULT_PRESET = "default"
MODEL_ENV = "IMDB_EDGE_MODEL"   # the model load() and the CLI use when none is named
MODEL_FILE = "model.onnx"
VOCAB_FILE = "vocab.txt"
VOCAB_FILE_GZ = "vocab.txt.gz"


def chosen_model(model: str | os.PathLike | None) -> str | os.PathLike:
    """``model``, else ``$IMDB_EDGE_MODEL``, else the bundled default preset's name."""
    return model if model is not None else (os.environ.get(MODEL_ENV) or DEFAULT_PRESET)


def from_environment(model) -> bool:
    """Whether :func:`chosen_model` takes ``$IMDB_EDGE_MODEL`` for ``model``."""
    return model is None and bool(os.environ.get(MODEL_ENV))


def named_by_environment(error: ModelError) -> ModelError:
    """``error`` saying that the model was named by ``$IMDB_EDGE_MODEL``."""
    return ModelError(f"{error} (the model named by ${MODEL_ENV}="
                      f"{os.environ.get(MODEL_ENV)!r})")


def presets() -> list[str]:
    """Names of the models bundled with this installation."""
    root = resources.files("imdb_edge") / "models"
    try:
        return sorted(entry.name for entry in root.iterdir()
                      if entry.is_dir() and (entry / MODEL_FILE).is_file())
    except FileNotFoundError:
        return []


def _preset_dir(name: str) -> Path:
    return Path(str(resources.files("imdb_edge") / "models" / name))


def is_preset_name(model) -> bool:
    """Whether ``model`` is read as a bundled preset's name: a plain name (no path separator,
    not an ``.onnx`` file) that is not a file or folder in the working directory."""
    return isinstance(model, str) and os.sep not in model and "/" not in model \
        and not model.endswith(".onnx") and not os.path.exists(model)


def resolve_model(model: str | os.PathLike | None) -> tuple[Path, Path]:
    """``(onnx_path, vocab_path)`` for a preset name, model folder or ``.onnx`` file; a
    folder or file is made absolute here, once, so that the scorer (and a pickle of it) does
    not depend on the working directory any more.

    Raises:
        ModelError: no such preset, folder or file; the message names the working directory a
            relative path was looked up in (on a cluster, the worker's).
    """
    if model is None:
        model = DEFAULT_PRESET
    if is_preset_name(model):
        folder = _preset_dir(model)
        if not (folder / MODEL_FILE).is_file():
            available = ", ".join(presets()) or "none"
            raise ModelError(f"no bundled model named {model!r} (bundled: {available}), nor a "
                             f"folder {model!r} in the working directory {os.getcwd()} on "
                             f"{_host()}; pass a model folder or .onnx file path instead")
        return folder / MODEL_FILE, _vocab_in(folder)
    path = Path(os.path.abspath(model))
    if path.is_dir():
        return path / MODEL_FILE, _vocab_in(path)
    if not path.exists() and not str(model).endswith(".onnx"):
        where = "" if os.path.isabs(model) else f" (looked up from {os.getcwd()})"
        raise ModelError(f"no model folder or .onnx file at {model}{where} on {_host()}")
    return path, _vocab_in(path.parent)


def _host() -> str:
    import socket

    try:
        return f"host {socket.gethostname()}"
    except OSError:
        return "this host"


def _vocab_in(folder: Path) -> Path:
    plain = folder / VOCAB_FILE
    if not plain.exists() and (folder / VOCAB_FILE_GZ).exists():
        return folder / VOCAB_FILE_GZ
    return plain


def resolve_vocabulary(path: str | os.PathLike | None) -> Path:
    """The vocabulary file for a vocabulary path, model folder, ``.onnx`` file or preset."""
    if path is not None and Path(path).is_file() and not str(path).endswith(".onnx"):
        return Path(path)
    return resolve_model(path)[1]


# Throughput measured by `imdb-edge bench --presets all --peers ''` on 2026-11-30, the three
# presets in interleaved rounds of one run, batches of 512 IMDB test reviews, one core of a
# shared 2-core AMD EPYC VM (absolute figures vary with the other tenants; the ratios carry over).
_SPEED = {"book": "128,182 reviews/s (fastest)",
          "accurate": "74,794 reviews/s (0.58x book)",
          "default": "120,120 reviews/s (0.94x book)"}
