"""Tests of skcse.cluster.HDBSCAN on synthetic blobs."""

from __future__ import annotations

import warnings

import hdbscan
import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from skcse.cluster import HDBSCAN, METRICS

NO_CLUSTER = "ignore:HDBSCAN found no cluster"


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=150, centers=3, n_features=2, cluster_std=0.6, random_state=0)
    # A few far outliers, so that hdbscan marks noise.
    outliers = np.random.RandomState(1).uniform(-15, 15, size=(6, 2))
    return np.vstack([X, outliers]), np.concatenate([y, [-1] * 6])


@pytest.fixture(scope="module")
def new_points(blobs):
    X, y = blobs
    rng = np.random.RandomState(2)
    return X[:20] + rng.normal(scale=0.05, size=(20, 2))


@pytest.fixture(scope="module")
def uniform():
    # No density structure: hdbscan finds no cluster with a large min_cluster_size.
    return np.random.RandomState(0).uniform(size=(30, 2))


@pytest.fixture(scope="module")
def overlapping():
    # Overlapping blobs, on which hdbscan.membership_vector of the training points disagrees
    # with all_points_membership_vectors for a few points.
    return make_blobs(n_samples=120, centers=4, cluster_std=1.5, random_state=0)[0]


@pytest.mark.filterwarnings(NO_CLUSTER)
@parametrize_with_checks([HDBSCAN(), HDBSCAN(noise="keep")])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.filterwarnings(NO_CLUSTER)
def test_param_validation_covers_every_parameter():
    check_param_validation("HDBSCAN", HDBSCAN())


def test_soft_labels_are_membership_argmax(blobs):
    X, y = blobs
    model = HDBSCAN(min_cluster_size=10).fit(X)
    membership = hdbscan.all_points_membership_vectors(model.clusterer_)
    assert model.n_clusters_ == 3
    assert (model.labels_ >= 0).all()
    np.testing.assert_array_equal(model.labels_, membership.argmax(axis=1))
    np.testing.assert_allclose(model.probabilities_, membership.max(axis=1))
    assert adjusted_rand_score(y[:150], model.labels_[:150]) == 1.0


def test_repeated_points_keep_their_own_cluster_under_soft_noise(blobs):
    X, _ = blobs
    # Two groups of 20 identical vectors (a repeated text each): each group is a cluster of
    # infinite density, for which hdbscan's soft membership is NaN or 0 everywhere near it.
    repeats = np.repeat([[20.0, 20.0], [-20.0, -20.0]], 20, axis=0)
    X = np.vstack([X[:150], repeats])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # hdbscan's own 0/0
        hard = HDBSCAN(min_cluster_size=10, noise="keep").fit(X).labels_
        soft = HDBSCAN(min_cluster_size=10).fit(X)
        new = soft.predict(repeats[[0, -1]])
    first, second = hard[150], hard[-1]
    assert len({first, second, -1}) == 3
    np.testing.assert_array_equal(soft.labels_[150:], hard[150:])
    np.testing.assert_array_equal(new, [first, second])
    clustered = hard != -1
    assert (soft.labels_[clustered] == hard[clustered]).mean() > 0.95
    assert np.isfinite(soft.probabilities_).all()
    assert (soft.probabilities_ >= 0).all() and (soft.probabilities_ <= 1).all()


def test_keep_noise_uses_hdbscan_labels(blobs):
    X, _ = blobs
    model = HDBSCAN(min_cluster_size=10, noise="keep").fit(X)
    np.testing.assert_array_equal(model.labels_, model.clusterer_.labels_)
    np.testing.assert_array_equal(model.probabilities_, model.clusterer_.probabilities_)
    assert (model.labels_ == -1).any()
    assert model.n_clusters_ == 3


