"""Tests of the label-free scorers in skcse.metrics: searches without y, edge cases."""

from __future__ import annotations

import pickle
import warnings

import hdbscan
import joblib
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.decomposition import PCA
from sklearn.metrics import calinski_harabasz_score, silhouette_score, v_measure_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skcse.cluster import HDBSCAN
from skcse.manifold import UMAP
from skcse.metrics import (
    LabelFreeScorer,
    bic_scorer,
    calinski_harabasz_scorer,
    dbcv_score,
    dbcv_scorer,
    gaussian_bic_score,
    make_label_free_scorer,
    silhouette_scorer,
    v_measure_scorer,
)
from skcse.model_selection import InSampleSplit

FAST_UMAP = {"n_neighbors": 10, "n_epochs": 20, "random_state": 0, "n_jobs": 1}


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=150, n_features=6, centers=3, cluster_std=1.0, random_state=0)
    return X, y


class FixedLabels:
    """A fitted 'clusterer' whose predict returns given labels."""

    def __init__(self, labels):
        self.labels = np.asarray(labels)

    def predict(self, X):
        return self.labels


# Two tight groups on a line, far apart, and two points between them.
LINE = np.array([[0.0], [0.1], [0.2], [0.3], [10.0], [10.1], [10.2], [10.3], [5.0], [5.2]])


def test_grid_search_without_y_picks_the_true_number_of_clusters(blobs):
    X, y = blobs
    # bic_scorer judges the input of a step named "umap"; a scaler plays that part here.
    pipe = Pipeline([("umap", StandardScaler()), ("kmeans", KMeans(n_init=3, random_state=0))])
    for scorer in (calinski_harabasz_scorer, bic_scorer, dbcv_scorer, silhouette_scorer):
        search = GridSearchCV(
            pipe, {"kmeans__n_clusters": [2, 3, 5, 8]}, scoring=scorer, cv=InSampleSplit()
        ).fit(X)
        assert search.best_params_ == {"kmeans__n_clusters": 3}
        assert v_measure_score(y, search.best_estimator_[-1].labels_) > 0.95


def test_bic_scorer_judges_the_vectors_before_umap_with_one_variance_per_cluster(blobs):
    blob_points, _ = blobs
    # Scattered points for HDBSCAN to call noise; shrunk, as unit vectors are, so that the
    # densities exceed 1 and the BIC is positive.
    scattered = np.random.default_rng(0).uniform(-30, 30, (15, blob_points.shape[1]))
    X = np.vstack([blob_points, scattered]) / 100
    # A reduction named "umap" whose output differs from its input.
    pipe = Pipeline([("umap", PCA(n_components=2)), ("hdbscan", HDBSCAN(noise="keep"))])
    labels = pipe.fit(X)[-1].labels_
    clustered = labels != -1
    assert 0 < clustered.mean() < 1, "the check below needs both clusters and noise"
    expected = gaussian_bic_score(X[clustered], labels[clustered], covariance_type="spherical")
    # Positive, so noise moves it toward worse by multiplying it by the clustered fraction.
    assert expected > 0
    assert bic_scorer(pipe, X) == pytest.approx(expected * clustered.mean())
    with pytest.raises(ValueError, match="names a Pipeline step, but the estimator is a"):
        bic_scorer(pipe[-1], pipe[0].transform(X))


def test_score_is_the_index_of_the_fit_labels_in_the_clustered_space(blobs):
    X, _ = blobs
    pipe = Pipeline([("scale", StandardScaler()), ("hdbscan", HDBSCAN(min_cluster_size=10))])
    pipe.fit(X)
    Z, labels = pipe[0].transform(X), pipe[-1].labels_
    assert dbcv_scorer(pipe, X) == dbcv_score(Z, labels)
    assert silhouette_scorer(pipe, X) == silhouette_score(Z, labels)
    assert calinski_harabasz_scorer(pipe, X) == calinski_harabasz_score(Z, labels)
    # Another space: the input of the step named, here the raw X before scaling.
    before = make_label_free_scorer(silhouette_score, space="scale")
    assert before(pipe, X) == silhouette_score(X, labels)
    assert before(pipe, X) != silhouette_scorer(pipe, X)


