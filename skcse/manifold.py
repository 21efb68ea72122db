"""Unsupervised UMAP for Pipelines: :class:`UMAP`.

``umap.UMAP.fit(X, y)`` becomes *supervised* when ``y`` is given. Inside a Pipeline scored by
GridSearchCV or cross_val_score it receives the labels it is judged against, which leaks them
into the embedding (and string labels crash it). :class:`UMAP` takes the same parameters and
always ignores ``y``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from numbers import Integral, Real
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import Tags
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["UMAP"]


class UMAP(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """UMAP dimension reduction that never looks at ``y``.

    The parameters are those of ``umap.UMAP`` (umap-learn 0.5), with the same defaults, and
    are passed to it unchanged; see the umap-learn documentation for details. ``y`` is
    ignored by ``fit`` and ``fit_transform``, so the embedding is the same with or without
    labels and a Pipeline cannot leak the labels it is scored against.

    ``fit`` and ``transform`` check each parameter's type and range first, by scikit-learn's
    parameter validation, with an error naming the parameter. The learning rate, distances,
    strengths and densMAP weights are at least 0; ``set_op_mix_ratio``, ``target_weight`` and
    ``dens_frac`` lie in [0, 1]. Checks that need the data or umap's metric tables are left to
    umap.

    Parameters
    ----------
    n_neighbors : int, default=15
        Size of the local neighbourhood; larger values give a more global view. At least 2.
    n_components : int, default=2
        Dimension of the embedding. At least 1.
    metric : str or callable, default="euclidean"
        Distance in the input space, e.g. "euclidean" or "cosine".
    metric_kwds : dict or None, default=None
        Arguments of ``metric``.
    output_metric : str or callable, default="euclidean"
        Distance in the embedding space.
    output_metric_kwds : dict or None, default=None
        Arguments of ``output_metric``.
    n_epochs : int, list of int or None, default=None
        Optimisation epochs; None lets umap choose (200 for large data, 500 for small). A list
        runs the greatest and also keeps the embeddings at its epochs in
        ``umap_.embedding_list_``.
    learning_rate : float, default=1.0
        Initial learning rate of the embedding optimisation.
    init : str or ndarray, default="spectral"
        Initial embedding: "spectral", "random", "pca", "tswspectral" or an array.
    min_dist : float, default=0.1
        Minimum distance between embedded points; smaller gives tighter clumps.
    spread : float, default=1.0
        Scale of the embedded points, together with ``min_dist``. Greater than 0 and at least
        ``min_dist``.
    low_memory : bool, default=True
        Use the slower nearest-neighbour search that needs less memory.
    n_jobs : int, default=-1
        Threads, at least 1, or -1 for all cores; umap uses one when ``random_state`` is set.
    set_op_mix_ratio : float, default=1.0
        Between 0 (fuzzy intersection) and 1 (fuzzy union) of the local simplicial sets.
    local_connectivity : float, default=1.0
        Number of nearest neighbours assumed connected locally.
    repulsion_strength : float, default=1.0
        Weight of the negative samples.
    negative_sample_rate : int or float, default=5
        Negative samples per positive sample. At least 0.
    transform_queue_size : float, default=4.0
        How aggressively ``transform`` searches for neighbours.
    a, b : float or None, default=None
        Positive parameters of the embedding curve, given together; None (both) derives
        them from ``min_dist`` and ``spread``.
    random_state : int, RandomState instance or None, default=None
        Seed; an int makes the embedding reproducible (and single-threaded).
    angular_rp_forest : bool, default=False
        Use an angular random projection forest for the neighbour search.
    target_n_neighbors : int, default=-1
        At least 2, or -1 for ``n_neighbors``. Supervised UMAP only, so no effect here (``y``
        is ignored); kept so that the parameters match ``umap.UMAP``.
    target_metric : str or callable, default="categorical"
        Supervised UMAP only; no effect here.
    target_metric_kwds : dict or None, default=None
        Supervised UMAP only; no effect here.
    target_weight : float, default=0.5
        Supervised UMAP only; no effect here.
    transform_seed : int, RandomState instance or None, default=42
        Seed of ``transform``; an int makes transforming the same data twice give the same
        result.
    transform_mode : {"embedding"}, default="embedding"
        Only "embedding" is supported: this transformer outputs ``n_components`` columns.
    force_approximation_algorithm : bool, default=False
        Use the approximate neighbour search even for small data.
    verbose : bool or int, default=False
        Log progress.
    tqdm_kwds : dict or None, default=None
        Arguments of the tqdm progress bar.
    unique : bool, default=False
        Embed duplicate rows once.
    densmap : bool, default=False
        Use the density-preserving densMAP objective.
    dens_lambda : float, default=2.0
        densMAP: weight of the density term.
    dens_frac : float, default=0.3
        densMAP: fraction of the epochs that use the density term.
    dens_var_shift : float, default=0.1
        densMAP: constant added to the variance of the local radii.
    output_dens : bool, default=False
        Also compute the local radii (``umap_.rad_orig_``, ``umap_.rad_emb_``);
        ``fit_transform`` still returns only the embedding.
    disconnection_distance : float or None, default=None
        Neighbours at this positive distance or farther are disconnected; None means umap's
        default.
    precomputed_knn : tuple, default=(None, None, None)
        Precomputed nearest neighbours ``(indices, distances[, search_index])``.

    Attributes
    ----------
    umap_ : umap.UMAP
        The fitted umap object.
    embedding_ : ndarray of shape (n_samples, n_components)
        Embedding of the training data (float32).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of ``X``, when it has string column names.

    Notes
    -----
    ``transform`` of exactly the training data returns ``embedding_`` (umap's own shortcut),
    so ``fit(X).transform(X)`` equals ``fit_transform(X)``.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skcse.manifold import UMAP
    >>> X, y = make_blobs(n_samples=100, centers=3, random_state=0)
    >>> reducer = UMAP(n_neighbors=10, n_epochs=50, random_state=0, n_jobs=1)
    >>> reducer.fit_transform(X, y).shape  # y is ignored
    (100, 2)
    >>> list(reducer.get_feature_names_out())
    ['umap0', 'umap1']
    """

    # The values umap-learn 0.5 accepts (its _validate_parameters and how it uses each one);
    # metric names are left to umap, which knows its own.
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_neighbors": [Interval(Integral, 2, None, closed="left")],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "metric": [str, callable],
        "metric_kwds": [dict, None],
        "output_metric": [str, callable],
        "output_metric_kwds": [dict, None],
        "n_epochs": [Interval(Integral, 0, None, closed="left"), "array-like", None],
        "learning_rate": [Interval(Real, 0, None, closed="left")],
        "init": [StrOptions({"spectral", "random", "pca", "tswspectral"}), np.ndarray],
        "min_dist": [Interval(Real, 0, None, closed="left")],
        "spread": [Interval(Real, 0, None, closed="neither")],
        "low_memory": ["boolean"],
        "n_jobs": [Options(Integral, {-1}), Interval(Integral, 1, None, closed="left")],
        "set_op_mix_ratio": [Interval(Real, 0, 1, closed="both")],
        "local_connectivity": [Interval(Real, 0, None, closed="left")],
        "repulsion_strength": [Interval(Real, 0, None, closed="left")],
        "negative_sample_rate": [Interval(Real, 0, None, closed="left")],
        "transform_queue_size": [Interval(Real, 0, None, closed="left")],
        "a": [Interval(Real, 0, None, closed="neither"), None],
        "b": [Interval(Real, 0, None, closed="neither"), None],
        "random_state": ["random_state"],
        "angular_rp_forest": ["boolean"],
        "target_n_neighbors": [Options(Integral, {-1}), Interval(Integral, 2, None, closed="left")],
        "target_metric": [str, callable],
        "target_metric_kwds": [dict, None],
        "target_weight": [Interval(Real, 0, 1, closed="both")],
        "transform_seed": ["random_state"],
        "transform_mode": [StrOptions({"embedding"})],
        "force_approximation_algorithm": ["boolean"],
        "verbose": ["verbose"],
        "tqdm_kwds": [dict, None],
        "unique": ["boolean"],
        "densmap": ["boolean"],
        "dens_lambda": [Interval(Real, 0, None, closed="left")],
        "dens_frac": [Interval(Real, 0, 1, closed="both")],
        "dens_var_shift": [Interval(Real, 0, None, closed="left")],
        "output_dens": ["boolean"],
        "disconnection_distance": [Interval(Real, 0, np.inf, closed="right"), None],
        "precomputed_knn": [tuple],
    }

    def __init__(
        self,
        n_neighbors: int = 15,
        n_components: int = 2,
        metric: str | Callable[..., float] = "euclidean",
        metric_kwds: dict[str, Any] | None = None,
        output_metric: str | Callable[..., float] = "euclidean",
        output_metric_kwds: dict[str, Any] | None = None,
        n_epochs: int | None = None,
        learning_rate: float = 1.0,
        init: str | np.ndarray = "spectral",
        min_dist: float = 0.1,
        spread: float = 1.0,
        low_memory: bool = True,
        n_jobs: int = -1,
        set_op_mix_ratio: float = 1.0,
        local_connectivity: float = 1.0,
        repulsion_strength: float = 1.0,
        negative_sample_rate: int = 5,
        transform_queue_size: float = 4.0,
        a: float | None = None,
        b: float | None = None,
        random_state: int | np.random.RandomState | None = None,
        angular_rp_forest: bool = False,
        target_n_neighbors: int = -1,
        target_metric: str | Callable[..., float] = "categorical",
        target_metric_kwds: dict[str, Any] | None = None,
        target_weight: float = 0.5,
        transform_seed: int = 42,
        transform_mode: str = "embedding",
        force_approximation_algorithm: bool = False,
        verbose: bool = False,
        tqdm_kwds: dict[str, Any] | None = None,
        unique: bool = False,
        densmap: bool = False,
        dens_lambda: float = 2.0,
        dens_frac: float = 0.3,
        dens_var_shift: float = 0.1,
        output_dens: bool = False,
        disconnection_distance: float | None = None,
        precomputed_knn: tuple[Any, ...] = (None, None, None),
    ) -> None:
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.metric = metric
        self.metric_kwds = metric_kwds
        self.output_metric = output_metric
        self.output_metric_kwds = output_metric_kwds
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.init = init
        self.min_dist = min_dist
        self.spread = spread
        self.low_memory = low_memory
        self.n_jobs = n_jobs
        self.set_op_mix_ratio = set_op_mix_ratio
        self.local_connectivity = local_connectivity
        self.repulsion_strength = repulsion_strength
        self.negative_sample_rate = negative_sample_rate
        self.transform_queue_size = transform_queue_size
        self.a = a
        self.b = b
        self.random_state = random_state
        self.angular_rp_forest = angular_rp_forest
        self.target_n_neighbors = target_n_neighbors
        self.target_metric = target_metric
        self.target_metric_kwds = target_metric_kwds
        self.target_weight = target_weight
        self.transform_seed = transform_seed
        self.transform_mode = transform_mode
        self.force_approximation_algorithm = force_approximation_algorithm
        self.verbose = verbose
        self.tqdm_kwds = tqdm_kwds
        self.unique = unique
        self.densmap = densmap
        self.dens_lambda = dens_lambda
        self.dens_frac = dens_frac
        self.dens_var_shift = dens_var_shift
        self.output_dens = output_dens
        self.disconnection_distance = disconnection_distance
        self.precomputed_knn = precomputed_knn

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        # umap computes in float32 whatever the input.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    @property
    def _n_features_out(self) -> int:
        # Only defined once fitted: get_feature_names_out checks for it.
        return self.embedding_.shape[1]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> UMAP:
        """Learn the embedding of ``X`` without supervision.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite numeric features, e.g. sentence embeddings.
        y : object, default=None
            Ignored, whatever it is, so that labels never reach umap.

        Returns
        -------
        self : UMAP
            The fitted estimator.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            If a parameter has an invalid type or value, e.g. ``transform_mode`` other than
            "embedding" (a subclass of both ValueError and TypeError; the message names the
            parameter).
        ValueError
            If ``X`` is invalid or has fewer than 3 samples, ``init`` cannot lay them out (an
            array not of shape ``(n_samples, n_components)``, a spectral layout with fewer
            than ``n_components + 2`` samples, PCA with fewer than ``n_components``), or umap
            refuses the combination of parameters (e.g. ``min_dist > spread``, or an unknown
            metric name), or only one of ``a`` and ``b`` is given.
        """
        umap = _umap()
        # umap's random layout needs 3 points; with fewer it fails in its own internals.
        X = validate_data(self, X, ensure_min_samples=3)
        if (self.a is None) != (self.b is None):
            # umap derives both from min_dist and spread when either is None.
            raise ValueError(
                f"a={self.a} and b={self.b}: give both, or neither (None derives them from "
                "min_dist and spread); umap would ignore the one given."
            )
        self._check_init(X.shape[0])
        params = self.get_params()
        for name, value in params.items():
            if isinstance(value, dict):
                # umap adds keys to tqdm_kwds in place: a copy keeps the parameter as set.
                params[name] = dict(value)
            elif isinstance(value, np.generic):
                # umap checks isinstance(value, int | float), which a grid's numpy values fail.
                params[name] = value.item()
        if params["random_state"] is not None:
            # umap runs seeded fits on one thread anyway, and warns about it on every fit.
            params["n_jobs"] = 1
        # y is deliberately not passed: with y, umap.UMAP becomes supervised.
        self.umap_ = umap.UMAP(**params).fit(X)
        if self.umap_.n_epochs_list is not None:
            # umap's transform divides n_epochs by 3 and fails on a list; fit ran the greatest.
            self.umap_.n_epochs = max(self.umap_.n_epochs_list)
        self.embedding_ = self.umap_.embedding_
        return self

    def _check_init(self, n_samples: int) -> None:
        """Refuse an ``init`` that cannot lay out ``n_samples`` points, before umap fails on it.

        A spectral layout needs ``n_components + 2`` points and PCA ``n_components``; an
        array of the wrong shape would make umap write outside its memory.
        """
        init, n_components = self.init, self.n_components
        if isinstance(init, np.ndarray):
            if init.shape != (n_samples, n_components):
                raise ValueError(
                    f"init is an array of shape {init.shape}; it must be (n_samples, "
                    f"n_components) = ({n_samples}, {n_components})."
                )
            return
        spectral = n_components + 2
        needed = {"spectral": spectral, "tswspectral": spectral, "pca": n_components}
        if n_samples < needed.get(init, 0):
            raise ValueError(
                f"init={init!r} with n_components={n_components} needs at least "
                f"{needed[init]} samples; got {n_samples}. Use init='random' or fewer "
                "n_components."
            )

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit on ``X`` (ignoring ``y``) and return its embedding.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite numeric features.
        y : object, default=None
            Ignored.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            A copy of ``embedding_``.
        """
        return self.fit(X).embedding_.copy()

    def transform(self, X: Any) -> np.ndarray:
        """Place points in the fitted embedding.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite numeric features with the columns seen in ``fit``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            The embedding; ``embedding_`` (copied) if ``X`` is the training data.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            If a parameter was set to an invalid value after ``fit``, e.g. by ``set_params``
            (the message names the parameter).
        """
        check_is_fitted(self)
        self._validate_params()
        X = validate_data(self, X, reset=False)
        _umap()  # an unpickled umap_ imported umap without its compiled code cached
        # umap returns embedding_ itself for the training data; a copy keeps it safe from
        # in-place changes downstream.
        return np.array(self.umap_.transform(X), copy=True)


@functools.cache
def _umap() -> ModuleType:
    """Import umap after torch, with umap's compiled numba code kept on disk.

    umap declares its numba functions without ``cache=True``, so each new process compiled them
    again: 12 s before its first fit and 4 s before its first transform (2 cores). They are
    given the on-disk cache that pynndescent's functions have. numba keeps the code beside
    umap's sources, or in its user-wide folder where those are read-only (``NUMBA_CACHE_DIR``
    overrides both), and compiles again when umap's files change.
    """
    # torch first: numba's OpenMP layer (run by umap) loads the system libgomp under the
    # soname torch's own libgomp has, and a torch loaded later then runs on it, which made
    # SimCSEEncoder 40x slower on a 2-core machine for the rest of the process.
    import torch  # noqa: F401
    import umap
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    for name, module in list(sys.modules.items()):
        if name != "umap" and not name.startswith("umap."):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, CPUDispatcher) and isinstance(
                getattr(value, "_cache", None), NullCache
            ):
                try:
                    value.enable_caching()
                except RuntimeError:  # numba found no writable folder: compile as before
                    return umap
    return umap
