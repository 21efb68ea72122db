"""What each cluster is about: :func:`describe_clusters`.

A clustering of unlabeled texts gives integer labels. To read them, each cluster gets its
top terms by class-based TF-IDF (c-TF-IDF: the texts of a cluster pooled into one document,
weighted against the other clusters) and its most representative texts.
"""

from __future__ import annotations

import warnings
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import normalize
from sklearn.utils._param_validation import HasMethods, Interval, validate_params
from sklearn.utils.validation import check_array

from skcse._validation import check_labels, check_texts, user_stacklevel

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["describe_clusters"]

NOISE = -1


def _check_embeddings(embeddings: Any, n_texts: int) -> np.ndarray:
    X = check_array(embeddings, dtype=np.float64, input_name="embeddings")
    if len(X) != n_texts:
        raise ValueError(f"embeddings has {len(X)} rows but there are {n_texts} texts.")
    return X


def _class_tfidf(counts: Any, codes: np.ndarray, n_classes: int) -> tuple[Any, np.ndarray]:
    """c-TF-IDF of the classes, and the idf of each term.

    Each class is one document, the concatenation of its texts. A term's frequency in it is
    divided by the class's number of terms, so big clusters do not win by size alone; its
    idf is ``log(1 + A / f)``, with ``A`` the average number of terms per class and ``f``
    the term's frequency over all classes, so a term frequent everywhere weighs little.
    """
    membership = sparse.csr_matrix(
        (np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(n_classes, len(codes))
    )
    tf = membership @ counts
    frequency = np.asarray(tf.sum(axis=0)).ravel()
    average = tf.sum() / n_classes
    idf = np.log1p(average / np.maximum(frequency, 1))
    return normalize(tf, norm="l1") @ sparse.diags(idf), idf


def _distinct_top(order: np.ndarray, texts: list[str], n: int) -> list[str]:
    """Return the first ``n`` different texts in ``order``; duplicates would repeat one."""
    chosen: list[str] = []
    for i in order:
        if texts[i] not in chosen:
            chosen.append(texts[i])
            if len(chosen) == n:
                break
    return chosen


@validate_params(
    {
        "texts": ["array-like"],
        "labels": ["array-like"],
        "embeddings": ["array-like", None],
        "n_terms": [Interval(Integral, 1, None, closed="left")],
        "n_texts": [Interval(Integral, 1, None, closed="left")],
        "vectorizer": [HasMethods(["fit_transform", "get_feature_names_out"]), None],
    },
    prefer_skip_nested_validation=True,
)
def describe_clusters(
    texts: Any,
    labels: Any,
    embeddings: Any = None,
    *,
    n_terms: int = 10,
    n_texts: int = 3,
    vectorizer: Any = None,
) -> pd.DataFrame:
    """Describe each cluster of a clustering of texts by its top terms and typical texts.

    Top terms come from class-based TF-IDF (c-TF-IDF, as popularised by BERTopic): the
    texts of each cluster are pooled into one document, each term's frequency there is
    divided by the cluster's number of terms, and weighted by ``log(1 + A / f)``, where
    ``A`` is the average number of terms per cluster and ``f`` the term's frequency in all
    texts. A term scores high when it is frequent in the cluster and rare elsewhere.

    Parameters
    ----------
    texts : sequence of str
        The clustered texts.
    labels : array-like of shape (n_texts,)
        Cluster of each text, e.g. ``labels_`` of :class:`~skcse.cluster.HDBSCAN`; -1 is noise.
    embeddings : array-like of shape (n_texts, n_features) or None, default=None
        Vectors of the texts, e.g. from :class:`~skcse.SimCSEEncoder`. Given, the
        representative texts of a cluster are those of highest cosine similarity to the
        mean of its unit-length vectors. None: those whose TF-IDF vector (term counts
        weighted by the idf above) is most similar (cosine) to the cluster's c-TF-IDF.
    n_terms : int, default=10
        Top terms per cluster (fewer if the cluster has fewer distinct terms).
    n_texts : int, default=3
        Representative texts per cluster, all different (fewer if the cluster has fewer).
    vectorizer : CountVectorizer-like or None, default=None
        Turns texts into term counts; it is fitted here, on all texts. None is
        ``CountVectorizer(stop_words="english")``; pass your own for n-grams, another
        language's stop words or a ``min_df``.

    Returns
    -------
    description : pandas.DataFrame
        One row per cluster, ordered by label, with noise (-1) last when present: it is
        described like a cluster (what the texts no cluster took have in common) and
        takes part in the weighting. Columns:

        cluster
            The label.
        size
            Number of texts.
        terms : list of str
            Top terms, best first.
        texts : list of str
            Representative texts, most typical first.

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        If a parameter has an invalid type or value, e.g. ``texts`` is a single string (the
        message names the parameter).
    TypeError
        If ``texts`` is unordered (a set) or holds something other than strings.
    ValueError
        If there are no texts, a text is missing (None or NaN) or not valid Unicode,
        ``labels`` or ``embeddings`` do not have one row per text, ``labels`` has missing
        values or mixes strings with numbers, or ``embeddings`` holds NaN or infinity.

    Warns
    -----
    UserWarning
        If no text has a term left after the vectorizer (emoji, stop words only): every
        cluster's terms are then empty, its sizes and texts still given.

    Examples
    --------
    >>> from skcse import describe_clusters
    >>> texts = ["dark roast coffee", "coffee beans, fresh", "a dog leash", "dog collar"]
    >>> description = describe_clusters(texts, [0, 0, 1, 1], n_terms=1, n_texts=1)
    >>> description[["cluster", "size", "terms"]]
       cluster  size     terms
    0        0     2  [coffee]
    1        1     2     [dog]
    """
    import pandas as pd

    texts = check_texts(texts, name="texts")
    labels = check_labels(labels, len(texts), samples="texts")
    X = None if embeddings is None else _check_embeddings(embeddings, len(texts))
    vectorizer = CountVectorizer(stop_words="english") if vectorizer is None else vectorizer
    try:
        counts = vectorizer.fit_transform(texts)
        terms = np.asarray(vectorizer.get_feature_names_out())
    except ValueError as exc:
        # Texts of emoji or stop words only: their sizes and typical texts still describe
        # them.
        if not any(empty in str(exc) for empty in ("empty vocabulary", "no terms remain")):
            raise
        warnings.warn(
            f"No terms to describe the clusters with ({exc}); every cluster's terms are empty.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        counts, terms = sparse.csr_matrix((len(texts), 0)), np.array([], dtype=object)

    clusters = np.unique(labels)
    # Noise last: it is what is left over, not a topic.
    clusters = np.concatenate([clusters[clusters != NOISE], clusters[clusters == NOISE]])
    position = {cluster: k for k, cluster in enumerate(clusters.tolist())}
    codes = np.array([position[label] for label in labels.tolist()])
    if len(terms):
        weights, idf = _class_tfidf(counts, codes, len(clusters))
        weights = weights.toarray()
    else:
        weights = np.zeros((len(clusters), 0))
    if X is not None:
        unit = normalize(X)
        centres = np.stack([unit[codes == k].mean(axis=0) for k in range(len(clusters))])
        similarity = unit @ normalize(centres).T
    elif len(terms):
        docs = normalize(sparse.csr_matrix(counts).multiply(idf))
        similarity = np.asarray(docs @ normalize(weights).T)
    else:
        # Neither terms nor vectors rank the texts: a cluster's first texts stand for it.
        similarity = np.zeros((len(texts), len(clusters)))

    rows = []
    for k, cluster in enumerate(clusters):
        members = np.flatnonzero(codes == k)
        top = np.argsort(-weights[k], kind="stable")[:n_terms]
        top = top[weights[k, top] > 0]
        typical = members[np.argsort(-similarity[members, k], kind="stable")]
        rows.append(
            {
                # Python scalars: numpy's as plain numbers, an object array's as they are.
                "cluster": cluster.item() if isinstance(cluster, np.generic) else cluster,
                "size": len(members),
                "terms": terms[top].tolist(),
                "texts": _distinct_top(typical, texts, n_texts),
            }
        )
    return pd.DataFrame(rows, columns=["cluster", "size", "terms", "texts"])
