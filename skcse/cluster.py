"""Density clustering with a ``predict`` method: :class:`HDBSCAN`.

``hdbscan.HDBSCAN`` has no ``predict``, so a Pipeline ending in it cannot be scored on held-out
data. :class:`HDBSCAN` wraps it and keeps the prediction data: ``predict`` gives a training
point its label from ``fit`` wherever it appears, and places new points by soft membership
(``noise="soft"``) or ``hdbscan.approximate_predict`` (``noise="keep"``).
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.utils._param_validation import Interval, RealNotInt, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from skcse._validation import user_stacklevel

__all__ = ["HDBSCAN"]

NOISE_MODES = ("soft", "keep")
SELECTION_METHODS = ("eom", "leaf")
# Metrics that hdbscan's prediction functions support without extra metric arguments.
METRICS = (
    "euclidean",
    "l2",
    "manhattan",
    "cityblock",
    "l1",
    "chebyshev",
    "infinity",
    "canberra",
    "braycurtis",
    "haversine",
)


def _soft_labels(clusterer: Any, X: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Label points by their most likely cluster under hdbscan's soft membership.

    Parameters
    ----------
    clusterer : hdbscan.HDBSCAN
        Fitted with ``prediction_data=True`` and at least one cluster.
    X : ndarray of shape (n_samples, n_features) or None, default=None
        New points; None means the training points.

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        Index of the cluster with the largest membership.
    strengths : ndarray of shape (n_samples,)
        That largest membership, in [0, 1].
    """
    import hdbscan

    if X is None:
        X = clusterer.prediction_data_.raw_data
        membership = hdbscan.all_points_membership_vectors(clusterer)
    else:
        membership = hdbscan.membership_vector(clusterer, X)
    # hdbscan may return a 1-D vector (all_points_membership_vectors does without clusters).
    membership = np.asarray(membership, dtype=np.float64).reshape(X.shape[0], -1)
    # Identical points (repeated texts) give a cluster an infinite density, which makes
    # hdbscan's membership NaN or 0 for points near it; argmax would put them in cluster 0.
    broken = ~(membership.max(axis=1) > 0)
    if broken.any():
        membership[broken] = _exemplar_membership(clusterer, X[broken])
    return membership.argmax(axis=1).astype(np.intp), membership.max(axis=1)


def _exemplar_membership(clusterer: Any, X: np.ndarray) -> np.ndarray:
    """Membership by inverse distance to each cluster's nearest exemplar, summing to 1.

    This is the distance part of hdbscan's soft membership, which stays finite when the
    density part does not; a point on an exemplar belongs to that exemplar's cluster(s) alone.
    """
    data = clusterer.prediction_data_
    distances = np.column_stack(
        [data.dist_metric.pairwise(X, exemplars).min(axis=1) for exemplars in data.exemplars]
    )
    on_exemplar = distances == 0
    with np.errstate(divide="ignore"):
        membership = np.where(on_exemplar.any(axis=1, keepdims=True), on_exemplar, 1 / distances)
    return membership / membership.sum(axis=1, keepdims=True)


def _training_rows(clusterer: Any, X: np.ndarray) -> np.ndarray:
    """Position in the training data of each row of ``X`` that is a training point, else -1."""
    raw = clusterer.prediction_data_.raw_data
    if X.shape == raw.shape and np.array_equal(X, raw):
        return np.arange(len(X))
    raw = np.ascontiguousarray(raw, np.float64)
    rows = np.ascontiguousarray(X, np.float64)
    # A dict of the training rows' hashes finds each row in constant time, without keeping
    # a copy of the training data as keys.
    positions: dict[int, int] = {}
    for i, row in enumerate(raw):
        positions.setdefault(hash(row.tobytes()), i)
    found = np.array([positions.get(hash(row.tobytes()), -1) for row in rows], dtype=np.intp)
    # Two rows can share a hash: only an equal row is a training point.
    hit = np.flatnonzero(found >= 0)
    found[hit[(rows[hit] != raw[found[hit]]).any(axis=1)]] = -1
    return found


