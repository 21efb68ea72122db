"""The skcse command: each subcommand on tiny models; one-line errors; nothing lost."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import v_measure_score

from conftest import make_texts
from skcse import SimCSEEncoder, load_amazon_reviews, make_cluster_pipeline
from skcse._compare import NOISE_SEEDS, format_noise, format_report, format_table, noise_verdict
from skcse._recipes import SENTENCE_TUNED, resolve
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
    assert report["settings"]["augment"] == SENTENCE_TUNED["augment"]
    assert report["settings"]["learning_rate"] == SENTENCE_TUNED["learning_rate"]
    # The recorded command reproduces the run: it names the data file too.
    assert report["settings"]["data"] == str(csv)
    command = (tmp_path / "report.md").read_text().split("Command: `")[1].split("`")[0]
    assert shlex.split(command)[shlex.split(command).index("--data") + 1] == str(csv)
    # The trained-vs-untrained difference comes with its seed noise, printed and reported:
    # the untrained vectors (the baseline's, as the reference is another model) clustered at
    # NOISE_SEEDS seeds, paired with SimCSE's.
    noise = report["noise"]
    assert noise["seeds"] == list(range(NOISE_SEEDS))
    differences = np.subtract(noise["v_measure"]["simcse"], noise["v_measure"]["untrained"])
    assert noise["difference"] == pytest.approx(differences.mean())
    assert noise["v_measure"]["simcse"][0] == simcse["v_measure"]
    assert noise["beyond_noise"] == (noise["p_value"] < 0.05)
    assert format_noise(report) in out and "seed noise" in format_noise(report)
    # The clustering runs, spread over processes by default, score as one process does.
    sample = load_amazon_reviews(csv, n_samples=96, random_state=0)
    untrained = SimCSEEncoder(tiny_bert, epochs=0, random_state=0).fit_transform(sample.data)
    assert noise["v_measure"]["untrained"] == [
        v_measure_score(sample.target, make_cluster_pipeline(random_state=s).fit_predict(untrained))
        for s in noise["seeds"]
    ]
    # The table printed is the one in report.md, which renders the whole report.json.
    assert format_table(report) in out
    markdown = (tmp_path / "report.md").read_text()
    assert markdown == format_report(report) and format_table(report) in markdown
    assert "| SimCSE + UMAP + HDBSCAN |" in markdown
    for key in ("alignment_start", "alignment_end"):
        assert 0.0 < simcse[key] <= 4.0
    assert simcse["uniformity_start"] < 0.0 and simcse["first_loss"] > 0.0
    for name in ("umap_baseline.png", "umap_simcse.png", "umap_reference.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    # Each stage says what its clusters are about: one record per cluster, covering the texts.
    texts = set(pd.read_csv(csv)["Text"])
    for stage in report["stages"].values():
        clusters = stage["clusters"]
        assert len([c for c in clusters if c["cluster"] != -1]) == stage["n_clusters"]
        assert sum(cluster["size"] for cluster in clusters) == 96
        for cluster in clusters:
            assert set(cluster) == {"cluster", "size", "terms", "texts"}
            assert cluster["terms"] and set(cluster["texts"]) <= texts


def test_compare_reports_what_it_ran_on_a_shallow_backbone(tmp_path):
    from conftest import save_tiny
    from skcse._compare import run_compare

    # One layer: "auto" trains the recipe's 2 layers capped at 1. Sixteen texts: HDBSCAN
    # finds no cluster, every label is noise.
    shallow = str(save_tiny("bert", tmp_path, layers=1))
    texts, y = make_texts(16)
    report = run_compare(texts, y, model=shallow, reference_model=shallow, n_jobs=1,
                         progress=False)  # fmt: skip
    assert report["settings"]["trainable_layers"] == 1
    assert "top 1 layer" in format_report(report)
    simcse = report["stages"]["simcse"]
    assert [c["cluster"] for c in simcse["clusters"]] == [-1]
    assert simcse["n_clusters"] == 0
    # The command gives the learning rate in full, so that it reruns this study.
    report["settings"]["learning_rate"] = 1.23456789e-05
    assert "--learning-rate 1.23456789e-05 " in format_report(report)
    with pytest.raises(ValueError, match="need at least 10 texts; got 9"):
        run_compare(texts[:9], y[:9], model=shallow, reference_model=shallow)


def test_compare_replaces_only_its_own_report_and_plots(tmp_path):
    from skcse._compare import check_output

    earlier = {
        "stages": {stage: {"v_measure": 0.4} for stage in ("baseline", "simcse", "reference")}
    }
    (tmp_path / "report.json").write_text(json.dumps(earlier))
    (tmp_path / "report.md").write_text("<!-- written by skcse compare -->\n\n| old |\n")
    (tmp_path / "umap_simcse.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 8)
    assert check_output(tmp_path) == tmp_path  # an earlier run's files are replaced
    (tmp_path / "umap_baseline.png").write_text("my drawing")
    with pytest.raises(FileExistsError, match="umap_baseline.png was not written by skcse"):
        check_output(tmp_path)
    (tmp_path / "umap_baseline.png").unlink()
    (tmp_path / "report.md").write_text("# My notes\n")
    with pytest.raises(FileExistsError, match="report.md was not written by skcse"):
        check_output(tmp_path)
    (tmp_path / "report.md").unlink()
    # A JSON of the user's that merely mentions stages is theirs.
    for theirs in ('"all stages passed"', '{"stages": ["build", "test"]}', '{"stages": {}}'):
        (tmp_path / "report.json").write_text(theirs)
        with pytest.raises(FileExistsError, match="report.json was not written by skcse"):
            check_output(tmp_path)


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
    # fit trains the recipe of compare by default.
    from skcse import SimCSEEncoder

    trained = SimCSEEncoder.load(saved).get_params()
    assert resolve(*(trained[key] for key in SENTENCE_TUNED)) == SENTENCE_TUNED

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


def _workspace(corpus, folder):
    """Fill ``folder`` with inputs, earlier outputs and user files; return their paths."""
    csv, txt = corpus
    rng = np.random.default_rng(0)
    files = dict(
        csv=folder / "reviews.csv",
        txt=folder / "texts.txt",
        vectors=folder / "vectors.npy",  # an earlier `skcse embed` output, 120 rows
        labels=folder / "labels.csv",  # an earlier `skcse cluster` output
        notes=folder / "notes.csv",  # the user's own file
        userdir=folder / "userdir",  # the user's own folder
        empty=folder / "empty.csv",
        blank=folder / "blank.txt",
        gaps=folder / "gaps.txt",
        empty_texts=folder / "empty_texts.csv",
        empty_labels=folder / "empty_labels.csv",
        latin1=folder / "latin1.csv",
        npz=folder / "vectors.npz",
        objects=folder / "objects.npy",
        short=folder / "short.npy",
        nan=folder / "nan.npy",
        study=folder / "study",  # the user's folder holding a report.json of their own
        few=folder / "few.txt",
    )
    files["csv"].write_bytes(csv.read_bytes())
    files["txt"].write_bytes(txt.read_bytes())
    np.save(files["vectors"], rng.normal(size=(120, 8)).astype(np.float32))
    files["labels"].write_text("cluster,Cat1\n0,food\n")
    files["few"].write_text("".join(f"text {i}\n" for i in range(6)))
    files["notes"].write_text("Text\nmy notes\n")
    files["userdir"].mkdir()
    (files["userdir"] / "notes.txt").write_text("keep me\n")
    files["empty"].write_text("")
    files["blank"].write_text("\n  \n")
    files["gaps"].write_text("a text\n\nanother text\n")
    files["empty_texts"].write_text('Text\nNA\n\n"  "\nnull\n')
    files["empty_labels"].write_text("Text,Cat1\na,x\nb,\nc,y\nd,\n")
    files["latin1"].write_bytes("Text\nplain\ncafé au lait\n".encode("latin-1"))
    np.savez(files["npz"], X=np.zeros((120, 8)))
    np.save(files["objects"], np.array([{"a": 1}] * 120, dtype=object), allow_pickle=True)
    np.save(files["short"], np.zeros((119, 8)))
    bad = np.zeros((120, 8))
    bad[[3, 7], 0] = np.nan
    np.save(files["nan"], bad)
    files["study"].mkdir()
    (files["study"] / "report.json").write_text('{"my": "results"}\n')
    return files


def _snapshot(folder):
    """Every path under ``folder`` with the bytes and mtime of each file."""
    return {
        path.relative_to(folder): (path.read_bytes(), path.stat().st_mtime_ns)
        if path.is_file()
        else None
        for path in folder.rglob("*")
    }


# argv, exit code, a substring of the one-line message, the files the command must not touch.
BAD_INPUT = [
    (["embed", "{tmp}/missing.csv", "--output", "{tmp}/x.npy"], 2, "no such file", []),
    (["embed", "{csv}", "--column", "Body", "--output", "{tmp}/x.npy"], 2, "no column 'Body'", []),
    (["embed", "{empty}", "--output", "{tmp}/x.npy"], 2, "is empty", []),
    (["embed", "{blank}", "--output", "{tmp}/x.npy"], 2, "2 blank lines (lines 1, 2)", []),
    (["embed", "{gaps}", "--output", "{tmp}/x.npy"], 2, "1 blank line (line 2)", []),
    (
        ["embed", "{empty_texts}", "--output", "{tmp}/x.npy"],
        2,
        "2 rows with an empty 'Text' (rows 2, 3,",
        [],
    ),
    (["embed", "{latin1}", "--output", "{tmp}/x.npy"], 2, "line 3 cannot be decoded", []),
    (["embed", "{latin1}", "--output", "{tmp}/x.npy"], 2, "--encoding latin-1", []),
    (
        ["embed", "{csv}", "--encoding", "klingon", "--output", "{tmp}/x.npy"],
        2,
        "--encoding 'klingon' is not a text encoding",
        [],
    ),
    # A codec, but of bytes to bytes or str to str.
    (
        ["embed", "{csv}", "--encoding", "rot13", "--output", "{tmp}/x.npy"],
        2,
        "--encoding 'rot13' is not a text encoding",
        [],
    ),
    (["embed", "{csv}", "--column", "", "--output", "{tmp}/x.npy"], 2, "has no column ''", []),
    (
        ["embed", "{txt}", "--column", "Text", "--output", "{tmp}/x.npy"],
        2,
        "--column Text: {txt} is read as one text per line",
        [],
    ),
    (["embed", "{csv}", "--output", "{tmp}/out/"], 2, "--output {tmp}/out/ names a folder", []),
    (
        ["cluster", "{few}", "--output", "{tmp}/l.csv"],
        2,
        "clustering needs at least 10 texts; {few} has 6",
        [],
    ),
    (["embed", "{csv}", "--output", "{csv}", "--overwrite"], 2, "is the input", ["csv"]),
    (["embed", "{txt}", "--output", "{vectors}"], 2, "pass --overwrite", ["vectors"]),
    (
        ["embed", "{txt}", "--output", "{notes}", "--overwrite"],
        2,
        "not a .npy file, so it is not replaced",
        ["notes"],
    ),
    (
        ["embed", "{txt}", "--output", "{userdir}", "--overwrite"],
        2,
        "not a .npy file",
        ["userdir"],
    ),
    (["embed", "{txt}", "--output", "{notes}/x.npy"], 2, "is a file, not a folder", ["notes"]),
    (
        ["cluster", "{csv}", "--embeddings", "{tmp}/missing.npy", "--output", "{tmp}/l.csv"],
        2,
        "no such file",
        [],
    ),
    (
        ["cluster", "{csv}", "--embeddings", "{vectors}", "--output", "{vectors}", "--overwrite"],
        2,
        "is the input",
        ["vectors"],
    ),
    (
        ["cluster", "{csv}", "--embeddings", "{vectors}", "--output", "{csv}", "--overwrite"],
        2,
        "is the input",
        ["csv"],
    ),
    (
        ["cluster", "{csv}", "--embeddings", "{vectors}", "--output", "{labels}"],
        2,
        "pass --overwrite",
        ["labels"],
    ),
    (
        ["cluster", "{csv}", "--embeddings", "{vectors}", "--output", "{notes}", "--overwrite"],
        2,
        "not a CSV of clusters",
        ["notes"],
    ),
    (
        ["cluster", "{csv}", "--embeddings", "{npz}", "--output", "{tmp}/l.csv"],
        2,
        "is not a .npy file",
        [],
    ),
    (
        ["cluster", "{csv}", "--embeddings", "{csv}", "--output", "{tmp}/l.csv"],
        2,
        "is not a .npy file",
        [],
    ),
    (
        ["cluster", "{csv}", "--embeddings", "{objects}", "--output", "{tmp}/l.csv"],
        2,
        "cannot be read as a numeric .npy array",
        [],
    ),
    (
        ["cluster", "{csv}", "--embeddings", "{short}", "--output", "{tmp}/l.csv"],
        2,
        "expected numbers of shape (120, n_features)",
        [],
    ),
    (
        ["cluster", "{csv}", "--embeddings", "{nan}", "--output", "{tmp}/l.csv"],
        2,
        "2 rows with NaN or infinite values",
        [],
    ),
    (
        ["cluster", "{empty_labels}", "--label-column", "Cat1", "--output", "{tmp}/l.csv"],
        2,
        "2 rows with an empty 'Cat1' (rows 2, 4,",
        [],
    ),
    (
        ["cluster", "{txt}", "--label-column", "Cat1", "--output", "{tmp}/l.csv"],
        2,
        "use a CSV file",
        [],
    ),
    (
        ["cluster", "{csv}", "--embeddings", "{vectors}", "--min-cluster-size", "1"]
        + ["--output", "{tmp}/l.csv"],
        2,
        "--min-cluster-size must be at least 2",
        [],
    ),
    (["compare", "--data", "{tmp}/missing.csv", "--output", "{tmp}"], 2, "missing.csv", []),
    (["compare", "--data", "{csv}", "--n-samples", "0", "--output", "{tmp}"], 2, "n_samples", []),
    (
        ["compare", "--data", "{csv}", "--n-samples", "96", "--n-jobs", "0", "--output", "{tmp}/o"],
        2,
        "n_jobs must be None or a nonzero int",
        [],
    ),
    (
        ["compare", "--data", "{csv}", "--n-samples", "96", "--output", "{study}", "--quiet"],
        2,
        "was not written by skcse compare",
        ["study"],
    ),
    (
        ["compare", "--data", "{csv}", "--n-samples", "96", "--output", "{notes}", "--quiet"],
        2,
        "is a file",
        ["notes"],
    ),
    (
        ["compare", "--data", "{csv}", "--n-samples", "96", "--augment", "bogus"]
        + ["--output", "{tmp}/o", "--quiet"],
        2,
        "The 'augment' parameter of SimCSEEncoder",
        [],
    ),
    (
        ["compare", "--data", "{csv}", "--n-samples", "96", "--seed", "4294967295"]
        + ["--output", "{tmp}/o", "--quiet"],
        2,
        "seed must be in [0, 4294967291]",
        [],
    ),
    (
        ["compare", "--data", "{csv}", "--n-samples", "96", "--output", "{notes}/report"]
        + ["--quiet"],
        2,
        "is a file, not a folder",
        ["notes"],
    ),
    (["fit", "{txt}", "--output", "{tmp}", "--quiet"], 2, "already exists", []),
    (
        ["fit", "{txt}", "--output", "{tmp}", "--overwrite", "--quiet"],
        2,
        "is inside --output",
        ["txt"],
    ),
    (
        ["fit", "{txt}", "--output", "{userdir}", "--overwrite", "--quiet"],
        2,
        "not a folder written by skcse",
        ["userdir"],
    ),
    (
        ["fit", "{txt}", "--output", "{tmp}/enc", "--augment", "shuffle", "--quiet"],
        2,
        "The 'augment' parameter of SimCSEEncoder",
        [],
    ),
]


@pytest.mark.parametrize(("argv", "code", "message", "kept"), BAD_INPUT)
def test_bad_input_is_one_line_and_changes_nothing(
    corpus, tmp_path, capsys, argv, code, message, kept
):
    files = _workspace(corpus, tmp_path)
    assert all(files[name].exists() for name in kept)
    before = _snapshot(tmp_path)
    assert main([arg.format(tmp=tmp_path, **files) for arg in argv]) == code
    assert message.format(tmp=tmp_path, **files) in _error_line(capsys)
    # Nothing replaced, touched or left behind (no partial output, no temporary file).
    assert _snapshot(tmp_path) == before


def test_compare_loads_both_models_before_any_embedding(corpus, tiny_bert, tmp_path, capsys):
    csv, _ = corpus
    argv = ["compare", "--data", str(csv), "--n-samples", "96", "--model", tiny_bert]
    argv += ["--reference-model", str(tmp_path / "no-such-model"), "--output", str(tmp_path / "o")]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "no-such-model" in captured.err.strip().splitlines()[-1]
    assert "[1/3]" not in captured.out and not (tmp_path / "o").exists()
    # A layer count the backbone lacks, once it is loaded.
    assert main([*argv[:7], "--trainable-layers", "99", "--output", str(tmp_path / "o")]) == 2
    captured = capsys.readouterr()
    assert "trainable_layers=99, but this backbone has 2 layers" in captured.err
    assert "[1/3]" not in captured.out


def test_rows_are_kept_in_order(tiny_bert, tmp_path, capsys):
    """Texts that read as NA and a .txt's final newline keep the rows lined up."""
    na_like = ["NA", "null", "None", "nan", "#N/A", "N/A", "a real text"]
    csv = tmp_path / "na.csv"
    pd.DataFrame({"Text": na_like}).to_csv(csv, index=False)
    txt = tmp_path / "na.txt"
    txt.write_text("\n".join(na_like) + "\n")
    for name, source in (("csv", csv), ("txt", txt)):
        out = tmp_path / f"{name}.npy"
        argv = ["embed", str(source), "--model", tiny_bert, "--output", str(out), "--quiet"]
        assert main(argv) == 0
        X = np.load(out)
        assert X.shape[0] == len(na_like)
        # Row i is the vector of text i: equal texts, equal vectors; different, different.
        assert len(np.unique(X.round(5), axis=0)) == len(na_like)
    np.testing.assert_allclose(np.load(tmp_path / "csv.npy"), np.load(tmp_path / "txt.npy"))


