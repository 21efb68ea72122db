"""The recipe constants: SimCSEEncoder, skcse compare, skcse fit and the low-loss warning."""

from __future__ import annotations

import pytest

from conftest import save_tiny
from skcse import SimCSEEncoder
from skcse._recipes import PAPER, SENTENCE_TUNED, describe, resolve
from skcse._training import _warn_low_initial_loss
from skcse.cli import _parser


def _resolved(args) -> dict:
    return resolve(args.augment, args.learning_rate, args.trainable_layers)


@pytest.fixture
def trained_with(monkeypatch):
    """The recipe each fit hands to the training loop, which is not run."""
    seen = []

    def record(model, texts, **kwargs):
        seen.append({key: kwargs[key] for key in SENTENCE_TUNED})
        return {"loss": [], "learning_rate": [], "alignment": [], "uniformity": []}, 0

    monkeypatch.setattr("skcse._training.train_simcse", record)
    return seen


def test_encoder_defaults_are_the_sentence_tuned_recipe_and_the_paper_one_parameter_away(
    tiny_bert, texts, trained_with
):
    SimCSEEncoder(tiny_bert).fit(texts)
    SimCSEEncoder(tiny_bert, augment=PAPER["augment"]).fit(texts)
    # Explicit values win over the recipe's.
    SimCSEEncoder(tiny_bert, augment="dropout", learning_rate=1e-4, trainable_layers=1).fit(texts)
    SimCSEEncoder(tiny_bert, augment="delete", trainable_layers=None).fit(texts)
    assert trained_with == [
        dict(SENTENCE_TUNED),
        dict(PAPER),
        {"augment": "dropout", "learning_rate": 1e-4, "trainable_layers": 1},
        {**SENTENCE_TUNED, "augment": "delete", "trainable_layers": None},
    ]


def test_auto_layers_are_capped_at_the_backbone_depth(tmp_path, texts, trained_with):
    one_layer = save_tiny("bert", tmp_path, layers=1)
    SimCSEEncoder(one_layer).fit(texts)
    assert trained_with[0]["trainable_layers"] == 1
    with pytest.raises(ValueError, match="trainable_layers=2, but this backbone has 1 layers"):
        SimCSEEncoder(one_layer, trainable_layers=2).fit(texts)


def test_compare_and_fit_follow_the_encoder_and_the_paper_is_one_option_away(capsys):
    parser = _parser()
    assert _resolved(parser.parse_args(["compare"])) == SENTENCE_TUNED
    assert _resolved(parser.parse_args(["fit", "in.txt", "--output", "out"])) == SENTENCE_TUNED
    argv = ["fit", "in.txt", "--output", "out", "--augment", PAPER["augment"]]
    assert _resolved(parser.parse_args(argv)) == PAPER
    argv += ["--learning-rate", "2e-5", "--trainable-layers", "3"]
    explicit = {"augment": "dropout", "learning_rate": 2e-5, "trainable_layers": 3}
    assert _resolved(parser.parse_args(argv)) == explicit
    with pytest.raises(SystemExit):
        parser.parse_args(["fit", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert f"{PAPER['augment']}, learning rate {PAPER['learning_rate']:g}" in shown
    for bad in (["--trainable-layers", "0"], ["--learning-rate", "fast"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["fit", "in.txt", "--output", "out", *bad])


def test_low_loss_warning_advises_the_sentence_tuned_recipe():
    with pytest.warns(UserWarning, match="nothing to learn") as record:
        _warn_low_initial_loss(0.001, "dropout")
    message = str(record[0].message)
    assert describe(SENTENCE_TUNED) in message
    assert "augment='crop', learning_rate=5e-06, trainable_layers=2" in message


def test_recipes_cannot_be_changed_by_a_caller():
    with pytest.raises(TypeError):
        SENTENCE_TUNED["learning_rate"] = 1.0
