"""Unsupervised SimCSE on sentence-transformers' Trainer.

The Trainer brings the optimizer (fused AdamW, no decay on biases and norms), the linear
schedule, gradient clipping, mixed precision, checkpointing and resume, and distributed data
parallelism through accelerate; its ``MultipleNegativesRankingLoss`` is SimCSE's InfoNCE
(``scale = 1 / temperature``, ``gather_across_devices`` for the negatives of all processes).
What is SimCSE's own lives here: the two views of each text (the text itself, a crop or a
deletion, drawn per text and epoch from the seed, so that a resumed fit draws the same ones),
batches of like lengths, alignment and uniformity, and the low-loss warning. On the CPU the
attention and dropout of :mod:`skcse._attention` are used, and each batch is embedded in
chunks of like lengths cut to their own padding (:func:`embed_trimmed`).

This module knows nothing of scikit-learn; the estimator in :mod:`skcse.encoder` calls it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import random
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformerTrainer
from sentence_transformers.base.losses.merged_forward import embed_columns
from sentence_transformers.base.sampler import DefaultBatchSampler
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from transformers import TrainerCallback

from skcse._attention import fast_dropout
from skcse._backbone import autocast
from skcse._io import atomic_write
from skcse._validation import user_stacklevel

__all__ = [
    "LOW_INITIAL_LOSS",
    "alignment_uniformity",
    "count_steps",
    "cpu_chunk",
    "embed_trimmed",
    "epoch_order",
    "make_views",
    "rank_and_size",
    "train_simcse",
    "train_top_layers",
    "transformer_layers",
]

# Length grouping sorts pools of this many batches, as the Hugging Face Trainer's
# group_by_length does: batches are of like lengths, yet drawn from a shuffled pool.
POOL_BATCHES = 50
# Alignment and uniformity are measured on this many texts, the same ones and the same draws at
# both ends. On 1,000 reviews the changes a fit made agreed with 256 texts' within 0.0001 and
# 0.001; 256 texts cost 23 s of a 138 s fit of 2,000 reviews on 2 AVX2 cores.
DIAGNOSTIC_SAMPLE = 128
# A first loss below this means the backbone already solves the task (all-MiniLM-L6-v2 starts
# at about 3e-4 on reviews); a vanilla masked LM starts above 1.
LOW_INITIAL_LOSS = 0.01
# Written beside the Trainer's checkpoints: a checkpoint is resumed only by the same fit.
FINGERPRINT_FILE = "skcse-fit.json"
# On the CPU a batch of views is embedded in chunks of this many, of like lengths, each cut to
# its own longest view: crops of 2,000 reviews in batches of 64 at 128 tokens pad to 2.5 times
# their tokens in one piece, and to 1.3 times in chunks of 16. Padding is masked, so the
# vectors are the same. None embeds each batch in one piece (as on a GPU, where one wide
# product beats several narrow ones).
CPU_CHUNK = 16


def rank_and_size() -> tuple[int, int]:
    """Return this process's rank and the number of processes; ``(0, 1)`` when alone."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _view(text: str, augment: str, keep_range: tuple[float, float], rng: Any) -> str:
    words = text.split()
    if augment == "dropout" or len(words) < 2:
        return text
    low, high = keep_range
    k = max(1, round((low + (high - low) * rng.random()) * len(words)))
    if augment == "crop":
        start = int(rng.integers(len(words) - k + 1))
        return " ".join(words[start : start + k])
    return " ".join(words[i] for i in np.sort(rng.permutation(len(words))[:k]))