def test_search_without_y_over_umap_and_hdbscan(blobs):
    X, _ = blobs
    pipe = Pipeline([("umap", UMAP(**FAST_UMAP)), ("hdbscan", HDBSCAN())])
    grid = {"hdbscan__min_cluster_size": [5, 20]}
    search = GridSearchCV(pipe, grid, scoring=dbcv_scorer, cv=InSampleSplit(), refit=False)
    search.fit(X)
    for params, score in zip(
        search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
    ):
        fitted = Pipeline([("umap", UMAP(**FAST_UMAP)), ("hdbscan", HDBSCAN())])
        fitted.set_params(**params).fit(X)
        assert score == dbcv_score(fitted[0].embedding_, fitted[-1].labels_)


def test_scoring_dict_with_labelled_scorers(blobs):
    X, y = blobs
    scoring = {"v": v_measure_scorer, "dbcv": dbcv_scorer, "silhouette": silhouette_scorer}
    grid = {"min_cluster_size": [5, 20]}
    with_y = GridSearchCV(HDBSCAN(), grid, scoring=scoring, refit="dbcv", cv=InSampleSplit())
    with_y.fit(X, y)
    labels = with_y.best_estimator_.labels_
    best = with_y.best_index_
    assert with_y.cv_results_["mean_test_v"][best] == v_measure_score(y, labels)
    assert with_y.best_score_ == dbcv_score(X, labels)
    # Without y the labelled scorer cannot score: it gets error_score, the others still work.
    with (
        pytest.warns(UserWarning, match="y must be given"),
        pytest.warns(UserWarning, match="test scores are non-finite"),
    ):
        without_y = GridSearchCV(
            HDBSCAN(), grid, scoring=scoring, refit="dbcv", cv=InSampleSplit()
        ).fit(X)
    assert np.isnan(without_y.cv_results_["mean_test_v"]).all()
    for name in ("dbcv", "silhouette"):
        np.testing.assert_array_equal(
            without_y.cv_results_[f"mean_test_{name}"], with_y.cv_results_[f"mean_test_{name}"]
        )


def test_noise_penalize_and_exclude():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, -1, -1])
    kept = labels != -1
    alone = silhouette_score(LINE[kept], labels[kept])
    penalized = make_label_free_scorer(silhouette_score)(FixedLabels(labels), LINE)
    excluded = make_label_free_scorer(silhouette_score, noise="exclude")(FixedLabels(labels), LINE)
    assert excluded == alone
    assert penalized == pytest.approx(alone * 0.8)
    # DBCV weights by cluster size over all points itself; penalize gives the same number.
    assert dbcv_scorer(FixedLabels(labels), LINE) == pytest.approx(
        hdbscan.validity.validity_index(LINE, labels)
    )


def test_penalize_lowers_a_negative_score_too():
    # Interleaved labels: a negative silhouette. Shrinking it by the clustered fraction
    # would raise it, so that noise would pay.
    labels = np.array([0, 1, 0, 1, 0, 1, 0, 1, -1, -1])
    kept = labels != -1
    alone = silhouette_score(LINE[kept], labels[kept])
    assert alone < 0
    penalized = silhouette_scorer(FixedLabels(labels), LINE)
    assert penalized == pytest.approx(-1.0 + (alone + 1.0) * 0.8)
    assert penalized < alone
    # With no finite worst score to move toward, the score is divided by the fraction.
    unbounded = make_label_free_scorer(silhouette_score, worst_score=-np.inf)
    assert unbounded(FixedLabels(labels), LINE) == pytest.approx(alone / 0.8)


