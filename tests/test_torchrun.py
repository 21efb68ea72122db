"""Distributed fit under torchrun: 2 CPU processes with gloo against one process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from sklearn.utils import check_random_state

from skcse import SimCSEEncoder
from skcse._training import _simcse_loss, count_steps, epoch_order

PER_RANK = 4
# The paper's views with dropout off, in fp32: both views of a text are the text itself, and
# the two runs differ only in the order of floating-point sums.
PARAMS = dict(
    augment="dropout",
    epochs=2,
    learning_rate=1e-3,
    dropout=0.0,
    precision="fp32",
    device="cpu",
    random_state=0,
)

# One torchrun launch for the module: starting its two processes takes most of each run.
SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import torch
    from skcse import SimCSEEncoder

    config = json.load(open(sys.argv[1]))
    rank = int(os.environ["RANK"])
    for name, run in config["runs"].items():
        out = f"{config['out']}/{name}"
        os.makedirs(out, exist_ok=True)
        texts = config["texts"][::-1] if run["differ"] and rank == 1 else config["texts"]
        encoder = SimCSEEncoder(config["model"], **run["params"])
        try:
            encoder.fit(texts)
        except ValueError as exc:
            open(f"{out}/rank{rank}.err", "w").write(str(exc))
            continue
        torch.save(
            {
                "loss": encoder.history_["loss"],
                "weights": encoder.model_.state_dict(),
                "world": torch.distributed.get_world_size(),
            },
            f"{out}/rank{rank}.pt",
        )
    """
)
# Each run's name, whether rank 1 gets the texts in another order, and its parameters.
RUNS = {
    "gathered": (False, {}),
    "local": (False, {"gather_negatives": False}),
    "differ": (True, {}),
}


@pytest.fixture(scope="module")
def torchrun(tiny_bert, texts, tmp_path_factory):
    """The folder of every run's results: ``<run>/rank<r>.pt``, or ``.err`` where fit raised."""
    folder = tmp_path_factory.mktemp("torchrun")
    script = folder / "fit.py"
    script.write_text(SCRIPT)
    config = folder / "config.json"
    runs = {
        name: {"differ": differ, "params": {**PARAMS, "batch_size": PER_RANK, **params}}
        for name, (differ, params) in RUNS.items()
    }
    config.write_text(
        json.dumps({"model": tiny_bert, "texts": texts, "out": str(folder), "runs": runs})
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node=2", str(script), str(config)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def _rank_results(folder):
    return [torch.load(folder / f"rank{r}.pt", weights_only=True) for r in (0, 1)]


def _first_global_batch(texts):
    seed = int(check_random_state(PARAMS["random_state"]).randint(np.iinfo(np.int32).max))
    generator = torch.Generator().manual_seed(seed)
    order = epoch_order([len(t) for t in texts], 2 * PER_RANK, generator, False)
    return [texts[i] for i in order[: 2 * PER_RANK]]


def _loss_of(encoder, texts):
    features = encoder.model_.preprocess(texts)
    loss = _simcse_loss(encoder.model_.train(), encoder.temperature, gather=False)
    with torch.no_grad():
        return loss([features, dict(features)], None).item()


def test_two_processes_with_gathered_negatives_match_one_process_with_the_global_batch(
    tiny_bert, texts, torchrun
):
    rank0, rank1 = _rank_results(torchrun / "gathered")
    single = SimCSEEncoder(tiny_bert, batch_size=2 * PER_RANK, **PARAMS).fit(texts)
    untrained = SimCSEEncoder(tiny_bert, epochs=0, dropout=0.0).fit(texts)

    assert rank0["world"] == 2
    assert len(rank0["loss"]) == single.n_steps_ == 2 * len(texts) // (2 * PER_RANK)
    np.testing.assert_allclose(rank0["loss"], single.history_["loss"], rtol=1e-5)
    assert rank0["loss"] == rank1["loss"]
    reference = single.model_.state_dict()
    start = untrained.model_.state_dict()
    moved = max((reference[k] - start[k]).abs().max().item() for k in reference)
    assert moved > 1e-3
    for name, value in reference.items():
        assert torch.equal(rank0["weights"][name], rank1["weights"][name]), name
        torch.testing.assert_close(rank0["weights"][name], value, atol=1e-5, rtol=1e-4)


def test_without_gathering_each_process_scores_only_its_own_negatives(tiny_bert, texts, torchrun):
    rank0, rank1 = _rank_results(torchrun / "local")
    untrained = SimCSEEncoder(tiny_bert, epochs=0, dropout=0.0).fit(texts)
    batch = _first_global_batch(texts)

    local = np.mean([_loss_of(untrained, batch[:PER_RANK]), _loss_of(untrained, batch[PER_RANK:])])
    assert rank0["loss"][0] == pytest.approx(local, rel=1e-5)
    # Fewer candidates per row: strictly lower than the loss over the whole global batch.
    assert rank0["loss"][0] < _loss_of(untrained, batch)
    for name, value in rank0["weights"].items():
        assert torch.equal(value, rank1["weights"][name]), name


def test_processes_given_different_texts_all_stop_with_a_clear_error(torchrun):
    # Every rank raised, before anything was trained or saved.
    for rank in (0, 1):
        assert "same texts on every rank" in (torchrun / f"differ/rank{rank}.err").read_text()
        assert not (torchrun / f"differ/rank{rank}.pt").exists()


def test_a_distributed_fit_skips_a_partial_global_batch():
    # 50 texts in global batches of 8: alone, the trailing 2 texts still make a batch.
    assert count_steps(50, 8, epochs=2, max_steps=None) == 14
    assert count_steps(50, 8, epochs=2, max_steps=None, drop_last=True) == 12