def test_encoding_option(tiny_bert, tmp_path):
    texts = ["café au lait", "crème brûlée", "plain"]
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("\n".join(texts).encode("latin-1"))
    utf8 = tmp_path / "utf8.txt"
    utf8.write_text("\n".join(texts), encoding="utf-8")
    for source in (latin1, utf8):
        encoding = "latin-1" if source == latin1 else "utf-8"
        out = ["--output", str(tmp_path / f"{source.stem}.npy"), "--quiet"]
        assert main(["embed", str(source), "--encoding", encoding, "--model", tiny_bert] + out) == 0
    np.testing.assert_allclose(np.load(tmp_path / "latin1.npy"), np.load(tmp_path / "utf8.npy"))


def test_overwrite_replaces_only_own_outputs(corpus, tiny_bert, tmp_path, capsys):
    files = _workspace(corpus, tmp_path)
    old = files["vectors"].read_bytes()
    argv = ["embed", str(files["txt"]), "--model", tiny_bert, "--quiet"]
    assert main(argv + ["--output", str(files["vectors"]), "--overwrite"]) == 0
    assert files["vectors"].read_bytes() != old and np.load(files["vectors"]).shape == (120, 32)

    argv = ["cluster", str(files["csv"]), "--embeddings", str(files["vectors"])]
    argv += ["--label-column", "Cat1", "--output", str(files["labels"]), "--overwrite"]
    assert main(argv) == 0
    frame = pd.read_csv(files["labels"])
    assert list(frame.columns) == ["cluster", "Cat1"] and len(frame) == 120
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in files.values())