def test_penalize_keeps_a_negative_score_above_worst_score():
    # Two points per group clustered (a negative silhouette), the rest noise: divided by the
    # clustered fraction 0.4 it fell below -1, under a one-cluster candidate's worst_score.
    labels = np.array([0, 1, -1, -1, 0, 1, -1, -1, -1, -1])
    kept = labels != -1
    assert silhouette_score(LINE[kept], labels[kept]) / 0.4 < -1.0
    with pytest.warns(UserWarning, match="1 cluster"):
        nothing_to_judge = silhouette_scorer(FixedLabels(np.zeros(10, dtype=int)), LINE)
    assert silhouette_scorer(FixedLabels(labels), LINE) > nothing_to_judge


def test_penalize_lowers_a_score_already_below_worst_score():
    # A BIC with the default worst_score of -1: it moved up toward -1 and rewarded noise.
    scorer = make_label_free_scorer(gaussian_bic_score, covariance_type="spherical")
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, -1, -1])
    kept = labels != -1
    raw = gaussian_bic_score(LINE[kept], labels[kept], covariance_type="spherical")
    assert raw < -1.0
    assert scorer(FixedLabels(labels), LINE) == pytest.approx(raw / 0.8)


def test_calling_most_points_noise_does_not_pay_under_penalize():
    # Every point in one of two clusters, or all but two points of each group called noise.
    joined = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 1])
    mostly_noise = np.array([0, 0, -1, -1, 1, 1, -1, -1, -1, -1])
    excluded = make_label_free_scorer(silhouette_score, noise="exclude")
    assert excluded(FixedLabels(mostly_noise), LINE) > excluded(FixedLabels(joined), LINE)
    for scorer in (silhouette_scorer, dbcv_scorer):
        assert scorer(FixedLabels(mostly_noise), LINE) < scorer(FixedLabels(joined), LINE)


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param([-1] * 10, id="all noise"),
        pytest.param([0] * 10, id="one cluster"),
        pytest.param([0] * 8 + [-1] * 2, id="one cluster and noise"),
        pytest.param([0, 1, 2, 3, 4, 5, 6, 7, 8, -1], id="every point its own cluster"),
    ],
)
@pytest.mark.parametrize("noise", ["penalize", "exclude"])
def test_nothing_to_judge_scores_worst_with_a_warning(labels, noise):
    for score_func in (calinski_harabasz_score, dbcv_score, silhouette_score):
        scorer = make_label_free_scorer(score_func, noise=noise)
        with pytest.warns(UserWarning, match="the score is worst_score=-1.0"):
            assert scorer(FixedLabels(labels), LINE) == -1.0
    # A BIC can be any number: nothing to judge scores below all of them.
    bic = make_label_free_scorer(gaussian_bic_score, noise=noise, worst_score=-np.inf)
    with pytest.warns(UserWarning, match="worst_score=-inf"):
        assert bic(FixedLabels(labels), LINE) == -np.inf
    custom = make_label_free_scorer(silhouette_score, noise=noise, worst_score=0.0)
    with pytest.warns(UserWarning, match="worst_score=0.0"):
        assert custom(FixedLabels(labels), LINE) == 0.0


def test_hdbscan_finding_no_cluster_scores_worst(blobs):
    X, _ = blobs
    with pytest.warns(UserWarning, match="HDBSCAN found no cluster"):
        model = HDBSCAN(min_cluster_size=100, min_samples=100).fit(X[:100])
    with pytest.warns(UserWarning, match="0 cluster"):
        assert dbcv_scorer(model, X[:100]) == -1.0


