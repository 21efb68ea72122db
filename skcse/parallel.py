"""Embed corpora larger than memory with dask: :func:`transform_dask`.

:func:`transform_dask` runs a fitted encoder's ``transform`` partition by partition over a
``dask.bag.Bag`` or a ``dask.dataframe`` of texts and returns a lazy ``dask.array.Array``: a
worker holds one partition of texts and vectors at a time, so a corpus larger than memory can
be embedded and written to disk block by block. With an active ``dask.distributed`` client
the encoder is sent to every worker once, before any partition is processed; without one the
local scheduler holds it as a single key of the graph.

dask-ml's ``ParallelPostFit`` is not used: it passes the estimator as a literal argument of
every partition's task, so a model of some hundred megabytes would be serialized again for
each partition; it infers the output by transforming an empty partition, which
``SimCSEEncoder`` rejects; it takes no ``dask.bag``; and it would add a dependency for what
is one ``scatter`` and one mapped function here.

dask is an optional dependency (``pip install 'skcse[distributed]'``) and is imported only
when :func:`transform_dask` is called.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:  # dask stays optional: the annotations are never evaluated at run time
    import dask.array
    import dask.bag
    import dask.dataframe

__all__ = ["transform_dask"]

_INSTALL_HINT = "pip install 'skcse[distributed]'"

# One transform at a time in a process: torch already spreads a batch over the cores, so
# partitions transformed side by side in threads would only hold more memory.
_TRANSFORM_LOCK = threading.Lock()


def _import_dask() -> tuple[Any, Any, Any, Any]:
    """Return the modules ``dask``, ``dask.array``, ``dask.bag`` and ``dask.dataframe``."""
    try:
        import dask
        import dask.array as da
        import dask.bag as db
        import dask.dataframe as dd
    except ImportError as exc:
        raise ImportError(
            f"skcse.parallel needs dask with its array, bag and dataframe parts: {_INSTALL_HINT}"
        ) from exc
    return dask, da, db, dd


def _active_client() -> Any:
    """Return the default ``dask.distributed`` client, or None when there is none."""
    # No client can exist unless distributed was imported, and importing it costs a second.
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.default_client()
    except ValueError:
        return None


def _output_width(estimator: Any) -> int:
    """Return the number of columns that ``estimator.transform`` returns."""
    width = getattr(estimator, "n_features_out_", None)
    if width is None:
        try:
            width = len(estimator.get_feature_names_out())
        except (AttributeError, TypeError, ValueError) as exc:
            raise TypeError(
                f"Cannot tell how many columns {type(estimator).__name__}.transform returns: it "
                "has neither n_features_out_ nor a working get_feature_names_out()."
            ) from exc
    return int(width)


def _transform_partition(estimator: Any, partition: Any, width: int) -> np.ndarray:
    """Transform one partition of texts into a float32 block of ``width`` columns."""
    # A bag partition may be a lazy iterator; pandas partitions are passed as they are, so the
    # estimator sees what it would see for the whole collection computed in memory.
    if not hasattr(partition, "iloc"):
        partition = list(partition)
    # Filters leave empty partitions behind, and SimCSEEncoder.transform rejects empty input.
    if len(partition) == 0:
        return np.empty((0, width), dtype=np.float32)
    with _TRANSFORM_LOCK:
        block = np.asarray(estimator.transform(partition), dtype=np.float32)
    if block.shape != (len(partition), width):
        raise ValueError(
            f"{type(estimator).__name__}.transform returned shape {block.shape} for "
            f"{len(partition)} texts; expected ({len(partition)}, {width})."
        )
    return block


def transform_dask(
    estimator: Any, X: dask.bag.Bag | dask.dataframe.Series | dask.dataframe.DataFrame
) -> dask.array.Array:
    """Embed a dask collection of texts partition by partition, lazily.

    Parameters
    ----------
    estimator : SimCSEEncoder or another fitted transformer
        Fitted, with a ``transform`` that returns a 2-D float array and either
        ``n_features_out_`` or ``get_feature_names_out()`` to tell its width. A Pipeline
        ending in a transformer works too.
    X : dask.bag.Bag, dask.dataframe.Series or one-column dask.dataframe.DataFrame
        The texts. Each bag partition is passed to ``transform`` as a list, each dataframe
        partition as the pandas object it is.

    Returns
    -------
    embeddings : dask.array.Array of shape (n_texts, width), dtype float32
        One block per partition of ``X``, in order, each holding all ``width`` columns. The
        number of rows of each block is unknown (NaN) until computed. Nothing is computed by
        this call. ``compute()`` gathers every vector in memory; to keep a larger corpus on
        disk, write it block by block, e.g. with ``dask.array.to_npy_stack(folder,
        embeddings)``.

    Raises
    ------
    ImportError
        If dask is not installed; the message gives the command that installs it.
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    TypeError
        If ``estimator`` has no ``transform`` or no known output width, or ``X`` is not one of
        the accepted dask collections (the message names its type).
    ValueError
        If ``X`` is a DataFrame with other than one column.

    Notes
    -----
    With an active ``dask.distributed`` client (``distributed.default_client()``), the
    fitted estimator is scattered to every worker during this call and the tasks depend on
    that copy, so a worker receives it once, however many partitions it processes. dask's
    active memory manager drops the copies that no pending task needs (between this call
    and ``compute()``, or after a computation); a worker then fetches the estimator again
    from a peer, once per computation. The copies are released when the returned array is
    garbage-collected. Without a client, the graph holds the estimator under one key, which
    the threaded scheduler shares among its threads; dask's "processes" scheduler would
    send it along with every partition, so for several processes start a
    ``distributed.LocalCluster`` instead.

    A process transforms one partition at a time, whatever its number of threads: torch
    already spreads a batch over the cores, so more at once would only take more memory.
    Each worker thus holds a whole copy of the model and about one
    partition of texts and vectors per thread: choose partitions small enough for that. One
    thread per worker process and one process per core suit torch, which dask's workers
    start with ``OMP_NUM_THREADS=1``.
    They also start with ``MALLOC_TRIM_THRESHOLD_=65536``, which made the workers embed
    reviews 1.34 times slower on a CPU (``benchmarks/bench_dask.py``); creating the cluster
    under ``dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_":
    None})`` leaves it unset, for about a fifth more peak memory per worker.

    Examples
    --------
    >>> import dask.bag as db
    >>> from skcse import SimCSEEncoder
    >>> from skcse.parallel import transform_dask
    >>> texts = ["a red apple", "a green pear", "the cat sleeps", "dogs bark loudly"]
    >>> encoder = SimCSEEncoder(epochs=0).fit(texts)
    >>> embeddings = transform_dask(encoder, db.from_sequence(texts, npartitions=2))
    >>> embeddings.chunks
    ((nan, nan), (384,))
    >>> embeddings.compute().shape
    (4, 384)
    """
    dask, da, db, dd = _import_dask()
    if not hasattr(estimator, "transform"):
        raise TypeError(f"estimator must have a transform method, got {type(estimator).__name__}.")
    check_is_fitted(estimator)
    width = _output_width(estimator)
    if isinstance(X, dd.DataFrame):
        if len(X.columns) != 1:
            raise ValueError(
                f"X must be a single column of texts, got a dask DataFrame with "
                f"{len(X.columns)} columns {list(X.columns)[:5]}; select the column of texts, "
                "e.g. X['text']."
            )
    elif not isinstance(X, db.Bag | dd.Series):
        raise TypeError(
            "X must be a dask.bag.Bag, a dask.dataframe.Series or a one-column "
            f"dask.dataframe.DataFrame of texts, got {type(X).__module__}.{type(X).__name__}."
            " For texts in memory, call estimator.transform(X) directly."
        )
    client = _active_client()
    if client is not None:
        # hash=False: a content hash would pickle the whole model a second time.
        shared = client.scatter(estimator, broadcast=True, hash=False)
    else:
        # pure=False names the key by a uuid instead of hashing the model's pickle.
        shared = dask.delayed(estimator, pure=False, traverse=False)
    transform = dask.delayed(_transform_partition, pure=True)
    meta = np.empty((0, width), dtype=np.float32)
    blocks = [
        da.from_delayed(
            transform(shared, partition, width), shape=(np.nan, width), dtype=np.float32, meta=meta
        )
        for partition in X.to_delayed()
    ]
    return da.concatenate(blocks, axis=0)