def test_cluster_says_when_no_cluster_is_found(corpus, tmp_path, capsys):
    files = _workspace(corpus, tmp_path)
    # HDBSCAN never returns one cluster of everything, and two clusters of at least 61 of
    # the 120 texts cannot exist: every text is noise.
    argv = ["cluster", str(files["csv"]), "--embeddings", str(files["vectors"])]
    argv += ["--min-cluster-size", "61", "--output", str(tmp_path / "l.csv")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "no cluster found" in out and "clusters" not in out
    assert (pd.read_csv(tmp_path / "l.csv")["cluster"] == -1).all()


@pytest.mark.parametrize("command", ["fit", "embed", "cluster"])
@pytest.mark.parametrize("problem", ["read-only", "foreign folder"])
def test_output_is_checked_before_any_work(
    corpus, tiny_bert, tmp_path, capsys, monkeypatch, command, problem
):
    from skcse import SimCSEEncoder

    files = _workspace(corpus, tmp_path)
    read_only = tmp_path / "ro"
    read_only.mkdir()
    access = os.access

    def no_write_in_read_only(path, mode, **kwargs):
        # As root, chmod cannot make a folder unwritable; this is what a read-only mount says.
        if Path(path).absolute().is_relative_to(read_only) and mode & os.W_OK:
            return False
        return access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", no_write_in_read_only)

    def no_work(*args, **kwargs):
        raise AssertionError("the output should have been refused before any work")

    monkeypatch.setattr(SimCSEEncoder, "fit", no_work)
    monkeypatch.setattr(SimCSEEncoder, "transform", no_work)
    output = read_only / "out" if problem == "read-only" else files["userdir"]
    argv = [command, str(files["txt"]), "--model", tiny_bert, "--output", str(output)]
    argv += ["--overwrite", "--quiet"]
    before = _snapshot(tmp_path)
    assert main(argv) == 2
    foreign = {
        "fit": "not a folder written by skcse",
        "embed": "not a .npy file",
        "cluster": "not a CSV of clusters",
    }
    assert (foreign[command] if problem == "foreign folder" else "is not writable") in (
        _error_line(capsys)
    )
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
@pytest.mark.parametrize("command", ["embed", "cluster"])
def test_ctrl_c_is_exit_130_and_leaves_the_old_output(
    corpus, tiny_bert, tmp_path, capsys, monkeypatch, command, stop
):
    files = _workspace(corpus, tmp_path)

    def interrupted_while_writing(*args, **kwargs):
        if args and hasattr(args[0], "write"):
            args[0].write(b"partial")
        if stop == "ctrl-c":
            raise KeyboardInterrupt
        # What Python runs in the main thread on SIGTERM; a real signal to the pytest
        # process would also reach the threads of other tests' executors.
        signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)

    if command == "embed":
        monkeypatch.setattr(np, "save", interrupted_while_writing)
        argv = ["embed", str(files["txt"]), "--model", tiny_bert, "--output", str(files["vectors"])]
    else:
        monkeypatch.setattr(pd.DataFrame, "to_csv", interrupted_while_writing)
        argv = ["cluster", str(files["csv"]), "--embeddings", str(files["vectors"])]
        argv += ["--output", str(files["labels"])]
    before = _snapshot(tmp_path)
    handler = signal.getsignal(signal.SIGTERM)
    assert main(argv + ["--overwrite", "--quiet"]) == 130
    assert _error_line(capsys) == f"skcse {command}: interrupted"
    assert _snapshot(tmp_path) == before
    assert signal.getsignal(signal.SIGTERM) is handler  # the caller's again


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (RuntimeError("weights are broken\nsecond line"), "unexpected RuntimeError: weights"),
        (KeyError("hidden_size"), "unexpected KeyError: 'hidden_size'"),
        (
            RuntimeError("cannot cache function 'rdist': no locator available for file 'x.py'"),
            "set NUMBA_CACHE_DIR",
        ),
    ],
)
def test_unexpected_error_is_one_line_and_exit_1(
    corpus, tiny_bert, tmp_path, capsys, monkeypatch, error, message
):
    from skcse import SimCSEEncoder

    files = _workspace(corpus, tmp_path)

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(SimCSEEncoder, "transform", fail)
    argv = ["embed", str(files["txt"]), "--model", tiny_bert, "--output", str(tmp_path / "x.npy")]
    assert main(argv + ["--quiet"]) == 1
    line = _error_line(capsys)
    assert line.startswith("skcse embed: error: ") and message in line
    assert not (tmp_path / "x.npy").exists()