def _check_prediction_size(clusterer: Any) -> None:
    """Raise if hdbscan's prediction would ask for more neighbours than there are points."""
    min_samples = clusterer.min_samples or clusterer.min_cluster_size
    n_fit = clusterer.prediction_data_.raw_data.shape[0]
    # hdbscan's membership_vector and approximate_predict query 2 * min_samples neighbours.
    if 2 * min_samples > n_fit:
        raise ValueError(
            f"Cannot predict new points: hdbscan looks up 2 * min_samples = {2 * min_samples} "
            f"neighbours but the model was fit on only {n_fit} samples. Fit on more data or "
            "lower min_samples (it defaults to min_cluster_size)."
        )


def _predict_labels(
    clusterer: Any, X: np.ndarray, noise: str = "soft", fit_labels: np.ndarray | None = None
) -> np.ndarray:
    """Label points with a fitted ``hdbscan.HDBSCAN`` built with ``prediction_data=True``.

    Parameters
    ----------
    clusterer : hdbscan.HDBSCAN
        The fitted clusterer.
    X : ndarray of shape (n_samples, n_features)
        Float points in the clusterer's feature space.
    noise : {"soft", "keep"}, default="soft"
        ``"soft"`` gives each point its most likely cluster; ``"keep"`` uses
        ``hdbscan.approximate_predict`` and so keeps -1 for noise.
    fit_labels : ndarray of shape (n_fit_samples,) or None, default=None
        The training points' labels under ``noise``, when already known.

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        Cluster indices. A row equal to a training point gets the label the fit gave it,
        wherever it stands in ``X`` (hdbscan labels training points by another, exact
        rule), so that a point's label does not depend on the order or batch it comes in.
        If no cluster was found, all -1.

    Raises
    ------
    ValueError
        If the clusterer holds too few training points to look up ``2 * min_samples``
        neighbours of a new point.
    """
    n_clusters = int(clusterer.labels_.max()) + 1
    if n_clusters == 0:
        return np.full(X.shape[0], -1, dtype=np.intp)
    rows = _training_rows(clusterer, X)
    known = rows >= 0
    labels = np.empty(X.shape[0], dtype=np.intp)
    if known.any():
        if fit_labels is None:
            soft = noise == "soft"
            fit_labels = _soft_labels(clusterer)[0] if soft else clusterer.labels_
        labels[known] = fit_labels[rows[known]]
    if not known.all():
        _check_prediction_size(clusterer)
        new = X[~known]
        if noise == "soft":
            labels[~known] = _soft_labels(clusterer, new)[0]
        else:
            import hdbscan

            labels[~known] = hdbscan.approximate_predict(clusterer, new)[0]
    return labels


def _cluster_size(min_cluster_size: float, min_samples: int | None, n_samples: int) -> int:
    """Return the smallest cluster size in points, from a number or a fraction of the points."""
    if isinstance(min_cluster_size, Integral):
        return int(min_cluster_size)
    # A fraction of a small sample can fall below 2, which hdbscan refuses, or below the
    # min_samples neighbours that make a point dense.
    # Rounded first: 0.7 * 90 is 62.99999999999999 in binary floating point, not 63.
    return max(math.floor(round(min_cluster_size * n_samples, 9)), 2, min_samples or 2)


