"""
Save a fitted Pipeline, and share the encoder safely
====================================================

Training SimCSE takes minutes; you want to do it once, keep the result and label new texts
later. This example shows the two ways to persist skcse models:

1. **joblib** stores the whole fitted Pipeline (SimCSE encoder, UMAP, HDBSCAN) in one file.
   Loading it back gives the same cluster for every new review. Like every pickle, the file
   can run arbitrary code when loaded: only load files you trust.
2. **SimCSEEncoder.save** writes the encoder alone as a folder of safetensors weights,
   tokenizer files and JSON. ``SimCSEEncoder.load`` reads it back without unpickling
   anything or running code from the folder, and the folder is also a sentence-transformers
   model: ``SentenceTransformer`` loads it and gives the same embeddings.

Outputs go to ``SKCSE_EXAMPLES_OUTPUT`` (default: ``./skcse_examples_output``). By default
the Pipeline is fitted on 1,000 reviews with one epoch of SimCSE (16 steps of 64 texts) and
labels 20 held-out reviews; that took about 3 minutes on 2 cores of an AMD EPYC. With
``SKCSE_SMOKE=1`` it uses 200 reviews cut to 32 tokens and one training step: every line runs
in under a minute, but the clusters mean nothing.
"""

# %%
# Fit a Pipeline
# --------------
# A few reviews are held out to play the part of new texts.
import os
from pathlib import Path

import joblib
import numpy as np
from sentence_transformers import SentenceTransformer
from sklearn.model_selection import train_test_split

from skcse import SimCSEEncoder, load_amazon_reviews, make_cluster_pipeline

SMOKE = os.environ.get("SKCSE_SMOKE") == "1"
if SMOKE:
    # One step on truncated inputs: exercises the code, not the method.
    n_samples, max_seq_length, training = 200, 32, {"max_steps": 1, "batch_size": 16}
else:
    n_samples, max_seq_length, training = 1000, 128, {"epochs": 1}
n_new = 20
output = Path(os.environ.get("SKCSE_EXAMPLES_OUTPUT", "skcse_examples_output"))
output.mkdir(parents=True, exist_ok=True)

texts, y = load_amazon_reviews(n_samples=n_samples + n_new, random_state=0, return_X_y=True)
train_texts, new_texts, _, new_y = train_test_split(
    texts, y, test_size=n_new, stratify=y, random_state=0
)

encoder = SimCSEEncoder(
    max_seq_length=max_seq_length,
    random_state=0,
    **training,
)
pipe = make_cluster_pipeline(encoder, random_state=0)
pipe.fit(train_texts)
print(f"fitted on {len(train_texts)} reviews: {pipe['hdbscan'].n_clusters_} clusters")

# %%
# ``predict`` places new texts in the fitted clusters: the encoder embeds them, UMAP
# projects them into its fitted space and HDBSCAN gives each its most likely cluster.
labels = pipe.predict(new_texts)
for category, label in zip(new_y[:5], labels[:5], strict=True):
    print(f"  a new {category!r} review -> cluster {label}")

# %%
# The whole Pipeline with joblib
# ------------------------------
# The encoder's weights travel inside the file as CPU tensors, so a Pipeline fitted on a
# GPU loads on a machine without one. Loading runs code from the file: never load a
# Pipeline you did not make or do not trust.
path = output / "pipeline.joblib"
joblib.dump(pipe, path)
print(f"{path.name}: {path.stat().st_size / 2**20:.1f} MiB")

restored = joblib.load(path)
same = restored.predict(new_texts)
assert np.array_equal(same, labels)
print(f"the reloaded Pipeline gives the same {len(same)} labels: {same.tolist()}")

# %%
# The encoder as a safe folder
# ----------------------------
# ``save`` writes safetensors weights, the tokenizer and the parameters as JSON; ``load``
# reads only those and never runs code, not even a config that names remote code, so a
# folder from someone else cannot run code on your machine. ``overwrite=True`` replaces
# only a folder that skcse wrote. UMAP and HDBSCAN have no such format: to share a whole
# Pipeline safely, share the encoder folder and refit the cheap steps.
folder = output / "simcse_encoder"
encoder = pipe["enc"]
encoder.save(folder, overwrite=True)
print(f"{folder.name}/: {sorted(p.name for p in folder.iterdir())}")

reloaded = SimCSEEncoder.load(folder)
X = encoder.transform(new_texts)
difference = np.abs(reloaded.transform(new_texts) - X).max()
print(f"SimCSEEncoder.load: largest difference in the embeddings {difference:.1e}")
assert difference <= 1e-5

# %%
# The same folder in sentence-transformers
# ----------------------------------------
# sentence-transformers computes in float32, while the encoder may compute in bf16
# (``precision="auto"`` on CPUs that support it), so the vectors agree up to rounding:
# compare them by cosine similarity.
X_st = SentenceTransformer(str(folder)).encode(new_texts)
cosine = np.sum(X * X_st, axis=1) / (np.linalg.norm(X, axis=1) * np.linalg.norm(X_st, axis=1))
print(f"SentenceTransformer: cosine with the encoder's embeddings >= {cosine.min():.4f}")
assert cosine.min() > 0.99