@pytest.mark.parametrize("existing", [False, True])
def test_disk_full_during_fit_save(corpus, tiny_bert, tmp_path, capsys, monkeypatch, existing):
    import transformers.modeling_utils

    _, txt = corpus
    output = tmp_path / "encoder"
    argv = ["fit", str(txt), "--model", tiny_bert, "--output", str(output), "--quiet"]
    argv += ["--overwrite"]
    if existing:
        assert main(argv) == 0
    capsys.readouterr()
    before = _snapshot(tmp_path)

    def disk_full(tensors, filename, *args, **kwargs):
        with open(filename, "wb") as handle:
            handle.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", disk_full)
    assert main(argv) == 2
    line = _error_line(capsys)
    assert os.strerror(errno.ENOSPC) in line and "free some space" in line
    # The old model, or nothing, and no staging folder left behind.
    assert _snapshot(tmp_path) == before


def test_read_only_home_gives_advice(tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SKCSE_DATA", raising=False)
    monkeypatch.delenv("SKCSE_DATA_HOME", raising=False)
    mkdir = Path.mkdir

    def read_only_home(self, *args, **kwargs):
        # As root, chmod cannot make HOME unwritable; this is what a read-only mount says.
        if self.absolute().is_relative_to(home):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only_home)
    assert main(["compare", "--output", str(tmp_path / "out"), "--quiet"]) == 2
    line = _error_line(capsys)
    assert str(home / "skcse_data") in line
    assert "SKCSE_DATA_HOME" in line and "--data" in line
    assert not (tmp_path / "out").exists()


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "skcse.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("compare", "fit", "embed", "cluster"):
        assert command in result.stdout


