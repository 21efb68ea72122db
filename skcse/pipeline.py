"""The reference clustering as a scikit-learn Pipeline: :func:`make_cluster_pipeline`."""

from __future__ import annotations

from typing import Any

from sklearn.pipeline import Pipeline

__all__ = ["make_cluster_pipeline"]


def make_cluster_pipeline(
    encoder: Any = None,
    *,
    n_components: int = 5,
    n_neighbors: int = 50,
    min_cluster_size: float = 0.025,
    min_samples: int | None = 10,
    noise: str = "soft",
    random_state: Any = None,
    memory: Any = None,
) -> Pipeline:
    """Build the reference study's clustering: (encoder ->) UMAP -> HDBSCAN.

    The settings are those of ``skcse compare``: cosine UMAP to ``n_components`` dimensions
    with ``min_dist=0`` (tight clumps suit density clustering), then :class:`~skcse.cluster.HDBSCAN`
    with clusters of at least 1/40 of the texts and every point, noise included, given its
    most likely cluster. The steps are named ``"enc"`` (only when ``encoder`` is given),
    ``"umap"`` and ``"hdbscan"``, so that a grid reads ``umap__n_neighbors`` or
    ``hdbscan__min_cluster_size``.

    Parameters
    ----------
    encoder : estimator or None, default=None
        A transformer from texts to vectors, e.g. :class:`~skcse.SimCSEEncoder`, put first
        as step ``"enc"``. None builds a pipeline that takes vectors.
    n_components : int, default=5
        Dimensions UMAP reduces to.
    n_neighbors : int, default=50
        UMAP's neighbourhood size. With 15, 2,000 untrained-backbone reviews collapsed into
        2 clusters (V-measure 0.03) for 1 of 3 UMAP seeds; with 50 they scored 0.437-0.442
        over the same 3 seeds.
    min_cluster_size : int or float, default=0.025
        HDBSCAN's smallest cluster: a number of points, or a fraction of the samples in
        (0, 1), at least ``max(2, min_samples)`` points (see :class:`~skcse.cluster.HDBSCAN`). The
        default is 1/40 of the texts: 50 of 2,000.
    min_samples : int or None, default=10
        HDBSCAN's neighbours for the core distance; larger is more conservative.
    noise : {"soft", "keep"}, default="soft"
        ``"soft"`` gives every point a cluster; ``"keep"`` labels noise -1.
    random_state : int, RandomState instance or None, default=None
        Seed of UMAP.
    memory : str, joblib.Memory or None, default=None
        Caches fitted steps, as in :class:`~sklearn.pipeline.Pipeline`; in a grid search it
        lets candidates that differ only in later steps share the encoder and UMAP fits.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Unfitted; ``fit_predict`` gives each sample's cluster.

    See Also
    --------
    skcse.manifold.UMAP : The reduction step.
    skcse.cluster.HDBSCAN : The clustering step.
    skcse.model_selection.InSampleSplit : Scores a clustering pipeline on its fit data.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skcse import make_cluster_pipeline
    >>> X, _ = make_blobs(n_samples=200, centers=3, n_features=10, random_state=0)
    >>> pipe = make_cluster_pipeline(n_neighbors=15, random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['umap', 'hdbscan']
    >>> labels = pipe.fit_predict(X)
    >>> pipe.named_steps["hdbscan"].min_cluster_size_  # max(200 // 40, min_samples)
    10
    >>> len(set(labels))
    3
    """
    from skcse.cluster import HDBSCAN
    from skcse.manifold import UMAP

    steps = [] if encoder is None else [("enc", encoder)]
    steps += [
        (
            "umap",
            UMAP(
                n_neighbors=n_neighbors,
                n_components=n_components,
                metric="cosine",
                min_dist=0.0,
                random_state=random_state,
            ),
        ),
        (
            "hdbscan",
            HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, noise=noise),
        ),
    ]
    return Pipeline(steps, memory=memory)


def _fewest_samples(pipe: Pipeline) -> int:
    """Return how many samples a pipeline of :func:`make_cluster_pipeline` needs to fit.

    UMAP's spectral layout needs ``n_components + 2`` points and HDBSCAN ``min_samples``;
    the commands check it before they embed anything.
    """
    return max(pipe["umap"].n_components + 2, pipe["hdbscan"].min_samples or 0)
