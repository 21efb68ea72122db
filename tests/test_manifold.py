"""Tests of skcse.manifold.UMAP (tiny data: numba compiles umap once per session)."""

from __future__ import annotations

import copy
import inspect
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
import umap
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from skcse.manifold import UMAP

FAST = {"n_neighbors": 10, "n_epochs": 20, "random_state": 0, "n_jobs": 1}


@pytest.fixture(scope="module")
def data():
    X, y = make_blobs(n_samples=200, n_features=5, centers=4, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    return UMAP(**FAST).fit(data[0])


@pytest.fixture(scope="module")
def new_points(data):
    return data[0][:15] + np.random.RandomState(1).normal(scale=0.1, size=(15, 5))


def expected_failed_checks(estimator):
    # umap's own rules, kept so that transform(X_train) is the fit's embedding.
    shortcut = "umap.transform returns embedding_ for the training data, in its order only"
    return {
        "check_methods_sample_order_invariance": shortcut,
        "check_methods_subset_invariance": f"{shortcut}; and it places a batch's new points "
        "together, so they move with the batch",
    }


@parametrize_with_checks(
    [UMAP(n_neighbors=5, n_epochs=10, random_state=0, n_jobs=1)],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_param_validation_covers_every_parameter():
    check_param_validation("UMAP", UMAP(n_neighbors=5, n_epochs=10, random_state=0, n_jobs=1))


def _euclidean(x, y):
    return np.sqrt(((x - y) ** 2).sum())


@pytest.mark.parametrize(
    "params",
    [
        {"init": np.zeros((200, 2)), "metric": _euclidean, "output_metric": _euclidean},
        {"init": "tswspectral", "metric": "cosine", "target_metric": "l1"},
        {"n_epochs": [5, 10], "n_jobs": 4, "verbose": 1, "random_state": np.random.RandomState(0)},
        {"n_epochs": np.array([5, 10]), "n_jobs": -1, "transform_seed": None},
        {"negative_sample_rate": 2.5, "local_connectivity": 0, "learning_rate": 0},
        {"a": 1.5, "b": 0.9, "min_dist": 0.0, "spread": 0.5, "set_op_mix_ratio": 0},
        {"target_n_neighbors": 2, "target_weight": 1, "target_metric_kwds": {}},
        {"densmap": True, "dens_lambda": 0, "dens_frac": 1, "dens_var_shift": 0},
        {"disconnection_distance": np.inf, "precomputed_knn": (None, None)},
    ],
)
def test_values_umap_accepts_pass_validation(params):
    UMAP(**params)._validate_params()


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_neighbors": 1}, r"'n_neighbors' parameter of UMAP must be an int in the range \[2"),
        ({"n_neighbors": 10.0}, r"'n_neighbors' parameter of UMAP must be an int"),
        ({"n_jobs": 0}, r"'n_jobs' parameter of UMAP must be .* Got 0 instead"),
        ({"n_jobs": None}, r"'n_jobs' parameter of UMAP must be .* Got None instead"),
        ({"init": "umap"}, r"'init' parameter of UMAP must be a str among .*'spectral'"),
        ({"metric": 3}, r"'metric' parameter of UMAP must be an instance of 'str' or a callable"),
        ({"set_op_mix_ratio": 1.5}, r"'set_op_mix_ratio' parameter of UMAP must be a float"),
        ({"spread": 0.0}, r"'spread' parameter of UMAP must be a float in the range \(0"),
        ({"target_n_neighbors": 1}, r"'target_n_neighbors' parameter of UMAP must be"),
        (
            {"tqdm_kwds": ["disable"]},
            r"'tqdm_kwds' parameter of UMAP must be an instance of 'dict'",
        ),
    ],
)
def test_invalid_params_raise_in_fit(data, params, match):
    reducer = UMAP(**params)  # __init__ only stores
    with pytest.raises(InvalidParameterError, match=match):
        reducer.fit(data[0])


@pytest.mark.parametrize(
    ("n_samples", "params", "match"),
    [
        (2, {}, "minimum of 3 is required"),
        (4, {"n_components": 3}, r"init='spectral' with n_components=3 needs at least 5 sample"),
        (4, {"n_components": 5, "init": "pca"}, "init='pca' with n_components=5 needs at least 5"),
        # A wrong number of rows once made umap write outside its memory.
        (20, {"init": np.zeros((10, 2))}, r"shape \(10, 2\); it must be .* = \(20, 2\)"),
        (20, {"init": np.zeros((20, 3))}, r"shape \(20, 3\); it must be .* = \(20, 2\)"),
    ],
)
def test_too_few_samples_for_the_layout_are_refused_before_umap(data, n_samples, params, match):
    with pytest.raises(ValueError, match=match):
        UMAP(n_epochs=5, random_state=0, **params).fit(data[0][:n_samples])


@pytest.mark.parametrize("params", [{"a": 50.0}, {"b": 5.0}])
def test_a_and_b_come_together(data, params):
    # umap derives both when either is None: the one given would be ignored.
    with pytest.raises(ValueError, match=r"give both, or neither"):
        UMAP(**FAST, **params).fit(data[0])
    both = UMAP(**FAST, a=50.0, b=5.0).fit(data[0])
    assert (both.umap_._a, both.umap_._b) == (50.0, 5.0)


def test_the_smallest_layouts_fit(data):
    X = data[0]
    assert UMAP(init="random", n_epochs=5, random_state=0).fit_transform(X[:3]).shape == (3, 2)
    assert UMAP(n_components=3, n_epochs=5, random_state=0).fit_transform(X[:5]).shape == (5, 3)
    start = np.random.default_rng(0).normal(size=(20, 2))
    assert UMAP(init=start, n_epochs=5, random_state=0).fit_transform(X[:20]).shape == (20, 2)


@pytest.mark.parametrize("params", [{"transform_mode": "graph"}, {"n_neighbors": 1}])
def test_invalid_param_set_after_fit_raises_in_transform(data, fitted, new_points, params):
    reducer = copy.deepcopy(fitted).set_params(**params)
    (name,) = params
    for X in (new_points, data[0]):
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of UMAP must be"):
            reducer.transform(X)


def test_fit_and_transform_output_float32(data):
    X, _ = data
    reducer = UMAP(**FAST)
    assert reducer.fit_transform(X).dtype == np.float32
    assert reducer.transform(X[:5] + 0.1).dtype == np.float32


def test_parameters_match_installed_umap():
    ours = inspect.signature(UMAP.__init__).parameters
    theirs = inspect.signature(umap.UMAP.__init__).parameters
    missing = set(theirs) - set(ours)
    assert not missing, f"skcse.manifold.UMAP lacks umap.UMAP parameters {sorted(missing)}"
    assert set(ours) == set(theirs)
    for name in theirs:
        assert ours[name].default == theirs[name].default, name


def test_fitted_attributes(data, fitted):
    X, _ = data
    assert isinstance(fitted.umap_, umap.UMAP)
    inner = fitted.umap_.get_params()
    assert {name: inner[name] for name in FAST} == FAST
    assert fitted.embedding_.shape == (200, 2)
    assert fitted.n_features_in_ == 5


def test_embedding_does_not_depend_on_y(data, fitted):
    X, y = data
    topics = np.array(["beauty", "food", "pets", "toys"])[y]
    with_strings = UMAP(**FAST).fit(X, topics).embedding_
    with_ints = UMAP(**FAST).fit_transform(X, y)
    np.testing.assert_array_equal(with_strings, fitted.embedding_)
    np.testing.assert_array_equal(with_ints, fitted.embedding_)
    # The leak being guarded against: plain umap with y is supervised and differs.
    supervised = umap.UMAP(**FAST).fit(X, y).embedding_
    assert not np.allclose(supervised, fitted.embedding_)


def test_fit_leaves_dict_parameters_unchanged(data):
    reducer = UMAP(tqdm_kwds={"disable": True}, metric_kwds={}, **FAST).fit(data[0])
    assert reducer.tqdm_kwds == {"disable": True}
    assert reducer.metric_kwds == {}
    assert "desc" in reducer.umap_.tqdm_kwds


def test_transform_of_training_data_is_a_copy_of_the_embedding(data, fitted):
    X, _ = data
    out = fitted.transform(X)
    np.testing.assert_array_equal(out, fitted.embedding_)
    out[:] = 0
    assert np.abs(fitted.embedding_).sum() > 0


def test_joblib_roundtrip_transforms_identically(fitted, new_points, tmp_path):
    path = tmp_path / "umap.joblib"
    joblib.dump(fitted, path)
    loaded = joblib.load(path)
    expected = fitted.transform(new_points)
    assert expected.shape == (15, 2)
    np.testing.assert_array_equal(loaded.transform(new_points), expected)
    np.testing.assert_array_equal(loaded.embedding_, fitted.embedding_)


def test_clone_get_and_set_params(data, fitted):
    X, _ = data
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "umap_")
    assert copy.set_params(n_components=3) is copy
    assert copy.get_params()["n_components"] == 3
    assert copy.fit_transform(X).shape == (200, 3)
    assert fitted.embedding_.shape == (200, 2)