def _cluster_argv(files, *extra):
    argv = ["cluster", str(files["csv"]), "--embeddings", str(files["vectors"])]
    return argv + ["--min-cluster-size", "10", "--output", str(files["labels"]), *extra]


def test_cluster_without_labels_prints_and_writes_the_description(corpus, tmp_path, capsys):
    files = _workspace(corpus, tmp_path)
    # Vectors that separate the four topics, so the clusters have known terms.
    texts = pd.read_csv(files["csv"])["Text"]
    topics = pd.read_csv(files["csv"])["Cat1"].to_numpy()
    vectors = np.eye(4)[pd.factorize(topics)[0]] + np.random.default_rng(0).normal(
        scale=0.01, size=(120, 4)
    )
    np.save(files["vectors"], vectors)
    description = tmp_path / "clusters.json"
    argv = _cluster_argv(files, "--overwrite", "--describe", str(description))
    assert main(argv) == 0
    out = capsys.readouterr().out
    records = json.loads(description.read_text())
    assert [record["size"] for record in records] == [30, 30, 30, 30]
    labels = pd.read_csv(files["labels"])["cluster"].to_numpy()
    for record in records:
        members = texts[labels == record["cluster"]].tolist()
        assert set(record["texts"]) <= set(members) and len(record["texts"]) == 3
        topic = set(topics[labels == record["cluster"]])
        assert len(topic) == 1
        assert set(record["terms"]) <= set(" ".join(members).split())
        # The printout has one line of terms per cluster, then its typical texts.
        line = f"{record['cluster']:>7} {30:>6}  {', '.join(record['terms'])}"
        assert line in out
        assert all(f"- {text}" in out for text in record["texts"])
    assert f"description written to {description}" in out

    # CSV: the terms in one cell, one column per text.
    flat = tmp_path / "clusters.csv"
    assert main(_cluster_argv(files, "--overwrite", "--describe", str(flat))) == 0
    frame = pd.read_csv(flat)
    assert list(frame.columns) == ["cluster", "size", "terms", "text_1", "text_2", "text_3"]
    assert frame["terms"].str.split(", ").tolist() == [record["terms"] for record in records]
    # Rerunning replaces the description only with --overwrite.
    capsys.readouterr()
    assert main(_cluster_argv(files, "--overwrite", "--describe", str(flat))) == 0
    assert main(_cluster_argv(files, "--describe", str(description))) == 2
    assert "already exists; pass --overwrite" in _error_line(capsys)