def make_views(
    texts: Sequence[str],
    keys: Sequence[int],
    augment: str,
    keep_range: tuple[float, float],
    seed: int,
    epoch: int = 0,
) -> tuple[list[str], list[str]]:
    """Draw the two views of each text.

    Parameters
    ----------
    texts : sequence of str
        The texts.
    keys : sequence of int
        One per text, its row in the training data: the views of a text depend only on
        ``(seed, epoch, key)``, not on the batch it falls in.
    augment : {"dropout", "crop", "delete"}
        "dropout" keeps the texts (the views differ by dropout alone). "crop" makes each view
        a random contiguous span of the words, "delete" a random subset of them in their
        order; either keeps a fraction of the words drawn uniformly from ``keep_range``
        (at least one word). Words are split on whitespace; a single word is kept whole.
    keep_range : (float, float)
        Lowest and highest fraction of words a view keeps.
    seed, epoch : int
        Fix the draws.

    Returns
    -------
    (list of str, list of str)
        The first and the second views.
    """
    views: tuple[list[str], list[str]] = ([], [])
    for text, key in zip(texts, keys, strict=True):
        rng = np.random.default_rng([seed, epoch, int(key)])
        for out in views:
            out.append(_view(text, augment, keep_range, rng))
    return views


class _Views:
    """Dataset transform: rows ``{"text", "key"}`` become ``{"anchor", "positive"}`` views."""

    def __init__(self, augment: str, keep_range: tuple[float, float], seed: int) -> None:
        self.augment, self.keep_range, self.seed = augment, keep_range, seed
        self.epoch = 0  # set by the batch sampler as each epoch starts

    def __call__(self, batch: dict[str, list]) -> dict[str, list[str]]:
        anchor, positive = make_views(
            batch["text"], batch["key"], self.augment, self.keep_range, self.seed, self.epoch
        )
        return {"anchor": anchor, "positive": positive}