def test_a_grids_numpy_values_reach_umap_as_python_numbers(data):
    # GridSearchCV over np.arange gives numpy scalars; umap checks isinstance(value, int).
    numpy = UMAP(n_epochs=np.int64(20), disconnection_distance=np.float32(5.0), random_state=0)
    plain = UMAP(n_epochs=20, disconnection_distance=5.0, random_state=0)
    np.testing.assert_array_equal(numpy.fit_transform(data[0]), plain.fit_transform(data[0]))
    assert type(numpy.n_epochs) is np.int64  # the parameter stays as it was set


def test_a_list_of_epochs_keeps_snapshots_and_transforms_like_its_greatest(data, new_points):
    listed = UMAP(**{**FAST, "n_epochs": [5, 20]}).fit(data[0])
    assert [len(e) for e in listed.umap_.embedding_list_] == [200, 200]
    assert listed.n_epochs == [5, 20]
    greatest = UMAP(**FAST).fit(data[0])
    np.testing.assert_array_equal(listed.embedding_, greatest.embedding_)
    np.testing.assert_array_equal(listed.transform(new_points), greatest.transform(new_points))


def test_feature_names_and_pandas_output(data):
    X, _ = data
    reducer = UMAP(n_components=3, **FAST).set_output(transform="pandas")
    frame = reducer.fit_transform(X)
    assert list(frame.columns) == ["umap0", "umap1", "umap2"]
    assert list(reducer.get_feature_names_out()) == ["umap0", "umap1", "umap2"]
    np.testing.assert_array_equal(frame.to_numpy(), reducer.embedding_)
    assert list(reducer.transform(X[:4]).columns) == ["umap0", "umap1", "umap2"]