def test_clusterer_is_fitted_with_params(blobs):
    X, _ = blobs
    model = HDBSCAN(
        min_cluster_size=7,
        min_samples=3,
        metric="manhattan",
        cluster_selection_method="leaf",
        cluster_selection_epsilon=0.5,
        alpha=0.9,
    ).fit(X)
    inner = model.clusterer_
    assert isinstance(inner, hdbscan.HDBSCAN)
    assert (inner.min_cluster_size, inner.min_samples, inner.metric) == (7, 3, "manhattan")
    assert inner.cluster_selection_method == "leaf"
    assert (inner.cluster_selection_epsilon, inner.alpha) == (0.5, 0.9)
    assert inner.prediction_data is True
    assert model.n_features_in_ == 2


@pytest.mark.parametrize("metric", ["euclidean", "canberra"])
def test_alpha_scales_the_distances_in_few_dimensions(metric):
    # Up to 60 features hdbscan's own choice (Boruvka) ignored alpha.
    X, _ = make_blobs(n_samples=200, centers=4, n_features=5, cluster_std=3, random_state=0)
    heights = {
        alpha: HDBSCAN(min_cluster_size=10, alpha=alpha, metric=metric)
        .fit(X)
        .clusterer_.single_linkage_tree_
        for alpha in (0.5, 1.0, 2.0)
    }
    # Dividing distances by alpha raises the merge heights that distances (not core
    # distances) set.
    total = {alpha: tree.to_numpy()[:, 2].sum() for alpha, tree in heights.items()}
    assert total[0.5] > total[1.0] > total[2.0]
    # alpha=1 leaves hdbscan's own algorithm, and so its results, as they were.
    default = hdbscan.HDBSCAN(metric=metric, min_cluster_size=10, prediction_data=True).fit(X)
    assert total[1.0] == default.single_linkage_tree_.to_numpy()[:, 2].sum()


@pytest.mark.parametrize("noise", ["soft", "keep"])
def test_fit_predict_and_predict_on_training_data_give_labels(blobs, noise):
    X, y = blobs
    model = HDBSCAN(min_cluster_size=10, noise=noise)
    labels = model.fit_predict(X, y)
    np.testing.assert_array_equal(labels, model.labels_)
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    np.testing.assert_array_equal(HDBSCAN(min_cluster_size=10, noise=noise).fit(X).labels_, labels)


@pytest.mark.parametrize("noise", ["soft", "keep"])
def test_training_points_keep_their_labels_in_any_order_or_batch(overlapping, noise):
    model = HDBSCAN(noise=noise).fit(overlapping)
    if noise == "soft":
        # hdbscan's rule for new points would relabel some training points.
        as_new = hdbscan.membership_vector(model.clusterer_, overlapping).argmax(axis=1)
        assert (as_new != model.labels_).any()
    order = np.random.RandomState(0).permutation(len(overlapping))
    np.testing.assert_array_equal(model.predict(overlapping[order]), model.labels_[order])
    halves = [model.predict(overlapping[:60]), model.predict(overlapping[60:])]
    np.testing.assert_array_equal(np.concatenate(halves), model.labels_)
    # Mixed with new points, each kind keeps its own rule.
    new = overlapping[:5] + 0.3
    mixed = model.predict(np.vstack([new, overlapping[order[:7]]]))
    np.testing.assert_array_equal(mixed[:5], model.predict(new))
    np.testing.assert_array_equal(mixed[5:], model.labels_[order[:7]])


def test_predict_soft_is_membership_vector_argmax(blobs, new_points):
    X, _ = blobs
    model = HDBSCAN(min_cluster_size=10).fit(X)
    expected = hdbscan.membership_vector(model.clusterer_, new_points).argmax(axis=1)
    predicted = model.predict(new_points)
    np.testing.assert_array_equal(predicted, expected)
    # Points jittered around training points land in the same clusters.
    np.testing.assert_array_equal(predicted, model.labels_[:20])


