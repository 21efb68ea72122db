"""The example scripts run top to bottom in smoke mode and write what they promise."""

from __future__ import annotations

import re

import pytest

from conftest import REPO, REVIEWS, reviews_path, run_script

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
            r"chosen: \{.*\}, BIC score -?\d+\.\d",
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
def test_example_runs_in_smoke_mode(script, reviews_file, tmp_path, monkeypatch, capsys):
    # In this process (see run_script): five fresh processes took 150 s on an AVX2 CPU.
    output = tmp_path / "output"
    monkeypatch.setenv("SKCSE_SMOKE", "1")
    monkeypatch.setenv("SKCSE_DATA", str(reviews_file))
    monkeypatch.setenv("SKCSE_EXAMPLES_OUTPUT", str(output))
    monkeypatch.delenv("SKCSE_QUICKSTART_N", raising=False)  # the smoke size applies
    # Run from tmp_path, so that nothing can land in the repository.
    run_script(EXAMPLES / script, [], tmp_path, monkeypatch)
    stdout = capsys.readouterr().out

    files, patterns = EXPECTED[script]
    for pattern in patterns:
        assert re.search(pattern, stdout), f"{pattern!r} not in:\n{stdout}"
    for name in files:
        assert (output / name).exists(), f"{name} missing from {sorted(output.rglob('*'))}"
        if name.endswith(".png"):
            assert (output / name).read_bytes().startswith(b"\x89PNG")
    # Only SKCSE_EXAMPLES_OUTPUT is written to, not the default folder.
    assert not (tmp_path / "skcse_examples_output").exists()
