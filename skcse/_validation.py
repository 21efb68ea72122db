"""Checks and helpers shared by the skcse estimators: texts, parameter options, warnings.

Nothing here imports torch, so validation errors come fast and ``import skcse`` stays light.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
from collections.abc import Iterable, KeysView, Sequence, ValuesView
from typing import Any

import numpy as np

__all__ = [
    "AUGMENTATIONS",
    "BACKENDS",
    "POOLINGS",
    "PRECISIONS",
    "check_labels",
    "check_texts",
    "user_stacklevel",
]

# The options of SimCSEEncoder's string parameters, here so that its parameter constraints
# need no torch import.
AUGMENTATIONS = ("dropout", "crop", "delete")
POOLINGS = ("mean", "cls", "max")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
BACKENDS = ("torch", "onnx", "openvino")


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
        If ``X`` is a single string, not a sequence, an unordered container (a set or a
        dict), or holds an element that is not a ``str`` (the message names the index and
        the type).
    ValueError
        If ``X`` is empty, does not have exactly one column, or holds None, NaN or a text that
        is not valid Unicode (the message names the index).
    """
    if isinstance(X, str | bytes):
        raise TypeError(
            f"{name} must be a sequence of texts, got a single {type(X).__name__}; "
            f"wrap it in a list: [{name}]."
        )
    # pandas is optional at this point: detect its containers by duck typing.
    if hasattr(X, "iloc") and hasattr(X, "columns"):
        if X.shape[1] != 1:
            columns = list(X.columns)
            pick = f", e.g. X[{columns[0]!r}] if it holds the texts" if columns else ""
            raise ValueError(
                f"{name} must be a single column of texts, got a DataFrame with "
                f"{X.shape[1]} columns {columns[:5]}; select one column{pick}."
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
    elif isinstance(X, set | frozenset | dict | KeysView | ValuesView):
        # Their order is arbitrary (it changes with PYTHONHASHSEED): rows would not match texts.
        raise TypeError(
            f"{name} must be an ordered sequence of texts, got a {type(X).__name__}, whose "
            "order is arbitrary; pass a list, e.g. sorted(...)."
        )
    elif isinstance(X, Iterable):
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
    try:
        "".join(texts).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (e.g. half of a cut emoji) cannot reach the tokenizer.
        for i, text in enumerate(texts):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(
                    f"{name}[{i}] is not valid Unicode: {text[exc.start : exc.end]!r} at "
                    f"position {exc.start} is a lone surrogate (half of a character); "
                    f"fix or drop it, e.g. text.encode('utf-8', 'replace').decode()."
                ) from None
    return texts


def check_labels(labels: Any, n_samples: int, *, samples: str = "points") -> np.ndarray:
    """Check cluster labels: 1-D, one per sample, none missing, not strings mixed with numbers.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        A cluster per sample, -1 for noise.
    n_samples : int
        How many samples there are.
    samples : str, default="points"
        What the samples are called in the messages, e.g. "texts".

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        The labels as numpy gives them.

    Raises
    ------
    ValueError
        If ``labels`` is not 1-D, differs from ``n_samples`` in length, has a missing value
        (None, NaN, pandas' NA) or mixes strings with numbers.
    """
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"labels must be 1-D; got shape {array.shape}.")
    if len(array) != n_samples:
        raise ValueError(f"labels has {len(array)} entries but there are {n_samples} {samples}.")
    if array.dtype.kind in "fc":
        missing = np.flatnonzero(np.isnan(array)).tolist()
    elif array.dtype.kind in "OUS":
        # numpy writes the numbers and NaNs of a mixed list as strings ("0", "nan"): judge
        # the values as given.
        values = np.asarray(labels, dtype=object).tolist()
        missing = [i for i, value in enumerate(values) if _is_missing(value)]
        if not missing and len({isinstance(value, str) for value in values}) > 1:
            raise ValueError(
                "labels mix strings with numbers, which cannot be sorted together; use one "
                "type (noise is the number -1, or name it as a string too)."
            )
    else:
        missing = []
    if missing:
        raise ValueError(
            f"labels has {len(missing)} missing values (the first at position {missing[0]}); "
            "give every sample a cluster, -1 for noise."
        )
    return array


def user_stacklevel() -> int:
    """Return the ``stacklevel`` that makes a warning point at the user's own code.

    Call it in the function that warns. The frames of skcse, scikit-learn (its ``_fit_context``
    wrapper, a Pipeline, a search), joblib (which a Pipeline calls its steps through) and the
    training libraries (sentence-transformers, transformers, accelerate, torch) are skipped,
    so that the warning names the line that called ``fit``, however deep.

    Returns
    -------
    int
        The ``stacklevel`` for :func:`warnings.warn` in the caller.
    """
    import joblib
    import sklearn

    # Training warns from within the Trainer of sentence-transformers and transformers.
    libraries = ("skcse", "sentence_transformers", "transformers", "accelerate", "torch")
    inside = tuple(
        os.path.dirname(module.__file__) + os.sep
        for module in (*(sys.modules.get(name) for name in libraries), sklearn, joblib)
        if module is not None
    )
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    return level
