"""The unsupervised SimCSE training loop: batches, views, loss, optimizer and schedule.

This module knows nothing of scikit-learn; the estimator in :mod:`skcse.encoder` calls it.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from skcse._attention import fast_dropout
from skcse._backbone import autocast
from skcse._distributed import gather, mean_over_ranks, rank_and_size
from skcse._io import atomic_write
from skcse._validation import user_stacklevel

__all__ = [
    "Checkpointer",
    "alignment_uniformity",
    "batch_loss",
    "count_steps",
    "epoch_order",
    "make_views",
    "simcse_loss",
    "train_simcse",
]

# Both reference recipes (the SimCSE code through the HF Trainer, sentence-transformers' fit)
# clip the gradient norm at 1.0.
MAX_GRAD_NORM = 1.0
# Length grouping sorts pools of this many batches, as the Hugging Face Trainer's
# group_by_length does: batches are of like lengths, yet drawn from a shuffled pool.
POOL_BATCHES = 50
# Alignment and uniformity are measured on this many texts: enough for a stable mean over the
# 32,640 pairs, a few seconds on a CPU for a MiniLM.
DIAGNOSTIC_SAMPLE = 256
# A first loss below this means the backbone already solves the task (all-MiniLM-L6-v2 starts
# at about 3e-4 on reviews); a vanilla masked LM starts above 1.
LOW_INITIAL_LOSS = 0.01


def simcse_loss(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float, offset: int = 0
) -> torch.Tensor:
    """InfoNCE over in-batch negatives: row i of ``z1`` must pick row ``offset + i`` of ``z2``.

    Parameters
    ----------
    z1 : torch.Tensor of shape (batch, dim)
        The first views' pooled vectors.
    z2 : torch.Tensor of shape (n, dim)
        The second views: the same batch (``n == batch``), or the batches of all ranks of a
        distributed fit, of which this rank's start at row ``offset``.
    temperature : float
        Cosine similarities are divided by it.
    offset : int, default=0
        Row of ``z2`` that pairs with the first row of ``z1``.

    Returns
    -------
    torch.Tensor
        The mean cross-entropy over the rows of ``z1``, a scalar.
    """
    logits = F.normalize(z1, dim=-1) @ F.normalize(z2, dim=-1).T / temperature
    return F.cross_entropy(logits, torch.arange(offset, offset + len(z1), device=z1.device))


def _view(words: list[str], augment: str, keep: float, generator: torch.Generator) -> str:
    k = max(1, round(keep * len(words)))
    if augment == "crop":
        start = int(torch.randint(len(words) - k + 1, (1,), generator=generator))
        return " ".join(words[start : start + k])
    chosen = torch.randperm(len(words), generator=generator)[:k].sort().values
    return " ".join(words[i] for i in chosen.tolist())


def make_views(
    texts: Sequence[str],
    augment: str,
    keep_range: tuple[float, float],
    generator: torch.Generator,
) -> tuple[list[str], list[str]] | None:
    """Draw the two views of each text, or return None when the views are the texts.

    Parameters
    ----------
    texts : sequence of str
        One batch.
    augment : {"dropout", "crop", "delete"}
        "dropout" keeps the texts (the views differ by dropout alone). "crop" makes each view
        a random contiguous span of the words, "delete" a random subset of them in their
        order; either keeps a fraction of the words drawn uniformly from ``keep_range``
        (at least one word). Words are split on whitespace.
    keep_range : (float, float)
        Lowest and highest fraction of words a view keeps.
    generator : torch.Generator
        The source of all draws, so that a seed fixes the views.

    Returns
    -------
    (list of str, list of str) or None
        The first and the second views, or None for "dropout".
    """
    if augment == "dropout":
        return None
    low, high = keep_range
    keeps = (low + (high - low) * torch.rand(2, len(texts), generator=generator)).tolist()
    views: tuple[list[str], list[str]] = ([], [])
    for text_keeps, out in zip(keeps, views, strict=True):
        for text, keep in zip(texts, text_keeps, strict=True):
            words = text.split()
            out.append(_view(words, augment, keep, generator) if len(words) > 1 else text)
    return views


def batch_loss(
    model: torch.nn.Module,
    texts: Sequence[str],
    *,
    views: tuple[Sequence[str], Sequence[str]] | None = None,
    temperature: float,
    device: torch.device,
    dtype: torch.dtype | None,
    gather_negatives: bool = False,
) -> torch.Tensor:
    """SimCSE loss of one batch: both views of the B texts go through the model once, as 2B rows.

    ``model`` is a ``SentenceTransformer`` (or a ``DistributedDataParallel`` around one): its
    tokenizer, truncation and pooling make the vectors. Running both views in one forward pass
    gives each its own dropout mask (the model must be in train mode) and keeps the matrix
    products large. Without ``views`` (from
    :func:`make_views`) both views are the texts themselves, tokenized once. With
    ``gather_negatives`` in a distributed fit, the second views of all ranks' batches are the
    candidates.
    """
    z1, z2 = _embed_views(model, texts, views, device, dtype)
    rank, size = rank_and_size()
    if gather_negatives and size > 1:
        return simcse_loss(z1, gather(z2), temperature, offset=rank * len(z1))
    return simcse_loss(z1, z2, temperature)


def _features(model: torch.nn.Module, texts: Sequence[str], device: torch.device) -> dict:
    # DistributedDataParallel hides the SentenceTransformer, whose preprocess tokenizes.
    st = getattr(model, "module", model)
    features = st.preprocess(list(texts))
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in features.items()}


def _embed(model: torch.nn.Module, features: dict, device: torch.device, dtype) -> torch.Tensor:
    with autocast(device, dtype):
        return model(features)["sentence_embedding"].float()


def _embed_views(
    model: torch.nn.Module,
    texts: Sequence[str],
    views: tuple[Sequence[str], Sequence[str]] | None,
    device: torch.device,
    dtype: torch.dtype | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    if views is None:
        once = _features(model, texts, device)
        features = {k: torch.cat([v, v]) if torch.is_tensor(v) else v for k, v in once.items()}
    else:
        features = _features(model, [*views[0], *views[1]], device)
    return _embed(model, features, device, dtype).chunk(2)


@torch.no_grad()
def alignment_uniformity(
    model: torch.nn.Module,
    texts: Sequence[str],
    *,
    augment: str,
    keep_range: tuple[float, float],
    seed: int,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype | None,
) -> tuple[float, float]:
    """Alignment and uniformity (Wang & Isola, 2020) of unit-length embeddings.

    Alignment is the mean squared distance between the two training views of a text (drawn
    as in training, in train mode): lower means positives sit closer. Uniformity is the log of
    the mean of ``exp(-2 * squared distance)`` over all pairs of texts, embedded in eval mode:
    lower means the texts spread more evenly over the sphere. Both use the same
    ``DIAGNOSTIC_SAMPLE`` texts and the same random draws for a given ``seed``, in batches of
    ``batch_size``, and leave torch's global random state as they found it, so that training
    is unchanged by them.

    Returns
    -------
    alignment, uniformity : float
    """
    devices = [device] if device.type == "cuda" else []
    was_training = model.training
    squared, unit = [], []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        pick = torch.randperm(len(texts), generator=generator)[:DIAGNOSTIC_SAMPLE].tolist()
        for start in range(0, len(pick), batch_size):
            chunk = [texts[i] for i in pick[start : start + batch_size]]
            model.train()
            views = make_views(chunk, augment, keep_range, generator)
            z1, z2 = _embed_views(model, chunk, views, device, dtype)
            squared.append((F.normalize(z1, dim=-1) - F.normalize(z2, dim=-1)).pow(2).sum(-1))
            model.eval()
            features = _features(model, chunk, device)
            unit.append(F.normalize(_embed(model, features, device, dtype), dim=-1))
    model.train(was_training)
    uniformity = torch.pdist(torch.cat(unit)).pow(2).mul(-2).exp().mean().log()
    return float(torch.cat(squared).mean()), float(uniformity)


def count_steps(
    n_samples: int, batch_size: int, epochs: int, max_steps: int | None, drop_last: bool = False
) -> int:
    """Count the optimizer steps.

    A trailing batch of one text has no negative and is skipped; with ``drop_last`` (a
    distributed fit, whose ranks must gather batches of one size) any partial batch is.
    """
    smallest = batch_size if drop_last else 2
    per_epoch = n_samples // batch_size + (1 if n_samples % batch_size >= smallest else 0)
    total = per_epoch * epochs
    return total if max_steps is None else min(total, max_steps)


def epoch_order(
    lengths: Sequence[int], batch_size: int, generator: torch.Generator, group_by_length: bool
) -> list[int]:
    """Shuffle the indices for one epoch; consecutive runs of ``batch_size`` are the batches.

    With ``group_by_length``, each pool of ``POOL_BATCHES`` shuffled batches is sorted by
    length and cut into batches, whose order is shuffled again, so that a batch pads to
    little more than its own texts' length. The only partial batch stays last.
    """
    order = torch.randperm(len(lengths), generator=generator)
    if not group_by_length:
        return order.tolist()
    pool = batch_size * POOL_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        keys = torch.tensor([lengths[i] for i in chunk.tolist()])
        chunk = chunk[torch.argsort(keys, descending=True, stable=True)]
        batches.extend(chunk.split(batch_size))
    full = [batch for batch in batches if len(batch) == batch_size]
    partial = [batch for batch in batches if len(batch) < batch_size]
    shuffled = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
    return torch.cat([*shuffled, *partial]).tolist()


def _linear_schedule(warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


class Checkpointer:
    """Writes and reads one training checkpoint file, atomically.

    Parameters
    ----------
    folder : str or path-like
        Where ``checkpoint.pt`` lives; created on the first save.
    every : int
        Save after every ``every`` optimizer steps.
    fingerprint : str
        Identifies the parameters and data; a checkpoint with another fingerprint is ignored.
    """

    FILE = "checkpoint.pt"

    def __init__(self, folder: str | os.PathLike[str], every: int, fingerprint: str) -> None:
        self.path = Path(folder) / self.FILE
        self.every = every
        self.fingerprint = fingerprint

    def load(self) -> dict[str, Any] | None:
        """Return the saved state, or None when there is none for this fingerprint."""
        if not self.path.is_file():
            return None
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") != self.fingerprint:
            warnings.warn(
                f"{self.path} belongs to a fit with other parameters or data; "
                "training starts afresh and will replace it.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` to a temporary file, then rename it over the checkpoint."""
        with atomic_write(self.path) as handle:
            torch.save({**state, "fingerprint": self.fingerprint}, handle)

    def remove(self) -> None:
        """Delete the checkpoint once the fit it belongs to has finished."""
        self.path.unlink(missing_ok=True)


