"""The skcse command: each subcommand on tiny models, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import make_texts
from skcse._compare import DEFAULT_AUGMENT, DEFAULT_LEARNING_RATE
from skcse.cli import main


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    texts, labels = make_texts(120, seed=1)
    folder = tmp_path_factory.mktemp("corpus")
    csv = folder / "reviews.csv"
    pd.DataFrame(
        {"Title": "", "Text": texts, "Cat1": labels, "Cat2": labels, "Cat3": labels}
    ).to_csv(csv, index=False)
    txt = folder / "texts.txt"
    txt.write_text("\n".join(texts) + "\n")
    return csv, txt


def _error_line(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_compare_writes_report_and_plots(corpus, tiny_bert, tiny_roberta, tmp_path, capsys):
    csv, _ = corpus
    args = ["compare", "--data", str(csv), "--n-samples", "96", "--model", tiny_bert]
    args += ["--reference-model", tiny_roberta, "--output", str(tmp_path), "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "SimCSE + UMAP + HDBSCAN" in out and "V-measure" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["n_samples"] == 96 and report["n_categories"] == 4
    assert set(report["stages"]) == {"baseline", "simcse", "reference"}
    for stage in report["stages"].values():
        for metric in ("v_measure", "ari", "nmi"):
            assert -1.0 <= stage[metric] <= 1.0
        assert 0.0 <= stage["v_measure"] <= 1.0
    simcse = report["stages"]["simcse"]
    assert simcse["n_steps"] == 2  # 96 texts, batch 64: one full + one of 32
    assert report["settings"]["augment"] == DEFAULT_AUGMENT
    assert report["settings"]["learning_rate"] == DEFAULT_LEARNING_RATE
    for key in ("alignment_start", "alignment_end"):
        assert 0.0 < simcse[key] <= 4.0
    assert simcse["uniformity_start"] < 0.0 and simcse["first_loss"] > 0.0
    for name in ("umap_baseline.png", "umap_simcse.png", "umap_reference.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_fit_embed_cluster_round_trip(corpus, tiny_bert, tmp_path, capsys):
    csv, txt = corpus
    saved = tmp_path / "encoder"
    assert (
        main(
            [
                "fit",
                str(csv),
                "--column",
                "Text",
                "--model",
                tiny_bert,
                "--output",
                str(saved),
                "--batch-size",
                "16",
                "--quiet",
            ]
        )
        == 0
    )
    assert (saved / "skcse.json").is_file()

    npy = tmp_path / "emb.npy"
    assert main(["embed", str(txt), "--model", str(saved), "--output", str(npy), "--quiet"]) == 0
    X = np.load(npy)
    assert X.shape == (120, 32) and X.dtype == np.float32

    labels_csv = tmp_path / "labels.csv"
    capsys.readouterr()
    assert (
        main(
            [
                "cluster",
                str(csv),
                "--embeddings",
                str(npy),
                "--label-column",
                "Cat1",
                "--min-cluster-size",
                "10",
                "--output",
                str(labels_csv),
            ]
        )
        == 0
    )
    assert "V-measure against Cat1" in capsys.readouterr().out
    frame = pd.read_csv(labels_csv)
    assert list(frame.columns) == ["cluster", "Cat1"] and len(frame) == 120


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["embed", "{missing}", "--output", "{tmp}/x.npy"], "no such file"),
        (["embed", "{csv}", "--column", "Body", "--output", "{tmp}/x.npy"], "no column 'Body'"),
        (["embed", "{empty}", "--output", "{tmp}/x.npy"], "is empty"),
        (["embed", "{blank}", "--output", "{tmp}/x.npy"], "holds no texts"),
        (
            ["cluster", "{csv}", "--embeddings", "{missing}", "--output", "{tmp}/l.csv"],
            "no such file",
        ),
        (["cluster", "{txt}", "--label-column", "Cat1", "--output", "{tmp}/l.csv"], "needs a CSV"),
        (["compare", "--data", "{missing}", "--output", "{tmp}"], "missing.csv"),
        (["compare", "--data", "{csv}", "--n-samples", "0", "--output", "{tmp}"], "n_samples"),
        (["fit", "{txt}", "--output", "{tmp}", "--quiet"], "already exists"),
        (
            ["fit", "{txt}", "--output", "{tmp}/enc", "--augment", "shuffle", "--quiet"],
            "augment must be one of ['dropout', 'crop', 'delete']",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(corpus, tmp_path, capsys, argv, message):
    csv, txt = corpus
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "blank.txt").write_text("\n  \n")
    paths = dict(
        missing=tmp_path / "missing.csv",
        csv=csv,
        txt=txt,
        tmp=tmp_path,
        empty=tmp_path / "empty.csv",
        blank=tmp_path / "blank.txt",
    )
    assert main([arg.format(**paths) for arg in argv]) == 2
    assert message in _error_line(capsys)
    assert not (tmp_path / "x.npy").exists() and not (tmp_path / "l.csv").exists()


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "skcse.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("compare", "fit", "embed", "cluster"):
        assert command in result.stdout
