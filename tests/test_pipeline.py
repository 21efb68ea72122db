"""SimCSEEncoder -> UMAP -> HDBSCAN as one Pipeline: search, encoder reuse, joblib."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

import skcse._training
from conftest import call_in_fresh_process, make_texts
from skcse import SimCSEEncoder
from skcse.cluster import HDBSCAN
from skcse.manifold import UMAP
from skcse.metrics import adjusted_rand_scorer, v_measure_scorer
from skcse.model_selection import InSampleSplit

GRID = {"umap__n_neighbors": [8, 15], "hdbscan__min_cluster_size": [5, 10]}


def _pipeline(model: str, memory=None, **encoder_params) -> Pipeline:
    params = dict(batch_size=16, max_seq_length=32, precision="fp32", random_state=0)
    return Pipeline(
        [
            ("enc", SimCSEEncoder(model, **{**params, **encoder_params})),
            ("umap", UMAP(n_components=3, n_neighbors=10, n_epochs=50, random_state=0)),
            ("hdbscan", HDBSCAN(min_cluster_size=5)),
        ],
        memory=memory,
    )


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
    sample = reviews.sample(600, random_state=0)
    texts, y = sample["Text"].tolist(), sample["Cat1"].to_numpy()
    pipe = Pipeline(
        [
            ("enc", SimCSEEncoder(max_seq_length=64, max_steps=2, random_state=0)),
            ("umap", UMAP(n_components=5, metric="cosine", min_dist=0.0, random_state=0)),
            ("hdbscan", HDBSCAN(min_samples=10)),
        ],
        memory=str(tmp_path),
    )
    grid = {"umap__n_neighbors": [15, 30], "hdbscan__min_cluster_size": [15, 40]}
    search = GridSearchCV(pipe, grid, scoring=v_measure_scorer, cv=InSampleSplit()).fit(texts, y)
    assert 0.0 <= search.best_score_ <= 1.0
    labels = search.best_estimator_.predict(texts[:50])
    assert labels.shape == (50,)
