"""make_cluster_pipeline, and SimCSEEncoder -> UMAP -> HDBSCAN as one Pipeline: search,
encoder reuse, joblib."""

from __future__ import annotations

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

import skcse._training
from conftest import call_in_fresh_process, make_texts
from skcse import HDBSCAN, UMAP, InSampleSplit, SimCSEEncoder, make_cluster_pipeline
from skcse.metrics import adjusted_rand_scorer, v_measure_scorer

GRID = {"umap__n_neighbors": [8, 15], "hdbscan__min_cluster_size": [5, 10]}


def _pipeline(model: str, memory=None, **encoder_params) -> Pipeline:
    params = dict(batch_size=16, max_seq_length=32, precision="fp32", random_state=0)
    return make_cluster_pipeline(
        SimCSEEncoder(model, **{**params, **encoder_params}),
        n_components=3,
        n_neighbors=10,
        min_cluster_size=5,
        min_samples=None,
        random_state=0,
        memory=memory,
    ).set_params(umap__n_epochs=50)


# --- the factory ---------------------------------------------------------------------------


def test_factory_builds_the_reference_clustering():
    pipe = make_cluster_pipeline(random_state=3)
    assert [name for name, _ in pipe.steps] == ["umap", "hdbscan"]
    assert isinstance(pipe["umap"], UMAP) and isinstance(pipe["hdbscan"], HDBSCAN)
    params = pipe.get_params()
    expected = {
        "memory": None,
        "umap__metric": "cosine",
        "umap__n_components": 5,
        "umap__n_neighbors": 50,
        "umap__min_dist": 0.0,
        "umap__random_state": 3,
        "hdbscan__min_cluster_size": 0.025,
        "hdbscan__min_samples": 10,
        "hdbscan__noise": "soft",
    }
    assert {key: params[key] for key in expected} == expected


def test_factory_puts_the_encoder_first_and_passes_every_option(tmp_path):
    encoder = SimCSEEncoder(epochs=0)
    pipe = make_cluster_pipeline(
        encoder,
        n_components=2,
        n_neighbors=7,
        min_cluster_size=12,
        min_samples=3,
        noise="keep",
        random_state=1,
        memory=str(tmp_path),
    )
    assert [name for name, _ in pipe.steps] == ["enc", "umap", "hdbscan"]
    assert pipe["enc"] is encoder and pipe.memory == str(tmp_path)
    params = pipe.get_params()
    assert (params["umap__n_components"], params["umap__n_neighbors"]) == (2, 7)
    assert (params["umap__random_state"], params["hdbscan__noise"]) == (1, "keep")
    assert (params["hdbscan__min_cluster_size"], params["hdbscan__min_samples"]) == (12, 3)


@pytest.mark.filterwarnings("ignore:HDBSCAN found no cluster")  # random normal points
@pytest.mark.parametrize(("n_samples", "expected"), [(2000, 50), (600, 15), (200, 10)])
def test_factory_cluster_size_is_a_fortieth_of_the_samples_and_at_least_10(n_samples, expected):
    """The rule of skcse compare, max(10, n // 40): 50 for its 2,000 reviews."""
    X = np.random.RandomState(0).normal(size=(n_samples, 5))
    pipe = make_cluster_pipeline()
    assert pipe["hdbscan"].fit(X).min_cluster_size_ == expected == max(10, n_samples // 40)


@pytest.fixture(scope="module")
def vectors():
    return make_blobs(n_samples=240, centers=3, n_features=16, random_state=0)


def test_factory_pipeline_in_a_grid_search(vectors, tmp_path):
    X, y = vectors
    pipe = make_cluster_pipeline(n_neighbors=15, random_state=0, memory=str(tmp_path))
    grid = {"umap__n_neighbors": [10, 15], "hdbscan__min_cluster_size": [0.025, 0.1]}
    search = GridSearchCV(pipe, grid, scoring=v_measure_scorer, cv=InSampleSplit()).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_score_ > 0.9  # three well separated blobs
    assert search.best_estimator_["hdbscan"].min_cluster_size_ in (10, 24)


def test_factory_pipeline_clones_and_pickles(vectors):
    X, _ = vectors
    pipe = make_cluster_pipeline(n_neighbors=15, random_state=0)
    unfitted = clone(pipe)
    assert unfitted.get_params(deep=False)["steps"][0][0] == "umap"
    labels = pipe.fit_predict(X)
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.predict(X), labels)
    np.testing.assert_array_equal(unfitted.fit_predict(X), labels)


@pytest.fixture
def count_trainings(monkeypatch):
    calls = []
    original = skcse._training.train_simcse

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(skcse._training, "train_simcse", counting)
    return calls


@pytest.mark.parametrize(("memory", "expected"), [(True, 1), (False, 5)])
def test_grid_search_trains_the_encoder_once_with_memory(
    tiny_bert, tmp_path, count_trainings, memory, expected
):
    """4 candidates + the refit: with Pipeline(memory=...) the encoder trains once."""
    texts, labels = make_texts(80, seed=2)
    pipe = _pipeline(tiny_bert, memory=str(tmp_path) if memory else None)
    search = GridSearchCV(pipe, GRID, scoring=v_measure_scorer, cv=InSampleSplit())
    search.fit(texts, labels)
    assert len(count_trainings) == expected
    assert 0.0 <= search.best_score_ <= 1.0


def test_search_with_a_dict_of_scorers(tiny_bert, tmp_path):
    texts, labels = make_texts(60, seed=3)
    search = GridSearchCV(
        _pipeline(tiny_bert, memory=str(tmp_path), epochs=0),
        {"hdbscan__min_cluster_size": [5, 10]},
        scoring={"v": v_measure_scorer, "ari": adjusted_rand_scorer},
        refit="v",
        cv=InSampleSplit(),
    ).fit(texts, labels)
    assert set(search.cv_results_) >= {"mean_test_v", "mean_test_ari"}


def test_fitted_pipeline_predicts_the_same_after_joblib_in_a_fresh_process(tiny_bert, tmp_path):
    texts, _ = make_texts(80, seed=4)
    new_texts, _ = make_texts(20, seed=5)
    pipe = _pipeline(tiny_bert).fit(texts)
    expected = pipe.predict(new_texts)
    dump = tmp_path / "pipe.joblib"
    joblib.dump(pipe, dump)
    np.testing.assert_array_equal(
        call_in_fresh_process(dump, "predict", new_texts, tmp_path), expected
    )


@pytest.mark.integration
def test_grid_search_on_real_reviews(reviews, tmp_path):
    sample = reviews.sample(300, random_state=0)
    texts, y = sample["Text"].tolist(), sample["Cat1"].to_numpy()
    pipe = make_cluster_pipeline(
        SimCSEEncoder(max_seq_length=64, max_steps=2, random_state=0),
        random_state=0,
        memory=str(tmp_path),
    )
    grid = {"umap__n_neighbors": [15, 30], "hdbscan__min_cluster_size": [0.025, 0.0667]}
    search = GridSearchCV(pipe, grid, scoring=v_measure_scorer, cv=InSampleSplit()).fit(texts, y)
    assert 0.0 <= search.best_score_ <= 1.0
    labels = search.best_estimator_.predict(texts[:50])
    assert labels.shape == (50,)
