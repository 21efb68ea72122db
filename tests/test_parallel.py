"""Scaling out on dask: grid searches on a cluster and transform_dask."""

from __future__ import annotations

import contextlib
import pickle
import re
import subprocess
import sys
import threading
import time

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import v_measure_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

from conftest import make_texts
from skcse import SimCSEEncoder
from skcse.cluster import HDBSCAN
from skcse.manifold import UMAP
from skcse.metrics import (
    adjusted_rand_scorer,
    make_clustering_scorer,
    normalized_mutual_info_scorer,
    v_measure_scorer,
)
from skcse.model_selection import InSampleSplit
from skcse.parallel import transform_dask

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
db = pytest.importorskip("dask.bag")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def encoder(tiny_bert):
    # fp32, so that the vectors do not depend on the CPU's bf16 support.
    return SimCSEEncoder(tiny_bert, epochs=0, batch_size=64, precision="fp32").fit(["a", "b"])


def _pipeline(model: str) -> Pipeline:
    return Pipeline(
        [
            (
                "enc",
                SimCSEEncoder(
                    model,
                    batch_size=16,
                    max_seq_length=32,
                    max_steps=2,
                    precision="fp32",
                    random_state=0,
                ),
            ),
            ("umap", UMAP(n_components=3, n_neighbors=10, n_epochs=50, random_state=0)),
            ("hdbscan", HDBSCAN(min_cluster_size=5)),
        ]
    )


class _ConcurrencyProbe(TransformerMixin, BaseEstimator):
    """A fitted transformer that records how many of its transforms overlap in time."""

    def __init__(self):
        self._lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0

    def fit(self, X, y=None):
        self.n_features_out_ = 2
        return self

    def transform(self, X):
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(0.05)
        with self._lock:
            self.running -= 1
        return np.zeros((len(X), 2))


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@contextlib.contextmanager
def counting_encoder_unpickles(client):
    """Count, on each worker, how often a SimCSEEncoder is unpickled there."""

    # Nested functions travel by value, so the workers need not import this test module.
    def install():
        from skcse.encoder import SimCSEEncoder

        original = SimCSEEncoder.__setstate__

        def counting(self, state):
            counting.calls += 1
            original(self, state)

        counting.calls = 0
        counting.original = original
        SimCSEEncoder.__setstate__ = counting

    def read():
        from skcse.encoder import SimCSEEncoder

        return SimCSEEncoder.__setstate__.calls

    def uninstall():
        from skcse.encoder import SimCSEEncoder

        SimCSEEncoder.__setstate__ = SimCSEEncoder.__setstate__.original

    client.run(install)
    try:
        yield lambda: client.run(read)
    finally:
        client.run(uninstall)


@pytest.mark.parametrize(
    "obj",
    [
        SimCSEEncoder(batch_size=8, random_state=0),
        UMAP(n_neighbors=8, random_state=0),
        HDBSCAN(min_cluster_size=7),
        InSampleSplit(),
        v_measure_scorer,
        adjusted_rand_scorer,
        normalized_mutual_info_scorer,
        make_clustering_scorer(v_measure_score, noise="exclude", beta=0.5),
    ],
    ids=repr,
)
def test_estimators_and_scorers_pickle_without_cloudpickle(obj):
    # Plain pickle refuses lambdas and open handles, which cloudpickle would smuggle through.
    assert repr(pickle.loads(pickle.dumps(obj))) == repr(obj)


def test_grid_search_on_a_dask_cluster_matches_n_jobs_1(dask_client, tiny_bert):
    texts, labels = make_texts(80, seed=2)
    # Untrained: a trained encoder's weights differ in the last bit between torch thread
    # counts (the workers run one thread), and UMAP magnifies that into other clusters.
    pipe = _pipeline(tiny_bert).set_params(enc__epochs=0)
    grid = {"enc__pooling": ["mean", "max"], "hdbscan__min_cluster_size": [5, 10]}

    def search(n_jobs: int) -> GridSearchCV:
        return GridSearchCV(
            pipe,
            grid,
            scoring={"v": v_measure_scorer, "ari": adjusted_rand_scorer},
            refit="v",
            cv=InSampleSplit(),
            n_jobs=n_jobs,
        ).fit(texts, labels)

    local = search(1)
    with (
        dask_client.as_current(),
        distributed.get_task_stream(dask_client) as stream,
        joblib.parallel_backend("dask"),
    ):
        remote = search(-1)
    assert stream.data, "no task ran on the cluster"
    for key in ("mean_test_v", "mean_test_ari", "rank_test_v", "rank_test_ari"):
        np.testing.assert_array_equal(remote.cv_results_[key], local.cv_results_[key])
    assert remote.cv_results_["params"] == local.cv_results_["params"]
    assert remote.best_params_ == local.best_params_


def test_fitted_pipeline_and_scorer_run_on_a_worker(dask_client, tiny_bert):
    texts, labels = make_texts(80, seed=3)
    pipe = _pipeline(tiny_bert).fit(texts)
    np.testing.assert_array_equal(
        dask_client.submit(pipe.predict, texts).result(), pipe.predict(texts)
    )
    score = dask_client.submit(v_measure_scorer, pipe, texts, labels).result()
    assert score == v_measure_scorer(pipe, texts, labels)


