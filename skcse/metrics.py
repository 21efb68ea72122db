"""Scorers that judge a clustering Pipeline, against true labels or without them.

A scorer is a picklable callable ``scorer(estimator, X, y) -> float`` for ``scoring=`` of
GridSearchCV, RandomizedSearchCV or cross_val_score, alone or in a dict of scorers. It labels
``X`` with the fitted estimator and then either compares those labels with ``y`` by an
external clustering metric, e.g. the V-measure (:class:`ClusteringScorer`), or, without
``y``, judges them by an internal validity index of the points they group, e.g. the BIC of
Gaussian clusters, DBCV or the silhouette (:class:`LabelFreeScorer`).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from numbers import Real
from typing import Any, ClassVar

import numpy as np
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    normalized_mutual_info_score,
    silhouette_score,
    v_measure_score,
)
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
    validate_params,
)
from sklearn.utils.validation import check_array

from skcse._validation import check_labels, user_stacklevel
from skcse.cluster import _predict_labels

__all__ = [
    "ClusteringScorer",
    "make_clustering_scorer",
    "v_measure_scorer",
    "adjusted_rand_scorer",
    "normalized_mutual_info_scorer",
    "LabelFreeScorer",
    "make_label_free_scorer",
    "dbcv_score",
    "gaussian_bic_score",
    "calinski_harabasz_scorer",
    "bic_scorer",
    "dbcv_scorer",
    "silhouette_scorer",
]

NOISE_MODES = ("include", "exclude")
LABEL_FREE_NOISE_MODES = ("penalize", "exclude")
BIC_COVARIANCE_TYPES = ("full", "spherical")
DBCV_METRICS = (
    "euclidean", "l2", "sqeuclidean", "cosine", "correlation", "cityblock", "manhattan", "l1",
    "chebyshev", "minkowski", "braycurtis", "canberra",
)  # fmt: skip

_LEAK_MESSAGE = (
    "The scored estimator contains a plain umap.UMAP. Pipeline.fit passes y to it, which "
    "makes it supervised: the labels used for scoring leak into the embedding and the score "
    "is optimistic. Use skcse.manifold.UMAP, which ignores y."
)


def _has_plain_umap(estimator: Any) -> bool:
    """Whether ``estimator`` is or nests a ``umap.UMAP`` (found through ``get_params``)."""
    umap = sys.modules.get("umap")
    # Without umap imported no umap.UMAP can exist, and importing it costs seconds.
    if umap is None or not hasattr(estimator, "get_params"):
        return False
    candidates = [estimator, *estimator.get_params(deep=True).values()]
    return any(isinstance(candidate, umap.UMAP) for candidate in candidates)


def _plain_hdbscan_labels(estimator: Any, X: Any) -> np.ndarray | None:
    """Soft labels of a fitted ``hdbscan.HDBSCAN``, alone or ending a Pipeline, else None."""
    final = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    hdbscan = sys.modules.get("hdbscan")
    # A fitted hdbscan.HDBSCAN implies hdbscan is imported.
    if hdbscan is None or not isinstance(final, hdbscan.HDBSCAN):
        return None
    # hdbscan's prediction_data_ raises AttributeError when unfitted or fitted without it.
    if not hasattr(final, "prediction_data_"):
        raise ValueError(
            "The final hdbscan.HDBSCAN is not fitted or was fitted without prediction data, so "
            "points cannot be labelled. Create it with prediction_data=True, or use "
            "skcse.cluster.HDBSCAN."
        )
    if isinstance(estimator, Pipeline) and len(estimator) > 1:
        X = estimator[:-1].transform(X)
    return _predict_labels(final, np.asarray(X, dtype=np.float64), noise="soft")


def _cluster_labels(estimator: Any, X: Any) -> np.ndarray:
    """Labels that ``estimator`` gives to ``X``."""
    if hasattr(estimator, "predict"):
        return np.asarray(estimator.predict(X))
    labels = _plain_hdbscan_labels(estimator, X)
    if labels is None:
        raise TypeError(
            f"Cannot label new data with {type(estimator).__name__}: it has no predict method "
            "and is not an hdbscan.HDBSCAN (alone or as the last Pipeline step). Use "
            "skcse.cluster.HDBSCAN, or another clusterer with predict."
        )
    return labels


class ClusteringScorer:
    """Score a fitted clusterer (or Pipeline) by comparing its labels with true labels.

    Build it with :func:`make_clustering_scorer`.

    Parameters
    ----------
    score_func : callable
        ``score_func(labels_true, labels_pred, **kwargs) -> float``, greater is better, e.g.
        ``sklearn.metrics.v_measure_score``. A module-level function, so the scorer pickles.
    noise : {"include", "exclude"}, default="include"
        "include" counts the noise label -1 as one more cluster; "exclude" drops the points
        labelled -1 before scoring.
    kwargs : dict or None, default=None
        Extra keyword arguments of ``score_func``.

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        If ``score_func`` is not callable or ``noise`` is not "include" or "exclude" (a
        subclass of both ValueError and TypeError; the message names the parameter). The
        parameters are checked again on each call, so a later invalid ``noise`` is refused.

    Warns
    -----
    UserWarning
        When the estimator holds a plain ``umap.UMAP``, which turns supervised under a
        search; the warning names the fix, ``skcse.manifold.UMAP``. It is given once per
        scorer object (and once per copy sent to a worker), not once per fold; so the
        module-level ``v_measure_scorer`` warns once per process.
    UserWarning
        With ``noise="exclude"``, when every point is noise; the score is then 0.0.

    Notes
    -----
    Labels come from ``estimator.predict(X)``. An ``hdbscan.HDBSCAN`` (alone or last in a
    Pipeline, fitted with ``prediction_data=True``) has no ``predict``: the earlier steps
    transform ``X`` and each point gets the argmax of ``hdbscan.membership_vector``, or
    of ``hdbscan.all_points_membership_vectors`` when ``X`` is the training data.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "score_func": [callable],
        "noise": [StrOptions(set(NOISE_MODES))],
        "kwargs": [dict, None],
    }

    def __init__(
        self,
        score_func: Callable[..., float],
        noise: str = "include",
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.score_func = score_func
        self.noise = noise
        self.kwargs = kwargs
        self._validate_params()
        # A copy: later changes to the caller's dict do not reach the scorer.
        self.kwargs = dict(kwargs or {})
        self._warned_leak = False

    def _validate_params(self) -> None:
        validate_parameter_constraints(
            self._parameter_constraints,
            {name: getattr(self, name) for name in self._parameter_constraints},
            caller_name=type(self).__name__,
        )

    def __getstate__(self) -> dict[str, Any]:
        # Each unpickled copy (e.g. on a joblib worker) may warn once on its own.
        state = self.__dict__.copy()
        state["_warned_leak"] = False
        return state

    def __repr__(self) -> str:
        name = getattr(self.score_func, "__name__", repr(self.score_func))
        extra = "".join(f", {key}={value!r}" for key, value in self.kwargs.items())
        return f"make_clustering_scorer({name}, noise={self.noise!r}{extra})"

    def __call__(self, estimator: Any, X: Any, y: Any = None) -> float:
        """Score ``estimator`` on ``X`` against the true labels ``y``.

        Parameters
        ----------
        estimator : object
            A fitted clusterer or Pipeline (see Notes of the class).
        X : array-like of shape (n_samples, ...)
            Input of ``estimator``.
        y : array-like of shape (n_samples,)
            True labels; any hashable values, e.g. strings. It defaults to None only so
            that a search without ``y`` (which calls ``scorer(estimator, X)``) gets the
            ValueError below rather than a TypeError.

        Returns
        -------
        score : float
            ``score_func(y, labels, **kwargs)``.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            If a parameter of the scorer was set to an invalid value after it was made.
        ValueError
            If ``y`` is None, ``y`` and the labels of ``X`` differ in length, or a final
            ``hdbscan.HDBSCAN`` lacks prediction data.
        TypeError
            If ``estimator`` cannot label new data.
        """
        self._validate_params()
        if y is None:
            raise ValueError("A clustering scorer compares with true labels: y must be given.")
        if not self._warned_leak and _has_plain_umap(estimator):
            self._warned_leak = True
            warnings.warn(_LEAK_MESSAGE, UserWarning, stacklevel=2)
        labels = _cluster_labels(estimator, X)
        y = np.asarray(y)
        if len(y) != len(labels):
            raise ValueError(
                f"y has {len(y)} labels but the estimator labelled {len(labels)} samples of "
                "X; give one true label per sample."
            )
        if self.noise == "exclude":
            kept = labels != -1
            if not kept.any():
                warnings.warn(
                    "Every point is labelled noise (-1) and noise='exclude': the score is 0.0.",
                    UserWarning,
                    stacklevel=2,
                )
                return 0.0
            y, labels = y[kept], labels[kept]
        return float(self.score_func(y, labels, **self.kwargs))


def make_clustering_scorer(
    score_func: Callable[..., float], *, noise: str = "include", **kwargs: Any
) -> ClusteringScorer:
    """Make a scorer from an external clustering metric.

    Parameters
    ----------
    score_func : callable
        ``score_func(labels_true, labels_pred, **kwargs) -> float``, greater is better, such
        as ``sklearn.metrics.v_measure_score``. Use a module-level function (not a lambda) so
        that the scorer pickles for parallel searches.
    noise : {"include", "exclude"}, default="include"
        "include" counts the noise label -1 as a cluster; "exclude" drops points labelled -1
        (if all are, the score is 0.0 with a warning).
    **kwargs : dict
        Passed to ``score_func``, e.g. ``beta=0.5`` for ``v_measure_score``.

    Returns
    -------
    scorer : ClusteringScorer
        A callable ``scorer(estimator, X, y) -> float``.

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        If ``score_func`` is not callable or ``noise`` is not "include" or "exclude" (a
        subclass of both ValueError and TypeError; the message names the parameter).

    Examples
    --------
    >>> from sklearn.metrics import v_measure_score
    >>> from skcse.metrics import make_clustering_scorer
    >>> make_clustering_scorer(v_measure_score, noise="exclude")
    make_clustering_scorer(v_measure_score, noise='exclude')
    """
    return ClusteringScorer(score_func, noise=noise, kwargs=kwargs)


v_measure_scorer = make_clustering_scorer(v_measure_score)
adjusted_rand_scorer = make_clustering_scorer(adjusted_rand_score)
normalized_mutual_info_scorer = make_clustering_scorer(normalized_mutual_info_score)


def _points_and_labels(X: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check ``X`` as finite float points and ``labels`` as one label per point."""
    X = check_array(X, dtype=np.float64)
    return X, check_labels(labels, len(X))


@validate_params(
    {"X": ["array-like"], "labels": ["array-like"], "metric": [StrOptions(set(DBCV_METRICS))]},
    prefer_skip_nested_validation=True,
)
def dbcv_score(X: Any, labels: Any, *, metric: str = "euclidean") -> float:
    """Density-Based Clustering Validation (DBCV) of a clustering of ``X``.

    DBCV (Moulavi et al., 2014) compares, for each cluster, the sparsest density inside it
    (the longest edge of its minimum spanning tree under mutual reachability) with the
    densest path to another cluster. Each cluster scores in [-1, 1]; the index is their
    mean weighted by cluster size over all points, so points labelled noise (-1) lower it.
    It suits the arbitrary shapes density clustering finds, where the silhouette assumes
    round clusters. This wraps ``hdbscan.validity.validity_index``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The points, in the space that was clustered.
    labels : array-like of shape (n_samples,)
        Cluster of each point, -1 for noise; at least two clusters of at least two points.
    metric : str, default="euclidean"
        Distance between points: "euclidean" ("l2"), "sqeuclidean", "cosine", "correlation",
        "cityblock" ("manhattan", "l1"), "chebyshev", "minkowski", "braycurtis" or
        "canberra", the metrics of points that both scikit-learn's ``pairwise_distances``
        and scipy's ``cdist`` (which hdbscan uses between clusters) compute alike.

    Returns
    -------
    score : float
        In [-1, 1]; greater is better.

    Raises
    ------
    ValueError
        If ``labels`` is not 1-D, differs from ``X`` in length or misses a label, there are
        fewer than two clusters, or a cluster has a single point (its density is undefined).
    sklearn.utils._param_validation.InvalidParameterError
        If ``metric`` is not one of those above (a subclass of ValueError; the message names
        the parameter).

    References
    ----------
    Moulavi, D., Jaskowiak, P. A., Campello, R. J. G. B., Zimek, A. and Sander, J. (2014).
    Density-Based Clustering Validation. SIAM International Conference on Data Mining.

    Examples
    --------
    >>> import numpy as np
    >>> from skcse.metrics import dbcv_score
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    >>> round(dbcv_score(X, [0, 0, 0, 1, 1, 1]), 2)
    0.97
    """
    from hdbscan.validity import validity_index

    X, labels = _points_and_labels(X, labels)
    # hdbscan indexes clusters 0..k-1 and skips noise: recode any other labels to that.
    clustered = labels != -1
    codes = np.full(len(labels), -1, dtype=np.intp)
    names, codes[clustered], sizes = np.unique(
        labels[clustered], return_inverse=True, return_counts=True
    )
    if len(names) < 2:
        raise ValueError(f"DBCV needs at least 2 clusters; got {len(names)}.")
    if sizes.min() < 2:
        raise ValueError(
            f"DBCV needs at least 2 points per cluster; cluster {names[sizes.argmin()]} has 1."
        )
    # scipy's cdist knows scikit-learn's aliases by their scipy names only.
    metric = {"l2": "euclidean", "manhattan": "cityblock", "l1": "cityblock"}.get(metric, metric)
    return float(validity_index(X, codes, metric=metric))


@validate_params(
    {
        "X": ["array-like"],
        "labels": ["array-like"],
        "covariance_type": [StrOptions(set(BIC_COVARIANCE_TYPES))],
        "reg_covar": [Interval(Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def gaussian_bic_score(
    X: Any, labels: Any, *, covariance_type: str = "full", reg_covar: float = 1e-6
) -> float:
    """Bayesian information criterion of the Gaussian clusters that ``labels`` make of ``X``.

    Each cluster is taken as a Gaussian with its own mean and covariance, weighted by its
    share of the points. The score is twice the log-likelihood of each point under its own
    cluster's Gaussian (the classification likelihood) minus the number of parameters times
    ``log(n_samples)``: more clusters must fit the points better to score higher. It is the
    negative of a BIC, so greater is better. Scores compare clusterings of the same ``X``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The points.
    labels : array-like of shape (n_samples,)
        Cluster of each point; every label, -1 included, is a cluster here (a
        :class:`LabelFreeScorer` leaves noise out before calling this).
    covariance_type : {"full", "spherical"}, default="full"
        As in ``sklearn.mixture.GaussianMixture``. "full": a covariance matrix per cluster,
        for the few dimensions a clusterer sees after UMAP (in hundreds of dimensions a
        cluster has more covariance parameters than points). "spherical": one variance per
        cluster, the criterion of X-means, which fits hundreds of dimensions; it is what
        :data:`bic_scorer` computes on the vectors before UMAP.
    reg_covar : float, default=1e-6
        Added to each variance (the diagonal of each covariance), as in
        ``sklearn.mixture.GaussianMixture``, so that a flat cluster has a density. Greater
        than 0.

    Returns
    -------
    score : float
        ``2 * log-likelihood - n_parameters * log(n_samples)``; greater is better.

    Raises
    ------
    ValueError
        If ``labels`` is not 1-D or differs from ``X`` in length, or there are fewer than
        two clusters.
    sklearn.utils._param_validation.InvalidParameterError
        If ``covariance_type`` is unknown or ``reg_covar`` is not a number above 0 (a
        subclass of ValueError; the message names the parameter).

    Warns
    -----
    UserWarning
        When a cluster has too few points for its covariance (no more than ``X`` has
        dimensions for "full", one for "spherical"): its density, and the score, then depend
        on ``reg_covar``.

    References
    ----------
    Schwarz, G. (1978). Estimating the dimension of a model. The Annals of Statistics 6(2).

    Pelleg, D. and Moore, A. (2000). X-means: extending k-means with efficient estimation of
    the number of clusters. ICML.

    Examples
    --------
    >>> import numpy as np
    >>> from skcse.metrics import gaussian_bic_score
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (50, 2)), rng.normal(8, 1, (50, 2))])
    >>> halves = np.repeat([0, 1], 50)
    >>> gaussian_bic_score(X, halves) > gaussian_bic_score(X, rng.permutation(halves))
    True
    """
    from scipy.stats import multivariate_normal

    X, labels = _points_and_labels(X, labels)
    clusters = np.unique(labels)
    if len(clusters) < 2:
        raise ValueError(f"The BIC of a clustering needs at least 2 clusters; got {len(clusters)}.")
    n, d = X.shape
    full = covariance_type == "full"
    # Up to this many points, a cluster's covariance is singular.
    singular_up_to = d if full else 1
    log_likelihood = 0.0
    for cluster in clusters:
        points = X[labels == cluster]
        size = len(points)
        if size <= singular_up_to:
            warnings.warn(
                f"Cluster {cluster} has {size} points in {d} dimensions: its "
                f"{covariance_type} covariance is singular, reg_covar={reg_covar} sets its "
                "density and the score favours it. Keep clusters larger "
                f"than {singular_up_to} point(s) (min_cluster_size).",
                UserWarning,
                # validate_params wraps this function: count frames to the caller's line.
                stacklevel=user_stacklevel(),
            )
        if full:
            covariance = np.cov(points, rowvar=False, bias=True).reshape(d, d)
            covariance += reg_covar * np.eye(d)
            gaussian = multivariate_normal(points.mean(axis=0), covariance, allow_singular=True)
            log_likelihood += np.sum(gaussian.logpdf(points))
        else:
            # One variance for all coordinates: the density in closed form, no d x d matrix.
            squares = np.sum((points - points.mean(axis=0)) ** 2)
            variance = squares / (size * d) + reg_covar
            log_likelihood -= 0.5 * (size * d * np.log(2 * np.pi * variance) + squares / variance)
        log_likelihood += size * np.log(size / n)
    # Per cluster a mean and its variance(s); the weights sum to one.
    per_cluster = d + (d * (d + 1) / 2 if full else 1)
    n_parameters = len(clusters) * per_cluster + len(clusters) - 1
    return float(2 * log_likelihood - n_parameters * np.log(n))


def _space_and_labels(estimator: Any, X: Any, space: str | None) -> tuple[Any, np.ndarray]:
    """Return the points in the chosen space and the labels ``estimator`` gives to ``X``.

    Each step transforms ``X`` once; the input of the step named ``space`` (of the final
    step when None) is kept on the way.
    """
    if not isinstance(estimator, Pipeline):
        if space is not None:
            raise ValueError(
                f"space={space!r} names a Pipeline step, but the estimator is a "
                f"{type(estimator).__name__}; use space=None to score in the space of X."
            )
        return X, _cluster_labels(estimator, X)
    names = [name for name, _ in estimator.steps]
    if space is not None and space not in names:
        raise ValueError(
            f"space={space!r} is not a step of the Pipeline; its steps are {names}. Make a "
            "scorer for it with make_label_free_scorer(..., space=<the step whose input to "
            "judge>)."
        )
    points, Xt = None, X
    for name, step in estimator.steps[:-1]:
        if name == space:
            points = Xt
        if step is not None and step != "passthrough":
            Xt = step.transform(Xt)
    return (Xt if points is None else points), _cluster_labels(estimator.steps[-1][1], Xt)


class LabelFreeScorer:
    """Score a fitted clusterer (or Pipeline) without true labels, by an internal index.

    The clusters are judged by how well they separate the points themselves, so a search
    can tune a clustering of texts nobody has labelled. Build it with
    :func:`make_label_free_scorer`, or use :data:`bic_scorer` (recommended; it judges the
    vectors before a step named "umap"), :data:`calinski_harabasz_scorer`, :data:`dbcv_scorer`
    or :data:`silhouette_scorer`.

    Parameters
    ----------
    score_func : callable
        ``score_func(points, labels, **kwargs) -> float``, greater is better, e.g.
        ``sklearn.metrics.calinski_harabasz_score``, :func:`dbcv_score` or
        ``sklearn.metrics.silhouette_score``. A module-level function, so the scorer
        pickles. Sparse points (a TF-IDF step's output) reach it as a CSR matrix, for the
        functions that take one, such as the silhouette.
    noise : {"penalize", "exclude"}, default="penalize"
        Points labelled -1 are never scored as a cluster. "penalize" scores the other
        points and moves that score toward worse by their fraction of all points, so noise
        is never free: a positive score is multiplied by it, as DBCV does (each noise point
        counts 0); a negative one above ``worst_score`` moves that fraction of the way
        from ``worst_score`` to it, so it stays above ``worst_score``; any other negative
        one (``worst_score`` is infinite, or the score is below it) is divided by the
        fraction. "exclude" scores the other points alone.
    space : str or None, default=None
        Where the points are measured. None: the input of the estimator's final step, the
        space the clusterer saw (for :func:`~skcse.make_cluster_pipeline`, UMAP's output).
        A step name of a Pipeline: the input of that step, e.g. ``"umap"`` for the vectors
        before the reduction, which are the same for every UMAP setting of a grid.
    worst_score : float, default=-1.0
        The score when there is nothing to judge: fewer than two clusters besides noise
        (all noise, or a single cluster), or as many clusters as clustered points. -1.0 is
        the lowest DBCV and silhouette of a clustering without noise, and below any
        Calinski-Harabasz index, so a search never prefers such a candidate; a BIC can be
        any number, so :data:`bic_scorer` uses ``-inf``.
    kwargs : dict or None, default=None
        Extra keyword arguments of ``score_func``, e.g. ``{"metric": "cosine"}``.

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        If a parameter has an invalid type or value (a subclass of both ValueError and
        TypeError; the message names the parameter). The parameters are checked again on
        each call.

    Warns
    -----
    UserWarning
        When there is nothing to judge and the score is ``worst_score``; the message says
        how many clusters there were.

    See Also
    --------
    ClusteringScorer : Scores against true labels instead.

    Notes
    -----
    The labels are those the estimator gives to ``X`` (see :class:`ClusteringScorer`): with
    ``cv=InSampleSplit()`` they are the labels of the fit. The score ignores ``y``, so the
    scorer also sits in a ``scoring`` dict beside scorers that need ``y``: a search given
    ``y`` computes both, and one without ``y`` only this (the others' scores then become
    ``error_score``).

    Scores in different spaces are not comparable: with ``space=None`` each UMAP setting of
    a grid is judged in its own output. ``space="umap"`` judges every candidate in one space.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "score_func": [callable],
        "noise": [StrOptions(set(LABEL_FREE_NOISE_MODES))],
        "space": [str, None],
        "worst_score": [Real],
        "kwargs": [dict, None],
    }

    def __init__(
        self,
        score_func: Callable[..., float],
        noise: str = "penalize",
        space: str | None = None,
        worst_score: float = -1.0,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.score_func = score_func
        self.noise = noise
        self.space = space
        self.worst_score = worst_score
        self.kwargs = kwargs
        self._validate_params()
        # A copy: later changes to the caller's dict do not reach the scorer.
        self.kwargs = dict(kwargs or {})

    def _validate_params(self) -> None:
        validate_parameter_constraints(
            self._parameter_constraints,
            {name: getattr(self, name) for name in self._parameter_constraints},
            caller_name=type(self).__name__,
        )

    def __repr__(self) -> str:
        name = getattr(self.score_func, "__name__", repr(self.score_func))
        extra = "" if self.space is None else f", space={self.space!r}"
        extra += "" if self.worst_score == -1.0 else f", worst_score={self.worst_score!r}"
        extra += "".join(f", {key}={value!r}" for key, value in self.kwargs.items())
        return f"make_label_free_scorer({name}, noise={self.noise!r}{extra})"

    def __call__(self, estimator: Any, X: Any, y: Any = None) -> float:
        """Score the clustering that ``estimator`` gives to ``X``.

        Parameters
        ----------
        estimator : object
            A fitted clusterer or Pipeline, as for :class:`ClusteringScorer`.
        X : array-like of shape (n_samples, ...)
            Input of ``estimator``, e.g. texts for a Pipeline that starts with an encoder.
        y : object, default=None
            Ignored.

        Returns
        -------
        score : float
            ``score_func`` of the clustered points and their labels (moved toward worse by
            their fraction with ``noise="penalize"``, as the class describes), or
            ``worst_score`` when there is nothing to judge.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            If a parameter of the scorer was set to an invalid value after it was made.
        ValueError
            If ``space`` is not a step of the Pipeline (or is given for an estimator that is
            not one), the points there are not a numeric 2-D array, or a final
            ``hdbscan.HDBSCAN`` lacks prediction data.
        TypeError
            If ``estimator`` cannot label new data.
        """
        self._validate_params()
        points, labels = _space_and_labels(estimator, X, self.space)
        try:
            # Sparse points (TF-IDF) reach score functions that take them, e.g. the silhouette.
            points = check_array(points, dtype=np.float64, accept_sparse="csr")
        except (ValueError, TypeError) as exc:
            where = "X" if self.space is None else f"the input of step {self.space!r}"
            raise ValueError(
                f"The points to score ({where}) must be a numeric 2-D array: {exc} Choose a "
                "space after the encoder."
            ) from None
        clustered = labels != -1
        n_clustered = int(clustered.sum())
        n_clusters = len(np.unique(labels[clustered]))
        if not 2 <= n_clusters < n_clustered:
            warnings.warn(
                f"{n_clusters} cluster(s) besides noise among {len(labels)} points: a "
                f"label-free score needs at least 2 and fewer than the clustered points; the "
                f"score is worst_score={self.worst_score}.",
                UserWarning,
                stacklevel=2,
            )
            return float(self.worst_score)
        score = float(self.score_func(points[clustered], labels[clustered], **self.kwargs))
        if self.noise == "penalize":
            fraction = n_clustered / len(labels)
            if score >= 0:
                score *= fraction
            elif np.isfinite(self.worst_score) and score > self.worst_score:
                # Shrinking a negative score would raise it; moving it toward worst_score
                # lowers it and keeps it above a candidate with nothing to judge.
                score = self.worst_score + (score - self.worst_score) * fraction
            else:
                # No floor to move toward (or the score is already under it): only
                # dividing lowers it.
                score /= fraction
        return score


def make_label_free_scorer(
    score_func: Callable[..., float],
    *,
    noise: str = "penalize",
    space: str | None = None,
    worst_score: float = -1.0,
    **kwargs: Any,
) -> LabelFreeScorer:
    """Make a scorer that needs no true labels from an internal clustering index.

    Parameters
    ----------
    score_func : callable
        ``score_func(points, labels, **kwargs) -> float``, greater is better, such as
        :func:`dbcv_score` or ``sklearn.metrics.silhouette_score``. Use a module-level
        function (not a lambda) so that the scorer pickles for parallel searches.
    noise : {"penalize", "exclude"}, default="penalize"
        "penalize" moves the score of the points not labelled -1 toward worse by their
        fraction (a positive score times it, a negative one above ``worst_score`` from
        ``worst_score`` that fraction of the way to it, any other divided by it); "exclude"
        scores them alone.
    space : str or None, default=None
        None measures the points where the final step clustered them; a Pipeline step's
        name measures them at that step's input, e.g. ``"umap"``.
    worst_score : float, default=-1.0
        The score, with a warning, when fewer than two clusters are left to judge.
    **kwargs : dict
        Passed to ``score_func``, e.g. ``metric="cosine"`` for ``silhouette_score``.

    Returns
    -------
    scorer : LabelFreeScorer
        A callable ``scorer(estimator, X, y=None) -> float``.

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        If a parameter has an invalid type or value (a subclass of both ValueError and
        TypeError; the message names the parameter).

    Examples
    --------
    >>> from sklearn.metrics import silhouette_score
    >>> from skcse.metrics import make_label_free_scorer
    >>> make_label_free_scorer(silhouette_score, space="umap", metric="cosine")
    make_label_free_scorer(silhouette_score, noise='penalize', space='umap', metric='cosine')
    """
    return LabelFreeScorer(
        score_func, noise=noise, space=space, worst_score=worst_score, kwargs=kwargs
    )


calinski_harabasz_scorer = make_label_free_scorer(calinski_harabasz_score)
dbcv_scorer = make_label_free_scorer(dbcv_score)
silhouette_scorer = make_label_free_scorer(silhouette_score)
# Judged on the vectors before UMAP, which every UMAP setting of a grid shares, so the BICs
# of all candidates are of the same points. A BIC can be any number: nothing to judge must
# score below all of them.
bic_scorer = make_label_free_scorer(
    gaussian_bic_score, space="umap", worst_score=-np.inf, covariance_type="spherical"
)
