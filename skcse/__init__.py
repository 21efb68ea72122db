"""skcse: scikit-learn compatible SimCSE sentence embeddings, judged by clustering.

The estimators import torch, transformers, umap and hdbscan only when they are used, so
``import skcse`` stays fast.
"""

from skcse.cluster import HDBSCAN
from skcse.datasets import load_amazon_reviews
from skcse.describe import describe_clusters
from skcse.encoder import SimCSEEncoder
from skcse.manifold import UMAP
from skcse.metrics import (
    bic_scorer,
    calinski_harabasz_scorer,
    make_clustering_scorer,
    v_measure_scorer,
)
from skcse.model_selection import InSampleSplit
from skcse.pipeline import make_cluster_pipeline

__version__ = "0.1.0"

__all__ = [
    "HDBSCAN",
    "UMAP",
    "InSampleSplit",
    "SimCSEEncoder",
    "__version__",
    "bic_scorer",
    "calinski_harabasz_scorer",
    "describe_clusters",
    "load_amazon_reviews",
    "make_cluster_pipeline",
    "make_clustering_scorer",
    "v_measure_scorer",
]
