"""The benchmarks run end to end in smoke mode and write their reports."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, REVIEWS, reviews_path


def _smoke(script: str, out, tmp_path, *extra: str):
    """Run ``benchmarks/<script> --smoke`` in ``tmp_path``; return its JSON report and run."""
    data = reviews_path()
    if data is None:
        pytest.skip(f"reviews not found at {REVIEWS} and SKCSE_DATA is not set")
    command = [sys.executable, str(REPO / "benchmarks" / script), "--smoke", *extra]
    command += ["--data", str(data), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done


@pytest.mark.integration
@pytest.mark.benchmark
def test_bench_speed_smoke(tmp_path, tiny_bert):
    # The tiny backbone proves every part runs in a minute instead of five with MiniLM, and
    # keeps the forced bf16 rows cheap on CPUs that only emulate bf16.
    out = tmp_path / "speed.json"
    report, done = _smoke("bench_speed.py", out, tmp_path, "--model", tiny_bert)
    fit_runs = [row["run"] for row in report["fit"]["rows"]]
    assert fit_runs[0].startswith("sentence-transformers fit")
    assert "skcse default" in fit_runs
    assert all(row["pairs_per_s"] > 0 for row in report["fit"]["rows"])
    transform = {row["run"]: row for row in report["transform"]["rows"]}
    assert transform["skcse transform default"]["min_cosine_vs_st_fp32"] >= 0.999
    sizes = [(row["n_texts"], row["max_seq_length"]) for row in report["scaling"]["rows"]]
    assert sizes == [(64, 128), (128, 128), (64, 32), (64, 64)]
    assert report["grid"]["seconds_8"] > 0 and 0 <= report["grid"]["best_score_8"] <= 1
    table = out.with_suffix(".md").read_text()
    assert "| skcse default |" in table and table in done.stdout
    # Nothing written into the working directory: sentence-transformers' checkpoints went to
    # a temporary folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speed.json", "speed.md"]


@pytest.mark.integration
@pytest.mark.benchmark
def test_bench_dask_smoke(tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "dask.json"
    report, done = _smoke("bench_dask.py", out, tmp_path)
    assert report["single"]["peak_rss_mib"] > 0
    for run in report["dask"]:
        assert run["encoder_unpickles_per_worker"] == [1] * run["workers"]
        assert all(peak > 0 for peak in run["worker_peak_rss_mib"])
    assert min(report["min_row_cosine"]) >= 0.999
    assert out.with_suffix(".md").read_text() in done.stdout


@pytest.mark.integration
@pytest.mark.benchmark
def test_bench_quality_smoke(tmp_path, tiny_bert):
    # The tiny backbone proves the script's every part runs, at a fraction of MiniLM's time.
    out = tmp_path / "quality.json"
    report, done = _smoke("bench_quality.py", out, tmp_path, "--model", tiny_bert)
    rows = {"tfidf_lsa", "untrained", "dropout", "crop", "delete"}
    assert set(report["summary"]) == rows
    assert {(run["row"], run["seed"]) for run in report["runs"]} == {(row, 0) for row in rows}
    n_candidates = len(report["runs"][0]["scores"]["grid_params"])
    for run in report["runs"]:
        for target in ("Cat1", "Cat2"):
            scores = run["scores"][target]
            for column in ("kmeans_raw", "umap_hdbscan", "umap_kmeans", "tuned"):
                assert 0.0 <= scores[column] <= 1.0
            # The tuned score is the best of the grid, which holds the fixed setting's score.
            assert len(scores["grid"]) == n_candidates
            assert scores["tuned"] == max(scores["grid"]) >= scores["umap_hdbscan"] - 1e-12
    trained = [run for run in report["runs"] if run["params"].get("augment")]
    assert all(len(run["info"]["alignment"]) == 2 for run in trained)
    table = out.with_suffix(".md").read_text()
    assert "| crop | 1 |" in table and table in done.stdout
    # One seed has no spread: its cells show the value alone, not "± 0.000".
    crop_line = next(line for line in table.splitlines() if line.startswith("| crop | 1 |"))
    assert "±" not in crop_line
    # The grid median column summarizes the whole grid, not only its best candidate.
    crop = next(run for run in report["runs"] if run["row"] == "crop")
    median = report["summary"]["crop"]["Cat1"]["grid_median"]["mean"]
    assert median == pytest.approx(np.median(crop["scores"]["Cat1"]["grid"]))
    assert f"{median:.3f} |" in crop_line


@pytest.mark.integration
@pytest.mark.benchmark
def test_bench_unlabeled_smoke(tmp_path, tiny_bert):
    import pandas as pd

    from conftest import make_texts

    texts, labels = make_texts(80)
    corpus = tmp_path / "topics.csv"
    pd.DataFrame({"text": texts, "label": labels}).to_csv(corpus, index=False)
    command = [sys.executable, str(REPO / "benchmarks" / "bench_unlabeled.py"), "--smoke"]
    command += ["--corpus", f"{corpus}:text:label", "--model", tiny_bert]
    command += ["--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "unlabeled.json")]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "unlabeled.json").read_text())
    table = (tmp_path / "unlabeled.md").read_text()
    assert "| topics | 4 |" in table and table in done.stdout
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
