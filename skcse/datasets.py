"""Loader for the Amazon product reviews that skcse embeddings are judged on.

The reviews come from the Kaggle data set "hierarchical text classification" (kashnitsky):
each review has a text and a three-level product category (``Cat1``: 6 classes, ``Cat2``:
64, ``Cat3``: several hundred). Clustering the embeddings of the texts and comparing the
clusters with a category level is how the SimCSE experiment judges an encoder.

The file is looked up locally first and downloaded (``train_40k.csv``, about 40,000 reviews)
only when no local copy is found; see :func:`load_amazon_reviews` for the order.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import numbers
import os
import socket
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch

from skcse._io import apply_umask, read_table

__all__ = [
    "AMAZON_REVIEWS_FILENAME",
    "AMAZON_REVIEWS_URL",
    "DownloadError",
    "get_data_home",
    "load_amazon_reviews",
]

AMAZON_REVIEWS_URL = "https://zenodo.org/record/6657410/files/train_40k.csv"
AMAZON_REVIEWS_FILENAME = "train_40k.csv"

_DATA_ENV = "SKCSE_DATA"
_DATA_HOME_ENV = "SKCSE_DATA_HOME"
_TEXT = "Text"
_LEVELS = (1, 2, 3)
# Passed to sklearn.datasets.fetch_file: tries after a network error, and seconds between them.
_RETRIES = 2
_RETRY_DELAY = 1.0
# Seconds a download socket waits for data before it gives up; not a limit on the whole file.
_TIMEOUT = 60

_logger = logging.getLogger(__name__)


class DownloadError(OSError):
    """The reviews could not be downloaded; the message says how to use a local copy."""


def get_data_home(data_home: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder where downloaded data sets are kept.

    The folder is not created here; a download creates it.

    Parameters
    ----------
    data_home : str, path-like or None, default=None
        The folder. None uses the environment variable ``SKCSE_DATA_HOME`` if it is set and
        not empty, else ``~/skcse_data``.

    Returns
    -------
    data_home : pathlib.Path
        The folder, with ``~`` expanded, as an absolute path.

    Examples
    --------
    >>> from skcse.datasets import get_data_home
    >>> get_data_home("/tmp/skcse_data").as_posix()
    '/tmp/skcse_data'
    """
    if data_home is None:
        data_home = os.environ.get(_DATA_HOME_ENV) or Path("~") / "skcse_data"
    return Path(data_home).expanduser().absolute()


