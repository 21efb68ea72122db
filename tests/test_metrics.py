"""Tests of the clustering scorers in skcse.metrics on synthetic blobs."""

from __future__ import annotations

import pickle
import warnings

import hdbscan
import numpy as np
import pytest
import umap
from sklearn.cluster import AgglomerativeClustering
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, v_measure_score
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skcse.cluster import HDBSCAN
from skcse.manifold import UMAP
from skcse.metrics import (
    ClusteringScorer,
    adjusted_rand_scorer,
    make_clustering_scorer,
    normalized_mutual_info_scorer,
    v_measure_scorer,
)
from skcse.model_selection import InSampleSplit

FAST_UMAP = {"n_neighbors": 10, "n_epochs": 20, "random_state": 0, "n_jobs": 1}
TOPICS = np.array(["beauty", "food", "pets"])


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=150, n_features=6, centers=3, cluster_std=2.0, random_state=0)
    return X, TOPICS[y]


def umap_pipeline(**hdbscan_params):
    return Pipeline(
        [("umap", UMAP(**FAST_UMAP)), ("hdbscan", HDBSCAN(min_cluster_size=10, **hdbscan_params))]
    )


class FixedLabels:
    """A fitted 'clusterer' whose predict returns given labels."""

    def __init__(self, labels):
        self.labels = np.asarray(labels)

    def predict(self, X):
        return self.labels


def test_in_sample_search_score_is_v_measure_of_fit_labels(blobs):
    X, y = blobs
    grid = {"hdbscan__min_cluster_size": [5, 15], "hdbscan__noise": ["soft", "keep"]}
    search = GridSearchCV(
        umap_pipeline(), grid, scoring=v_measure_scorer, cv=InSampleSplit(), refit=False
    ).fit(X, y)
    for params, score in zip(
        search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
    ):
        fitted = umap_pipeline().set_params(**params).fit(X)
        assert score == v_measure_score(y, fitted[-1].labels_)


def test_in_sample_score_of_plain_and_wrapped_hdbscan_uses_fit_labels():
    # Overlapping blobs: soft labels of the training points depend on how they are computed.
    X, y = make_blobs(n_samples=120, centers=4, cluster_std=1.5, random_state=0)
    ours = HDBSCAN().fit(X)
    plain = hdbscan.HDBSCAN(prediction_data=True).fit(X)
    as_new = hdbscan.membership_vector(plain, X).argmax(axis=1)
    expected = v_measure_score(y, ours.labels_)
    assert expected != v_measure_score(y, as_new)
    assert v_measure_scorer(ours, X, y) == expected
    assert v_measure_scorer(plain, X, y) == expected


def test_scorer_uses_predict(blobs):
    X, y = blobs
    pipe = umap_pipeline(noise="keep").fit(X[:100])
    labels = pipe.predict(X[100:])
    assert v_measure_scorer(pipe, X[100:], y[100:]) == v_measure_score(y[100:], labels)
    assert adjusted_rand_scorer(pipe, X[100:], y[100:]) == adjusted_rand_score(y[100:], labels)
    nmi = normalized_mutual_info_score(y[100:], labels)
    assert normalized_mutual_info_scorer(pipe, X[100:], y[100:]) == nmi


def test_cross_val_score_matches_manual_folds(blobs):
    X, y = blobs
    model = HDBSCAN(min_cluster_size=10)
    cv = KFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(model, X, y, scoring=v_measure_scorer, cv=cv)
    expected = [
        v_measure_score(y[test], HDBSCAN(min_cluster_size=10).fit(X[train]).predict(X[test]))
        for train, test in cv.split(X)
    ]
    np.testing.assert_array_equal(scores, expected)
    assert scores.min() > 0.5


