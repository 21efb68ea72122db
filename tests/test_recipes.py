"""The recipe constants: skcse compare, skcse fit and the low-loss warning follow them."""

from __future__ import annotations

import inspect

import pytest

from skcse._compare import run_compare
from skcse._recipes import PAPER, SENTENCE_TUNED, describe
from skcse._training import _warn_low_initial_loss
from skcse.cli import _parser


def _recipe_of(args) -> dict:
    return {
        "augment": args.augment,
        "learning_rate": args.learning_rate,
        "trainable_layers": args.trainable_layers,
    }


def test_compare_trains_the_sentence_tuned_recipe():
    defaults = inspect.signature(run_compare).parameters
    assert {key: defaults[key].default for key in SENTENCE_TUNED} == SENTENCE_TUNED
    assert _recipe_of(_parser().parse_args(["compare"])) == SENTENCE_TUNED


def test_fit_trains_the_same_recipe_as_compare_and_the_paper_is_one_option_away(capsys):
    parser = _parser()
    assert _recipe_of(parser.parse_args(["fit", "in.txt", "--output", "out"])) == SENTENCE_TUNED
    argv = ["fit", "in.txt", "--output", "out", "--augment", PAPER["augment"]]
    argv += ["--learning-rate", str(PAPER["learning_rate"]), "--trainable-layers", "all"]
    assert _recipe_of(parser.parse_args(argv)) == PAPER
    with pytest.raises(SystemExit):
        parser.parse_args(["fit", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    paper = f"--augment {PAPER['augment']} --learning-rate {PAPER['learning_rate']:g}"
    assert f"{paper} --trainable-layers all" in shown
    with pytest.raises(SystemExit):
        parser.parse_args(["fit", "in.txt", "--output", "out", "--trainable-layers", "0"])


def test_low_loss_warning_advises_the_sentence_tuned_recipe():
    with pytest.warns(UserWarning, match="nothing to learn") as record:
        _warn_low_initial_loss(0.001, "dropout")
    message = str(record[0].message)
    assert describe(SENTENCE_TUNED) in message
    assert "augment='crop', learning_rate=1e-05, trainable_layers=2" in message


def test_recipes_cannot_be_changed_by_a_caller():
    with pytest.raises(TypeError):
        SENTENCE_TUNED["learning_rate"] = 1.0