def _warn_low_initial_loss(loss: float, augment: str) -> None:
    from skcse._recipes import SENTENCE_TUNED, describe

    if augment == "dropout":
        advice = (
            "dropout-only SimCSE has nothing to learn on this backbone (a sentence-tuned "
            "model, most likely), and its tiny gradients can still make the embeddings worse "
            "for clustering. Use the sentence-tuned recipe, "
            f"{describe(SENTENCE_TUNED)}: views that differ in their words, and a backbone "
            "nudged rather than retrained; or epochs=0 to keep the backbone as it is."
        )
    else:
        advice = (
            f"the {augment!r} views are too easy for this backbone; lower keep_range for "
            "views that differ more, or use epochs=0 to keep the backbone as it is."
        )
    warnings.warn(
        f"The SimCSE loss starts at {loss:.2g}, below {LOW_INITIAL_LOSS}: the backbone already "
        f"tells the two views of each text from the other texts, so {advice}",
        UserWarning,
        stacklevel=user_stacklevel(),
    )


def _data_parallel(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    # Some parameters (a BERT pooler, say) never take part in the loss, which
    # DistributedDataParallel refuses unless told to look for them.
    return DistributedDataParallel(
        model,
        device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=True,
    )


def train_simcse(
    model: torch.nn.Module,
    texts: Sequence[str],
    *,
    batch_size: int,
    epochs: int,
    max_steps: int | None,
    learning_rate: float,
    weight_decay: float,
    warmup_ratio: float,
    temperature: float,
    device: torch.device,
    dtype: torch.dtype | None,
    generator: torch.Generator,
    augment: str = "dropout",
    keep_range: tuple[float, float] = (0.3, 1.0),
    group_by_length: bool = False,
    gather_negatives: bool = True,
    checkpointer: Checkpointer | None = None,
    progress: bool = False,
) -> tuple[dict[str, list[float]], int]:
    """Train ``model`` in place with unsupervised SimCSE.

    Parameters
    ----------
    model : sentence_transformers.SentenceTransformer
        Its transformer's weights are trained; its tokenizer, truncation and pooling make the
        vectors.
    generator : torch.Generator
        Drives the data order and the views; dropout draws from torch's global generator,
        which the caller seeds.
    augment : {"dropout", "crop", "delete"}, default="dropout"
        How the two views of a text differ beyond dropout (see :func:`make_views`).
    keep_range : (float, float), default=(0.3, 1.0)
        Fraction of the words a "crop" or "delete" view keeps.
    group_by_length : bool, default=False
        Batch texts of like lengths together (see :func:`epoch_order`).
    gather_negatives : bool, default=True
        In a distributed fit (see :mod:`skcse._distributed`), score each rank's texts against
        the second views of all ranks. Each rank takes ``batch_size`` texts of every global
        batch of ``world_size * batch_size``; a partial global batch is skipped.
    checkpointer : Checkpointer or None
        If given, the model, optimizer, schedule, random states and data order are saved
        every ``checkpointer.every`` steps, and a matching checkpoint is resumed from.

    Returns
    -------
    history : dict
        ``"loss"`` and ``"learning_rate"``, one entry per optimizer step; ``"alignment"``
        and ``"uniformity"`` (see :func:`alignment_uniformity`), measured before the first
        and after the last step. Empty lists when no step is taken.
    resumed_from : int
        The step a checkpoint resumed from, 0 for a fresh start.

    Raises
    ------
    FloatingPointError
        If a loss is not finite; the message names the step.
    """
    rank, size = rank_and_size()
    global_batch = batch_size * size
    total = count_steps(len(texts), global_batch, epochs, max_steps, drop_last=size > 1)
    history: dict[str, list[float]] = {
        "loss": [],
        "learning_rate": [],
        "alignment": [],
        "uniformity": [],
    }
    if total == 0:
        return history, 0
    # Biases and normalization weights take no weight decay, as in the reference recipes.
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=learning_rate,
        # One kernel for all parameters instead of a loop over them; same arithmetic.
        fused=device.type in ("cpu", "cuda"),
    )
    warmup_steps = math.ceil(warmup_ratio * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(warmup_steps, total))
    step, start, order = 0, 0, None
    saved = checkpointer.load() if checkpointer is not None else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        generator.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in saved:
            torch.cuda.set_rng_state(saved["cuda_rng"], device)
        history, step, start, order = (
            saved["history"],
            saved["step"],
            saved["start"],
            saved["order"],
        )
    resumed_from = step

    def diagnose() -> None:
        alignment, uniformity = alignment_uniformity(
            model,
            texts,
            augment=augment,
            keep_range=keep_range,
            seed=generator.initial_seed(),
            batch_size=batch_size,
            device=device,
            dtype=dtype,
        )
        history["alignment"].append(alignment)
        history["uniformity"].append(uniformity)

    lengths = [len(text) for text in texts]
    model.train()
    with (
        fast_dropout(model[0].auto_model, device),
        tqdm(
            total=total,
            initial=step,
            desc="SimCSE fit",
            unit="step",
            disable=not progress or rank > 0,
        ) as bar,
    ):
        runner = _data_parallel(model, device) if size > 1 else model
        if step == 0:
            diagnose()
        while step < total:
            if order is None:
                order, start = epoch_order(lengths, global_batch, generator, group_by_length), 0
            while step < total and len(order) - start >= (global_batch if size > 1 else 2):
                first = start + rank * batch_size
                batch = [texts[i] for i in order[first : first + batch_size]]
                loss = batch_loss(
                    runner,
                    batch,
                    views=make_views(batch, augment, keep_range, generator),
                    temperature=temperature,
                    device=device,
                    dtype=dtype,
                    gather_negatives=gather_negatives,
                )
                value = mean_over_ranks(loss)
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"The SimCSE loss became {value} at step {step + 1} of {total}; "
                        "lower learning_rate or raise temperature. The estimator was not fitted."
                    )
                if step == 0 and value < LOW_INITIAL_LOSS:
                    _warn_low_initial_loss(value, augment)
                history["loss"].append(value)
                history["learning_rate"].append(scheduler.get_last_lr()[0])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step, start = step + 1, start + global_batch
                bar.update(1)
                bar.set_postfix(loss=f"{value:.3g}")
                if checkpointer is not None and step % checkpointer.every == 0 and step < total:
                    checkpointer.save(
                        {
                            "model": model.state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(),
                            "generator": generator.get_state(),
                            "torch_rng": torch.get_rng_state(),
                            **(
                                {"cuda_rng": torch.cuda.get_rng_state(device)}
                                if device.type == "cuda"
                                else {}
                            ),
                            "history": history,
                            "step": step,
                            "start": start,
                            "order": order,
                        }
                    )
            order = None
        diagnose()
    if checkpointer is not None:
        checkpointer.remove()
    return history, resumed_from