def test_graph_transform_mode_is_rejected(data):
    # InvalidParameterError is a ValueError.
    with pytest.raises(
        ValueError, match=r"'transform_mode' parameter of UMAP must be .*'embedding'"
    ):
        UMAP(transform_mode="graph", **FAST).fit(data[0])


def test_transform_checks_feature_count(fitted):
    with pytest.raises(ValueError, match="5 features"):
        fitted.transform(np.zeros((3, 4)))


def test_torch_keeps_its_own_openmp_after_umap_ran_first():
    """A process that runs UMAP before torch must still give torch its own libgomp.

    numba's OpenMP layer loads the system libgomp under the same soname; a torch imported
    afterwards ran on it, 40 times slower (measured: 300 reviews in 44.5 s against 1.0 s).
    """
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from skcse.manifold import UMAP

        assert "torch" not in sys.modules
        UMAP(n_neighbors=5, n_epochs=5, random_state=0).fit(
            np.random.default_rng(0).normal(size=(60, 4))
        )
        import torch
        from threadpoolctl import threadpool_info

        torch.ones(8).sum()
        libs = [i["filepath"] for i in threadpool_info() if i["user_api"] == "openmp"]
        print("\\n".join(libs))
        torch_dir = torch.__file__.rsplit("/", 1)[0]
        assert any(lib.startswith(torch_dir) for lib in libs), libs
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout


def test_a_new_process_reuses_the_umap_code_an_earlier_one_compiled():
    # umap declares its numba functions without cache=True; skcse gives them numba's on-disk
    # cache, so only the first process pays the compilation (12 s before a first fit).
    script = textwrap.dedent(
        """
        import numpy as np
        from skcse.manifold import UMAP

        X = np.random.default_rng(0).normal(size=(60, 4))
        UMAP(n_neighbors=5, n_epochs=5, random_state=0).fit(X).transform(X[:3])
        import umap.umap_  # after torch, which skcse imported first

        stats = umap.umap_.smooth_knn_dist.stats
        print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
        """
    )
    # The same work in this process compiles and writes the code, unless an earlier process
    # or fit did; the new process must then find all of it on disk.
    X = np.random.default_rng(0).normal(size=(60, 4))
    UMAP(n_neighbors=5, n_epochs=5, random_state=0).fit(X).transform(X[:3])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    hits, misses = (int(n) for n in done.stdout.split())
    assert hits > 0 and misses == 0, (hits, misses)
