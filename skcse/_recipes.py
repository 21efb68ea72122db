"""The measured SimCSE recipes, in one place.

``skcse compare``, ``skcse fit`` and the low-loss warning of training take their advice
from here. The measurements behind each recipe are in docs/benchmarks/quality.md (made with
benchmarks/bench_quality.py on the 15k Amazon reviews).

:class:`~skcse.SimCSEEncoder` keeps its own defaults (``augment="dropout"``,
``learning_rate=3e-5``, the paper's) until issue 15 decides them; they are not read from here.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["PAPER", "SENTENCE_TUNED", "describe"]

# For a sentence-tuned backbone such as the embedded all-MiniLM-L6-v2: dropout-only SimCSE
# and crops at the paper's 3e-5 scored below the untrained backbone. Over the 32 steps of
# `skcse compare` on 2,000 reviews, crops at 1e-5 beat both the untrained backbone and 5e-6
# at three seeds. Training only the top 2 of its 6 layers scored higher than training all of
# them on the 15k reviews (tuned V-measure, seeds 0 and 1: Cat1 0.483 against 0.475, Cat2
# 0.477 against 0.461), and a step costs 2 to 2.7 times less.
SENTENCE_TUNED = MappingProxyType({"augment": "crop", "learning_rate": 1e-5, "trainable_layers": 2})

# The paper's unsupervised SimCSE (Gao et al., 2021), for a vanilla masked language model
# such as bert-base-uncased: the two views differ only in their dropout masks.
PAPER = MappingProxyType({"augment": "dropout", "learning_rate": 3e-5, "trainable_layers": None})


def describe(recipe: MappingProxyType) -> str:
    """Write the recipe as keyword arguments, e.g. ``augment='crop', learning_rate=1e-05``."""
    return ", ".join(f"{key}={value!r}" for key, value in recipe.items())
