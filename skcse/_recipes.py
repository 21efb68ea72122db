"""The measured SimCSE recipes, in one place.

:class:`~skcse.SimCSEEncoder`'s defaults, ``skcse compare``, ``skcse fit`` and the low-loss
warning of training all take their values from here: ``augment`` picks the recipe, and a
``learning_rate`` or ``trainable_layers`` left at ``"auto"`` takes that recipe's value (see
:func:`resolve`). The measurements behind each recipe are in docs/benchmarks/quality.md
(benchmarks/bench_quality.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["PAPER", "SENTENCE_TUNED", "describe", "layers_trained", "recipe_for", "resolve"]

# For a sentence-tuned backbone such as the embedded all-MiniLM-L6-v2: dropout-only SimCSE
# and crops at the paper's 3e-5 scored below the untrained backbone on the reviews. Training
# only the top 2 of its 6 layers scored higher than training all of them (15k reviews) and a
# step costs 2 to 2.7 times less. On five corpora of 2,000 texts (3 seeds, tuned
# V-measure), crops at 1e-5 lost 0.011 on emotion_dairai; at 5e-6 no corpus lost more than
# 0.004, and the reviews gained 0.014: the recipe that never hurt, so the one shipped.
SENTENCE_TUNED = MappingProxyType({"augment": "crop", "learning_rate": 5e-6, "trainable_layers": 2})

# The paper's unsupervised SimCSE (Gao et al., 2021), for a vanilla masked language model
# such as bert-base-uncased: the two views differ only in their dropout masks.
PAPER = MappingProxyType({"augment": "dropout", "learning_rate": 3e-5, "trainable_layers": None})


def recipe_for(augment: str) -> Mapping[str, object]:
    """Return the recipe of views ``augment``: the paper's for dropout-only views."""
    return PAPER if augment == PAPER["augment"] else SENTENCE_TUNED


def resolve(
    augment: str, learning_rate: float | str, trainable_layers: int | str | None
) -> dict[str, object]:
    """Return the recipe that these values make, ``"auto"`` replaced by the recipe's values.

    Parameters
    ----------
    augment : {"dropout", "crop", "delete"}
        The views; "dropout" takes the paper's recipe, the others the sentence-tuned one.
    learning_rate : float or "auto"
        Kept unless "auto".
    trainable_layers : int, None or "auto"
        Kept unless "auto" (None trains every layer).

    Returns
    -------
    dict
        ``{"augment", "learning_rate", "trainable_layers"}``, as in :data:`SENTENCE_TUNED`.
    """
    recipe = recipe_for(augment)
    if learning_rate == "auto":
        learning_rate = recipe["learning_rate"]
    if trainable_layers == "auto":
        trainable_layers = recipe["trainable_layers"]
    return {
        "augment": augment,
        "learning_rate": float(learning_rate),
        "trainable_layers": trainable_layers,
    }


def layers_trained(n: int | None) -> str:
    """Say which layers ``trainable_layers=n`` trains, e.g. ``top 2 layer(s) trained``."""
    return "all layers trained" if n is None else f"top {n} layer(s) trained"


def describe(recipe: Mapping[str, object]) -> str:
    """Write the recipe as keyword arguments, e.g. ``augment='crop', learning_rate=5e-06``."""
    return ", ".join(f"{key}={value!r}" for key, value in recipe.items())