class HDBSCAN(ClusterMixin, BaseEstimator):
    """HDBSCAN clustering that can label new points, as in ``predict``.

    A thin wrapper of ``hdbscan.HDBSCAN`` fitted with ``prediction_data=True``. With the
    default ``noise="soft"`` every point, noise included, gets the cluster with the largest
    soft membership (``hdbscan.all_points_membership_vectors`` in ``fit``,
    ``hdbscan.membership_vector`` in ``predict``), so each text lands in a topic. Where that
    membership is undefined (near a cluster of identical points, such as a repeated text,
    whose density is infinite), a point goes by its distance to each cluster's exemplars
    instead. With ``noise="keep"`` noise stays -1 (``hdbscan.approximate_predict`` in
    ``predict``).

    Parameters
    ----------
    min_cluster_size : int or float, default=5
        Smallest group of points that counts as a cluster. An int is a number of points: at
        least 2, and at most the number of samples. A float in (0, 1) is a fraction of the
        number of samples seen in ``fit``, as ``max_features`` is in scikit-learn, so that one
        setting suits data of any size: ``max(floor(min_cluster_size * n_samples), 2,
        min_samples)`` points (``min_samples`` only when set). The size used is
        ``min_cluster_size_``.
    min_samples : int or None, default=None
        Neighbours used for the core distance; larger is more conservative (more noise).
        None means ``min_cluster_size``.
    metric : str, default="euclidean"
        Distance between points. One of the metrics that hdbscan can also use for
        prediction: "euclidean", "l2", "manhattan", "cityblock", "l1", "chebyshev",
        "infinity", "canberra", "braycurtis", "haversine". For cosine distance, L2-normalize
        the vectors and use "euclidean".
    cluster_selection_method : {"eom", "leaf"}, default="eom"
        "eom" (excess of mass) favours a few large clusters, "leaf" many small homogeneous
        ones.
    cluster_selection_epsilon : float, default=0.0
        Clusters closer than this distance are merged. At least 0.
    alpha : float, default=1.0
        Distance scaling of the robust single linkage: distances are divided by it. Greater
        than 0. Other than 1, Prim's algorithm builds the tree (for up to 60 features
        hdbscan would choose a faster Boruvka algorithm, which ignores ``alpha``).
    noise : {"soft", "keep"}, default="soft"
        ``"soft"`` assigns every point to a cluster; ``"keep"`` labels noise -1.

    Attributes
    ----------
    clusterer_ : hdbscan.HDBSCAN
        The fitted hdbscan object (with prediction data).
    min_cluster_size_ : int
        The smallest cluster size used, in points: ``min_cluster_size`` itself when it is an
        int, else computed from the fraction.
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training point. All -1 if no cluster was found.
    probabilities_ : ndarray of shape (n_samples,)
        With ``noise="soft"``, the soft membership of each point in its cluster; with
        ``noise="keep"``, hdbscan's ``probabilities_`` (0 for noise).
    n_clusters_ : int
        Number of clusters found (noise not counted).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of ``X``, when it has string column names.

    Warns
    -----
    UserWarning
        In ``fit``, when no cluster is found; every label, in ``fit`` and ``predict``, is then
        -1 whatever ``noise`` is.

    Notes
    -----
    ``predict`` on exactly the training data returns ``labels_``, so that scoring the fit data
    in-sample reproduces ``fit_predict``. On new data it needs at least
    ``2 * min_samples`` training samples (an hdbscan requirement).

    hdbscan can select a single cluster only with ``allow_single_cluster=True``, whose
    prediction it does not support, so that option is not offered.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skcse.cluster import HDBSCAN
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> model = HDBSCAN(min_cluster_size=5).fit(X)
    >>> model.n_clusters_ > 0
    True
    >>> bool((model.predict(X[:5]) >= 0).all())
    True
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "min_cluster_size": [
            Interval(Integral, 2, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="neither"),
        ],
        "min_samples": [Interval(Integral, 1, None, closed="left"), None],
        "metric": [StrOptions(set(METRICS))],
        "cluster_selection_method": [StrOptions(set(SELECTION_METHODS))],
        "cluster_selection_epsilon": [Interval(Real, 0, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "noise": [StrOptions(set(NOISE_MODES))],
    }

    def __init__(
        self,
        min_cluster_size: float = 5,
        min_samples: int | None = None,
        metric: str = "euclidean",
        cluster_selection_method: str = "eom",
        cluster_selection_epsilon: float = 0.0,
        alpha: float = 1.0,
        noise: str = "soft",
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.metric = metric
        self.cluster_selection_method = cluster_selection_method
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.alpha = alpha
        self.noise = noise

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> HDBSCAN:
        """Cluster ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite numeric features, e.g. sentence embeddings reduced by UMAP.
        y : None
            Ignored; present for Pipeline compatibility.

        Returns
        -------
        self : HDBSCAN
            The fitted estimator.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            If a parameter has an invalid type or value (a subclass of both ValueError and
            TypeError; the message names the parameter).
        ValueError
            If ``X`` has fewer samples than ``min_cluster_size`` or ``min_samples``.
        """
        import hdbscan

        X = validate_data(self, X, dtype=np.float64, force_writeable=True)
        n_samples = X.shape[0]
        # min_samples first: a fractional min_cluster_size is raised to it.
        if self.min_samples is not None and n_samples < self.min_samples:
            raise ValueError(
                f"Found n_samples={n_samples}, fewer than min_samples={self.min_samples}; "
                "pass more samples or lower min_samples."
            )
        self.min_cluster_size_ = _cluster_size(self.min_cluster_size, self.min_samples, n_samples)
        if n_samples < self.min_cluster_size_:
            raise ValueError(
                f"Found n_samples={n_samples}, fewer than min_cluster_size="
                f"{self.min_cluster_size_}; pass more samples or lower min_cluster_size."
            )
        self.clusterer_ = hdbscan.HDBSCAN(
            min_cluster_size=self.min_cluster_size_,
            min_samples=self.min_samples,
            metric=self.metric,
            cluster_selection_method=self.cluster_selection_method,
            cluster_selection_epsilon=float(self.cluster_selection_epsilon),
            alpha=float(self.alpha),
            prediction_data=True,
            **self._algorithm(),
        ).fit(X)
        self.n_clusters_ = int(self.clusterer_.labels_.max()) + 1
        if self.n_clusters_ == 0:
            warnings.warn(
                f"HDBSCAN found no cluster in {X.shape[0]} samples (min_cluster_size="
                f"{self.min_cluster_size_}, min_samples={self.min_samples}); every label is -1. "
                "Lower min_cluster_size or min_samples.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
            self.labels_ = np.full(X.shape[0], -1, dtype=np.intp)
            self.probabilities_ = np.zeros(X.shape[0])
        elif self.noise == "soft":
            self.labels_, self.probabilities_ = _soft_labels(self.clusterer_)
        else:
            self.labels_ = self.clusterer_.labels_.astype(np.intp)
            self.probabilities_ = self.clusterer_.probabilities_
        return self

    def _algorithm(self) -> dict[str, str]:
        """Return the algorithm argument of hdbscan: its own choice unless that ignores alpha."""
        if self.alpha == 1.0:
            return {}
        from hdbscan.hdbscan_ import KDTREE_VALID_METRICS

        # For up to 60 features hdbscan picks a Boruvka algorithm, which never applies
        # alpha; Prim's does.
        kdtree = self.metric in KDTREE_VALID_METRICS
        return {"algorithm": "prims_kdtree" if kdtree else "prims_balltree"}

    def predict(self, X: Any) -> np.ndarray:
        """Label points with the fitted clusters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite numeric features with the columns seen in ``fit``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            With ``noise="soft"`` the cluster of largest soft membership for every point; with
            ``noise="keep"`` the approximate HDBSCAN label, -1 for noise. All -1 if the fit
            found no cluster. A row equal to a training point gets its label in ``labels_``,
            so a point's label does not depend on the rows' order or batches.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            If a parameter was set to an invalid value after ``fit``, e.g. by ``set_params``
            (the message names the parameter).
        ValueError
            If the fit saw fewer than ``2 * min_samples`` samples, which hdbscan needs to
            place new points.
        """
        check_is_fitted(self)
        # noise is read here too: a value set after fit must be refused, not taken as "keep".
        self._validate_params()
        X = validate_data(self, X, dtype=np.float64, force_writeable=True, reset=False)
        return _predict_labels(self.clusterer_, X, noise=self.noise, fit_labels=self.labels_)