def load_amazon_reviews(
    path: str | os.PathLike[str] | None = None,
    *,
    level: int = 1,
    n_samples: int | None = None,
    random_state: int | np.random.RandomState | None = None,
    return_X_y: bool = False,
    download: bool = True,
    data_home: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> Bunch | tuple[list[str], np.ndarray]:
    """Load the Amazon product reviews with one level of their category as the target.

    The file is a CSV with the columns ``Text`` and ``Cat1``, ``Cat2``, ``Cat3``; other
    columns (such as ``Title``) are kept in ``frame`` but not used. Only ``Text`` and the
    target column are required. It is looked up in this order:

    1. ``path``, if given (it is never downloaded over);
    2. the file named by the environment variable ``SKCSE_DATA``, if set and not empty;
    3. ``train_40k.csv`` in the data home (see :func:`get_data_home`), downloaded from
       :data:`AMAZON_REVIEWS_URL` if missing and ``download=True``.

    Rows whose text or target is empty or only whitespace are dropped before anything else;
    ``DESCR`` says how many.

    Parameters
    ----------
    path : str, path-like or None, default=None
        A local reviews CSV. It takes precedence over ``SKCSE_DATA`` and the data home.
    level : {1, 2, 3}, default=1
        Which category column is the target: ``Cat1`` (6 classes), ``Cat2`` or ``Cat3``.
    n_samples : int or None, default=None
        If set, return this many rows, drawn without replacement and stratified by the
        target so that each class keeps its share (to within one row). Classes with a single
        row cannot be stratified; they are pooled into one stratum (a lone such row joins the
        largest class). If ``n_samples``, or the number of rows left out, is smaller than the
        number of strata, stratification is impossible and a plain random sample is drawn
        with a ``UserWarning``. The rows keep their file order. None returns every row.
    random_state : int, RandomState instance or None, default=None
        Seed of the subsample when ``n_samples`` is set; the same int gives the same rows.
    return_X_y : bool, default=False
        If True, return ``(texts, target)`` instead of a Bunch.
    download : bool, default=True
        Whether to download ``train_40k.csv`` into the data home when it is missing there.
        It is only consulted when neither ``path`` nor ``SKCSE_DATA`` is set.
    data_home : str, path-like or None, default=None
        Folder of the downloaded file; see :func:`get_data_home`.
    progress : bool or None, default=None
        Whether to say on stderr when a download starts and ends. None says it only when
        stderr is a terminal; True always, False never.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : list of str
            The review texts.
        target : ndarray of shape (n_samples,), dtype object
            The category name (``str``) of each text at the chosen level.
        target_names : list of str
            The distinct categories of ``target``, sorted.
        frame : pandas.DataFrame
            The selected rows with all their columns, index reset.
        DESCR : str
            Description of the data set and of this selection.
        path : pathlib.Path
            The file the reviews were read from.
    (texts, target) : tuple of list of str and ndarray
        Returned instead when ``return_X_y=True``.

    Raises
    ------
    FileNotFoundError
        If ``path`` or ``SKCSE_DATA`` names a file that does not exist, or if the file is
        missing from the data home and ``download=False``.
    IsADirectoryError
        If ``path``, or the file's place in the data home, is a folder rather than a file.
    NotADirectoryError
        If the data home is a file.
    DownloadError
        If the download fails (offline, HTTP error, truncated, damaged or not the reviews
        CSV: the whole file is read before it is kept). It is an ``OSError``; nothing is left
        under the final file name. A server that closes early without announcing the length
        cannot be told from one that sent everything, if the cut falls between rows.
    ValueError
        If ``level`` is not 1, 2 or 3, ``n_samples`` is not a positive int or exceeds the
        number of usable rows, or the file is empty, not a CSV, lacks a required column or
        has no usable row.

    Examples
    --------
    >>> from skcse.datasets import load_amazon_reviews
    >>> reviews = load_amazon_reviews(n_samples=2000, random_state=0)  # doctest: +SKIP
    >>> len(reviews.data), reviews.target_names[:2]  # doctest: +SKIP
    (2000, ['baby products', 'beauty'])
    >>> texts, y = load_amazon_reviews(level=2, return_X_y=True)  # doctest: +SKIP
    """
    # Check the cheap parameters before touching the disk or the network.
    if isinstance(level, bool) or not isinstance(level, numbers.Integral) or level not in _LEVELS:
        raise ValueError(f"level must be 1, 2 or 3 (for Cat1, Cat2, Cat3), got {level!r}.")
    if n_samples is not None and (
        isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1
    ):
        raise ValueError(f"n_samples must be a positive int or None, got {n_samples!r}.")
    target_col = f"Cat{int(level)}"

    file = _locate(path, data_home=data_home, download=download, progress=progress)
    # The reader of the command line too: every row, as strings, "NA" kept as a text.
    try:
        frame = read_table(file, (_TEXT, target_col), kind="csv")
    except ValueError as exc:
        if file != get_data_home(data_home) / AMAZON_REVIEWS_FILENAME:
            raise
        # A download is checked before it is kept, so the cached copy changed since.
        raise type(exc)(f"{exc} Delete {file} to download it again.") from None

    n_read = len(frame)
    # A text or label that is only whitespace carries no information either.
    usable = frame[[_TEXT, target_col]].apply(lambda col: col.str.strip().fillna("").ne(""))
    frame = frame[usable.all(axis=1)]
    n_usable = len(frame)
    if frame.empty:
        raise ValueError(
            f"{file} has {n_read} rows but none with both a {_TEXT!r} and a {target_col!r}."
        )

    if n_samples is not None:
        if n_samples > len(frame):
            raise ValueError(
                f"n_samples={n_samples} is larger than the {len(frame)} usable rows of {file}."
            )
        rows = _subsample(frame[target_col].to_numpy(dtype=object), int(n_samples), random_state)
        frame = frame.iloc[rows]
    frame = frame.reset_index(drop=True)

    texts = [str(t) for t in frame[_TEXT]]
    target = frame[target_col].to_numpy(dtype=object)
    if return_X_y:
        return texts, target
    target_names = sorted(set(target))
    descr = _describe(file, target_col, n_read, n_usable, len(frame), len(target_names))
    return Bunch(
        data=texts,
        target=target,
        target_names=target_names,
        frame=frame,
        DESCR=descr,
        path=file,
    )


def _describe(
    file: Path, target_col: str, n_read: int, n_usable: int, n_selected: int, n_classes: int
) -> str:
    return (
        "Amazon product reviews with hierarchical categories\n"
        "---------------------------------------------------\n\n"
        "Product reviews from the Kaggle data set 'hierarchical text classification' "
        "(kashnitsky). Each row has a review 'Text' and three category levels: 'Cat1' "
        "(6 classes), 'Cat2' and 'Cat3'. The texts are the data; the target is "
        f"{target_col!r}.\n\n"
        f"File: {file}\n"
        f"Rows read: {n_read}; dropped for an empty Text or {target_col}: {n_read - n_usable}.\n"
        f"Selected: {n_selected} rows in {n_classes} classes.\n"
    )


def _locate(
    path: str | os.PathLike[str] | None,
    *,
    data_home: str | os.PathLike[str] | None,
    download: bool,
    progress: bool | None,
) -> Path:
    """Find the reviews file, downloading it into the data home if allowed."""
    if path is not None:
        file = Path(path).expanduser()
        if not file.exists():
            raise FileNotFoundError(f"The reviews file given as path={str(path)!r} does not exist.")
        if not file.is_file():
            raise IsADirectoryError(
                f"path={str(path)!r} is not a file; to use a folder for downloads, pass "
                "data_home= instead."
            )
        return file

    env = os.environ.get(_DATA_ENV)
    if env:
        file = Path(env).expanduser()
        if not file.is_file():
            raise FileNotFoundError(
                f"The environment variable {_DATA_ENV} is set to {env!r}, but no such file "
                f"exists. Point it at the reviews CSV (e.g. {AMAZON_REVIEWS_FILENAME}) or unset "
                "it to use the data home."
            )
        return file

    file = get_data_home(data_home) / AMAZON_REVIEWS_FILENAME
    if file.is_file():
        return file
    if file.exists():
        raise IsADirectoryError(
            f"{file} is a folder, where the downloaded reviews file belongs; move it away."
        )
    if file.parent.exists() and not file.parent.is_dir():
        raise NotADirectoryError(
            f"The data home {file.parent} is a file, not a folder; set {_DATA_HOME_ENV} or "
            "pass data_home= to name a folder."
        )
    if not download:
        raise FileNotFoundError(
            f"{file} does not exist and download=False. Pass download=True to fetch it from "
            f"{AMAZON_REVIEWS_URL}, or point at a local copy with path=... or the {_DATA_ENV} "
            "environment variable."
        )
    _download(AMAZON_REVIEWS_URL, file, progress=progress)
    return file


def _download_error(url: str, dest: Path, reason: object) -> DownloadError:
    return DownloadError(
        f"Downloading the Amazon reviews from {url} failed ({reason}). If you are offline, "
        f"get {AMAZON_REVIEWS_FILENAME} another way and pass path='/path/to/"
        f"{AMAZON_REVIEWS_FILENAME}', set the {_DATA_ENV} environment variable to that file, "
        f"or put it at {dest}."
    )


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    # fetch_file has no timeout of its own, and a stalled server would hang it forever; the
    # default timeout of new sockets is the only handle on its connection.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _download(url: str, dest: Path, *, progress: bool | None) -> None:
    """Download ``url`` to ``dest`` with ``sklearn.datasets.fetch_file``: complete or absent."""
    from sklearn.datasets import fetch_file

    if progress is None:
        progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
    say = (lambda line: print(line, file=sys.stderr, flush=True)) if progress else _logger.info
    say(f"Downloading {url} to {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # fetch_file moves a complete download to its final name; fetching into a folder of its
    # own keeps the file from the final name until it has passed the check below.
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as staging:
        try:
            with warnings.catch_warnings(), _socket_timeout(_TIMEOUT):
                # Each retry warns; the DownloadError says what finally failed.
                warnings.filterwarnings("ignore", message="Retry downloading")
                # No sha256: no checksum of train_40k.csv is known (it could not be downloaded
                # where this was written); the check of its header stands in for one.
                fetched = fetch_file(
                    url,
                    folder=staging,
                    local_filename=dest.name,
                    n_retries=_RETRIES,
                    delay=_RETRY_DELAY,
                )
        # URLError, HTTPError and ContentTooShortError (a truncated body) are OSErrors.
        except (OSError, http.client.HTTPException) as exc:
            raise _download_error(url, dest, exc) from exc
        # A captive portal or error page can answer 200 with HTML; do not keep that as data.
        with open(fetched, "rb") as handle:
            header = handle.readline(4096).decode("utf-8", errors="replace")
        header = header.lstrip("\ufeff").strip()
        if not {_TEXT, "Cat1"} <= {c.strip().strip('"') for c in header.split(",")}:
            raise _download_error(url, dest, f"not the reviews CSV; first line: {header[:80]!r}")
        # The whole file is read once before it is kept, as every later call reads it: a
        # body cut inside a row, or a header without rows, never reaches the cache.
        try:
            read_table(Path(fetched), (_TEXT, "Cat1"), kind="csv")
        except ValueError as exc:
            raise _download_error(url, dest, f"the file is damaged or incomplete: {exc}") from None
        apply_umask(fetched)  # fetch_file's temporary file is private
        os.replace(fetched, dest)
    say(f"Downloaded {dest.name}")


def _subsample(
    y: np.ndarray, n_samples: int, random_state: int | np.random.RandomState | None
) -> np.ndarray:
    """Return the sorted positions of a subsample of ``n_samples`` rows stratified by ``y``."""
    n = len(y)
    if n_samples == n:
        # train_test_split refuses an empty test part; every row is the answer anyway.
        return np.arange(n)
    _, strata, counts = np.unique(y, return_inverse=True, return_counts=True)
    # train_test_split needs two rows per stratum: pool the classes of one row.
    rare = counts[strata] < 2
    if rare.sum() == 1:
        strata[rare] = np.argmax(counts)
    elif rare.any():
        strata[rare] = len(counts)
    n_strata = len(np.unique(strata))
    stratify: np.ndarray | None = strata
    if min(n_samples, n - n_samples) < n_strata:
        warnings.warn(
            f"n_samples={n_samples} of {n} rows cannot be stratified over {n_strata} classes "
            "(both the sample and the rest need a row of each); drawing a plain random sample.",
            UserWarning,
            stacklevel=3,
        )
        stratify = None
    rows, _ = train_test_split(
        np.arange(n), train_size=n_samples, stratify=stratify, random_state=random_state
    )
    return np.sort(rows)