def test_scoring_dict_and_randomized_search(blobs):
    X, y = blobs
    scoring = {
        "v": v_measure_scorer,
        "ari": adjusted_rand_scorer,
        "nmi": normalized_mutual_info_scorer,
    }
    search = RandomizedSearchCV(
        HDBSCAN(),
        {"min_cluster_size": [5, 10, 20]},
        n_iter=2,
        scoring=scoring,
        refit="v",
        cv=InSampleSplit(),
        random_state=0,
    ).fit(X, y)
    labels = search.best_estimator_.labels_
    assert search.best_score_ == v_measure_score(y, labels)
    best = search.best_index_
    assert search.cv_results_["mean_test_ari"][best] == adjusted_rand_score(y, labels)
    assert search.cv_results_["mean_test_nmi"][best] == normalized_mutual_info_score(y, labels)


def test_scorer_pickles(blobs):
    X, y = blobs
    model = HDBSCAN(min_cluster_size=10).fit(X)
    scorer = make_clustering_scorer(v_measure_score, noise="exclude", beta=0.5)
    loaded = pickle.loads(pickle.dumps(scorer))
    assert isinstance(loaded, ClusteringScorer)
    assert (loaded.noise, loaded.kwargs) == ("exclude", {"beta": 0.5})
    assert loaded(model, X, y) == scorer(model, X, y)


def test_parallel_search_pickles_scorer(blobs):
    X, y = blobs
    search = GridSearchCV(
        HDBSCAN(), {"min_cluster_size": [5, 10]}, scoring=v_measure_scorer, cv=2, n_jobs=2
    ).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_kwargs_reach_score_func():
    y = np.array([0, 0, 1, 1, 2, 2])
    labels = np.array([0, 0, 0, 0, 1, 1])
    scorer = make_clustering_scorer(v_measure_score, beta=0.2)
    assert scorer(FixedLabels(labels), None, y) == v_measure_score(y, labels, beta=0.2)
    assert scorer(FixedLabels(labels), None, y) != v_measure_score(y, labels)
    assert repr(scorer) == "make_clustering_scorer(v_measure_score, noise='include', beta=0.2)"


def test_noise_include_and_exclude():
    y = np.array(["a", "a", "b", "b", "a", "b"])
    labels = np.array([0, 0, 1, 1, -1, -1])
    estimator = FixedLabels(labels)
    included = make_clustering_scorer(v_measure_score)(estimator, None, y)
    assert included == v_measure_score(y, labels)
    assert included < 1.0
    assert make_clustering_scorer(v_measure_score, noise="exclude")(estimator, None, y) == 1.0


def test_all_noise_excluded_scores_zero_with_warning():
    scorer = make_clustering_scorer(v_measure_score, noise="exclude")
    with pytest.warns(UserWarning, match="Every point is labelled noise"):
        assert scorer(FixedLabels([-1, -1, -1]), None, ["a", "b", "a"]) == 0.0


def test_invalid_noise_and_missing_y():
    # InvalidParameterError is both a ValueError and a TypeError.
    match = r"'noise' parameter of ClusteringScorer must be a str among .*'exclude'.* Got 'drop'"
    with pytest.raises(InvalidParameterError, match=match):
        make_clustering_scorer(v_measure_score, noise="drop")
    with pytest.raises(InvalidParameterError, match=match):
        ClusteringScorer(v_measure_score, noise="drop")
    with pytest.raises(ValueError, match="y must be given"):
        v_measure_scorer(FixedLabels([0, 1]), None, None)


def test_invalid_score_func_and_kwargs():
    with pytest.raises(InvalidParameterError, match="'score_func' parameter of ClusteringScorer"):
        make_clustering_scorer("v_measure")
    with pytest.raises(InvalidParameterError, match="'kwargs' parameter of ClusteringScorer"):
        ClusteringScorer(v_measure_score, kwargs=[("beta", 0.5)])


def test_noise_set_after_making_is_refused_when_scoring():
    scorer = make_clustering_scorer(v_measure_score)
    scorer.noise = "drop"
    with pytest.raises(InvalidParameterError, match="'noise' parameter of ClusteringScorer"):
        scorer(FixedLabels([0, 1, -1]), None, ["a", "b", "a"])


