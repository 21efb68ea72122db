"""The unsupervised SimCSE training loop: batches, views, loss, optimizer and schedule.

This module knows nothing of scikit-learn; the estimator in :mod:`skcse.encoder` calls it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from skcse._backbone import autocast, embed, tokenize

__all__ = ["count_steps", "simcse_loss", "batch_loss", "train_simcse"]

# Both reference recipes (the SimCSE code through the HF Trainer, sentence-transformers' fit)
# clip the gradient norm at 1.0.
MAX_GRAD_NORM = 1.0


def simcse_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE over in-batch negatives: row i of ``z1`` must pick row i of ``z2``.

    Parameters
    ----------
    z1, z2 : torch.Tensor of shape (batch, dim)
        The two views' pooled vectors.
    temperature : float
        Cosine similarities are divided by it.

    Returns
    -------
    torch.Tensor
        The mean cross-entropy, a scalar.
    """
    logits = F.normalize(z1, dim=-1) @ F.normalize(z2, dim=-1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(z1), device=z1.device))


def batch_loss(
    model: torch.nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    temperature: float,
    max_seq_length: int,
    pooling: str,
    device: torch.device,
    dtype: torch.dtype | None,
) -> torch.Tensor:
    """SimCSE loss of one batch: the B texts go through the model once, as 2B rows.

    Running both copies in one forward pass gives each its own dropout mask (the model must
    be in train mode) and keeps the matrix products large.
    """
    features = tokenize(tokenizer, [*texts, *texts], max_seq_length, device)
    with autocast(device, dtype):
        pooled = embed(model, features, pooling)
    z1, z2 = pooled.chunk(2)
    return simcse_loss(z1, z2, temperature)


def count_steps(n_samples: int, batch_size: int, epochs: int, max_steps: int | None) -> int:
    """Count the optimizer steps: a trailing batch of one text has no negative and is skipped."""
    per_epoch = n_samples // batch_size + (1 if n_samples % batch_size >= 2 else 0)
    total = per_epoch * epochs
    return total if max_steps is None else min(total, max_steps)


def _linear_schedule(warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def train_simcse(
    model: torch.nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int,
    epochs: int,
    max_steps: int | None,
    learning_rate: float,
    weight_decay: float,
    warmup_ratio: float,
    temperature: float,
    max_seq_length: int,
    pooling: str,
    device: torch.device,
    dtype: torch.dtype | None,
    generator: torch.Generator,
    progress: bool = False,
) -> dict[str, list[float]]:
    """Train ``model`` in place with unsupervised SimCSE.

    Parameters
    ----------
    generator : torch.Generator
        Drives the data order; dropout draws from torch's global generator, which the caller
        seeds.

    Returns
    -------
    history : dict
        ``{"loss": [...], "learning_rate": [...]}``, one entry per optimizer step.

    Raises
    ------
    FloatingPointError
        If a loss is not finite; the message names the step.
    """
    total = count_steps(len(texts), batch_size, epochs, max_steps)
    history: dict[str, list[float]] = {"loss": [], "learning_rate": []}
    if total == 0:
        return history
    # Biases and normalization weights take no weight decay, as in the reference recipes.
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=learning_rate,
    )
    warmup_steps = math.ceil(warmup_ratio * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(warmup_steps, total))
    model.train()
    step = 0
    with tqdm(total=total, desc="SimCSE fit", unit="step", disable=not progress) as bar:
        while step < total:
            order = torch.randperm(len(texts), generator=generator).tolist()
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                if len(index) < 2 or step >= total:
                    break
                loss = batch_loss(
                    model,
                    tokenizer,
                    [texts[i] for i in index],
                    temperature=temperature,
                    max_seq_length=max_seq_length,
                    pooling=pooling,
                    device=device,
                    dtype=dtype,
                )
                value = loss.item()
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"The SimCSE loss became {value} at step {step + 1} of {total}; "
                        "lower learning_rate or raise temperature. The estimator was not fitted."
                    )
                history["loss"].append(value)
                history["learning_rate"].append(scheduler.get_last_lr()[0])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4f}")
    return history