def test_dbcv_score_refuses_what_it_cannot_judge():
    with pytest.raises(ValueError, match="at least 2 clusters; got 1"):
        dbcv_score(LINE, [0] * 8 + [-1] * 2)
    with pytest.raises(ValueError, match="at least 2 points per cluster; cluster 2 has 1"):
        dbcv_score(LINE, [0] * 4 + [1] * 5 + [2])
    with pytest.raises(ValueError, match="labels has 8 entries but there are 10 points"):
        dbcv_score(LINE, [0] * 4 + [1] * 4)
    # A missing label would be a cluster of its own to hdbscan.
    with pytest.raises(ValueError, match="2 missing values .* position 8"):
        dbcv_score(LINE, [0.0] * 4 + [1.0] * 4 + [np.nan] * 2)
    with pytest.raises(ValueError, match="labels must be 1-D"):
        dbcv_score(LINE, np.zeros((10, 2)))
    # Any labels, not only 0..k-1: they are recoded, noise kept.
    codes = np.array([0] * 4 + [1] * 4 + [-1, -1])
    shifted = np.where(codes == -1, -1, codes + 3)
    assert dbcv_score(LINE, shifted) == dbcv_score(LINE, codes)
    assert dbcv_score(LINE[:8], np.array(["a"] * 4 + ["b"] * 4)) == dbcv_score(LINE[:8], codes[:8])


def test_dbcv_score_takes_scikit_learns_metric_names():
    labels = [0] * 5 + [1] * 5
    assert dbcv_score(LINE, labels, metric="manhattan") == dbcv_score(
        LINE, labels, metric="cityblock"
    )
    assert dbcv_score(LINE, labels, metric="l2") == dbcv_score(LINE, labels)
    # Precomputed distances would need the points' dimension too; mahalanobis would estimate
    # its covariance from each subset hdbscan hands it.
    for bad in ("precomputed", "mahalanobis", "nan_euclidean"):
        with pytest.raises(InvalidParameterError, match="'metric' parameter of dbcv_score"):
            dbcv_score(LINE, labels, metric=bad)


def test_gaussian_bic_score_is_the_bic_of_one_gaussian_per_cluster():
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, 40), rng.normal(6, 2, 60)])[:, None]
    labels = np.repeat(["a", "b"], [40, 60])
    # In one dimension: each cluster's normal at its mean and (biased) variance, weighted
    # by its share; 2 parameters per cluster and 1 free weight.
    log_likelihood = sum(
        norm.logpdf(
            X[labels == c, 0], X[labels == c].mean(), np.sqrt(X[labels == c].var() + 1e-6)
        ).sum()
        + (labels == c).sum() * np.log((labels == c).mean())
        for c in ("a", "b")
    )
    expected = 2 * log_likelihood - (2 * 2 + 1) * np.log(100)
    assert gaussian_bic_score(X, labels) == pytest.approx(expected)
    # A split that follows the points fits them better than one that ignores them.
    one = rng.normal(0, 1, (200, 2))
    halves = (np.arange(200) % 2).astype(int)
    by_side = (one[:, 0] > 0).astype(int)
    assert gaussian_bic_score(one, by_side) > gaussian_bic_score(one, halves)
    with pytest.raises(ValueError, match="at least 2 clusters; got 1"):
        gaussian_bic_score(X, np.zeros(100))
    with pytest.warns(UserWarning, match="Cluster 1 has 2 points in 2 dimensions") as warned:
        gaussian_bic_score(one, np.repeat([0, 1], [198, 2]))
    assert warned[0].filename == __file__  # the caller's line, not validate_params' wrapper
    with pytest.raises(ValueError, match="labels has 50 entries but there are 100 points"):
        gaussian_bic_score(X, labels[:50])
    # numpy writes NaN among strings as "nan": still a missing label, not a cluster.
    with pytest.raises(ValueError, match="1 missing values"):
        gaussian_bic_score(X, [*labels[:99], np.nan])
    with pytest.raises(InvalidParameterError, match="'covariance_type' parameter .* Got 'diag'"):
        gaussian_bic_score(X, labels, covariance_type="diag")
    for bad in (0.0, -1.0, "1e-6"):
        with pytest.raises(InvalidParameterError, match="'reg_covar' parameter"):
            gaussian_bic_score(X, labels, reg_covar=bad)
    with pytest.raises(ValueError, match=r"labels must be 1-D.* got shape \(100, 1\)"):
        gaussian_bic_score(X, labels[:, None])


