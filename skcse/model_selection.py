"""Cross-validation helpers for tuning clusterings: :class:`InSampleSplit`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.utils import indexable

__all__ = ["InSampleSplit"]


class InSampleSplit:
    """A single "split" that trains and tests on all samples.

    With ``cv=InSampleSplit()``, GridSearchCV or RandomizedSearchCV fits each candidate on the
    whole corpus and scores it on that same corpus, which is how clustering hyperparameters
    are usually chosen against known topics (the reference study does so).

    .. warning::
        This is **in-sample** evaluation: the scores measure how well a configuration fits
        this corpus, not how well it generalizes to new texts, and they are optimistic when
        a step can see ``y`` (use ``skcse.manifold.UMAP``, which ignores it). Use a real
        splitter such as ``KFold`` to estimate generalization.

    Examples
    --------
    >>> import numpy as np
    >>> from skcse.model_selection import InSampleSplit
    >>> [(train.tolist(), test.tolist()) for train, test in InSampleSplit().split(np.zeros((3, 2)))]
    [([0, 1, 2], [0, 1, 2])]
    """

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield the indices of all samples, once, as both train and test set.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            The data; only its length is used. A list of texts works.
        y : object, default=None
            Ignored.
        groups : object, default=None
            Ignored.

        Yields
        ------
        train : ndarray of shape (n_samples,)
            ``0, 1, ..., n_samples - 1``.
        test : ndarray of shape (n_samples,)
            The same indices (a separate array).
        """
        (X,) = indexable(X)
        indices = np.arange(X.shape[0] if hasattr(X, "shape") else len(X))
        yield indices, indices.copy()

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Return the number of splits, 1.

        Parameters
        ----------
        X, y, groups : object, default=None
            Ignored.

        Returns
        -------
        n_splits : int
            Always 1.
        """
        return 1

    def __repr__(self) -> str:
        return "InSampleSplit()"
