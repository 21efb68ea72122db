"""Scorers that judge a clustering Pipeline against true labels.

A scorer is a picklable callable ``scorer(estimator, X, y) -> float`` for ``scoring=`` of
GridSearchCV, RandomizedSearchCV or cross_val_score, alone or in a dict of scorers. It labels
``X`` with the fitted estimator and compares those labels with ``y`` by an external
clustering metric, e.g. the V-measure.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, v_measure_score
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import StrOptions, validate_parameter_constraints

from skcse.cluster import _predict_labels

__all__ = [
    "ClusteringScorer",
    "make_clustering_scorer",
    "v_measure_scorer",
    "adjusted_rand_scorer",
    "normalized_mutual_info_scorer",
]

NOISE_MODES = ("include", "exclude")

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

    def __call__(self, estimator: Any, X: Any, y: Any) -> float:
        """Score ``estimator`` on ``X`` against the true labels ``y``.

        Parameters
        ----------
        estimator : object
            A fitted clusterer or Pipeline (see Notes of the class).
        X : array-like of shape (n_samples, ...)
            Input of ``estimator``.
        y : array-like of shape (n_samples,)
            True labels; any hashable values, e.g. strings.

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