def test_spherical_bic_has_one_variance_per_cluster():
    from scipy.stats import norm

    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, [1, 3], (30, 2)), rng.normal(5, 0.5, (20, 2))])
    labels = np.repeat([0, 1], [30, 20])
    log_likelihood = 0.0
    for c in (0, 1):
        points = X[labels == c]
        # The mean squared distance to the centre over both coordinates, as one variance.
        variance = ((points - points.mean(axis=0)) ** 2).mean() + 1e-6
        log_likelihood += norm.logpdf(points, points.mean(axis=0), np.sqrt(variance)).sum()
        log_likelihood += len(points) * np.log(len(points) / 50)
    # Per cluster 2 coordinates of the mean and 1 variance; 1 free weight.
    expected = 2 * log_likelihood - (2 * 3 + 1) * np.log(50)
    assert gaussian_bic_score(X, labels, covariance_type="spherical") == pytest.approx(expected)
    # One variance cannot follow the first cluster's stretch: the full model fits better.
    full = gaussian_bic_score(X, labels)
    assert full > gaussian_bic_score(X, labels, covariance_type="spherical")
    # In one dimension the two models are the same.
    line = X[:, :1]
    assert gaussian_bic_score(line, labels, covariance_type="spherical") == pytest.approx(
        gaussian_bic_score(line, labels)
    )
    with pytest.warns(UserWarning, match="Cluster 1 has 1 points in 2 dimensions: its spherical"):
        gaussian_bic_score(X[:31], labels[:31], covariance_type="spherical")


def test_scorer_pickles_and_runs_in_worker_processes(blobs):
    X, _ = blobs
    scorer = make_label_free_scorer(silhouette_score, noise="exclude", metric="manhattan")
    loaded = pickle.loads(pickle.dumps(scorer))
    assert isinstance(loaded, LabelFreeScorer)
    assert repr(loaded) == repr(scorer)
    model = HDBSCAN(min_cluster_size=10).fit(X)
    assert loaded(model, X) == scorer(model, X)
    pipe = Pipeline([("umap", StandardScaler()), ("hdbscan", HDBSCAN(min_cluster_size=10))])
    pipe.fit(X)
    assert pickle.loads(pickle.dumps(bic_scorer))(pipe, X) == bic_scorer(pipe, X)
    grid = {"min_cluster_size": [5, 10, 20]}
    local = GridSearchCV(HDBSCAN(), grid, scoring=dbcv_scorer, cv=InSampleSplit()).fit(X)
    with joblib.parallel_backend("loky"):
        remote = GridSearchCV(
            HDBSCAN(), grid, scoring=dbcv_scorer, cv=InSampleSplit(), n_jobs=2
        ).fit(X)
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )


@pytest.mark.integration
def test_search_on_a_dask_cluster(blobs, dask_client):
    import distributed

    X, _ = blobs
    grid = {"min_cluster_size": [5, 10, 20]}
    local = GridSearchCV(HDBSCAN(), grid, scoring=dbcv_scorer, cv=InSampleSplit()).fit(X)
    with (
        dask_client.as_current(),
        distributed.get_task_stream(dask_client) as stream,
        joblib.parallel_backend("dask"),
    ):
        remote = GridSearchCV(
            HDBSCAN(), grid, scoring=dbcv_scorer, cv=InSampleSplit(), n_jobs=-1
        ).fit(X)
    assert stream.data, "no task ran on the cluster"
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )


