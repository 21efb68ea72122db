"""Sphinx configuration of the skcse documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html``. The Results page takes its
numbers from ``_static/compare/report.json`` at build time (see ``_results_markdown``), so it
cannot disagree with the report next to its plots.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from sphinx.util import logging

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # document the checkout, installed or not

import skcse  # noqa: E402

project = "skcse"
author = "skcse developers"
copyright = "skcse developers"
version = release = skcse.__version__

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# _static holds Markdown that pages include (benchmark tables), not pages of its own.
exclude_patterns = ["_build", "_static", "Thumbs.db", ".DS_Store"]

nitpicky = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections already give the types
numpydoc_show_class_members = False  # autoclass :members: lists them once
numpydoc_class_members_toctree = False

html_theme = "alabaster"
html_theme_options = {"description": "SimCSE sentence embeddings, judged by clustering"}

# ---------------------------------------------------------------------------------------------
# Results page: the tables and findings are written from report.json while Sphinx reads it.

REPORT = DOCS / "_static" / "compare" / "report.json"
RESULTS_DOC = "results"
_MARKERS = ("summary", "table", "findings")
_logger = logging.getLogger(__name__)


def _seconds(row: dict) -> str:
    parts = ", ".join(f"{name} {value:.1f}" for name, value in row["seconds"].items())
    return f"{sum(row['seconds'].values()):.1f} ({parts})"


def _model_name(name: str | None) -> str:
    return "embedded all-MiniLM-L6-v2" if name is None else f"`{name}`"


def _summary(report: dict) -> str:
    settings = report["settings"]
    simcse = report["stages"]["simcse"]
    loss = simcse.get("final_loss")
    loss_text = "no step" if loss is None else f"last step loss {loss:.2g}"
    if simcse.get("first_loss") is not None:
        loss_text = (
            f"loss {simcse['first_loss']:.2g} at the first step, {loss:.2g} at the last; "
            f"alignment {simcse['alignment_start']:.3f} → {simcse['alignment_end']:.3f}, "
            f"uniformity {simcse['uniformity_start']:.3f} → {simcse['uniformity_end']:.3f}"
        )
    # Reports written before augment existed trained with dropout only.
    augment = settings.get("augment", "dropout")
    return (
        f"- Sample: {report['n_samples']} reviews, stratified over "
        f"{report['n_categories']} level-1 categories.\n"
        f"- Seed: {settings['seed']} (sample, SimCSE, KMeans and UMAP).\n"
        f"- Backbone: {_model_name(settings['model'])}; reference model: "
        f"{_model_name(settings['reference_model'])}.\n"
        f"- SimCSE: {settings['epochs']} epoch(s), `augment={augment!r}`, learning rate "
        f"{settings.get('learning_rate', 3e-5):g}, "
        f"{simcse.get('n_steps')} optimizer steps (batches of up to 64 reviews, the default), "
        f"{loss_text}.\n"
        f"- Command: `skcse compare --n-samples {report['n_samples']} --seed "
        f"{settings['seed']} --epochs {settings['epochs']} --augment {augment}"
        + (f" --learning-rate {settings['learning_rate']:g}" if "learning_rate" in settings else "")
        + "".join(
            f" --{flag} {settings[key]}"
            for key, flag in (("model", "model"), ("reference_model", "reference-model"))
            if settings[key] is not None
        )
        + "`.\n"
    )


def _table(report: dict) -> str:
    lines = [
        "| Stage | V-measure | ARI | NMI | Clusters | Seconds (total and parts) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for stage in ("baseline", "simcse", "reference"):
        row = report["stages"][stage]
        lines.append(
            f"| {row['title']} | {row['v_measure']:.3f} | {row['ari']:.3f} | {row['nmi']:.3f} "
            f"| {row['n_clusters']} | {_seconds(row)} |"
        )
    return "\n".join(lines) + "\n"


def _versus(a: dict, b: dict) -> str:
    """'V-measure 0.406 vs 0.403 (+0.003), ARI 0.352 vs 0.305 (+0.047)' for rows a and b."""
    return ", ".join(
        f"{label} {a[key]:.3f} vs {b[key]:.3f} ({a[key] - b[key]:+.3f})"
        for key, label in (("v_measure", "V-measure"), ("ari", "ARI"))
    )


def _findings(report: dict) -> str:
    stages, settings = report["stages"], report["settings"]
    base, simcse, ref = stages["baseline"], stages["simcse"], stages["reference"]
    same_backbone = settings["reference_model"] == settings["model"]
    other = "the untrained backbone" if same_backbone else "the reference model"
    lines = [
        f"- Same clustering (UMAP + HDBSCAN), SimCSE against {other}: "
        f"{_versus(simcse, ref)}. HDBSCAN found {simcse['n_clusters']} clusters on "
        f"SimCSE's vectors and {ref['n_clusters']} on those of {other}.",
        f"- SimCSE + UMAP + HDBSCAN against the untrained backbone + KMeans (k = "
        f"{report['n_categories']}): {_versus(simcse, base)}. This comparison changes "
        "the encoder and the clusterer at once.",
    ]
    if same_backbone:
        lines.append(
            f"- Same untrained vectors, two clusterings: KMeans {base['v_measure']:.3f}, "
            f"UMAP + HDBSCAN {ref['v_measure']:.3f} (V-measure)."
        )
    return "\n".join(lines) + "\n"


def _results_markdown(report: dict) -> dict[str, str]:
    return {"summary": _summary(report), "table": _table(report), "findings": _findings(report)}


def _fill_results(app, docname: str, source: list[str]) -> None:
    if docname != RESULTS_DOC:
        return
    app.env.note_dependency(str(REPORT))  # rebuild the page when the report changes
    try:
        parts = _results_markdown(json.loads(REPORT.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _logger.warning("cannot render the results from %s: %r", REPORT, exc)
        return
    for name in _MARKERS:
        marker = f"<!-- results:{name} -->"
        if marker not in source[0]:
            _logger.warning("results page lacks the marker %s", marker)
        source[0] = source[0].replace(marker, parts[name])


# ---------------------------------------------------------------------------------------------
# Docstrings: scikit-learn style types such as "ndarray of shape (n_features_in_,)" name fitted
# attributes, whose trailing "_" reST would read as a link to an undefined target. Escape such
# an underscore when a comma or a closing parenthesis follows, outside ``literals``.

_LINK_LIKE = re.compile(r"(?<=\w)_(?=[,)])")


def _escape_attribute_names(app, what, name, obj, options, lines: list[str]) -> None:
    for i, line in enumerate(lines):
        parts = line.split("``")
        parts[::2] = [_LINK_LIKE.sub(r"\\_", part) for part in parts[::2]]
        lines[i] = "``".join(parts)


def setup(app):
    app.connect("source-read", _fill_results)
    app.connect("autodoc-process-docstring", _escape_attribute_names)
    return {"parallel_read_safe": True}
