"""
Cluster texts without labels, and read what each cluster is about
=================================================================

Most corpora have no labels, so the V-measure cannot choose the clustering settings. A
label-free scorer can: it judges each candidate of a grid by how well its clusters describe
the texts' own vectors. Here ``GridSearchCV`` tunes UMAP + HDBSCAN on review texts with
``bic_scorer`` and no ``y`` at all, and :func:`~skcse.describe_clusters` then
says what each cluster of the chosen clustering is about: its size, its top terms by
class-based TF-IDF and its most typical reviews.

The reviews do have categories. They are used once, at the end, to check the choice; nothing
before that sees them.

The encoder is the untrained backbone (``SimCSEEncoder(epochs=0)``), so the script runs in
about a minute on 2 cores with 1,000 reviews. With ``SKCSE_SMOKE=1`` it uses 200 reviews cut
to 32 tokens, and its results mean little. The plot goes to ``SKCSE_EXAMPLES_OUTPUT``
(default: ``./skcse_examples_output``).
"""

# %%
# The texts
# ---------
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.metrics import v_measure_score
from sklearn.model_selection import GridSearchCV

from skcse import SimCSEEncoder, describe_clusters, load_amazon_reviews, make_cluster_pipeline
from skcse.metrics import bic_scorer
from skcse.model_selection import InSampleSplit

SMOKE = os.environ.get("SKCSE_SMOKE") == "1"
n_samples, max_seq_length = (200, 32) if SMOKE else (1000, 128)
output = Path(os.environ.get("SKCSE_EXAMPLES_OUTPUT", "skcse_examples_output"))
output.mkdir(parents=True, exist_ok=True)

texts, categories = load_amazon_reviews(n_samples=n_samples, random_state=0, return_X_y=True)
print(f"{len(texts)} reviews; their categories are set aside until the end")

# %%
# A search without ``y``
# ----------------------
# The Pipeline takes texts: encoder, then UMAP and HDBSCAN. ``memory`` caches the encoder's
# output, so the texts are embedded once for the whole grid. ``bic_scorer`` labels the
# texts with each fitted candidate and scores the labels by the Bayesian information
# criterion of one spherical Gaussian per cluster on the encoder's vectors, which every
# candidate shares: how well the clusters fit the points, less a price for each cluster's
# parameters (greater is better). ``fit`` gets no ``y``.
encoder = SimCSEEncoder(epochs=0, max_seq_length=max_seq_length)
pipe = make_cluster_pipeline(encoder, random_state=0, memory=str(output / "unlabeled_cache"))
grid = {
    "umap__n_neighbors": [15, 50],
    "hdbscan__min_cluster_size": [len(texts) // 40, len(texts) // 15],
}
search = GridSearchCV(pipe, grid, scoring=bic_scorer, cv=InSampleSplit()).fit(texts)

results = pd.DataFrame(search.cv_results_)
table = pd.DataFrame(
    {
        "n_neighbors": results["param_umap__n_neighbors"],
        "min_cluster_size": results["param_hdbscan__min_cluster_size"],
        "BIC score": results["mean_test_score"].round(1),
    }
)
print(table.to_string(index=False))
print(f"chosen: {search.best_params_}, BIC score {search.best_score_:.1f}")

# %%
# What each cluster is about
# --------------------------
# The refitted best Pipeline labels every review. ``describe_clusters`` pools the texts of
# each cluster, ranks terms by c-TF-IDF (frequent in the cluster, rare in the others) and
# picks the reviews closest to the cluster's centre in the encoder's space.
best = search.best_estimator_
labels = best["hdbscan"].labels_
vectors = best["enc"].transform(texts)
description = describe_clusters(texts, labels, vectors, n_terms=6, n_texts=2)
pd.set_option("display.max_colwidth", 80)
for row in description.itertuples():
    print(f"cluster {row.cluster} ({row.size} reviews): {', '.join(row.terms)}")
    for text in row.texts:
        print(f"    - {text[:100]}")

# %%
# Checking the choice against the categories
# ------------------------------------------
# Only now do the categories come in. Each candidate's V-measure against them shows where
# the label-free choice landed in the grid; the benchmark "Tuning without labels" makes the
# same check on five corpora.
# The cache makes each refit cheap: the encoder and UMAP outputs are read back.
table["V-measure"] = [
    round(v_measure_score(categories, pipe.set_params(**params).fit(texts)[-1].labels_), 3)
    for params in search.cv_results_["params"]
]
print(table.to_string(index=False))
chosen = table.loc[search.best_index_, "V-measure"]
print(f"V-measure of the chosen clustering {chosen:.3f}, grid best {table['V-measure'].max():.3f}")

fig, ax = plt.subplots(figsize=(5, 4))
ax.scatter(table["BIC score"], table["V-measure"])
ax.scatter([search.best_score_], [chosen], marker="*", s=200, label="chosen without labels")
ax.set_xlabel("BIC score, greater is better (label-free)")
ax.set_ylabel("V-measure against the categories")
ax.legend()
fig.tight_layout()
fig.savefig(output / "unlabeled_choice.png", dpi=100)
