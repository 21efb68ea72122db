"""Input and parameter validation shared by the skcse estimators.

Nothing here imports torch, so validation errors come fast and ``import skcse`` stays light.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["check_keep_range", "check_param", "check_texts"]


def _is_missing(value: Any) -> bool:
    # pandas' NA and NaT have no common base class with float NaN.
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, numbers.Real) and math.isnan(value)


def check_texts(X: Any, *, name: str = "X") -> list[str]:
    """Turn the accepted text containers into a list of ``str``.

    Parameters
    ----------
    X : list or tuple of str, 1-D numpy array, pandas Series or one-column DataFrame
        The texts. A 2-D array or DataFrame with exactly one column is accepted so that the
        encoder works after a ``ColumnTransformer``.
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    texts : list of str
        The texts, in input order.

    Raises
    ------
    TypeError
        If ``X`` is a single string, not a sequence, or holds an element that is not a ``str``
        (the message names the index and the type).
    ValueError
        If ``X`` is empty, has more than one column, or holds None or NaN (the message names
        the index).
    """
    if isinstance(X, str | bytes):
        raise TypeError(
            f"{name} must be a sequence of texts, got a single {type(X).__name__}; "
            f"wrap it in a list: [{name}]."
        )
    # pandas is optional at this point: detect its containers by duck typing.
    if hasattr(X, "iloc") and hasattr(X, "columns"):
        if X.shape[1] != 1:
            raise ValueError(
                f"{name} must be a single column of texts, got a DataFrame with "
                f"{X.shape[1]} columns {list(X.columns)[:5]}; select one column, e.g. "
                f"X[{list(X.columns)[0]!r}] if it holds the texts."
            )
        values: Sequence[Any] = X.iloc[:, 0].tolist()
    elif hasattr(X, "iloc"):
        values = X.tolist()
    elif isinstance(X, np.ndarray):
        if X.ndim == 2:
            if X.shape[1] != 1:
                raise ValueError(
                    f"{name} must be a single column of texts, got a 2-D array with shape "
                    f"{X.shape}."
                )
            X = X[:, 0]
        elif X.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got an array with shape {X.shape}.")
        values = X.tolist()
    elif isinstance(X, list | tuple):
        values = X
    elif isinstance(X, Iterable) and not isinstance(X, dict):
        values = list(X)
    else:
        raise TypeError(
            f"{name} must be a list or tuple of str, a 1-D numpy array, a pandas Series or a "
            f"one-column DataFrame, got {type(X).__name__}."
        )
    if len(values) == 0:
        raise ValueError(f"{name} is empty: at least one text is required.")
    texts: list[str] = []
    for i, value in enumerate(values):
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, np.str_):
            texts.append(str(value))
        elif _is_missing(value):
            raise ValueError(
                f"{name}[{i}] is {value!r}: missing texts are not allowed; drop them or fill "
                "them with a string first."
            )
        else:
            raise TypeError(
                f"{name}[{i}] must be a str, got {type(value).__name__} ({value!r:.60})."
            )
    return texts


def check_param(
    name: str,
    value: Any,
    *,
    kind: type | tuple[type, ...] | None = None,
    options: Iterable[Any] | None = None,
    low: float | None = None,
    low_inclusive: bool = True,
    high: float | None = None,
    allow_none: bool = False,
) -> None:
    """Check one estimator parameter and raise an error that names it.

    Parameters
    ----------
    name : str
        Parameter name, used in the message.
    value : object
        The value to check.
    kind : type or tuple of types, optional
        Accepted types. ``numbers.Integral`` and ``numbers.Real`` exclude ``bool``.
    options : iterable, optional
        The accepted values, for string options.
    low, high : float, optional
        Bounds. ``high`` is inclusive; ``low`` is inclusive unless ``low_inclusive=False``.
    allow_none : bool, default=False
        Whether None is accepted.

    Raises
    ------
    TypeError
        If ``value`` has the wrong type.
    ValueError
        If ``value`` is not an accepted option or lies out of bounds.
    """
    if value is None:
        if allow_none:
            return
        raise ValueError(f"{name} must not be None.")
    if options is not None:
        options = list(options)
        if value not in options:
            raise ValueError(f"{name} must be one of {options}, got {value!r}.")
        return
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int to Python, but True is no valid batch size.
    is_stray_bool = isinstance(value, bool | np.bool_) and bool not in kinds
    if kind is not None and (is_stray_bool or not isinstance(value, kind)):
        names = " or ".join(
            {numbers.Integral: "an int", numbers.Real: "a real number"}.get(k, k.__name__)
            for k in kinds
        )
        raise TypeError(f"{name} must be {names}, got {type(value).__name__} ({value!r}).")
    if isinstance(value, numbers.Real) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    if low is not None and (value < low or (not low_inclusive and value == low)):
        sign = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {sign} {low}, got {value!r}.")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}.")


def check_keep_range(value: Any, name: str = "keep_range") -> None:
    """Check a ``(low, high)`` pair of word fractions with ``0 < low <= high <= 1``.

    Raises
    ------
    TypeError
        If ``value`` is not a pair of real numbers.
    ValueError
        If a bound lies outside (0, 1] or ``low > high``.
    """
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError(f"{name} must be a pair (low, high) of fractions, got {value!r}.")
    low, high = value
    check_param(f"{name}[0]", low, kind=numbers.Real, low=0, low_inclusive=False, high=1)
    check_param(f"{name}[1]", high, kind=numbers.Real, low=0, low_inclusive=False, high=1)
    if low > high:
        raise ValueError(f"{name} must have low <= high, got {value!r}.")
