"""The views, batches and diagnostics of SimCSE training (skcse._training), and fit's use."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import skcse._training as training
from conftest import reviews_path
from skcse import SimCSEEncoder
from skcse._training import POOL_BATCHES, alignment_uniformity, epoch_order, make_views

FAST = dict(batch_size=8, max_seq_length=32, precision="fp32", device="cpu", random_state=0)
# Precision left to "auto", as a user would.
ANY_PRECISION = dict(batch_size=8, max_seq_length=32, device="cpu")
SENTENCE = "one two three four five six seven eight nine ten"


def _views(texts, augment, keep_range=(0.3, 1.0), seed=0, epoch=0):
    return make_views(texts, range(len(texts)), augment, keep_range, seed, epoch)


def test_dropout_views_are_the_texts_themselves():
    assert _views([SENTENCE, "a b"], "dropout") == ([SENTENCE, "a b"], [SENTENCE, "a b"])


@pytest.mark.parametrize("augment", ["crop", "delete"])
def test_views_keep_a_fraction_of_the_words_in_order(augment):
    words = SENTENCE.split()
    first, second = _views([SENTENCE] * 200, augment, keep_range=(0.3, 0.6))
    for view in first + second:
        kept = view.split()
        assert 3 <= len(kept) <= 6  # round(0.3 * 10) to round(0.6 * 10) words
        positions = [words.index(word) for word in kept]
        assert positions == sorted(positions)
        if augment == "crop":
            assert positions == list(range(positions[0], positions[0] + len(kept)))
    # Both views of a text are drawn independently.
    assert sum(a != b for a, b in zip(first, second, strict=True)) > 150
    if augment == "delete":
        gaps = [np.diff([words.index(w) for w in view.split()]).max(initial=1) for view in first]
        assert max(gaps) > 1  # some views skip words inside the text


@pytest.mark.parametrize("augment", ["crop", "delete"])
def test_views_follow_the_seed(augment):
    texts = [SENTENCE, "a b c d e f", "short one"]
    assert _views(texts, augment, seed=3) == _views(texts, augment, seed=3)
    assert _views(texts * 10, augment, seed=3) != _views(texts * 10, augment, seed=4)
    assert _views(texts * 10, augment, epoch=0) != _views(texts * 10, augment, epoch=1)


@pytest.mark.parametrize("augment", ["crop", "delete"])
def test_views_of_a_text_do_not_depend_on_its_batch(augment):
    # A resumed fit, or another process, draws a text's views without the rest of its batch.
    texts = [f"{SENTENCE} {i}" for i in range(12)]
    first, second = make_views(texts, range(12), augment, (0.3, 1.0), seed=5, epoch=2)
    alone = make_views(texts[7:9], [7, 8], augment, (0.3, 1.0), seed=5, epoch=2)
    assert alone == (first[7:9], second[7:9])


@pytest.mark.parametrize("augment", ["crop", "delete"])
def test_single_words_and_full_keep_leave_texts_whole(augment):
    assert _views(["alone", ""], augment) == (["alone", ""], ["alone", ""])
    assert _views([SENTENCE], augment, keep_range=(1.0, 1.0)) == ([SENTENCE], [SENTENCE])


def _diagnose(model_path, texts, augment="dropout", dropout=None):
    from skcse._backbone import load_backbone, sentence_transformer

    transformer = load_backbone(model_path, dropout, max_seq_length=32, quiet=True)
    return alignment_uniformity(
        sentence_transformer(transformer, "mean", False, "cpu"),
        texts,
        augment=augment,
        keep_range=(0.3, 1.0),
        seed=0,
        batch_size=8,
        device=torch.device("cpu"),
        dtype=None,
    )


def test_alignment_and_uniformity_are_in_range_and_leave_the_rng_alone(tiny_bert, texts):
    state = torch.get_rng_state()
    alignment, uniformity = _diagnose(tiny_bert, texts)
    assert torch.equal(torch.get_rng_state(), state)
    assert 0.0 < alignment <= 4.0  # squared distance between unit vectors
    assert -4.0 <= uniformity < 0.0  # log of a mean of exp(-2 d^2), d^2 in [0, 4]
    assert _diagnose(tiny_bert, texts) == (alignment, uniformity)  # fixed sample and draws


def test_harder_views_are_less_aligned(tiny_bert, texts):
    dropout, uniformity = _diagnose(tiny_bert, texts, "dropout")
    crop, same_uniformity = _diagnose(tiny_bert, texts, "crop")
    assert crop > dropout
    assert same_uniformity == uniformity  # uniformity uses the texts, not the views


def test_identical_texts_are_perfectly_uniformly_bad(tiny_bert):
    # No dropout and one text repeated: the views coincide and all pairs are at distance 0.
    alignment, uniformity = _diagnose(tiny_bert, ["same text"] * 10, dropout=0.0)
    assert alignment == pytest.approx(0.0, abs=1e-10)
    assert uniformity == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("augment", ["dropout", "crop", "delete"])
def test_fit_records_alignment_and_uniformity_at_start_and_end(tiny_bert, texts, augment):
    def history(learning_rate):
        params = dict(FAST, augment=augment, learning_rate=learning_rate, compute_alignment=True)
        return SimCSEEncoder(tiny_bert, **params).fit(texts).history_

    trained, frozen = history(1e-3), history(0.0)
    for name in ("alignment", "uniformity"):
        assert len(trained[name]) == 2 and all(math.isfinite(v) for v in trained[name])
        assert trained[name][0] == frozen[name][0]  # measured before the first step
        assert frozen[name][1] == frozen[name][0]  # same sample and draws at the end
        assert trained[name][1] != trained[name][0]  # the model moved
    # Off by default: the pass costs about as much as two steps of 64 texts.
    plain = SimCSEEncoder(tiny_bert, **FAST).fit(texts).history_
    assert plain["alignment"] == plain["uniformity"] == [] and len(plain["loss"]) > 0


@pytest.mark.parametrize("augment", ["crop", "delete"])
def test_augmented_fit_is_reproducible_and_differs_from_dropout(tiny_bert, texts, augment):
    def embed(**params):
        return SimCSEEncoder(tiny_bert, learning_rate=1e-3, **{**FAST, **params}).fit_transform(
            texts
        )

    first = embed(augment=augment)
    np.testing.assert_array_equal(first, embed(augment=augment))
    assert not np.allclose(first, embed(augment=augment, random_state=1), atol=1e-5)
    assert not np.allclose(first, embed(augment="dropout"), atol=1e-5)
    assert not np.allclose(first, embed(augment=augment, keep_range=(0.9, 1.0)), atol=1e-5)


@pytest.mark.parametrize(
    ("augment", "advice"), [("dropout", "augment='crop'"), ("crop", "lower keep_range")]
)
def test_low_initial_loss_warns_with_advice(tiny_bert, texts, monkeypatch, augment, advice):
    monkeypatch.setattr(training, "LOW_INITIAL_LOSS", 100.0)
    with pytest.warns(UserWarning, match="nothing to learn|too easy") as record:
        SimCSEEncoder(tiny_bert, augment=augment, max_steps=2, **FAST).fit(texts)
    assert len(record) == 1  # the first step only
    assert advice in str(record[0].message)
    assert record[0].filename == __file__  # points at the caller's fit


def test_low_initial_loss_warning_points_at_the_pipeline_caller(tiny_bert, texts, monkeypatch):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    monkeypatch.setattr(training, "LOW_INITIAL_LOSS", 100.0)
    encoder = SimCSEEncoder(tiny_bert, augment="dropout", max_steps=1, **FAST)
    pipe = make_pipeline(encoder, StandardScaler())
    with pytest.warns(UserWarning, match="nothing to learn") as record:
        pipe.fit_transform(texts)
    assert [warning.filename for warning in record] == [__file__]


def test_a_loss_with_something_to_learn_does_not_warn(tiny_bert, texts):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SimCSEEncoder(tiny_bert, max_steps=2, **FAST).fit(texts)


@pytest.mark.integration
def test_sentence_tuned_backbone_warns_for_dropout_not_for_crop():
    """The measured case: all-MiniLM-L6-v2 already solves dropout-only SimCSE on reviews."""
    import pandas as pd

    path = reviews_path()
    if path is None:
        pytest.skip("the shared reviews are absent")
    reviews = pd.read_csv(path, nrows=400)["Text"].dropna().drop_duplicates().tolist()[:64]
    params = dict(max_steps=1, batch_size=64, max_seq_length=64, random_state=0)
    with pytest.warns(UserWarning, match="dropout-only SimCSE has nothing to learn"):
        dropout = SimCSEEncoder(augment="dropout", **params).fit(reviews)
    assert dropout.history_["loss"][0] < 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        crop = SimCSEEncoder(augment="crop", **params).fit(reviews)
    assert crop.history_["loss"][0] > 0.01


def test_epoch_order_without_grouping_is_a_plain_shuffle():
    lengths = list(range(300))
    order = epoch_order(lengths, 8, torch.Generator().manual_seed(1), False)
    assert order == torch.randperm(300, generator=torch.Generator().manual_seed(1)).tolist()


def test_epoch_order_groups_lengths_within_pools():
    rng = np.random.default_rng(0)
    batch, n = 8, 8 * POOL_BATCHES * 2 + 5  # two full pools and a last batch of 5
    lengths = rng.integers(1, 1000, size=n).tolist()
    order = epoch_order(lengths, batch, torch.Generator().manual_seed(0), True)
    assert sorted(order) == list(range(n))
    batches = [order[i : i + batch] for i in range(0, n, batch)]
    assert len(batches[-1]) == 5
    spread = np.mean([np.ptp([lengths[i] for i in b]) for b in batches[:-1]])
    shuffled = np.mean([np.ptp(lengths[i : i + batch]) for i in range(0, n - batch, batch)])
    assert spread < shuffled / 5
    # The batches are shuffled, not served from longest to shortest.
    maxima = [max(lengths[i] for i in b) for b in batches[:-1]]
    assert maxima != sorted(maxima, reverse=True)
    same = epoch_order(lengths, batch, torch.Generator().manual_seed(0), True)
    other = epoch_order(lengths, batch, torch.Generator().manual_seed(1), True)
    assert same == order and other != order


def test_group_by_length_fit_is_reproducible(tiny_bert, texts):
    first = SimCSEEncoder(
        tiny_bert, max_steps=3, group_by_length=True, random_state=0, **ANY_PRECISION
    )
    second = SimCSEEncoder(
        tiny_bert, max_steps=3, group_by_length=True, random_state=0, **ANY_PRECISION
    )
    assert first.fit(texts).history_ == second.fit(texts).history_
    plain = SimCSEEncoder(tiny_bert, max_steps=3, random_state=0, **ANY_PRECISION).fit(texts)
    assert plain.history_["loss"] != first.history_["loss"]


def test_bf16_training_reaches_the_fp32_loss(tiny_model, texts):
    # The paper's views (the text itself): the loss can fall far, unlike with random crops.
    params = dict(augment="dropout", epochs=4, learning_rate=1e-3, dropout=0.1, random_state=0)
    params.update(ANY_PRECISION)
    fp32, bf16 = (
        np.array(SimCSEEncoder(tiny_model, precision=p, **params).fit(texts).history_["loss"])
        for p in ("fp32", "bf16")
    )
    # The same seed draws the same batches and dropout masks; only rounding differs.
    assert fp32[-6:].mean() < 0.2 * fp32[:6].mean()
    assert abs(bf16.mean() - fp32.mean()) < 0.1 * fp32.mean()
    assert abs(bf16[-6:].mean() - fp32[-6:].mean()) < 0.5 * fp32[-6:].mean()


@pytest.mark.parametrize("model", ["tiny_bert", "tiny_roberta"])
def test_trainable_layers_trains_only_the_top_layers(model, texts, request):
    path = request.getfixturevalue(model)
    params = dict(max_steps=2, learning_rate=1e-3, dropout=0.1, **FAST)
    untrained = SimCSEEncoder(path, epochs=0, **FAST).fit(texts).model_[0].auto_model
    top = SimCSEEncoder(path, trainable_layers=1, **params).fit(texts)
    start = untrained.state_dict()
    changed = {
        name
        for name, value in top.model_[0].auto_model.state_dict().items()
        if not torch.equal(value, start[name])
    }
    # The tiny backbones have 2 layers: only the second one moved.
    assert changed and all(name.startswith("encoder.layer.1.") for name in changed)
    # The frozen part is frozen for the fit only: the fitted model trains as a whole.
    assert all(p.requires_grad for p in top.model_.parameters())
    full = SimCSEEncoder(path, **params).fit(texts)
    assert full.history_["loss"][0] == top.history_["loss"][0]  # the same first forward
    assert full.history_["loss"][1] != top.history_["loss"][1]


def test_trainable_layers_beyond_the_backbone_is_refused(tiny_bert, texts):
    with pytest.raises(ValueError, match=r"trainable_layers=3, but this backbone has 2 layers"):
        SimCSEEncoder(tiny_bert, trainable_layers=3, **FAST).fit(texts)
    with pytest.raises(ValueError, match="'trainable_layers' parameter"):
        SimCSEEncoder(tiny_bert, trainable_layers=0, **FAST).fit(texts)


@pytest.mark.parametrize("model", ["tiny_bert", "tiny_roberta"])
def test_trimmed_chunks_embed_like_one_padded_batch(model, texts, request):
    from skcse._backbone import load_backbone, sentence_transformer
    from skcse._training import cpu_chunk, embed_trimmed

    transformer = load_backbone(request.getfixturevalue(model), None, max_seq_length=64)
    st = sentence_transformer(transformer, "mean", False, "cpu").eval()
    # Lengths from 1 to 30 words, shuffled: chunks must cut, sort and put the rows back.
    batch = [" ".join(texts[i % len(texts)].split() * 4)[: 5 * (i % 30) + 5] for i in range(37)]
    features = st.preprocess(batch)
    lengths = features["attention_mask"].sum(1)
    assert lengths.min() < 0.5 * lengths.max()  # padding to cut, not a vacuous case
    with torch.no_grad():
        whole = st(dict(features))["sentence_embedding"]
        chunked = embed_trimmed(st, dict(features), 8)
        one_piece = embed_trimmed(st, dict(features), None)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-4)
    assert torch.equal(one_piece, whole)
    # Chunks on the CPU only, and only where the padding is on the right, where it can be cut.
    assert cpu_chunk(st, torch.device("cpu")) == training.CPU_CHUNK
    assert cpu_chunk(st, torch.device("cuda")) is None
    st.tokenizer.padding_side = "left"
    assert cpu_chunk(st, torch.device("cpu")) is None