def test_predict_keep_is_approximate_predict(blobs, new_points):
    X, _ = blobs
    model = HDBSCAN(min_cluster_size=10, noise="keep").fit(X)
    far = np.array([[100.0, 100.0]])
    points = np.vstack([new_points, far])
    expected = hdbscan.approximate_predict(model.clusterer_, points)[0]
    predicted = model.predict(points)
    np.testing.assert_array_equal(predicted, expected)
    assert predicted[-1] == -1


@pytest.mark.parametrize("noise", ["soft", "keep"])
def test_no_cluster_warns_and_labels_noise(uniform, noise):
    model = HDBSCAN(min_cluster_size=15, noise=noise)
    with pytest.warns(UserWarning, match="found no cluster in 30 samples") as warned:
        model.fit(uniform)
    assert warned[0].filename == __file__  # the caller's line, not _fit_context's
    assert model.n_clusters_ == 0
    np.testing.assert_array_equal(model.labels_, -1)
    np.testing.assert_array_equal(model.probabilities_, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(model.predict(uniform[:7] + 0.01), -1)
        np.testing.assert_array_equal(model.predict(uniform), -1)


def test_single_column_membership_is_handled(blobs, new_points, monkeypatch):
    X, _ = blobs
    model = HDBSCAN(min_cluster_size=10).fit(X)
    # A 1-D membership (one cluster) must read as a single column.
    monkeypatch.setattr(
        hdbscan, "membership_vector", lambda clusterer, points: np.ones(len(points))
    )
    np.testing.assert_array_equal(model.predict(new_points), np.zeros(len(new_points)))


def test_fewer_samples_than_min_cluster_size(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match=r"n_samples=4, fewer than min_cluster_size=5"):
        HDBSCAN().fit(X[:4])


def test_fewer_samples_than_min_samples(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match=r"n_samples=8, fewer than min_samples=9"):
        HDBSCAN(min_samples=9).fit(X[:8])


def test_predict_needs_twice_min_samples_training_points():
    # Two evenly spaced groups: clusters are found although min_samples > n_samples / 2.
    X = np.r_[np.linspace(0, 1, 14), np.linspace(1.5, 2.5, 15)][:, None]
    model = HDBSCAN(min_cluster_size=2, min_samples=17).fit(X)
    assert model.n_clusters_ == 2
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    with pytest.raises(ValueError, match=r"2 \* min_samples = 34 .* only 29 samples"):
        model.predict(X[:3] + 0.01)


INVALID_PARAMS = [
    (
        {"min_cluster_size": 1},
        r"'min_cluster_size' parameter of HDBSCAN must be an int in the range \[2, inf\) or a "
        r"float in the range \(0\.0, 1\.0\)\. Got 1 ",
    ),
    (
        {"min_cluster_size": 2.5},
        r"'min_cluster_size' parameter of HDBSCAN must be an int in the range \[2, inf\) or a "
        r"float in the range \(0\.0, 1\.0\)\. Got 2\.5",
    ),
    ({"min_cluster_size": 1.0}, r"'min_cluster_size' parameter of HDBSCAN .* Got 1\.0"),
    ({"min_cluster_size": 0.0}, r"'min_cluster_size' parameter of HDBSCAN .* Got 0\.0"),
    (
        {"min_samples": 0},
        r"'min_samples' parameter of HDBSCAN must be an int in the range \[1, inf\) or None",
    ),
    (
        {"metric": "cosine"},
        r"'metric' parameter of HDBSCAN must be a str among .*'euclidean'.* Got 'cosine'",
    ),
    (
        {"cluster_selection_method": "tree"},
        r"'cluster_selection_method' parameter of HDBSCAN must be a str among .*'leaf'",
    ),
    (
        {"cluster_selection_epsilon": -1.0},
        r"'cluster_selection_epsilon' parameter of HDBSCAN must be a float in the range \[0\.0",
    ),
    ({"alpha": 0.0}, r"'alpha' parameter of HDBSCAN must be a float in the range \(0\.0, inf\)"),
    ({"noise": "drop"}, r"'noise' parameter of HDBSCAN must be a str among .*'soft'.* Got 'drop'"),
]


@pytest.mark.parametrize("params, match", INVALID_PARAMS)
def test_invalid_params_raise_in_fit(blobs, params, match):
    X, _ = blobs
    model = HDBSCAN(**params)  # __init__ only stores
    # InvalidParameterError is both a ValueError and a TypeError.
    with pytest.raises(InvalidParameterError, match=match):
        model.fit(X)


@pytest.mark.parametrize("params, match", INVALID_PARAMS)
def test_invalid_params_set_after_fit_raise_in_predict(blobs, new_points, params, match):
    X, _ = blobs
    model = HDBSCAN(min_cluster_size=10).fit(X)
    model.set_params(**params)
    with pytest.raises(InvalidParameterError, match=match):
        model.predict(new_points)
    with pytest.raises(InvalidParameterError, match=match):
        model.predict(X)


@pytest.mark.parametrize("metric", METRICS)
def test_each_metric_fits_and_predicts(blobs, new_points, metric):
    X, _ = blobs
    # Small coordinates keep haversine (radians) meaningful.
    model = HDBSCAN(min_cluster_size=10, metric=metric).fit(X / 20)
    assert model.n_clusters_ >= 2
    assert model.predict(new_points / 20).shape == (20,)


@pytest.mark.parametrize("noise", ["soft", "keep"])
def test_joblib_roundtrip_predicts_identically(blobs, new_points, noise, tmp_path):
    X, _ = blobs
    model = HDBSCAN(min_cluster_size=10, noise=noise).fit(X)
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.labels_, model.labels_)
    np.testing.assert_array_equal(loaded.predict(new_points), model.predict(new_points))
    np.testing.assert_array_equal(loaded.predict(X), model.labels_)


