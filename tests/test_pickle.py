"""Scorer and Vectorizer pickle as how they were loaded, so process pools and engines can
ship them: each process loads the model once."""

import functools
import multiprocessing
import pickle
import shutil

import numpy as np
import pytest

import imdb_edge
from imdb_edge import Vectorizer
from imdb_edge._models import resolve_model

from .conftest import REVIEWS


@pytest.mark.parametrize("preset", ["default", "accurate"])
def test_scorer_round_trip_and_cache(preset):
    scorer = imdb_edge.load(preset, threads=2)
    blob = pickle.dumps(scorer)
    assert len(blob) < 1000          # how to load it, not the model
    copy = pickle.loads(blob)
    assert copy.threads == 2 and copy.path == scorer.path
    np.testing.assert_array_equal(copy.score(REVIEWS), scorer.score(REVIEWS))
    assert pickle.loads(blob) is copy   # loaded once per process


def test_scorer_from_a_folder(tmp_path):
    onnx_path, vocab_path = resolve_model("default")
    shutil.copy(onnx_path, tmp_path / "model.onnx")
    shutil.copy(vocab_path, tmp_path / vocab_path.name)
    scorer = imdb_edge.load(tmp_path)
    copy = pickle.loads(pickle.dumps(scorer))
    assert copy.path == tmp_path / "model.onnx"
    np.testing.assert_array_equal(copy.score(REVIEWS), scorer.score(REVIEWS))


def test_vectorizer_round_trip(backend, small_vocab):
    vec = Vectorizer(small_vocab, backend=backend)
    copy = pickle.loads(pickle.dumps(vec))
    assert copy.backend == backend
    for a, b in zip(copy.transform_ids(REVIEWS), vec.transform_ids(REVIEWS)):
        np.testing.assert_array_equal(a, b)


def test_spawned_processes_score_with_a_pickled_scorer():
    scorer = imdb_edge.load("accurate")
    batches = [REVIEWS[:3], REVIEWS[3:]]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        parts = pool.map(functools.partial(_score, scorer), batches)
    np.testing.assert_array_equal(np.concatenate(parts), scorer.score(REVIEWS))


def _score(scorer, texts):
    return scorer.score(texts)
