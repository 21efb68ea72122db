"""skcse: scikit-learn compatible SimCSE sentence embeddings, judged by clustering."""

from skcse.encoder import SimCSEEncoder

__version__ = "0.1.0"

__all__ = ["SimCSEEncoder", "__version__"]
