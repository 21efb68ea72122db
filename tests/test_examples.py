"""The example scripts run top to bottom in smoke mode and write what they promise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from conftest import REPO, REVIEWS, reviews_path

EXAMPLES = REPO / "examples"
SCORE = r"\d\.\d{3}"

# script: (files it writes into SKCSE_EXAMPLES_OUTPUT, patterns its stdout must contain)
EXPECTED = {
    "quickstart.py": (
        [],
        [rf"untrained backbone: V-measure {SCORE}", rf"SimCSE: V-measure {SCORE}"],
    ),
    "plot_amazon_reviews.py": (
        ["umap_clusters.png", "scores.png"],
        [
            rf"untrained backbone \+ KMeans\s+{SCORE}\s+-?{SCORE}\s+{SCORE}\s+6",
            rf"SimCSE \+ UMAP \+ HDBSCAN\s+{SCORE}\s+-?{SCORE}\s+{SCORE}\s+\d+",
        ],
    ),
    "grid_search_clustering.py": (
        ["pipeline_cache"],
        [r"n_neighbors\s+min_cluster_size\s+V-measure\s+ARI", rf"best: .*, V-measure {SCORE}"],
    ),
    "plot_unlabeled.py": (
        ["unlabeled_choice.png", "unlabeled_cache"],
        [
            r"chosen: \{.*\}, Calinski-Harabasz \d+\.\d",
            r"cluster \d+ \(\d+ reviews\): \w+",
            rf"V-measure of the chosen clustering {SCORE}, grid best {SCORE}",
        ],
    ),
    "persist_pipeline.py": (
        ["pipeline.joblib", "simcse_encoder/model.safetensors", "simcse_encoder/skcse.json"],
        [
            r"pipeline\.joblib: \d+\.\d MiB",
            r"the reloaded Pipeline gives the same 20 labels",
            r"SentenceTransformer: cosine with the encoder's embeddings >= [01]\.\d{4}",
        ],
    ),
}


@pytest.fixture(scope="module")
def reviews_file():
    path = reviews_path()
    if path is None:
        pytest.skip(f"reviews not found at {REVIEWS} and SKCSE_DATA is not set")
    return path


def test_every_example_is_tested():
    assert sorted(EXPECTED) == sorted(path.name for path in EXAMPLES.glob("*.py"))


@pytest.mark.integration
@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs_in_smoke_mode(script, reviews_file, tmp_path):
    output = tmp_path / "output"
    env = {
        **os.environ,
        "SKCSE_SMOKE": "1",
        "SKCSE_DATA": str(reviews_file),
        "SKCSE_EXAMPLES_OUTPUT": str(output),
        "MPLBACKEND": "Agg",
        # One torch thread: when other processes share the cores, two spinning OpenMP
        # threads made inference about ten times slower than one.
        "OMP_NUM_THREADS": "1",
    }
    env.pop("SKCSE_QUICKSTART_N", None)  # the smoke size applies
    # Run from tmp_path, so that nothing can land in the repository.
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(f"{script}: {time.perf_counter() - start:.1f} s in smoke mode")

    files, patterns = EXPECTED[script]
    for pattern in patterns:
        assert re.search(pattern, result.stdout), f"{pattern!r} not in:\n{result.stdout}"
    for name in files:
        assert (output / name).exists(), f"{name} missing from {sorted(output.rglob('*'))}"
        if name.endswith(".png"):
            assert (output / name).read_bytes().startswith(b"\x89PNG")
    # Only SKCSE_EXAMPLES_OUTPUT is written to, not the default folder.
    assert not (tmp_path / "skcse_examples_output").exists()
