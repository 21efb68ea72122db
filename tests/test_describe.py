"""Tests of skcse.describe_clusters: c-TF-IDF terms, typical texts, noise, bad input."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.utils._param_validation import InvalidParameterError

from conftest import make_texts
from skcse import describe_clusters

# "great" is in every cluster, so it says nothing about any of them.
TEXTS = [
    "coffee great",
    "coffee beans great",
    "dark coffee roast",
    "dog great",
    "dog leash great",
    "dog collar",
    "great",
]
LABELS = [0, 0, 0, 1, 1, 1, -1]


def c_tf_idf(texts, labels):
    """The weights by their definition, with plain Python, for comparison."""
    words = {label: Counter() for label in labels}
    for text, label in zip(texts, labels, strict=True):
        words[label].update(text.split())
    frequency = sum(words.values(), Counter())
    average = sum(frequency.values()) / len(words)
    return {
        label: {
            term: count / sum(counts.values()) * math.log(1 + average / frequency[term])
            for term, count in counts.items()
        }
        for label, counts in words.items()
    }


def test_terms_are_the_top_c_tf_idf_terms():
    description = describe_clusters(TEXTS, LABELS, n_terms=3)
    expected = c_tf_idf(TEXTS, LABELS)
    for row in description.itertuples():
        weights = expected[row.cluster]
        assert row.terms == sorted(weights, key=lambda term: (-weights[term], term))[:3]
    assert description["terms"].tolist()[:2] == [
        ["coffee", "beans", "dark"],
        ["dog", "collar", "leash"],
    ]


@pytest.mark.parametrize(
    "wrap",
    [list, lambda labels: np.array(labels, dtype=object), pd.Series, pd.Categorical],
    ids=["list", "object array", "Series", "Categorical"],
)
def test_string_labels_in_any_container_name_the_clusters(wrap):
    names = ["beans" if label == 0 else "pets" if label == 1 else "other" for label in LABELS]
    description = describe_clusters(TEXTS, wrap(names))
    assert description["cluster"].tolist() == ["beans", "other", "pets"]
    assert all(isinstance(name, str) for name in description["cluster"])
    by_name = dict(zip(description["cluster"], description["terms"], strict=True))
    assert by_name["beans"][0] == "coffee" and by_name["pets"][0] == "dog"


def test_one_row_per_cluster_with_noise_last():
    description = describe_clusters(TEXTS, LABELS)
    assert list(description.columns) == ["cluster", "size", "terms", "texts"]
    assert description["cluster"].tolist() == [0, 1, -1]
    assert description["size"].tolist() == [3, 3, 1]
    assert description.loc[2, "terms"] == ["great"]
    assert description.loc[2, "texts"] == ["great"]


def test_topics_of_a_synthetic_corpus_are_found():
    texts, topics = make_texts(80)
    description = describe_clusters(texts, topics, n_terms=5, n_texts=4)
    assert description["cluster"].tolist() == ["beauty", "food", "pets", "toys"]
    words = {topic: set() for topic in topics}
    for text, topic in zip(texts, topics, strict=True):
        words[topic].update(text.split()[:-1])  # the last word is the text's number
    for row in description.itertuples():
        assert len(row.terms) == 5 and set(row.terms) <= words[row.cluster]
        assert len(row.texts) == 4
        assert all(topics[texts.index(text)] == row.cluster for text in row.texts)


def test_typical_texts_are_closest_to_the_centre_of_the_embeddings():
    texts = ["a", "b", "c", "d", "e", "f"]
    labels = [0, 0, 0, 1, 1, 1]
    # Cluster 0 averages to the direction of "b"; cluster 1 to that of "f".
    embeddings = np.array([[1.0, 0.2], [1.0, 0.0], [1.0, -0.2], [0.0, 1.0], [0.5, 1.0], [0.2, 1.0]])
    vectorizer = CountVectorizer(token_pattern=r"\w")
    description = describe_clusters(texts, labels, embeddings, n_texts=2, vectorizer=vectorizer)
    assert description.loc[0, "texts"][0] == "b"
    assert description.loc[1, "texts"][0] == "f"
    # Cosine, not Euclidean: a vector's length does not matter.
    longer = embeddings * np.array([[1], [5], [1], [1], [1], [7]])
    again = describe_clusters(texts, labels, longer, n_texts=2, vectorizer=vectorizer)
    assert again["texts"].tolist() == description["texts"].tolist()


def test_without_embeddings_typical_texts_share_the_cluster_terms():
    description = describe_clusters(TEXTS, LABELS, n_texts=1)
    # Of the coffee texts, the one of only distinctive words is closest to the cluster.
    assert description.loc[0, "texts"] == ["dark coffee roast"]


def test_duplicates_are_shown_once_and_counts_are_capped():
    texts = ["tea time", "tea time", "tea time", "green tea", "dog walk", "dog park"]
    description = describe_clusters(texts, [0, 0, 0, 0, 1, 1], n_terms=50, n_texts=3)
    assert sorted(description.loc[0, "texts"]) == ["green tea", "tea time"]
    assert sorted(description.loc[0, "terms"]) == ["green", "tea", "time"]
    assert len(description.loc[1, "texts"]) == 2


def test_a_vectorizer_of_your_own():
    vectorizer = CountVectorizer(ngram_range=(2, 2))
    description = describe_clusters(TEXTS, LABELS, n_terms=2, vectorizer=vectorizer)
    for row in description[:2].itertuples():
        members = [text for text, label in zip(TEXTS, LABELS, strict=True) if label == row.cluster]
        assert len(row.terms) == 2 and all(" " in term for term in row.terms)
        assert all(any(term in text for text in members) for term in row.terms)
    # The noise text "great" has no bigram: no terms, rather than made-up ones.
    assert description.loc[2, "terms"] == []


@pytest.mark.parametrize("embeddings", [None, [[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]]])
def test_texts_without_terms_are_still_described(embeddings):
    texts = ["\U0001f600 \U0001f600", "and it", "\U0001f600"]
    with pytest.warns(UserWarning, match="No terms to describe the clusters with") as warned:
        description = describe_clusters(texts, [0, 1, 0], embeddings)
    assert warned[0].filename == __file__
    assert description["terms"].tolist() == [[], []]
    assert description["size"].tolist() == [2, 1]
    assert sorted(description.loc[0, "texts"]) == sorted([texts[0], texts[2]])
    # Another failure of the vectorizer is the user's to see.
    with pytest.raises(ValueError, match="max_df corresponds to < documents than min_df"):
        describe_clusters(texts, [0, 1, 0], vectorizer=CountVectorizer(min_df=3, max_df=1))


@pytest.mark.parametrize(
    ("texts", "labels", "embeddings", "error", "match"),
    [
        (["a b"], [0, 1], None, ValueError, "labels has 2 entries but there are 1 texts"),
        ([], [], None, ValueError, "texts is empty"),
        ("coffee", [0], None, InvalidParameterError, "'texts' .* array-like. Got 'coffee'"),
        (["tea", float("nan")], [0, 1], None, ValueError, r"texts\[1\] is nan: missing"),
        (["tea", 3], [0, 1], None, TypeError, r"texts\[1\] must be a str, got int"),
        ({"tea", "dog"}, [0, 1], None, TypeError, "got a set, whose order is arbitrary"),
        (["tea", "dog"], np.array(["a", -1], dtype=object), None, ValueError, "mix strings"),
        (["tea", "dog"], [0.0, float("nan")], None, ValueError, "1 missing values .* 1"),
        (["tea", "dog"], pd.Series([0, None]), None, ValueError, "1 missing values"),
        # A plain list: numpy would write these numbers and NaN as strings.
        (["tea", "dog"], [0, "pets"], None, ValueError, "mix strings"),
        (["tea", "dog"], ["pets", float("nan")], None, ValueError, "1 missing values .* 1"),
        (["tea", "dog"], pd.array([0, pd.NA]), None, ValueError, "1 missing values .* 1"),
        (["tea", "dog"], [[0, 1]], None, ValueError, "labels must be 1-D"),
        (["tea", "dog"], [0, 1], np.zeros((3, 2)), ValueError, "embeddings has 3 rows but"),
        (["tea", "dog"], [0, 1], [[0.0, 1.0], [np.nan, 1.0]], ValueError, "embeddings"),
    ],
)
def test_bad_input_is_named(texts, labels, embeddings, error, match):
    with pytest.raises(error, match=match):
        describe_clusters(texts, labels, embeddings)


@pytest.mark.parametrize(
    ("params", "name"),
    [({"n_terms": 0}, "n_terms"), ({"n_texts": 1.5}, "n_texts"), ({"vectorizer": "tfidf"}, "")],
)
def test_invalid_parameters_are_named(params, name):
    with pytest.raises(InvalidParameterError, match=f"'{name or 'vectorizer'}' parameter"):
        describe_clusters(TEXTS, LABELS, **params)
