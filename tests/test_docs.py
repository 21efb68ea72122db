"""The README's and the documentation's Python examples run as written; the docs build."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings

import pytest

from conftest import REPO, reviews_path
from skcse._recipes import SENTENCE_TUNED, resolve

DOCS = REPO / "docs"
REPORT = DOCS / "_static" / "compare" / "report.json"
CLI_COMMANDS = ("compare", "fit", "embed", "cluster")
# Folders under docs/ that hold no hand-written pages: build output, included tables and
# what sphinx-gallery and autosummary generate.
NOT_PAGES = {"_build", "_static", "_templates", "auto_examples", "generated"}
# Public names that must have an API page (autosummary writes one per name).
API_NAMES = (
    "skcse.SimCSEEncoder",
    "skcse.make_cluster_pipeline",
    "skcse.manifold.UMAP",
    "skcse.cluster.HDBSCAN",
    "skcse.metrics.ClusteringScorer",
    "skcse.metrics.make_clustering_scorer",
    "skcse.metrics.LabelFreeScorer",
    "skcse.metrics.make_label_free_scorer",
    "skcse.metrics.dbcv_score",
    "skcse.metrics.gaussian_bic_score",
    "skcse.describe_clusters",
    "skcse.model_selection.InSampleSplit",
    "skcse.datasets.load_amazon_reviews",
    "skcse.datasets.get_data_home",
    "skcse.parallel.transform_dask",
)


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def _run_blocks(path, namespace: dict) -> None:
    for number, block in enumerate(_python_blocks(path), start=1):
        exec(compile(block, f"{path.name}, block {number}", "exec"), namespace)


@pytest.mark.integration
def test_readme_examples_run(tmp_path, monkeypatch):
    blocks = _python_blocks(REPO / "README.md")
    assert len(blocks) >= 2
    if any("load_amazon_reviews" in block for block in blocks):
        # The README's search example reads the reviews; never download them in a test.
        if reviews_path() is None:
            pytest.skip("the README example needs the reviews (SKCSE_DATA or ../shared)")
        monkeypatch.setenv("SKCSE_DATA", str(reviews_path()))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for block in blocks:  # later blocks reuse earlier names, as a reader would
            exec(compile(block, "README.md", "exec"), namespace)
    # The quickstart trained (not only loaded) the backbone with the recommended recipe, on
    # texts where it has something to learn: no low-loss warning...
    assert not [w for w in caught if "SimCSE loss starts" in str(w.message)]
    assert namespace["X"].shape == (len(namespace["reviews"]), 384)
    encoder = namespace["encoder"]
    assert encoder.n_steps_ > 0
    assert resolve(encoder.augment, encoder.learning_rate, encoder.trainable_layers) == (
        SENTENCE_TUNED
    )
    # ... the search ran over the whole grid, and the saved encoder was reloaded.
    assert len(namespace["search"].cv_results_["params"]) == 4
    assert (tmp_path / "my-encoder" / "skcse.json").is_file()
    assert len(namespace["labels"]) == 2


def test_readme_keeps_the_two_setup_commands():
    # The README's set-up commands are the Makefile's targets, unchanged.
    readme = (REPO / "README.md").read_text()
    makefile = (REPO / "Makefile").read_text()
    for command in ("make run", "make test"):
        assert f"{command}    # " in readme or f"{command}   # " in readme, command
        assert f"\n{command.split()[1]}:" in makefile, command
    assert readme.index("pip install torch==") < readme.index("```python")


def _markdown_pages():
    return sorted(
        path for path in DOCS.rglob("*.md") if not NOT_PAGES & set(path.relative_to(DOCS).parts)
    )


def _docs_pages():
    """One parameter per docs page with Python blocks; integration if it loads the model."""
    pages = []
    for path in _markdown_pages():
        if not _python_blocks(path):
            continue
        text = path.read_text()
        uses_model = "SimCSEEncoder(" in text or "SentenceTransformer(" in text
        marks = [pytest.mark.integration] if uses_model else []
        name = path.relative_to(DOCS).as_posix()
        pages.append(pytest.param(name, marks=marks, id=name.removesuffix(".md")))
    return pages


def test_docs_have_examples():
    names = {param.values[0] for param in _docs_pages()}
    assert {"getting_started.md", "guide_simcse.md", "guide_model_selection.md"} <= names


@pytest.mark.parametrize("page", _docs_pages())
def test_docs_examples_run(page, tmp_path, monkeypatch):
    # Blocks run in order in one namespace per page, in an empty folder, as a reader would.
    monkeypatch.chdir(tmp_path)
    _run_blocks(DOCS / page, {"__name__": "__main__"})


def test_cli_page_lists_every_option(capsys):
    from skcse.cli import main

    page = (DOCS / "cli.md").read_text()
    for command in CLI_COMMANDS:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        options = set(re.findall(r"--[a-z][a-z-]+", capsys.readouterr().out)) - {"--help"}
        assert options, command
        section = page.split(f"## `skcse {command}`")[1].split("\n## ")[0]
        missing = sorted(option for option in options if f"`{option}" not in section)
        assert not missing, f"docs/cli.md, skcse {command}: options not documented: {missing}"


def test_docs_build_without_warnings(tmp_path):
    # The command CI relies on: any Sphinx warning (bad reST in a docstring, a missing plot,
    # a broken report.json) fails the build.
    out = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(DOCS), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Every hand-written page is built (and -W above means each is in a toctree).
    for page in _markdown_pages():
        assert (out / page.relative_to(DOCS).with_suffix(".html")).is_file(), page
    # The gallery: one page per example, showing its code (not executed in this build).
    for script in sorted((REPO / "examples").glob("*.py")):
        html = (out / "auto_examples" / f"{script.stem}.html").read_text()
        assert "SimCSEEncoder" in html, script.name
    # The API reference: one autosummary page per public name, with its docstring.
    for name in API_NAMES:
        html = (out / "generated" / f"{name}.html").read_text()
        assert "Parameters" in html or "Examples" in html or "Raises" in html, name
    # The results table is generated from report.json at build time.
    report = json.loads(REPORT.read_text())
    html = (out / "benchmarks" / "results.html").read_text()
    for stage in report["stages"].values():
        assert re.search(rf"<td[^>]*><p>{stage['v_measure']:.3f}</p></td>", html), stage["title"]
    assert f"{report['n_samples']} reviews" in html
    for plot in report["plots"]:
        assert (out / "_images" / plot).is_file()
