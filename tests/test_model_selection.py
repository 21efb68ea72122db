"""Tests of skcse.model_selection.InSampleSplit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import v_measure_score
from sklearn.model_selection import GridSearchCV, check_cv
from sklearn.pipeline import Pipeline

from skcse.cluster import HDBSCAN
from skcse.manifold import UMAP
from skcse.metrics import v_measure_scorer
from skcse.model_selection import InSampleSplit


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=120, n_features=6, centers=3, cluster_std=2.0, random_state=3)
    return X, np.array(["beauty", "food", "toys"])[y]


@pytest.mark.parametrize(
    "X", [np.zeros((5, 2)), [f"text {i}" for i in range(5)], pd.DataFrame({"a": range(5)})]
)
def test_split_yields_all_indices_once(X):
    splitter = InSampleSplit()
    splits = list(splitter.split(X, y=[0] * 5, groups=None))
    assert len(splits) == 1
    train, test = splits[0]
    np.testing.assert_array_equal(train, np.arange(5))
    np.testing.assert_array_equal(test, np.arange(5))
    assert train is not test
    assert splitter.get_n_splits(X) == 1
    assert splitter.get_n_splits() == 1
    assert check_cv(splitter) is splitter
    assert repr(splitter) == "InSampleSplit()"


def test_grid_search_scores_in_sample_and_refits(blobs):
    X, y = blobs
    pipe = Pipeline(
        [
            ("umap", UMAP(n_neighbors=10, n_epochs=20, random_state=0, n_jobs=1)),
            ("hdbscan", HDBSCAN()),
        ]
    )
    search = GridSearchCV(
        pipe,
        {"hdbscan__min_cluster_size": [5, 10, 30]},
        scoring=v_measure_scorer,
        cv=InSampleSplit(),
        refit=True,
        return_train_score=True,
    ).fit(X, y)
    results = search.cv_results_
    assert search.n_splits_ == 1
    assert "split0_test_score" in results
    assert "split1_test_score" not in results
    # Train and test are the same samples, so the scores coincide.
    np.testing.assert_array_equal(results["mean_train_score"], results["mean_test_score"])
    assert search.best_score_ == v_measure_score(y, search.best_estimator_[-1].labels_)
    assert search.best_score_ > 0.5
