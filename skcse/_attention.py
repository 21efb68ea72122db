"""Dropout for SimCSE training on the CPU, where dropout is what the views are made of.

With attention dropout on, PyTorch's CPU ``scaled_dot_product_attention`` leaves its fused
kernel for a generic path that upcasts, and ``torch.bernoulli`` draws one number per
attention weight: training spent about half of each step there. The function below computes
the same thing, dropout after the softmax and before the value product as in BERT, in the
autocast dtype; it draws its dropout masks 16 bits at a time and recomputes the softmax in
the backward pass instead of keeping two length x length tensors per layer. The hidden-state
dropout modules get the same cheaper masks.

This module knows nothing of scikit-learn; :mod:`skcse._training` uses it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch

__all__ = ["ATTENTION_NAME", "MaskDropout", "dropout_mask", "fast_dropout"]

ATTENTION_NAME = "skcse_cpu_train"
_INT16_SPAN = 1 << 16


def dropout_mask(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor:
    """Draw a boolean keep-mask, each entry kept with probability ``1 - p``.

    One 64-bit draw from torch's generator yields four 16-bit uniforms, so the drop
    probability is ``p`` rounded to a multiple of 1/65536 (0.1 becomes 0.100006).
    Seeding torch seeds the masks.
    """
    n = math.prod(shape)
    words = torch.randint(
        -(1 << 63), (1 << 63) - 1, ((n + 3) // 4,), dtype=torch.int64, device=device
    )
    threshold = round(p * _INT16_SPAN) - _INT16_SPAN // 2
    return words.view(torch.int16)[:n].view(shape) >= threshold


def _softmax_weights(
    query: torch.Tensor, key: torch.Tensor, bias: torch.Tensor | None, scale: float
) -> torch.Tensor:
    scores = torch.matmul(query, key.transpose(-1, -2)) * scale
    if bias is not None:
        scores = scores + bias
    return scores.softmax(dim=-1)


class _DropoutAttention(torch.autograd.Function):
    """``(softmax(q k^T * scale + bias) * keep) v / (1 - p)``, keeping q, k, v and the mask.

    Autograd would keep the softmax output and its dropped copy, two tensors of batch x heads x
    length x length per layer, 100 MB each layer for a batch of 64 pairs at 128 tokens in bf16.
    The backward pass recomputes the softmax from q and k instead, as fused attention kernels
    do: a step took 8% longer here, and its peak memory fell by about 300 MB.
    """

    @staticmethod
    def forward(ctx, query, key, value, bias, keep, scale, rescale):
        weights = _softmax_weights(query, key, bias, scale)
        ctx.save_for_backward(query, key, value, bias, keep)
        ctx.scale, ctx.rescale = scale, rescale
        return torch.matmul(weights * keep, value) * rescale

    @staticmethod
    def backward(ctx, grad_out):
        query, key, value, bias, keep = ctx.saved_tensors
        weights = _softmax_weights(query, key, bias, ctx.scale)
        grad_out = grad_out * ctx.rescale
        grad_value = torch.matmul((weights * keep).transpose(-1, -2), grad_out)
        grad_weights = torch.matmul(grad_out, value.transpose(-1, -2)) * keep
        grad_scores = torch._softmax_backward_data(grad_weights, weights, -1, weights.dtype)
        grad_scores = grad_scores * ctx.scale
        grad_query = torch.matmul(grad_scores, key)
        grad_key = torch.matmul(grad_scores.transpose(-1, -2), query)
        return grad_query, grad_key, grad_value, None, None, None, None


def _attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if (
        not 0.0 < dropout < 1.0
        or query.device.type != "cpu"
        or getattr(module, "is_causal", True)  # transformers reads a missing flag as causal
        or key.shape[1] != query.shape[1]  # grouped key/value heads
        or any(kwargs.get(name) is not None for name in ("softcap", "position_bias"))
    ):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    # Under autocast the projections already give one dtype; keep the products in it.
    dtype = torch.promote_types(torch.promote_types(query.dtype, key.dtype), value.dtype)
    query, key, value = query.to(dtype), key.to(dtype), value.to(dtype)
    bias = attention_mask
    if bias is not None and bias.dtype == torch.bool:
        bias = torch.zeros(bias.shape, dtype=dtype, device=bias.device).masked_fill_(
            ~bias, torch.finfo(dtype).min
        )
    elif bias is not None:
        bias = bias.to(dtype)
    scale = query.shape[-1] ** -0.5 if scaling is None else scaling
    keep = dropout_mask(torch.Size([*query.shape[:-1], key.shape[-2]]), dropout, query.device)
    output = _DropoutAttention.apply(query, key, value, bias, keep, scale, 1.0 / (1.0 - dropout))
    return output.transpose(1, 2).contiguous(), None


class MaskDropout(torch.nn.Module):
    """``torch.nn.Dropout`` with the masks of :func:`dropout_mask`; the identity in eval mode."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = dropout_mask(x.shape, self.p, x.device)
        return torch.where(keep, x * (1.0 / (1.0 - self.p)), 0.0)


def _swap_dropouts(model: torch.nn.Module) -> list[tuple[torch.nn.Module, str, torch.nn.Module]]:
    swapped = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            # Exactly nn.Dropout: subclasses may do more than drop.
            if type(child) is torch.nn.Dropout and 0.0 < child.p < 1.0:
                setattr(parent, name, MaskDropout(child.p).train(child.training))
                swapped.append((parent, name, child))
    return swapped


@contextlib.contextmanager
def fast_dropout(model: torch.nn.Module, device: torch.device) -> Iterator[None]:
    """Make the model's dropout cheaper while training on the CPU; undone on exit.

    Attention goes through :func:`_attention`, and every ``torch.nn.Dropout`` is replaced by a
    :class:`MaskDropout` of the same ``p``. Other devices (whose fused kernels handle dropout
    well) are left as they are, and so is the attention of models whose implementation
    transformers cannot swap. On exit the previous attention and modules return, so a fitted
    or pickled model carries no trace of skcse's.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if device.type != "cpu":
        yield
        return
    config = getattr(model, "config", None)
    previous = getattr(config, "_attn_implementation", None)
    attention = False
    if previous in ("sdpa", "eager"):
        AttentionInterface.register(ATTENTION_NAME, _attention)
        # transformers builds no padding mask for an attention it has no mask function for.
        AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)
        try:
            model.set_attn_implementation(ATTENTION_NAME)
            attention = True
        except (ValueError, NotImplementedError):
            pass
    swapped = _swap_dropouts(model)
    try:
        yield
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
        if attention:
            model.set_attn_implementation(previous)