def test_a_failed_description_leaves_the_clusters_as_they_were(
    corpus, tmp_path, capsys, monkeypatch
):
    import skcse._io

    files = _workspace(corpus, tmp_path)
    description = tmp_path / "clusters.json"
    before = _snapshot(tmp_path)
    atomic_write = skcse._io.atomic_write

    @contextlib.contextmanager
    def disk_full_for_the_description(path, **kwargs):
        with atomic_write(path, **kwargs) as handle:
            if Path(path) == description:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            yield handle

    monkeypatch.setattr(skcse._io, "atomic_write", disk_full_for_the_description)
    assert main(_cluster_argv(files, "--overwrite", "--describe", str(description))) == 2
    assert os.strerror(errno.ENOSPC) in _error_line(capsys)
    # The earlier clusters are not replaced by ones no description goes with; no temp file.
    assert _snapshot(tmp_path) == before


def test_an_output_another_process_wrote_meanwhile_is_kept(corpus, tmp_path, capsys, monkeypatch):
    import skcse.describe

    files = _workspace(corpus, tmp_path)
    output = tmp_path / "new.csv"
    describe = skcse.describe.describe_clusters

    def written_meanwhile(*args, **kwargs):
        output.write_text("theirs")
        return describe(*args, **kwargs)

    monkeypatch.setattr(skcse.describe, "describe_clusters", written_meanwhile)
    argv = _cluster_argv(files)
    argv[argv.index("--output") + 1] = str(output)
    before = _snapshot(tmp_path)
    assert main(argv) == 2  # no --overwrite: it was not there when the command started
    assert "appeared while it was being written; it is left as it is" in _error_line(capsys)
    assert output.read_text() == "theirs"
    assert {path for path in _snapshot(tmp_path) if path not in before} == {Path("new.csv")}


