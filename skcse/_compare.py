"""The reference study: three ways to cluster the same texts, scored against the categories.

Untrained backbone + KMeans, SimCSE + UMAP + HDBSCAN, and a reference sentence model + UMAP +
HDBSCAN.

The command ``skcse compare`` is a thin shell around :func:`run_compare`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from skcse._io import atomic_write

__all__ = [
    "DEFAULT_AUGMENT",
    "DEFAULT_LEARNING_RATE",
    "STAGES",
    "check_output",
    "format_table",
    "run_compare",
]

# Chosen with benchmarks/bench_quality.py on the 15k reviews (see docs/quality.md): on the
# sentence-tuned default backbone, dropout-only SimCSE and crops at the estimator's 3e-5 scored
# below the untrained backbone. Smaller rates won over the benchmark's 241 steps, but over this
# command's 32 steps 1e-5 beat both the untrained backbone and 5e-6 at three seeds.
DEFAULT_AUGMENT = "crop"
DEFAULT_LEARNING_RATE = 1e-5

STAGES = ("baseline", "simcse", "reference")
_TITLES = {
    "baseline": "untrained backbone + KMeans",
    "simcse": "SimCSE + UMAP + HDBSCAN",
    "reference": "reference model + UMAP + HDBSCAN",
}


def _scores(y: Sequence[Any], labels: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import (
        adjusted_rand_score,
        normalized_mutual_info_score,
        v_measure_score,
    )

    return {
        "v_measure": float(v_measure_score(y, labels)),
        "ari": float(adjusted_rand_score(y, labels)),
        "nmi": float(normalized_mutual_info_score(y, labels)),
    }


def _umap_hdbscan(n_samples: int, seed: int):
    from sklearn.pipeline import make_pipeline

    from skcse.cluster import HDBSCAN
    from skcse.manifold import UMAP

    # The reference study's settings (cosine UMAP to 5 dimensions, min_dist 0; HDBSCAN with
    # min_samples 10, clusters of at least n/40 points, noise assigned by soft membership),
    # with 50 neighbours: with 15, 2,000 untrained-backbone reviews collapsed into 2 clusters
    # (V-measure 0.03) for 1 of 3 UMAP seeds; with 50, 0.437-0.442 over the same 3 seeds.
    return make_pipeline(
        UMAP(
            n_neighbors=50,
            n_components=5,
            metric="cosine",
            min_dist=0.0,
            random_state=seed,
        ),
        HDBSCAN(min_cluster_size=max(10, n_samples // 40), min_samples=10, noise="soft"),
    )


def _own_report(path: Path) -> bool:
    try:
        return "stages" in json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError, TypeError):
        return False


def _own_plot(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(8) == b"\x89PNG\r\n\x1a\n"


def check_output(output: str | os.PathLike[str]) -> Path:
    """Refuse an output folder whose files of the study's names skcse did not write.

    A rerun replaces its own ``report.json`` and plots; a file of the same name that is not
    a report or a PNG (someone else's) is never overwritten. Nothing is created here.

    Parameters
    ----------
    output : str or path-like
        The folder for ``report.json`` and the plots.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    FileExistsError
        If ``output`` is a file, or holds a file of the study's names that it did not write.
    """
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"--output {folder} is a file; give a folder for the report")
    owners = {"report.json": _own_report, **{f"umap_{stage}.png": _own_plot for stage in STAGES}}
    for name, ours in owners.items():
        path = folder / name
        if path.exists() and not (path.is_file() and ours(path)):
            raise FileExistsError(
                f"{path} was not written by skcse compare, so it is not replaced; choose "
                "another --output"
            )
    return folder


def run_compare(
    texts: Sequence[str],
    y: Sequence[Any],
    *,
    model: str | None = None,
    reference_model: str | None = None,
    epochs: int = 1,
    augment: str = DEFAULT_AUGMENT,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    seed: int = 0,
    output: str | os.PathLike[str] | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the three stages on ``texts`` and score each against ``y``.

    Parameters
    ----------
    texts : sequence of str
        The corpus.
    y : sequence
        Its categories, used only for scoring and colouring the plots.
    model : str or None, default=None
        Backbone of the baseline and of SimCSE; None is the embedded all-MiniLM-L6-v2.
    reference_model : str or None, default=None
        The reference sentence model, used untrained; None is the embedded all-MiniLM-L6-v2,
        a supervised sentence model. When it equals ``model`` the baseline's embeddings are
        reused.
    epochs : int, default=1
        SimCSE epochs.
    augment : {"dropout", "crop", "delete"}, default="crop"
        How SimCSE makes its views (see :class:`~skcse.SimCSEEncoder`).
    learning_rate : float, default=1e-5
        SimCSE's peak learning rate.
    seed : int, default=0
        Seeds SimCSE, KMeans and UMAP.
    output : path-like or None, default=None
        Folder for ``report.json`` and the PNG plots; None writes nothing.
    log : callable or None, default=None
        Receives one line per stage step.
    progress : bool, default=True
        Show progress bars.

    Returns
    -------
    dict
        ``{"n_samples", "n_categories", "stages": {stage: {"v_measure", "ari", "nmi",
        "seconds": {...}, "n_clusters"}}, "settings": {...}}``.

    Raises
    ------
    FileExistsError
        Before any work, if ``output`` holds a file of the study's names that skcse did not
        write (see :func:`check_output`).
    """
    from sklearn.cluster import KMeans

    from skcse.encoder import SimCSEEncoder

    say = log or (lambda line: None)
    if output is not None:
        check_output(output)  # before minutes of training, not after
    texts = list(texts)
    y = np.asarray(y)
    n_categories = len(np.unique(y))
    stages: dict[str, dict[str, Any]] = {}
    embeddings: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    verbose = int(progress)

    def timed(fn):
        start = time.perf_counter()
        result = fn()
        return result, time.perf_counter() - start

    say(f"[1/3] {_TITLES['baseline']}: embedding {len(texts)} texts")
    base = SimCSEEncoder(model, epochs=0, random_state=seed, verbose=verbose)
    embeddings["baseline"], t_embed = timed(lambda: base.fit_transform(texts))
    kmeans = KMeans(n_clusters=n_categories, n_init=10, random_state=seed)
    labels["baseline"], t_cluster = timed(lambda: kmeans.fit_predict(embeddings["baseline"]))
    stages["baseline"] = {"seconds": {"embed": t_embed, "cluster": t_cluster}}

    say(
        f"[2/3] {_TITLES['simcse']}: training {epochs} epoch(s), augment={augment!r}, "
        f"learning_rate={learning_rate:g}"
    )
    encoder = SimCSEEncoder(
        model,
        epochs=epochs,
        augment=augment,
        learning_rate=learning_rate,
        random_state=seed,
        verbose=verbose,
    )
    _, t_train = timed(lambda: encoder.fit(texts))
    embeddings["simcse"], t_embed = timed(lambda: encoder.transform(texts))
    pipe = _umap_hdbscan(len(texts), seed)
    labels["simcse"], t_cluster = timed(lambda: pipe.fit_predict(embeddings["simcse"]))
    stages["simcse"] = {
        "seconds": {"train": t_train, "embed": t_embed, "umap_hdbscan": t_cluster},
        "n_steps": encoder.n_steps_,
        **{
            key: encoder.history_[name][index] if encoder.history_[name] else None
            for key, name, index in (
                ("first_loss", "loss", 0),
                ("final_loss", "loss", -1),
                ("alignment_start", "alignment", 0),
                ("alignment_end", "alignment", -1),
                ("uniformity_start", "uniformity", 0),
                ("uniformity_end", "uniformity", -1),
            )
        },
    }

    say(f"[3/3] {_TITLES['reference']}: clustering")
    if reference_model == model:
        embeddings["reference"], t_embed = embeddings["baseline"], 0.0
    else:
        ref = SimCSEEncoder(reference_model, epochs=0, random_state=seed, verbose=verbose)
        embeddings["reference"], t_embed = timed(lambda: ref.fit_transform(texts))
    pipe = _umap_hdbscan(len(texts), seed)
    labels["reference"], t_cluster = timed(lambda: pipe.fit_predict(embeddings["reference"]))
    stages["reference"] = {"seconds": {"embed": t_embed, "umap_hdbscan": t_cluster}}

    for stage in STAGES:
        stages[stage].update(_scores(y, labels[stage]))
        stages[stage]["n_clusters"] = int(len(np.unique(labels[stage])))
        stages[stage]["title"] = _TITLES[stage]
    report = {
        "n_samples": len(texts),
        "n_categories": n_categories,
        "stages": stages,
        "settings": {
            "model": model,
            "reference_model": reference_model,
            "epochs": epochs,
            "augment": augment,
            "learning_rate": learning_rate,
            "seed": seed,
        },
    }
    if output is not None:
        folder = Path(output)
        folder.mkdir(parents=True, exist_ok=True)
        say(f"plots: 2-D UMAP of each embedding, into {folder}")
        report["plots"] = _plot(embeddings, labels, y, seed, folder)
        with atomic_write(folder / "report.json") as handle:
            handle.write((json.dumps(report, indent=2) + "\n").encode("utf-8"))
    return report


def _plot(
    embeddings: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    y: np.ndarray,
    seed: int,
    folder: Path,
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed
    import matplotlib.pyplot as plt

    from skcse.manifold import UMAP

    projected: dict[int, np.ndarray] = {}
    written = []
    categories, y_codes = np.unique(y, return_inverse=True)
    for stage in STAGES:
        X = embeddings[stage]
        if id(X) not in projected:  # the reference may reuse the baseline's vectors
            umap2 = UMAP(
                n_neighbors=15, n_components=2, metric="cosine", min_dist=0.1, random_state=seed
            )
            projected[id(X)] = umap2.fit_transform(X)
        xy = projected[id(X)]
        fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
        # Explicit colours per code: a cmap would rescale the codes and break the legend.
        colours = {
            "category": plt.cm.tab10(y_codes % 10),
            "cluster": np.where(
                (labels[stage] < 0)[:, None], (0.6, 0.6, 0.6, 1.0), plt.cm.tab20(labels[stage] % 20)
            ),
        }
        for ax, name in zip(axes, colours, strict=True):
            ax.scatter(xy[:, 0], xy[:, 1], c=colours[name], s=4, alpha=0.7, linewidths=0)
            ax.set_title(f"coloured by {name}")
            ax.set_xticks([])
            ax.set_yticks([])
        handles = [
            plt.Line2D([], [], marker="o", linestyle="", color=plt.cm.tab10(i % 10), label=c)
            for i, c in enumerate(categories)
        ]
        axes[0].legend(handles=handles, fontsize=7, loc="best", markerscale=1.2)
        fig.suptitle(_TITLES[stage])
        fig.tight_layout()
        path = folder / f"umap_{stage}.png"
        with atomic_write(path) as handle:
            fig.savefig(handle, format="png", dpi=110)
        plt.close(fig)
        written.append(path.name)
    return written


def format_table(report: dict[str, Any]) -> str:
    """Format the report as a fixed-width table of scores and seconds."""
    header = f"{'stage':<36}{'V-measure':>10}{'ARI':>8}{'NMI':>8}{'clusters':>10}{'seconds':>9}"
    lines = [header, "-" * len(header)]
    for stage in STAGES:
        row = report["stages"][stage]
        seconds = sum(row["seconds"].values())
        lines.append(
            f"{row['title']:<36}{row['v_measure']:>10.3f}{row['ari']:>8.3f}{row['nmi']:>8.3f}"
            f"{row['n_clusters']:>10d}{seconds:>9.1f}"
        )
    return "\n".join(lines)