def test_plain_hdbscan_without_predict_is_labelled_by_soft_membership(blobs):
    X, _ = blobs
    plain = hdbscan.HDBSCAN(min_cluster_size=10, prediction_data=True).fit(X)
    ours = HDBSCAN(min_cluster_size=10).fit(X)
    assert dbcv_scorer(plain, X) == dbcv_scorer(ours, X)


def test_bad_space_and_parameters_are_named():
    pipe = Pipeline([("scale", StandardScaler()), ("kmeans", KMeans(2, n_init=1))])
    pipe.fit(LINE)
    with pytest.raises(ValueError, match=r"space='umap' is not a step .* \['scale', 'kmeans'\]"):
        make_label_free_scorer(silhouette_score, space="umap")(pipe, LINE)
    # bic_scorer's own space is "umap": the error says how to judge another pipeline.
    with pytest.raises(ValueError, match=r"make_label_free_scorer\(\.\.\., space=<the step"):
        bic_scorer(pipe, LINE)
    with pytest.raises(ValueError, match="names a Pipeline step, but the estimator is a KMeans"):
        make_label_free_scorer(silhouette_score, space="scale")(pipe[-1], LINE)
    with pytest.raises(InvalidParameterError, match="'noise' parameter of LabelFreeScorer"):
        make_label_free_scorer(silhouette_score, noise="include")
    with pytest.raises(InvalidParameterError, match="'score_func' parameter"):
        make_label_free_scorer("silhouette")
    scorer = make_label_free_scorer(silhouette_score)
    scorer.worst_score = "low"
    with pytest.raises(InvalidParameterError, match="'worst_score' parameter"):
        scorer(pipe, LINE)


def test_points_that_are_not_numbers_name_the_fix():
    texts = ["coffee", "tea", "dog", "cat"]
    pipe = Pipeline([("enc", FixedVectors()), ("kmeans", KMeans(2, n_init=1, random_state=0))])
    pipe.fit(texts)
    with pytest.raises(ValueError, match="input of step 'enc'.*Choose a space after the encoder"):
        make_label_free_scorer(silhouette_score, space="enc")(pipe, texts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert -1 <= silhouette_scorer(pipe, texts) <= 1


def test_sparse_points_reach_a_score_that_takes_them():
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["dark coffee", "coffee beans", "fresh coffee", "dog leash", "dog collar", "big dog"]
    pipe = Pipeline(
        [("tfidf", TfidfVectorizer()), ("kmeans", KMeans(2, n_init=1, random_state=0))]
    ).fit(texts)
    points = pipe["tfidf"].transform(texts)
    expected = silhouette_score(points, pipe.predict(texts), metric="cosine")
    scorer = make_label_free_scorer(silhouette_score, metric="cosine", space="kmeans")
    assert scorer(pipe, texts) == pytest.approx(expected)
    # A score that needs dense points says so.
    with pytest.raises(TypeError, match="X. parameter of calinski_harabasz_score must be an"):
        make_label_free_scorer(calinski_harabasz_score, space="kmeans")(pipe, texts)


class FixedVectors:
    """A stateless 'encoder' from texts to fixed vectors."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.array([[0.0, float(len(text))] for text in X])


def test_repr_and_kwargs():
    scorer = make_label_free_scorer(
        silhouette_score, space="umap", worst_score=0.0, metric="cosine"
    )
    expected = (
        "make_label_free_scorer(silhouette_score, noise='penalize', space='umap', "
        "worst_score=0.0, metric='cosine')"
    )
    assert repr(scorer) == expected
    assert repr(dbcv_scorer) == "make_label_free_scorer(dbcv_score, noise='penalize')"
    assert repr(calinski_harabasz_scorer).startswith("make_label_free_scorer(calinski_harabasz")
    labels = np.array([0] * 4 + [1] * 6)
    cosine = make_label_free_scorer(silhouette_score, metric="cityblock")(FixedLabels(labels), LINE)
    assert cosine == silhouette_score(LINE, labels, metric="cityblock")