def test_texts_without_terms_are_clustered_and_described(corpus, tmp_path, capsys):
    files = _workspace(corpus, tmp_path)
    files["csv"].write_text("Text\n" + "".join(f"{chr(0x1F600 + i % 4)}\n" for i in range(120)))
    description = tmp_path / "clusters.json"
    with pytest.warns(UserWarning, match="No terms"):
        assert main(_cluster_argv(files, "--overwrite", "--describe", str(description))) == 0
    assert len(pd.read_csv(files["labels"])) == 120
    assert all(record["terms"] == [] for record in json.loads(description.read_text()))


def test_an_output_name_as_long_as_the_file_system_takes(corpus, tmp_path):
    files = _workspace(corpus, tmp_path)
    # 255 bytes: the temporary file beside it must not be longer.
    output = tmp_path / ("v" * 251 + ".csv")
    argv = _cluster_argv(files)
    argv[argv.index("--output") + 1] = str(output)
    assert main(argv) == 0
    assert len(pd.read_csv(output)) == 120


def test_label_column_named_cluster_is_refused_before_any_work(corpus, tmp_path, capsys):
    files = _workspace(corpus, tmp_path)
    frame = pd.read_csv(files["csv"]).rename(columns={"Cat1": "cluster"})
    frame.to_csv(files["csv"], index=False)
    before = _snapshot(tmp_path)
    # The true labels would have replaced the clusters found in the output's column.
    assert main(_cluster_argv(files, "--overwrite", "--label-column", "cluster")) == 2
    assert "the output's column 'cluster' holds the clusters found" in _error_line(capsys)
    assert _snapshot(tmp_path) == before


