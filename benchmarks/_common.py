"""What the benchmark scripts share: the CPU's name, a process's peak memory, the corpora.

The scripts run as ``python benchmarks/<script>.py``, which puts this folder on ``sys.path``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# The labelled CSVs (``text``, ``label``) beside the checkout; see the README in their folder.
SHARED_CORPORA = ("banking77", "trec", "newsgroups_mini", "emotion_dairai")
CORPORA = ("reviews", *SHARED_CORPORA)
REVIEW_TARGETS = ("Cat1", "Cat2")
# The UMAP + HDBSCAN grid every encoder gets; it holds skcse compare's fixed setting.
# min_cluster_size is n // divisor (at least 10): Cat2's 64 classes have a median of 159
# reviews in 15k, Cat1's 6 thousands.
GRID_NEIGHBORS = (15, 50, 100)
GRID_MIN_SAMPLES = (10, 30)
GRID_CLUSTER_DIVISORS = (200, 80, 40, 15)


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def hardware_path(device: str) -> str:
    """The path that computes on ``device``, as every speed figure names it.

    "GPU" off the CPU; on the CPU "bf16 path" where bf16 is native and not capped (AMX or
    AVX512-BF16), else "fp32/AVX2 path".
    """
    if device != "cpu":
        return "GPU"
    from skcse._backbone import cpu_supports_bf16

    return "bf16 path" if cpu_supports_bf16() else "fp32/AVX2 path"


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The cosine between each row of ``a`` and the same row of ``b``, in float64."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB (2**20 bytes).

    Linux's ru_maxrss survives exec, so a child started by a big parent would report the
    parent's peak; VmHWM belongs to the new address space alone.
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def cluster_grid(n: int) -> dict[str, list[int]]:
    """The grid's ``GridSearchCV`` parameters for ``n`` texts."""
    return {
        "umap__n_neighbors": list(GRID_NEIGHBORS),
        "hdbscan__min_samples": list(GRID_MIN_SAMPLES),
        "hdbscan__min_cluster_size": sorted({max(10, n // d) for d in GRID_CLUSTER_DIVISORS}),
    }


@dataclass
class Corpus:
    """A labelled corpus: its name, its texts and one array of labels per target."""

    name: str
    texts: list[str]
    targets: dict[str, np.ndarray]


def positive_int(value: str) -> int:
    """An argparse type: an int of at least 1 (a negative count would slice from the end)."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive int")
    return number


def json_out(value: str) -> Path:
    """An argparse type for ``--out``: a ``.json`` path, so that its ``.md`` is another file."""
    if not value.endswith(".json"):
        raise argparse.ArgumentTypeError(
            f"{value!r} must end in .json: the Markdown table is written beside it, with .md"
        )
    return Path(value)


def write_report(out: Path, report: Any, markdown: str | None = None) -> None:
    """Write ``report`` as JSON to ``out`` and ``markdown`` beside it (``.md``), each atomically.

    A run killed while writing leaves the earlier file or none, never half of one.
    """
    from skcse._io import atomic_write

    pairs = [(out, json.dumps(report, indent=1) + "\n")]
    if markdown is not None:
        pairs.append((out.with_suffix(".md"), markdown.rstrip("\n") + "\n"))
    for path, text in pairs:
        with atomic_write(path) as handle:
            handle.write(text.encode("utf-8"))


def check_distinct_corpora(parser: argparse.ArgumentParser, corpora: list[Corpus]) -> None:
    """Refuse two corpora of one name: their runs and rows are kept by name."""
    names = [corpus.name for corpus in corpora]
    if len(set(names)) < len(names):
        parser.error(f"two corpora share a name, and would share their runs: {names}")


def corpus_spec(value: str) -> str:
    """Check a ``--corpus`` value: a name of :data:`CORPORA` or ``PATH.csv:TEXT:LABEL``."""
    if value in CORPORA or len(value.rsplit(":", 2)) == 3:
        return value
    raise argparse.ArgumentTypeError(
        f"{value!r} is neither one of {', '.join(CORPORA)} nor PATH.csv:TEXT_COLUMN:LABEL_COLUMN"
    )


def add_corpus_arguments(parser: argparse.ArgumentParser, *, n: int | None, n_help: str) -> None:
    """The options that choose the corpora: ``--corpus``, ``--corpora``, ``--data``, ``--n``."""
    parser.add_argument(
        "--corpus",
        action="append",
        type=corpus_spec,
        metavar="NAME|PATH.csv:TEXT:LABEL",
        help=f"a corpus, repeatable: one of {', '.join(CORPORA)}, or a CSV with the names of "
        "its text and label columns (named after the file)",
    )
    parser.add_argument(
        "--corpora",
        default=None,
        help="folder of the shared corpora (default: SKCSE_CORPORA, else "
        "../shared/data/corpora beside the checkout)",
    )
    parser.add_argument("--data", default=None, help="reviews CSV (default: SKCSE_DATA)")
    parser.add_argument("--n", type=positive_int, default=n, help=n_help)


def load_corpus(
    spec: str, *, n: int | None, random_state: int, data: str | None, folder: str | None
) -> Corpus:
    """The texts and labels of a ``--corpus``, a stratified sample of ``n`` (None: all).

    The reviews have two targets, ``Cat1`` and ``Cat2``, and are read by
    ``skcse.datasets.load_amazon_reviews`` (``data`` or ``SKCSE_DATA``), stratified by
    ``Cat1``. A CSV has one, its label column; one of fewer than ``n`` texts gives them all.
    The shared corpora are read from ``folder``, else ``SKCSE_CORPORA``, else the folder
    beside the checkout.
    """
    import pandas as pd
    from sklearn.model_selection import train_test_split

    from skcse.datasets import load_amazon_reviews

    if spec == "reviews":
        frame = load_amazon_reviews(data, n_samples=n, random_state=random_state).frame
        targets = {target: frame[target].astype(str).to_numpy() for target in REVIEW_TARGETS}
        return Corpus(spec, frame["Text"].astype(str).tolist(), targets)
    if spec in SHARED_CORPORA:
        root = folder or os.environ.get("SKCSE_CORPORA") or REPO.parent / "shared/data/corpora"
        path, text, label = Path(root) / f"{spec}.csv", "text", "label"
    else:
        path, text, label = spec.rsplit(":", 2)
    frame = pd.read_csv(path, usecols=[text, label], dtype=str).dropna()
    if n is not None and len(frame) > n:
        frame, _ = train_test_split(
            frame, train_size=n, stratify=frame[label], random_state=random_state
        )
    return Corpus(Path(path).stem, frame[text].tolist(), {label: frame[label].to_numpy(dtype=str)})
