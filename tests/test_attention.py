"""The CPU training attention and its dropout masks (skcse._attention) keep the results."""

from __future__ import annotations

import pytest
import torch

import skcse._attention as attention
from skcse import SimCSEEncoder
from skcse._attention import MaskDropout, _attention, dropout_mask, fast_dropout
from skcse._backbone import load_backbone, sentence_transformer

FAST = dict(batch_size=8, max_seq_length=32, device="cpu")


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_mask_keeps_one_minus_p(p):
    torch.manual_seed(0)
    keep = dropout_mask(torch.Size([1000, 1000]), p, torch.device("cpu"))
    assert keep.dtype == torch.bool and keep.shape == (1000, 1000)
    assert abs(keep.float().mean().item() - (1 - p)) < 0.002
    # No structure: neighbouring 16-bit draws of one 64-bit word are independent.
    pairs = keep.flatten()[: 4 * 250_000].view(-1, 4).float()
    assert abs((pairs[:, 0] * pairs[:, 1]).mean().item() - (1 - p) ** 2) < 0.003


def test_dropout_mask_follows_the_torch_seed():
    shape, cpu = torch.Size([7, 13]), torch.device("cpu")
    torch.manual_seed(3)
    first, second = dropout_mask(shape, 0.3, cpu), dropout_mask(shape, 0.3, cpu)
    torch.manual_seed(3)
    assert torch.equal(dropout_mask(shape, 0.3, cpu), first)
    assert not torch.equal(first, second)


def _encoder_layer() -> torch.nn.Module:
    module = torch.nn.Module()
    module.is_causal = False  # as BERT's self-attention; transformers reads a missing flag as True
    return module


@pytest.mark.parametrize("mask_kind", ["bool", "additive", "none"])
def test_attention_is_bert_attention_with_its_dropout_mask(monkeypatch, mask_kind):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4) for _ in range(3))
    padding = torch.tensor([[True] * 5, [True, True, True, False, False]])[:, None, None, :]
    mask = {
        "bool": padding,
        "additive": torch.zeros(padding.shape).masked_fill(~padding, torch.finfo(torch.float).min),
        "none": None,
    }[mask_kind]
    keep = torch.rand(2, 3, 5, 5) > 0.25
    monkeypatch.setattr(attention, "dropout_mask", lambda shape, p, device: keep)
    out, weights = _attention(_encoder_layer(), q, k, v, mask, dropout=0.25, scaling=0.5)
    scores = q @ k.transpose(-1, -2) * 0.5
    if mask_kind != "none":
        scores = scores.masked_fill(~padding, float("-inf"))
    expected = (scores.softmax(-1) * keep / 0.75) @ v
    assert weights is None
    torch.testing.assert_close(out, expected.transpose(1, 2))


def test_attention_without_dropout_is_pytorchs(monkeypatch):
    monkeypatch.setattr(attention, "dropout_mask", lambda *a: pytest.fail("no mask needed"))
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4) for _ in range(3))
    out, _ = _attention(_encoder_layer(), q, k, v, None, dropout=0.0, scaling=0.5)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=0.5)
    torch.testing.assert_close(out, expected.transpose(1, 2))


def test_fast_dropout_is_used_on_cpu_and_undone(tiny_model, texts, monkeypatch):
    shapes = []
    real = attention.dropout_mask
    monkeypatch.setattr(attention, "dropout_mask", lambda *a: shapes.append(a[0]) or real(*a))
    encoder = SimCSEEncoder(tiny_model, max_steps=2, dropout=0.1, **FAST).fit(texts)
    # 2 steps of 2 forward passes (one per view) through the 2-layer models; each pass draws
    # one attention mask per layer, and hidden-state masks after the embeddings and twice per
    # layer.
    assert sum(len(shape) == 4 for shape in shapes) == 2 * 2 * 2
    assert sum(len(shape) == 3 for shape in shapes) == 2 * 2 * 5
    assert encoder.model_[0].config._attn_implementation == "sdpa"
    modules = list(encoder.model_.modules())
    assert not any(isinstance(m, MaskDropout) for m in modules)
    assert sum(type(m) is torch.nn.Dropout for m in modules) >= 5
    shapes.clear()
    SimCSEEncoder(tiny_model, max_steps=2, dropout=0.0, **FAST).fit(texts)
    assert shapes == []


def test_padding_is_masked_in_the_training_attention(tiny_model, monkeypatch):
    calls = []
    real = attention.dropout_mask
    monkeypatch.setattr(attention, "dropout_mask", lambda *a: calls.append(a[0]) or real(*a))
    # A drop probability that rounds to 0: skcse's attention runs, and nothing is dropped.
    transformer = load_backbone(tiny_model, dropout=1e-9, max_seq_length=64)
    model = sentence_transformer(transformer, "mean", False, "cpu").train()
    cpu = torch.device("cpu")
    short, long = "a short review", " ".join(["a much longer review of a toy"] * 8)
    with fast_dropout(transformer.auto_model, cpu), torch.no_grad():
        alone = model(model.preprocess([short]))["sentence_embedding"]
        padded = model(model.preprocess([short, long]))["sentence_embedding"][:1]
    assert any(len(shape) == 4 for shape in calls)
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-4)


def test_fast_dropout_is_undone_after_an_error(tiny_bert):
    model = load_backbone(tiny_bert).auto_model
    before = [type(m) for m in model.modules()]
    with pytest.raises(RuntimeError), fast_dropout(model, torch.device("cpu")):
        assert model.config._attn_implementation == attention.ATTENTION_NAME
        assert any(isinstance(m, MaskDropout) for m in model.modules())
        raise RuntimeError
    assert model.config._attn_implementation == "sdpa"
    assert [type(m) for m in model.modules()] == before


def test_mask_dropout_scales_kept_values_and_is_identity_in_eval():
    torch.manual_seed(0)
    layer = MaskDropout(0.2)
    x = torch.ones(400, 500)
    y = layer(x)
    assert set(y.unique().tolist()) == {0.0, 1.25}
    assert abs((y == 0).float().mean().item() - 0.2) < 0.005
    assert torch.equal(layer.eval()(x), x)


@pytest.mark.parametrize("with_bias", [True, False])
def test_dropout_attention_gradients_match_autograd(with_bias):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    bias = torch.zeros(2, 1, 1, 5, dtype=torch.float64)
    bias[1, ..., 3:] = torch.finfo(torch.float64).min
    bias = bias if with_bias else None
    keep = torch.rand(2, 3, 5, 5) > 0.3

    def manual(q, k, v):
        scores = q @ k.transpose(-1, -2) * 0.5 + (0 if bias is None else bias)
        return (scores.softmax(-1) * keep) @ v / 0.7

    def ours(q, k, v):
        return attention._DropoutAttention.apply(q, k, v, bias, keep, 0.5, 1 / 0.7)

    assert torch.autograd.gradcheck(ours, (q, k, v))
    torch.testing.assert_close(ours(q, k, v), manual(q, k, v))
    grads = torch.autograd.grad(ours(q, k, v).square().sum(), (q, k, v))
    expected = torch.autograd.grad(manual(q, k, v).square().sum(), (q, k, v))
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want)