def test_an_os_error_without_a_file_name_is_one_line():
    from skcse.cli import _os_error

    # multiprocessing's semaphores raise this when /dev/shm cannot be written.
    error = PermissionError(errno.EACCES, "Permission denied")
    assert _os_error(error) == "[Errno 13] Permission denied"


def test_cluster_with_labels_prints_no_description(corpus, tmp_path, capsys):
    files = _workspace(corpus, tmp_path)
    assert main(_cluster_argv(files, "--overwrite", "--label-column", "Cat1")) == 0
    out = capsys.readouterr().out
    assert "top terms" not in out and "V-measure against Cat1" in out


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("notes", "notes.csv is not a cluster description written by --describe, so it is not"),
        ("vectors", "--describe .*vectors.npy must end in .csv or .json"),
        ("labels", "--describe and --output are the same file"),
        ("labels_spelled_otherwise", "--describe and --output are the same file"),
        ("csv", "--describe .*reviews.csv is the input"),
        ("study_report", "report.json is not a cluster description"),
    ],
)
def test_describe_refuses_to_destroy_data_before_any_work(
    corpus, tmp_path, capsys, target, message
):
    import re

    files = _workspace(corpus, tmp_path)
    files["study_report"] = files["study"] / "report.json"
    files["labels_spelled_otherwise"] = files["userdir"] / ".." / files["labels"].name
    before = _snapshot(tmp_path)
    assert main(_cluster_argv(files, "--overwrite", "--describe", str(files[target]))) == 2
    assert re.search(message, _error_line(capsys))
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("simcse", "untrained", "beyond"),
    [
        ([0.52, 0.50, 0.51], [0.50, 0.48, 0.49], True),  # +0.020 at every seed
        ([0.52, 0.51, 0.53], [0.50, 0.48, 0.49], True),  # +0.02 to +0.04: t = 5.2, p = 0.035
        ([0.52, 0.47, 0.51], [0.50, 0.48, 0.49], False),  # the sign changes
        # One sign, but one seed's untrained clustering collapsed: mean below the spread.
        ([0.445, 0.441, 0.446], [0.444, 0.205, 0.444], False),
        ([0.50, 0.48, 0.49], [0.50, 0.48, 0.49], False),  # identical
    ],
)
def test_noise_verdict_is_a_paired_t_test_over_the_seeds(simcse, untrained, beyond):
    from scipy.stats import ttest_rel

    noise = noise_verdict([0, 1, 2], simcse, untrained)
    assert noise["beyond_noise"] is beyond
    assert noise["difference"] == pytest.approx(np.mean(simcse) - np.mean(untrained))
    if np.ptp(np.subtract(simcse, untrained)) > 0:
        assert noise["p_value"] == pytest.approx(ttest_rel(simcse, untrained).pvalue)
    text = format_noise({"noise": noise})
    assert f"p = {noise['p_value']:.3f}" in text
    assert ("NOT larger" in text) is not beyond
    assert ("cannot tell SimCSE from the untrained backbone" in text) is not beyond
