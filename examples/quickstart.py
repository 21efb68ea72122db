"""Quickstart: does SimCSE on your own texts help clustering?

Trains SimCSEEncoder for one epoch on 1,000 Amazon reviews, then compares KMeans (k = number
of categories) on the untrained and the trained embeddings by V-measure against the level-1
categories.

The reviews are read from ``SKCSE_DATA`` when it is set (``make run`` sets it on the project's
machines), and downloaded to ``~/skcse_data`` otherwise. ``SKCSE_QUICKSTART_N`` changes the
number of reviews. ``SKCSE_SMOKE=1`` (used by the tests) only checks that the script runs:
200 reviews cut to 32 tokens and a single training step, so the scores mean nothing.
"""

import os
import time

from sklearn.cluster import KMeans
from sklearn.metrics import v_measure_score

from skcse import SimCSEEncoder
from skcse.datasets import load_amazon_reviews

SMOKE = os.environ.get("SKCSE_SMOKE") == "1"
n_samples = int(os.environ.get("SKCSE_QUICKSTART_N", 200 if SMOKE else 1000))
max_seq_length, max_steps = (32, 1) if SMOKE else (128, None)
texts, y = load_amazon_reviews(n_samples=n_samples, random_state=0, return_X_y=True)
n_clusters = len(set(y))
print(f"{len(texts)} reviews, {n_clusters} categories")

for name, epochs in (("untrained backbone", 0), ("SimCSE", 1)):
    start = time.perf_counter()
    encoder = SimCSEEncoder(
        epochs=epochs,
        max_steps=max_steps,
        max_seq_length=max_seq_length,
        random_state=0,
        verbose=1,
    )
    X = encoder.fit_transform(texts)
    labels = KMeans(n_clusters=n_clusters, n_init=10, random_state=0).fit_predict(X)
    score = v_measure_score(y, labels)
    seconds = time.perf_counter() - start
    print(f"{name:>20}: V-measure {score:.3f}  ({encoder.n_steps_} steps, {seconds:.0f} s)")