def count_steps(
    n_samples: int, batch_size: int, epochs: int, max_steps: int | None, drop_last: bool = False
) -> int:
    """Count the optimizer steps.

    A trailing batch of one text has no negative and is skipped; with ``drop_last`` (a
    distributed fit, whose processes gather batches of one size) any partial batch is.
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


class SimCSEBatchSampler(DefaultBatchSampler):
    """Batches of :func:`epoch_order`, without a batch of one text; sets the views' epoch.

    In a distributed fit the sampler yields whole global batches, ``world_size`` consecutive
    batches, which accelerate deals out to the processes in turn.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        *,
        views: _Views,
        lengths: list[int],
        group_by_length: bool,
    ) -> None:
        super().__init__(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
        self.views, self.lengths, self.group_by_length = views, lengths, group_by_length

    def __len__(self) -> int:
        size = rank_and_size()[1]
        return count_steps(len(self.lengths), self.batch_size * size, 1, None, size > 1) * size

    def __iter__(self) -> Iterator[list[int]]:
        self.views.epoch = self.epoch
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        size = rank_and_size()[1]
        order = epoch_order(self.lengths, self.batch_size * size, generator, self.group_by_length)
        for i in range(len(self)):
            yield order[i * self.batch_size : (i + 1) * self.batch_size]


def embed_trimmed(model: Any, features: dict[str, Any], chunk: int | None) -> torch.Tensor:
    """Embed a padded batch in chunks of ``chunk`` rows of like length, each cut to its longest.

    The rows come back in their order. The batch must be padded on the right (see
    :func:`cpu_chunk`); with ``chunk=None`` it is embedded in one piece.
    """
    mask = features.get("attention_mask")
    if chunk is None or mask is None:
        return model(features)["sentence_embedding"]
    n, width = mask.shape
    lengths = mask.sum(dim=1)
    order = torch.argsort(lengths, descending=True, stable=True)
    parts = []
    for rows in order.split(chunk):
        cut = int(lengths[rows].max())
        part = {}
        for key, value in features.items():
            if torch.is_tensor(value) and value.ndim >= 1 and value.shape[0] == n:
                value = value[rows]
                if value.ndim >= 2 and value.shape[1] == width:
                    value = value[:, :cut]
            part[key] = value
        parts.append(model(part)["sentence_embedding"])
    return torch.cat(parts)[torch.argsort(order)]


class SimCSELoss(MultipleNegativesRankingLoss):
    """MNRL whose similarities are computed in float32, also under mixed precision.

    In bf16 a cosine carries 3 significant digits, and ``scale`` multiplies its error by 20.
    With ``chunk`` (the CPU), each view column is embedded by :func:`embed_trimmed`.
    """

    def __init__(self, model: Any, *, chunk: int | None, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.chunk = chunk

    def forward(self, sentence_features: Any, labels: Any) -> torch.Tensor:
        if self.chunk is None:
            embeddings = embed_columns(self.model, sentence_features)
        else:
            embeddings = [embed_trimmed(self.model, f, self.chunk) for f in sentence_features]
        with torch.autocast(embeddings[0].device.type, enabled=False):
            return self.compute_loss_from_embeddings([e.float() for e in embeddings], labels)


def cpu_chunk(model: Any, device: torch.device) -> int | None:
    """Return the chunk of :func:`embed_trimmed` for ``model``: ``CPU_CHUNK`` on the CPU.

    None elsewhere, and where the tokenizer pads on the left, where cutting would drop tokens.
    """
    right = getattr(model.tokenizer, "padding_side", None) == "right"
    return CPU_CHUNK if device.type == "cpu" and right else None


def _simcse_loss(
    model: Any, temperature: float, gather: bool, chunk: int | None = None
) -> SimCSELoss:
    return SimCSELoss(model, scale=1.0 / temperature, gather_across_devices=gather, chunk=chunk)


def _embed(model: Any, texts: Sequence[str], device: torch.device, dtype) -> torch.Tensor:
    features = model.preprocess(list(texts))
    features = {k: v.to(device) if torch.is_tensor(v) else v for k, v in features.items()}
    with autocast(device, dtype):
        return F.normalize(embed_trimmed(model, features, cpu_chunk(model, device)).float(), dim=-1)


@torch.no_grad()
def alignment_uniformity(
    model: Any,
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
        pick = np.random.default_rng(seed).permutation(len(texts))[:DIAGNOSTIC_SAMPLE]
        for start in range(0, len(pick), batch_size):
            keys = pick[start : start + batch_size].tolist()
            chunk = [texts[i] for i in keys]
            model.train()
            first, second = make_views(chunk, keys, augment, keep_range, seed)
            z1, z2 = _embed(model, first + second, device, dtype).chunk(2)
            squared.append((z1 - z2).pow(2).sum(-1))
            model.eval()
            unit.append(_embed(model, chunk, device, dtype))
    model.train(was_training)
    uniformity = torch.pdist(torch.cat(unit)).pow(2).mul(-2).exp().mean().log()
    return float(torch.cat(squared).mean()), float(uniformity)


def transformer_layers(auto_model: torch.nn.Module) -> torch.nn.ModuleList:
    """Return the stack of transformer layers of a BERT-, RoBERTa- or DistilBERT-style model.

    Raises
    ------
    ValueError
        If the model holds no list of ``config.num_hidden_layers`` modules.
    """
    n_layers = getattr(auto_model.config, "num_hidden_layers", None)
    for module in auto_model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n_layers:
            return module
    raise ValueError(
        f"Could not find the {n_layers} transformer layers of this "
        f"{type(auto_model).__name__}, so trainable_layers cannot be applied; use "
        "trainable_layers=None to train the whole model."
    )


@contextlib.contextmanager
def train_top_layers(auto_model: torch.nn.Module, n: int | None) -> Iterator[None]:
    """Within the block, only the top ``n`` transformer layers take gradients.

    The embeddings and the lower layers then run without autograd and get no optimizer
    state; ``None`` trains everything. Every parameter takes gradients again afterwards.
    """
    if n is None:
        yield
        return
    top = transformer_layers(auto_model)[-n:]
    auto_model.requires_grad_(False)
    top.requires_grad_(True)
    try:
        yield
    finally:
        auto_model.requires_grad_(True)


def _warn_low_initial_loss(loss: float, augment: str) -> None:
    from skcse._recipes import SENTENCE_TUNED, describe

    if augment == "dropout":
        advice = (
            "dropout-only SimCSE has nothing to learn on this backbone (a sentence-tuned "
            "model, most likely), and its tiny gradients can still make the embeddings worse "
            "for clustering. Use the sentence-tuned recipe, "
            f"{describe(SENTENCE_TUNED)} (SimCSEEncoder's defaults): views that differ in "
            "their words, and a backbone nudged rather than retrained; or epochs=0 to keep "
            "the backbone as it is."
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


class _Watch(TrainerCallback):
    """Stops on a non-finite loss, warns on a low first one, keeps each step's rate.

    It also skips the checkpoint the Trainer would write after the last step.
    """

    def __init__(self, augment: str, total: int) -> None:
        self.augment, self.total, self.rate = augment, total, None

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs) -> None:
        self.rate = optimizer.param_groups[0]["lr"]

    def on_step_end(self, args, state, control, **kwargs) -> None:
        # The Trainer also saves after the last step; that checkpoint would only be removed.
        if state.global_step >= state.max_steps:
            control.should_save = False

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        if "loss" not in logs:
            return
        # The Trainer logs the rate of the next step; the history wants this step's.
        state.log_history[-1]["learning_rate"] = self.rate
        if not math.isfinite(logs["loss"]):
            raise FloatingPointError(
                f"The SimCSE loss became {logs['loss']} at step {state.global_step} of "
                f"{self.total}; lower learning_rate or raise temperature. The estimator was not "
                "fitted."
            )
        if state.global_step == 1 and logs["loss"] < LOW_INITIAL_LOSS:
            _warn_low_initial_loss(logs["loss"], self.augment)


class _Trainer(SentenceTransformerTrainer):
    # Its model-card callback copies training texts into the card that save writes, and
    # embeds some of them in a pass of its own: private corpora stay out of it.
    def add_model_card_callback(self, default_args_dict: dict[str, Any]) -> None:
        pass


def check_checkpoint_dir(checkpoint_dir: str | os.PathLike[str] | None) -> None:
    """Refuse, before any work, a ``checkpoint_dir`` whose checkpoints training would delete.

    The Trainer removes old ``checkpoint-*`` folders and a finished fit removes them all, so
    a folder holding some that skcse did not write (no ``skcse-fit.json``) is refused.

    Raises
    ------
    FileExistsError
        If ``checkpoint_dir`` is a file, or holds checkpoint folders skcse did not write.
    """
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    if checkpoint_dir is None:
        return
    folder = Path(checkpoint_dir)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"checkpoint_dir={os.fspath(folder)!r} is a file, not a folder.")
    if not folder.is_dir() or (folder / FINGERPRINT_FILE).is_file():
        return
    theirs = sorted(path.name for path in folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*"))
    if theirs:
        raise FileExistsError(
            f"checkpoint_dir={os.fspath(folder)!r} holds {len(theirs)} checkpoint folder(s) "
            f"that skcse did not write (e.g. {theirs[0]!r}; no {FINGERPRINT_FILE}), which "
            "training would delete. Choose a new or empty folder."
        )


def _resume_point(folder: Path | None, fingerprint: str | None) -> tuple[str | None, dict]:
    """Return the last complete checkpoint and what its fit recorded before the first step.

    The record holds the diagnosis made then and the fit's seed. Checkpoints of another fit
    (another fingerprint) are removed, with a warning.
    """
    from transformers.trainer import TRAINER_STATE_NAME
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    if folder is None or not folder.is_dir():
        return None, {}
    # The Trainer writes its state file last: a folder without it is a save cut short.
    complete = [
        path
        for path in folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*")
        if (path / TRAINER_STATE_NAME).is_file() and path.name.rsplit("-", 1)[1].isdigit()
    ]
    if not complete:
        return None, {}
    last = str(max(complete, key=lambda path: int(path.name.rsplit("-", 1)[1])))
    marker = folder / FINGERPRINT_FILE
    saved = json.loads(marker.read_text()) if marker.is_file() else {}
    if saved.get("fingerprint") == fingerprint:
        return last, saved
    warnings.warn(
        f"The checkpoints in {folder} belong to a fit with other parameters or data; training "
        "starts afresh and will replace them.",
        UserWarning,
        stacklevel=user_stacklevel(),
    )
    _remove_checkpoints(folder)
    return None, {}


def _remove_checkpoints(folder: Path) -> None:
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    for path in folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        shutil.rmtree(path)
    (folder / FINGERPRINT_FILE).unlink(missing_ok=True)


def train_simcse(
    model: Any,
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
    seed: int,
    augment: str = "dropout",
    keep_range: tuple[float, float] = (0.3, 1.0),
    group_by_length: bool = False,
    trainable_layers: int | None = None,
    compute_alignment: bool = False,
    gather_negatives: bool = True,
    checkpoint_dir: str | None = None,
    checkpoint_steps: int = 100,
    fingerprint: str | None = None,
    progress: bool = False,
) -> tuple[dict[str, list[float]], int]:
    """Train ``model`` in place with unsupervised SimCSE on a ``SentenceTransformerTrainer``.

    Parameters
    ----------
    model : sentence_transformers.SentenceTransformer
        Its transformer's weights are trained; its tokenizer, truncation and pooling make the
        vectors.
    seed : int
        Fixes the data order, the views and the dropout masks.
    augment : {"dropout", "crop", "delete"}, default="dropout"
        How the two views of a text differ beyond dropout (see :func:`make_views`).
    keep_range : (float, float), default=(0.3, 1.0)
        Fraction of the words a "crop" or "delete" view keeps.
    group_by_length : bool, default=False
        Batch texts of like lengths together (see :func:`epoch_order`).
    trainable_layers : int or None, default=None
        Train only the top this many transformer layers (see :func:`train_top_layers`);
        None trains the whole model.
    compute_alignment : bool, default=False
        Measure alignment and uniformity (see :func:`alignment_uniformity`) before the first
        and after the last step.
    gather_negatives : bool, default=True
        In a distributed fit, score each process's texts against the second views of all
        processes. Each process takes ``batch_size`` texts of every global batch of
        ``world_size * batch_size``; a partial global batch is skipped.
    checkpoint_dir : str or None
        If given, the Trainer's checkpoints are written there every ``checkpoint_steps``
        steps, and the last one is resumed from when its ``fingerprint`` matches; they are
        removed when training ends.
    fingerprint : str or None
        Identifies the parameters and texts of the fit; needed with ``checkpoint_dir``.

    Returns
    -------
    history : dict
        ``"loss"`` and ``"learning_rate"``, one entry per optimizer step; ``"alignment"``
        and ``"uniformity"``, measured before the first and after the last step with
        ``compute_alignment``. Empty lists when no step is taken.
    resumed_from : int
        The step a checkpoint resumed from, 0 for a fresh start.

    Raises
    ------
    FloatingPointError
        If a loss is not finite; the message names the step.
    """
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainingArguments
    from transformers import PrinterCallback
    from transformers import logging as hf_logging

    size = rank_and_size()[1]
    total = count_steps(len(texts), batch_size * size, epochs, max_steps, drop_last=size > 1)
    history: dict[str, list[float]] = {
        "loss": [],
        "learning_rate": [],
        "alignment": [],
        "uniformity": [],
    }
    folder = None if checkpoint_dir is None else Path(checkpoint_dir)
    resume, saved = _resume_point(folder, fingerprint)
    if total == 0:
        # Nothing to train or resume: the fit is over, and its checkpoints with it.
        if folder is not None and rank_and_size()[0] == 0:
            _remove_checkpoints(folder)
        return history, 0
    # Resumed, the fit goes on with the seed it started with: one drawn from
    # random_state=None differs at every call.
    seed = saved.get("seed", seed)

    def diagnose() -> None:
        if not compute_alignment:
            return
        alignment, uniformity = alignment_uniformity(
            model,
            texts,
            augment=augment,
            keep_range=keep_range,
            seed=seed,
            batch_size=batch_size,
            device=device,
            dtype=dtype,
        )
        history["alignment"].append(alignment)
        history["uniformity"].append(uniformity)

    views = _Views(augment, keep_range, seed)
    dataset = Dataset.from_dict({"text": list(texts), "key": list(range(len(texts)))})
    with tempfile.TemporaryDirectory(prefix="skcse-fit-") as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=str(folder or scratch),
            per_device_train_batch_size=batch_size,
            num_train_epochs=epochs,
            # A cap beyond the epochs' steps would make the Trainer run more epochs.
            max_steps=-1 if max_steps is None or max_steps > total else max_steps,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            warmup_steps=math.ceil(warmup_ratio * total),
            lr_scheduler_type="linear",
            bf16=dtype == torch.bfloat16,
            fp16=dtype == torch.float16,
            use_cpu=device.type == "cpu",
            seed=seed,
            batch_sampler=functools.partial(
                SimCSEBatchSampler,
                views=views,
                lengths=[len(text) for text in texts],
                group_by_length=group_by_length,
            ),
            dataloader_drop_last=size > 1,
            # Some parameters (a BERT pooler, say) never take part in the loss, which
            # DistributedDataParallel refuses unless told to look for them.
            ddp_find_unused_parameters=True,
            logging_steps=1,
            logging_nan_inf_filter=False,
            save_strategy="no" if folder is None else "steps",
            save_steps=checkpoint_steps,
            save_total_limit=1,
            report_to="none",
            disable_tqdm=not progress,
        )
        # The Trainer seeds Python's and numpy's global generators; the caller's stay as
        # they were (torch's is forked by the estimator).
        states = random.getstate(), np.random.get_state()  # noqa: NPY002 (the legacy global)
        verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()  # the Trainer's notes on its own defaults
        if not progress:  # checkpoints' "Writing model shards" bars
            hf_logging.disable_progress_bar()
        try:
            trainer = _Trainer(
                model=model,
                args=args,
                train_dataset=dataset.with_transform(views),
                loss=_simcse_loss(
                    model, temperature, gather_negatives and size > 1, cpu_chunk(model, device)
                ),
                callbacks=[_Watch(augment, total)],
            )
            trainer.remove_callback(PrinterCallback)  # prints every log line when tqdm is off
            auto_model = model[0].auto_model
            with fast_dropout(auto_model, device), train_top_layers(auto_model, trainable_layers):
                if resume is None:
                    diagnose()
                    if folder is not None and rank_and_size()[0] == 0:
                        diagnosis = history["alignment"] + history["uniformity"]
                        marker = {"fingerprint": fingerprint, "diagnosis": diagnosis, "seed": seed}
                        with atomic_write(folder / FINGERPRINT_FILE) as handle:
                            handle.write(json.dumps(marker).encode())
                else:
                    first = saved["diagnosis"]
                    history["alignment"], history["uniformity"] = first[:1], first[1:]
                trainer.train(resume_from_checkpoint=resume)
                diagnose()
            # The loss is checked before each update: the last update, or a NaN gradient
            # behind a finite loss, shows only in what the model now computes.
            probe = model.encode(list(texts[:8]), convert_to_numpy=True, show_progress_bar=False)
            if not np.isfinite(probe).all():
                raise FloatingPointError(
                    f"After {total} steps the model's vectors are NaN or infinite: training "
                    "diverged. Lower learning_rate or dropout, or raise temperature. The "
                    "estimator was not fitted."
                )
        finally:
            hf_logging.set_verbosity(verbosity)
            if bars:
                hf_logging.enable_progress_bar()
            random.setstate(states[0])
            np.random.set_state(states[1])  # noqa: NPY002
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    history["loss"] = [entry["loss"] for entry in logged]
    history["learning_rate"] = [entry["learning_rate"] for entry in logged]
    if folder is not None and rank_and_size()[0] == 0:
        _remove_checkpoints(folder)
    return history, 0 if resume is None else int(Path(resume).name.rsplit("-", 1)[1])