@pytest.mark.parametrize("noise", ["include", "exclude"])
@pytest.mark.parametrize("labels", [[0, 1, -1], [-1, -1, -1]])
@pytest.mark.parametrize("n_true", [2, 4])
def test_y_of_wrong_length_raises_length_error(noise, labels, n_true):
    scorer = make_clustering_scorer(v_measure_score, noise=noise)
    y = ["a", "b", "a", "b"][:n_true]
    with pytest.raises(ValueError, match=rf"y has {n_true} labels .* labelled 3 samples"):
        scorer(FixedLabels(labels), None, y)


def test_plain_hdbscan_pipeline_uses_soft_membership(blobs):
    X, y = blobs
    pipe = Pipeline(
        [("scale", StandardScaler()), ("hdbscan", hdbscan.HDBSCAN(10, prediction_data=True))]
    ).fit(X[:100])
    inner = pipe[-1]
    new = hdbscan.membership_vector(inner, pipe[0].transform(X[100:])).argmax(axis=1)
    assert v_measure_scorer(pipe, X[100:], y[100:]) == v_measure_score(y[100:], new)
    train = hdbscan.all_points_membership_vectors(inner).argmax(axis=1)
    assert v_measure_scorer(pipe, X[:100], y[:100]) == v_measure_score(y[:100], train)
    # A bare hdbscan.HDBSCAN scores like skcse's HDBSCAN with the same parameters.
    bare = hdbscan.HDBSCAN(10, prediction_data=True).fit(X[:100])
    ours = HDBSCAN(min_cluster_size=10).fit(X[:100])
    assert v_measure_scorer(bare, X[100:], y[100:]) == v_measure_scorer(ours, X[100:], y[100:])


def test_plain_hdbscan_without_prediction_data(blobs):
    X, y = blobs
    pipe = Pipeline([("scale", StandardScaler()), ("hdbscan", hdbscan.HDBSCAN(10))]).fit(X)
    with pytest.raises(ValueError, match="prediction_data=True"):
        v_measure_scorer(pipe, X, y)


def test_estimator_without_predict_names_the_fix(blobs):
    X, y = blobs
    model = AgglomerativeClustering(3).fit(X)
    with pytest.raises(TypeError, match=r"AgglomerativeClustering.*skcse\.cluster\.HDBSCAN"):
        v_measure_scorer(model, X, y)


def _leak_warnings(records):
    return [r for r in records if "skcse.manifold.UMAP" in str(r.message)]


def test_plain_umap_warns_once_per_search(blobs):
    X, y = blobs
    codes = np.searchsorted(TOPICS, y)  # plain umap cannot take string labels
    pipe = Pipeline([("umap", umap.UMAP(**FAST_UMAP)), ("hdbscan", HDBSCAN(min_cluster_size=10))])
    scorer = make_clustering_scorer(v_measure_score)
    search = GridSearchCV(pipe, {"hdbscan__min_cluster_size": [5, 10, 15]}, scoring=scorer, cv=2)
    with pytest.warns(UserWarning, match=r"plain umap\.UMAP.*skcse\.manifold\.UMAP") as records:
        search.fit(X, codes)
    assert len(_leak_warnings(records)) == 1
    # A copy sent to a worker warns on its own.
    with pytest.warns(UserWarning, match="skcse.manifold.UMAP"):
        pickle.loads(pickle.dumps(scorer))(search.best_estimator_, X, codes)


def test_nested_plain_umap_is_detected(blobs):
    X, y = blobs
    inner = Pipeline([("scale", StandardScaler()), ("umap", umap.UMAP(**FAST_UMAP))])
    pipe = Pipeline([("reduce", inner), ("hdbscan", HDBSCAN(min_cluster_size=10))]).fit(X)
    with pytest.warns(UserWarning, match="skcse.manifold.UMAP"):
        make_clustering_scorer(v_measure_score)(pipe, X, y)


def test_skcse_umap_does_not_warn(blobs):
    X, y = blobs
    pipe = umap_pipeline().fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_clustering_scorer(v_measure_score)(pipe, X, y)