def test_transform_dask_on_the_cluster_matches_transform_and_ships_the_encoder_once(
    dask_client, encoder
):
    texts, _ = make_texts(2_000, seed=6)
    expected = encoder.transform(texts)
    series = dd.from_pandas(pd.Series(texts), npartitions=8)
    # dask's active memory manager drops the copies that no waiting task needs, every 2 s:
    # one cycle between the scatter and the submission of the graph would make a worker
    # fetch the encoder a second time. That is dask's memory policy, not this test's subject.
    dask_client.amm.stop()
    try:
        with dask_client.as_current(), counting_encoder_unpickles(dask_client) as unpickles:
            embeddings = transform_dask(encoder, series)
            result = embeddings.compute()
            counts = unpickles()
            held = dask_client.run(
                lambda dask_worker: sum(
                    isinstance(value, SimCSEEncoder) for value in dask_worker.data.values()
                )
            )
    finally:
        dask_client.amm.start()
    assert embeddings.dtype == np.float32 and embeddings.numblocks == (8, 1)
    assert embeddings.chunks[1] == (encoder.n_features_out_,)
    assert result.shape == expected.shape and result.dtype == np.float32
    # Rows in input order: each row matches its own text's vector, not a neighbour's.
    assert _row_cosines(result, expected).min() >= 0.9999
    # 8 partitions over 2 workers: an encoder inside every task would be unpickled 4 times
    # per worker, and held by none.
    assert sorted(counts.values()) == [1, 1]
    assert sorted(held.values()) == [1, 1]


@pytest.mark.parametrize("kind", ["bag", "series", "frame"])
def test_transform_dask_without_a_client_matches_transform(encoder, kind):
    texts, _ = make_texts(300, seed=7)
    series = dd.from_pandas(pd.Series(texts), npartitions=3)
    collection = {
        "bag": db.from_sequence(texts, npartitions=3),
        "series": series,
        "frame": series.to_frame("text"),
    }[kind]
    embeddings = transform_dask(encoder, collection)
    assert embeddings.numblocks == (3, 1)
    result = embeddings.compute(scheduler="threads")
    assert _row_cosines(result, encoder.transform(texts)).min() >= 0.9999


def test_transform_dask_transforms_one_partition_at_a_time_in_a_process():
    # SimCSEEncoder.transform is not thread-safe under bf16, and torch uses the cores anyway.
    probe = _ConcurrencyProbe().fit([])
    bag = db.from_sequence([f"text {i}" for i in range(8)], npartitions=4)
    result = transform_dask(probe, bag).compute(scheduler="threads", num_workers=4)
    assert result.shape == (8, 2)
    assert probe.most_at_once == 1


def test_transform_dask_without_a_client_keeps_one_encoder_in_the_graph(encoder):
    texts, _ = make_texts(64, seed=8)
    embeddings = transform_dask(encoder, db.from_sequence(texts, npartitions=8))
    # Pickled task by task, as a distributed scheduler ships them, the graph holds one copy
    # of the model however many partitions there are; inside each task it would hold 8.
    graph_bytes = sum(len(pickle.dumps(task)) for task in embeddings.__dask_graph__().values())
    assert graph_bytes < 1.5 * len(pickle.dumps(encoder))


def test_transform_dask_writes_block_by_block(encoder, tmp_path):
    texts, _ = make_texts(100, seed=11)
    embeddings = transform_dask(encoder, db.from_sequence(texts, npartitions=4))
    da.to_npy_stack(tmp_path, embeddings)
    assert sorted(p.name for p in tmp_path.glob("*.npy")) == [f"{i}.npy" for i in range(4)]
    stored = da.from_npy_stack(tmp_path).compute()
    np.testing.assert_array_equal(stored, embeddings.compute())


def test_transform_dask_skips_empty_partitions(encoder):
    texts, _ = make_texts(40, seed=9)
    series = dd.from_pandas(pd.Series(texts), npartitions=4)
    kept = series[series.str.contains("coffee|dog")]
    result = transform_dask(encoder, kept).compute(scheduler="threads")
    expected_rows = sum(("coffee" in t) or ("dog" in t) for t in texts)
    assert result.shape == (expected_rows, encoder.n_features_out_)
    empty = transform_dask(encoder, series[series.str.len() < 0]).compute(scheduler="threads")
    assert empty.shape == (0, encoder.n_features_out_)


def test_transform_dask_takes_any_fitted_transformer_with_feature_names():
    texts, _ = make_texts(60, seed=10)
    lsa = make_pipeline(TfidfVectorizer(), TruncatedSVD(n_components=5, random_state=0))
    lsa.fit(texts)
    result = transform_dask(lsa, db.from_sequence(texts, npartitions=2)).compute()
    np.testing.assert_allclose(result, lsa.transform(texts).astype(np.float32), rtol=1e-5)


def test_transform_dask_errors(encoder):
    bag = db.from_sequence(["a", "b"], npartitions=1)
    with pytest.raises(NotFittedError):
        transform_dask(SimCSEEncoder(), bag)
    with pytest.raises(TypeError, match="got builtins.list"):
        transform_dask(encoder, ["a", "b"])
    with pytest.raises(TypeError, match="got pandas.*Series"):
        transform_dask(encoder, pd.Series(["a", "b"]))
    frame = dd.from_pandas(pd.DataFrame({"title": ["a"], "text": ["b"]}), npartitions=1)
    with pytest.raises(ValueError, match=r"2 columns \['title', 'text'\]"):
        transform_dask(encoder, frame)
    with pytest.raises(TypeError, match="how many columns"):
        transform_dask(FunctionTransformer().fit([[1.0]]), bag)
    with pytest.raises(TypeError, match="transform method"):
        transform_dask(HDBSCAN(), bag)


def test_missing_dask_names_the_extra(monkeypatch, encoder):
    for name in ("dask", "dask.array", "dask.bag", "dask.dataframe"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=re.escape("pip install 'skcse[distributed]'")):
        transform_dask(encoder, ["a text"])


def test_importing_skcse_does_not_import_dask():
    code = (
        "import sys, skcse, skcse.parallel; "
        "assert not {'dask', 'distributed'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
