"""The benchmarks run end to end in smoke mode and write their reports."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, REVIEWS, reviews_path, run_script
from skcse._backends import check_backend

BENCHMARKS = REPO / "benchmarks"
CORPORA = Path(os.environ.get("SKCSE_CORPORA") or REPO.parent / "shared/data/corpora")


def _reviews() -> Path:
    data = reviews_path()
    if data is None:
        pytest.skip(f"reviews not found at {REVIEWS} and SKCSE_DATA is not set")
    return data


def _smoke(script: str, out, tmp_path, *extra: str):
    """Run ``benchmarks/<script> --smoke`` in ``tmp_path``; return its JSON report and run."""
    data = _reviews()
    command = [sys.executable, str(BENCHMARKS / script), "--smoke", *extra]
    command += ["--data", str(data), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done


@pytest.mark.integration
@pytest.mark.benchmark
def test_bench_speed_smoke(tmp_path, tiny_bert, monkeypatch, capsys):
    # The tiny backbone proves every part runs in a minute instead of five with MiniLM, and
    # keeps the forced bf16 rows cheap on CPUs that only emulate bf16. In this process, which
    # has imported torch and sentence-transformers already; (c, e) still makes a process.
    out = tmp_path / "speed.json"
    args = ["--smoke", "--model", tiny_bert, "--data", str(_reviews()), "--out", str(out)]
    run_script(BENCHMARKS / "bench_speed.py", args, tmp_path, monkeypatch)
    report, stdout = json.loads(out.read_text()), capsys.readouterr().out
    fit_runs = [row["run"] for row in report["fit"]["rows"]]
    assert fit_runs[0].startswith("sentence-transformers fit")
    assert "skcse default" in fit_runs
    assert all(row["pairs_per_s"] > 0 for row in report["fit"]["rows"])
    steady = [row["run"] for row in report["steady"]["rows"]]
    assert steady[0] == fit_runs[0] and "skcse default" in steady and len(steady) < len(fit_runs)
    transform = {row["run"]: row for row in report["transform"]["rows"]}
    assert transform["skcse transform default"]["min_cosine_vs_st_fp32"] >= 0.999
    # One child process, at a max_seq_length other than the default: it is passed on.
    sizes = [(row["n_texts"], row["max_seq_length"]) for row in report["scaling"]["rows"]]
    assert sizes == [(64, 32)]
    assert report["grid"]["seconds_8"] > 0 and 0 <= report["grid"]["best_score_8"] <= 1
    # Torch fp32 against itself differs by nothing; every backend installed has its row.
    backends = report["backends"]["rows"]
    assert backends[0]["difference"] == 0 and backends[0]["ci95"] == [0, 0]
    expected = ["torch, precision='fp32'"]
    for backend in ("onnx", "openvino"):
        with contextlib.suppress(ImportError):
            check_backend(backend, quantize=True)
            expected += [f"backend='{backend}'", f"backend='{backend}', quantize=True"]
    assert [row["run"] for row in backends] == expected
    assert all(0 <= row["v_measure"] <= 1 for row in backends)
    # Amdahl's law: the share of encode in weight products, sped up by the int8 pair's gain.
    ceiling = report["ceiling"]
    assert 0 < ceiling["addmm_share"] < 1 and ceiling["pair_int8_gain"] > 0
    rest = 1 - ceiling["addmm_share"] + ceiling["addmm_share"] / ceiling["pair_int8_gain"]
    assert ceiling["bound"] == pytest.approx(1 / rest)
    assert -1 <= ceiling["min_cosine"] <= ceiling["mean_cosine"] <= 1
    table = out.with_suffix(".md").read_text()
    assert "| skcse default |" in table and "(a') fit in steady state" in table
    assert "(g) the int8 ceiling of encode" in table
    assert table in stdout
    # Nothing written into the working directory: sentence-transformers' checkpoints went to
    # a temporary folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speed.json", "speed.md"]


@pytest.mark.integration
@pytest.mark.benchmark
def test_bench_dask_smoke(tmp_path, tiny_bert):
    pytest.importorskip("distributed")
    out = tmp_path / "dask.json"
    # The tiny backbone: 36 s against 45 s with MiniLM. Most of what is left is starting
    # processes, and the workers importing sentence-transformers to unpickle the encoder.
    report, done = _smoke("bench_dask.py", out, tmp_path, "--model", tiny_bert)
    assert report["single"]["peak_rss_mib"] > 0 and report["model"] == tiny_bert
    assert len(report["dask"]) == 1  # the smoke run leaves out (c), the same code
    for run in report["dask"]:
        # Counted on every worker: once from the scatter, and once more where dask's active
        # memory manager dropped that copy before compute() (transform_dask's notes; seen on a
        # slow run). test_parallel checks "once per worker" with the manager stopped.
        assert all(1 <= n <= 2 for n in run["encoder_unpickles_per_worker"])
        assert len(run["encoder_unpickles_per_worker"]) == run["workers"]
        assert all(peak > 0 for peak in run["worker_peak_rss_mib"])
    assert min(report["min_row_cosine"]) >= 0.999
    assert out.with_suffix(".md").read_text() in done.stdout


@pytest.mark.integration
@pytest.mark.benchmark
def test_bench_quality_smoke(tmp_path, tiny_bert, monkeypatch, capsys):
    import pandas as pd

    from conftest import make_texts

    if not (CORPORA / "trec.csv").is_file():
        pytest.skip(f"the shared corpora are not in {CORPORA}")
    # A report written before --corpus: no corpus field, one sample size for all its runs.
    old = {
        "row": "old_crop",
        "seed": 0,
        "params": {"kind": "simcse"},
        "info": {},
        "scores": {target: {"tuned": 0.5, "grid": [0.5, 0.2, 0.1]} for target in ("Cat1", "Cat2")},
    }
    out = tmp_path / "quality.json"
    out.write_text(json.dumps({"runs": [old], "n_samples": 300}))
    texts, labels = make_texts(120)
    csv = tmp_path / "topics.csv"
    pd.DataFrame({"body": texts, "topic": labels}).to_csv(csv, index=False)
    # One call for the three corpora: the tiny backbone and one process keep it to a minute.
    corpora = ["--corpus", "reviews", "--corpus", "trec", "--corpus", f"{csv}:body:topic"]
    args = ["--smoke", "--model", tiny_bert, *corpora, "--data", str(_reviews()), "--out", str(out)]
    run_script(BENCHMARKS / "bench_quality.py", args, tmp_path, monkeypatch)
    report, stdout = json.loads(out.read_text()), capsys.readouterr().out
    rows = {"tfidf_lsa", "untrained", "dropout", "crop", "delete"}
    assert set(report["summary"]) == {"reviews", "trec", "topics"}
    assert set(report["summary"]["reviews"]) == rows | {"old_crop"}
    assert set(report["summary"]["trec"]) == set(report["summary"]["topics"]) == rows
    assert {(run["corpus"], run["row"], run["seed"]) for run in report["runs"]} == {
        (corpus, row, 0) for corpus in ("reviews", "trec", "topics") for row in rows
    } | {("reviews", "old_crop", 0)}
    # A CSV corpus is a stratified sample of --n (300 in smoke mode), or all its texts.
    sizes = {(run["corpus"], run["n_texts"]) for run in report["runs"]}
    assert sizes == {("reviews", 300), ("trec", 300), ("topics", 120)}
    runs = {(run["corpus"], run["row"]): run for run in report["runs"]}
    targets = {"reviews": ("Cat1", "Cat2"), "trec": ("label",), "topics": ("topic",)}
    for (corpus, row), run in runs.items():
        if row == "old_crop":
            continue
        n_candidates = len(run["scores"]["grid_params"])
        for target in targets[corpus]:
            scores = run["scores"][target]
            for column in ("kmeans_raw", "umap_hdbscan", "umap_kmeans", "tuned"):
                assert 0.0 <= scores[column] <= 1.0
            # The tuned score is the best of the grid, which holds the fixed setting's score.
            assert len(scores["grid"]) == n_candidates
            assert scores["tuned"] == max(scores["grid"]) >= scores["umap_hdbscan"] - 1e-12
    trained = [run for run in report["runs"] if run["params"].get("augment")]
    assert all(len(run["info"]["alignment"]) == 2 for run in trained)
    table = out.with_suffix(".md").read_text()
    assert "| crop | 1 |" in table and table in stdout
    # One seed has no spread: its cells show the value alone, not "± 0.000".
    crop_line = next(line for line in table.splitlines() if line.startswith("| crop | 1 |"))
    assert "±" not in crop_line
    # The grid median column summarizes the whole grid, not only its best candidate.
    crop = runs["reviews", "crop"]
    median = report["summary"]["reviews"]["crop"]["scores"]["Cat1"]["grid_median"]["mean"]
    assert median == pytest.approx(np.median(crop["scores"]["Cat1"]["grid"]))
    assert f"{median:.3f} |" in crop_line
    for title in ("**reviews Cat1** (300 texts;", "**trec** (300 texts;", "**topics** (120"):
        assert title in table

    # Across corpora: each row's tuned score minus the untrained row's on the same corpus and
    # seed, the old run's included; the grid medians' difference in brackets.
    lines = table.splitlines()
    header = lines.index("| encoder | reviews Cat1 | reviews Cat2 | trec | topics |")
    assert lines[header + 2].startswith("| untrained | ")
    across = report["across"]
    assert set(across) == rows | {"old_crop"}
    assert list(across["old_crop"]) == ["reviews Cat1", "reviews Cat2"]
    untrained = runs["reviews", "untrained"]["scores"]["Cat1"]["tuned"]
    assert across["old_crop"]["reviews Cat1"]["tuned_gain"]["mean"] == pytest.approx(
        0.5 - untrained
    )
    for corpus, target, column in (("trec", "label", "trec"), ("topics", "topic", "topics")):
        cell = across["crop"][column]
        mine, base = runs[corpus, "crop"]["scores"][target], runs[corpus, "untrained"]["scores"]
        gain = mine["tuned"] - base[target]["tuned"]
        median_gain = np.median(mine["grid"]) - np.median(base[target]["grid"])
        assert cell["seeds"] == [0] and cell["tuned_gain"]["mean"] == pytest.approx(gain)
        assert cell["grid_median_gain"]["mean"] == pytest.approx(median_gain)
        assert f"| {cell['tuned_gain']['mean']:+.3f} ({median_gain:+.3f}) |" in table
    # The corpus's texts stay out of the report.
    assert not any(text in out.read_text() for text in texts)

    # SKCSE_CORPORA names the shared corpora's folder. Runs merge by corpus name, so a call
    # with another sample of a corpus in --out (here a trec of 60 texts) is refused.
    folder = tmp_path / "corpora"
    folder.mkdir()
    pd.DataFrame({"text": texts[:60], "label": labels[:60]}).to_csv(folder / "trec.csv")
    monkeypatch.setenv("SKCSE_CORPORA", str(folder))
    with pytest.raises(SystemExit) as exited:
        args = ["--out", str(out), "--corpus", "trec"]
        run_script(BENCHMARKS / "bench_quality.py", args, tmp_path, monkeypatch)
    assert exited.value.code == 2
    assert "holds trec runs on [300] texts, this call has 60" in capsys.readouterr().err


def test_bench_unlabeled_caches_vectors_per_path(tmp_path, tiny_bert, monkeypatch):
    # bf16 and fp32 vectors differ, and the picks with them: one path's cache must not
    # serve another (e.g. a run under ONEDNN_MAX_CPU_ISA=AVX2 after one on the bf16 path).
    import argparse

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_unlabeled

    args = argparse.Namespace(model=tiny_bert, max_seq_length=16)
    texts = ["the battery died", "a soft blanket", "dog food"]
    X, cached = bench_unlabeled.embed(texts, args, tmp_path)
    again, cached_again = bench_unlabeled.embed(texts, args, tmp_path)
    assert not cached and cached_again and np.array_equal(again, X)
    monkeypatch.setattr(bench_unlabeled, "vector_path", lambda: "another path")
    _, cached = bench_unlabeled.embed(texts, args, tmp_path)
    assert not cached and len(list(tmp_path.glob("*.npy"))) == 2


@pytest.mark.integration
@pytest.mark.benchmark
def test_bench_unlabeled_smoke(tmp_path, tiny_bert, monkeypatch, capsys):
    import pandas as pd

    from conftest import make_texts

    texts, labels = make_texts(80)
    corpus = tmp_path / "topics.csv"
    pd.DataFrame({"text": texts, "label": labels}).to_csv(corpus, index=False)
    args = ["--smoke", "--corpus", f"{corpus}:text:label", "--model", tiny_bert]
    args += ["--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "unlabeled.json")]
    run_script(BENCHMARKS / "bench_unlabeled.py", args, tmp_path, monkeypatch)
    stdout = capsys.readouterr().out
    report = json.loads((tmp_path / "unlabeled.json").read_text())
    table = (tmp_path / "unlabeled.md").read_text()
    assert "| topics | 4 |" in table and table in stdout
    # The vectors' path decides the picks, so the table names it.
    assert report["path"] in ("bf16 path", "fp32/AVX2 path", "GPU")
    assert f"vectors on the {report['path']}" in table
    result = report["corpora"]["topics"]
    # The vectors were computed, and cached for the next run.
    assert not result["embeddings_cached"]
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    v = [candidate["v_measure"] for candidate in result["candidates"]]
    assert len(v) == report["n_candidates"] == 2
    assert result["best_v_measure"] == max(v)
    assert result["median_v_measure"] == pytest.approx(np.median(v))
    assert set(result["picks"]) == set(report["scorers"]) == set(report["summary"])
    for name, pick in result["picks"].items():
        # Each pick is the candidate of the highest label-free score, with its V-measure.
        scores = [candidate[name] for candidate in result["candidates"]]
        assert pick["index"] == int(np.argmax(scores))
        assert pick["v_measure"] == v[pick["index"]]
        assert pick["within_tolerance"] == (max(v) - pick["v_measure"] <= report["tolerance"])
        assert report["summary"][name]["within_tolerance"] == int(pick["within_tolerance"])
    # The corpus's texts stay out of the report.
    assert not any(text in (tmp_path / "unlabeled.json").read_text() for text in texts)


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        # A negative count sliced texts from the end and published the wrong size.
        ("bench_speed.py", ["--transform-texts", "-15300"], "'-15300' is not a positive int"),
        ("bench_speed.py", ["--parts", "fitt,ceiling"], "unknown --parts ['fitt']"),
        # The table would have replaced the JSON report.
        ("bench_speed.py", ["--out", "report.md"], "must end in .json"),
        ("bench_dask.py", ["--n", "0"], "'0' is not a positive int"),
        # 0 was falsy: the child ran the parent's default sizes instead.
        ("bench_memory.py", ["--sizes", "0"], "'0' is not a positive int"),
        ("bench_quality.py", ["--rows", "nope"], "unknown --rows ['nope']"),
        ("bench_unlabeled.py", ["--corpus", "trec", "--corpus", "x/trec.csv:text:label"], "share"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(
    tmp_path, monkeypatch, capsys, script, args, message
):
    if script == "bench_unlabeled.py":
        # Two corpora of one name are found out once read: give both a file.
        (tmp_path / "x").mkdir()
        frame = "text,label\n" + "".join(f"text {i},{i % 2}\n" for i in range(40))
        (tmp_path / "x" / "trec.csv").write_text(frame)
        monkeypatch.setenv("SKCSE_CORPORA", str(tmp_path / "x"))
    with pytest.raises(SystemExit) as exited:
        run_script(BENCHMARKS / script, args, tmp_path, monkeypatch)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.glob("*.json")) == [] and list(tmp_path.glob("*.md")) == []


def test_write_report_keeps_the_table_apart_and_earlier_files_on_failure(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from _common import write_report

    out = tmp_path / "report.json"
    write_report(out, {"a": 1}, "| a |")
    assert json.loads(out.read_text()) == {"a": 1}
    assert out.with_suffix(".md").read_text() == "| a |\n"

    class Unwritable:
        pass

    # A report that fails to serialize leaves the earlier files as they were.
    with pytest.raises(TypeError):
        write_report(out, {"a": Unwritable()}, "| b |")
    assert json.loads(out.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.md"]