def test_clone_get_and_set_params(blobs):
    X, _ = blobs
    model = HDBSCAN(min_cluster_size=8, noise="keep").fit(X)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "labels_")
    assert set(model.get_params()) == {
        "min_cluster_size",
        "min_samples",
        "metric",
        "cluster_selection_method",
        "cluster_selection_epsilon",
        "alpha",
        "noise",
    }
    assert copy.set_params(min_cluster_size=12, noise="soft") is copy
    assert copy.get_params()["min_cluster_size"] == 12
    copy.fit(X)
    assert copy.clusterer_.min_cluster_size == 12
    assert (copy.labels_ >= 0).all()


@pytest.mark.parametrize(
    ("min_cluster_size", "min_samples", "expected"),
    [
        (0.1, None, 15),  # 10% of 156 points, rounded down
        (0.1, 20, 20),  # never below min_samples
        (0.001, None, 2),  # never below hdbscan's smallest cluster
        (12, 30, 12),  # an int is used as given
    ],
)
def test_min_cluster_size_as_a_fraction_of_the_samples(
    blobs, min_cluster_size, min_samples, expected
):
    X, _ = blobs
    model = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples).fit(X)
    assert model.min_cluster_size_ == expected
    assert model.clusterer_.min_cluster_size == expected
    assert model.min_cluster_size == min_cluster_size  # the parameter is left as it was


def test_a_fraction_is_floored_as_written_not_as_stored():
    # 0.7 * 90 is 62.99999999999999 in binary floating point; 70% of 90 points is 63.
    X, _ = make_blobs(n_samples=90, centers=2, random_state=0)
    assert HDBSCAN(min_cluster_size=0.7).fit(X).min_cluster_size_ == 63


def test_fraction_gives_the_same_clusters_as_its_count(blobs):
    X, _ = blobs
    by_fraction = HDBSCAN(min_cluster_size=0.1).fit(X)
    np.testing.assert_array_equal(by_fraction.labels_, HDBSCAN(min_cluster_size=15).fit(X).labels_)
