"""Sphinx configuration of the skcse documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html``. The results page of ``skcse
compare`` renders ``_static/compare/report.json`` at build time with the command's own
renderer (the one that writes ``report.md``), so it cannot disagree with the report next to
its plots.

The examples become a sphinx-gallery (``auto_examples/``) and the API reference autosummary
pages (``generated/``); both folders are written by the build and ignored by git. The
examples train on the real reviews, so the build renders them without running them;
``SKCSE_DOCS_RUN_EXAMPLES=1`` runs them in smoke mode (200 reviews, one training step), which
needs the reviews in ``SKCSE_DATA``.
"""

from __future__ import annotations

import json
import os
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
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
# _static holds Markdown that pages include (benchmark tables), not pages of its own.
exclude_patterns = ["_build", "_static", "_templates", "Thumbs.db", ".DS_Store"]

autosummary_generate = True
autosummary_imported_members = False

_RUN_EXAMPLES = os.environ.get("SKCSE_DOCS_RUN_EXAMPLES") == "1"
if _RUN_EXAMPLES:
    os.environ["SKCSE_SMOKE"] = "1"  # read by every example: 200 reviews, one step
plot_gallery = str(_RUN_EXAMPLES)  # sphinx-gallery's switch; -D plot_gallery=1 also works
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",  # every example runs when plot_gallery is on
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "show_signature": False,
    "write_computation_times": False,
}

nitpicky = False
myst_heading_anchors = 3  # [text](page.md#a-section) links
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections already give the types
numpydoc_show_class_members = False  # autoclass :members: lists them once
numpydoc_class_members_toctree = False

html_theme = "alabaster"
html_theme_options = {"description": "SimCSE sentence embeddings, judged by clustering"}

# ---------------------------------------------------------------------------------------------
# Results page: report.json rendered by skcse compare's own renderer, the one that writes
# report.md, while Sphinx reads the page.

REPORT = DOCS / "_static" / "compare" / "report.json"
RESULTS_DOC = "benchmarks/results"
RESULTS_MARKER = "<!-- results:report -->"
_logger = logging.getLogger(__name__)


def _fill_results(app, docname: str, source: list[str]) -> None:
    if docname != RESULTS_DOC:
        return
    from skcse._compare import format_report

    app.env.note_dependency(str(REPORT))  # rebuild the page when the report changes
    if RESULTS_MARKER not in source[0]:
        _logger.warning("%s lacks the marker %s", RESULTS_DOC, RESULTS_MARKER)
    try:
        report = format_report(json.loads(REPORT.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _logger.warning("cannot render the results from %s: %r", REPORT, exc)
        return
    source[0] = source[0].replace(RESULTS_MARKER, report)


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
