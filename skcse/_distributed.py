"""Training on several processes with ``torch.distributed``, as launched by ``torchrun``.

Each rank trains the same model on its own slice of every global batch; gradients are averaged
by :class:`~torch.nn.parallel.DistributedDataParallel`. With gathered negatives every rank
scores its texts against the second views of all ranks, so the contrastive task is that of one
batch of ``world_size * batch_size`` texts, as in large-batch SimCSE.

This module knows nothing of scikit-learn; :mod:`skcse.encoder` and :mod:`skcse._training`
use it.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = [
    "agree_on_seed",
    "check_same_texts",
    "gather",
    "join",
    "mean_over_ranks",
    "rank_and_size",
]


def rank_and_size() -> tuple[int, int]:
    """Return this process's rank and the number of processes; ``(0, 1)`` when alone."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def join(device: torch.device) -> torch.device:
    """Join the process group that ``torchrun`` describes, and return this rank's device.

    Outside a launcher (``WORLD_SIZE`` unset or 1) nothing happens. Otherwise the default
    process group is started unless the caller already did (NCCL on CUDA, gloo on the CPU)
    and an unnumbered CUDA device becomes ``cuda:LOCAL_RANK``, one GPU per process.

    Parameters
    ----------
    device : torch.device
        The device the estimator resolved.

    Returns
    -------
    torch.device
    """
    if not dist.is_available() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def agree_on_seed(seed: int) -> int:
    """Return rank 0's seed on every rank, so that all ranks shuffle the data alike."""
    if rank_and_size()[1] == 1:
        return seed
    box = [seed]
    dist.broadcast_object_list(box, src=0)
    return int(box[0])


def check_same_texts(fingerprint: str) -> None:
    """Raise on every rank unless all ranks were given the same texts.

    Raises
    ------
    ValueError
        If the fingerprints of the ranks' texts differ.
    """
    size = rank_and_size()[1]
    if size == 1:
        return
    fingerprints: list[str | None] = [None] * size
    dist.all_gather_object(fingerprints, fingerprint)
    if len(set(fingerprints)) > 1:
        raise ValueError(
            "Distributed fit needs the same texts on every rank (each rank takes its own "
            f"slice of every batch), but the {size} ranks were given different texts."
        )


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from all ranks in rank order, letting gradients flow back.

    The backward pass sums, on each rank, the gradients that all ranks' losses send to its
    rows; averaging the ranks' gradients then gives the gradient of the mean loss.
    """
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor))


def mean_over_ranks(value: torch.Tensor) -> float:
    """Average a scalar over all ranks, for the loss the history records."""
    size = rank_and_size()[1]
    if size == 1:
        return value.item()
    total = value.detach().clone()
    dist.all_reduce(total)
    return total.item() / size
