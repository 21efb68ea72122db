"""The reference study: three ways to cluster the same texts, scored against the categories.

Untrained backbone + KMeans, SimCSE + UMAP + HDBSCAN, and a reference sentence model + UMAP +
HDBSCAN.

The command ``skcse compare`` is a thin shell around :func:`run_compare`.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import time
from collections.abc import Callable, Sequence
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np

from skcse._io import atomic_write, check_writable
from skcse._recipes import SENTENCE_TUNED, layers_trained, resolve
from skcse._report import markdown_table

__all__ = [
    "STAGES",
    "check_output",
    "format_noise",
    "format_report",
    "format_table",
    "noise_verdict",
    "run_compare",
]

STAGES = ("baseline", "simcse", "reference")
# First line of report.md: invisible where the docs include the file, and how a rerun knows
# the file as its own.
_MARKDOWN_MARK = "<!-- written by skcse compare -->"
# The trained-vs-untrained difference is read against the clustering's own seed noise: both
# embeddings are clustered again at this many seeds in all. Five, not three: the t-test's
# critical value falls from 4.30 to 2.78, and one seed whose clustering collapsed weighs less.
NOISE_SEEDS = 5
# The largest random_state that numpy (and so UMAP) accepts.
_MAX_SEED = 2**32 - 1
# ... and the difference is beyond that noise when a paired t-test over the seeds rejects 0.
NOISE_P_VALUE = 0.05
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


def _own_report(path: Path) -> bool:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return False
    # What run_compare writes: its stages, each with its scores.
    stages = report.get("stages") if isinstance(report, dict) else None
    return (
        isinstance(stages, dict)
        and set(stages) == set(STAGES)
        and all(isinstance(stage, dict) and "v_measure" in stage for stage in stages.values())
    )


def _own_markdown(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.readline(len(_MARKDOWN_MARK) + 2).strip() == _MARKDOWN_MARK.encode()


def _own_plot(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(8) == b"\x89PNG\r\n\x1a\n"


def check_output(output: str | os.PathLike[str]) -> Path:
    """Refuse an output folder whose files of the study's names skcse did not write.

    A rerun replaces its own ``report.json``, ``report.md`` and plots; a file of the same
    name that skcse compare did not write (someone else's) is never overwritten. Nothing is
    created here.

    Parameters
    ----------
    output : str or path-like
        The folder for ``report.json``, ``report.md`` and the plots.

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
    owners = {
        "report.json": _own_report,
        "report.md": _own_markdown,
        **{f"umap_{stage}.png": _own_plot for stage in STAGES},
    }
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
    augment: str = SENTENCE_TUNED["augment"],
    learning_rate: float | str = "auto",
    trainable_layers: int | str | None = "auto",
    seed: int = 0,
    output: str | os.PathLike[str] | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = True,
    n_jobs: int | None = None,
    data: str | os.PathLike[str] | None = None,
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
    augment : {"crop", "delete", "dropout"}, default="crop"
        How SimCSE makes its views, and so its recipe (see :class:`~skcse.SimCSEEncoder`).
    learning_rate : float or "auto", default="auto"
        SimCSE's peak learning rate; "auto" is the recipe's.
    trainable_layers : int, None or "auto", default="auto"
        How many top transformer layers SimCSE trains (None: all); "auto" is the recipe's.
    seed : int, default=0
        Seeds SimCSE, KMeans and UMAP.
    output : path-like or None, default=None
        Folder for ``report.json``, ``report.md`` (see :func:`format_report`) and the PNG
        plots; None writes nothing.
    log : callable or None, default=None
        Receives one line per stage step.
    progress : bool, default=True
        Show progress bars.
    n_jobs : int or None, default=None
        Processes for the clustering runs (UMAP + HDBSCAN at each seed, the plots' 2-D UMAP),
        which are independent and each use one core, since seeded UMAP runs on one thread.
        None means 1, -1 all cores. The labels do not depend on it.
    data : str, path-like or None, default=None
        The file ``texts`` were read from, recorded in the report's settings and in the
        command that reproduces the run.

    Returns
    -------
    dict
        ``{"n_samples", "n_categories", "stages": {stage: {"v_measure", "ari", "nmi",
        "seconds": {...}, "n_clusters", "clusters"}}, "settings": {...}}``, where
        ``"clusters"`` describes each cluster of the stage, one record per row of
        :func:`~skcse.describe_clusters` (its size, top terms and most typical texts, found
        with the stage's own embeddings).

    Raises
    ------
    ValueError
        Before any work, if ``n_jobs`` is 0 or not an int, ``seed`` is out of range, or a
        SimCSE setting is invalid (``trainable_layers`` is checked against the backbone
        once it is loaded, before any embedding).
    FileExistsError
        Before any work, if ``output`` holds a file of the study's names that skcse did not
        write (see :func:`check_output`).
    NotADirectoryError, PermissionError
        Before any work, if ``output`` cannot be created.
    OSError
        Within seconds, if ``model`` or ``reference_model`` cannot be loaded.
    """
    from joblib import Parallel, delayed
    from sklearn.cluster import KMeans
    from sklearn.metrics import v_measure_score

    from skcse.describe import describe_clusters
    from skcse.encoder import SimCSEEncoder
    from skcse.pipeline import _fewest_samples, make_cluster_pipeline

    say = log or (lambda line: None)
    # Refused before minutes of training, not after.
    if n_jobs is not None and (
        not isinstance(n_jobs, Integral) or isinstance(n_jobs, bool) or n_jobs == 0
    ):
        raise ValueError(f"n_jobs must be None or a nonzero int (-1: all cores), got {n_jobs!r}")
    # The seed noise clusters at seed, seed + 1, ...: each must be a valid random_state.
    if not 0 <= seed <= _MAX_SEED - (NOISE_SEEDS - 1):
        raise ValueError(
            f"seed must be in [0, {_MAX_SEED - (NOISE_SEEDS - 1)}] (the seed noise also uses "
            f"the {NOISE_SEEDS - 1} seeds after it), got {seed}"
        )
    if output is not None:
        check_output(output)
        check_writable(output)
    texts = list(texts)
    needed = _fewest_samples(make_cluster_pipeline())
    if len(texts) < needed:
        raise ValueError(
            f"The study clusters with UMAP + HDBSCAN, which need at least {needed} texts; "
            f"got {len(texts)}."
        )
    y = np.asarray(y)
    n_categories = len(np.unique(y))
    stages: dict[str, dict[str, Any]] = {}
    embeddings: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    verbose = int(progress)
    encoder = SimCSEEncoder(
        model,
        epochs=epochs,
        augment=augment,
        learning_rate=learning_rate,
        trainable_layers=trainable_layers,
        compute_alignment=True,  # the report shows them
        random_state=seed,
        verbose=verbose,
    )
    encoder._check_params()
    # The report records the values that "auto" stands for.
    recipe = resolve(augment, learning_rate, trainable_layers)
    # Both models are loaded first, so that a name that cannot be loaded fails in seconds.
    say("loading the models")
    base = SimCSEEncoder(model, epochs=0, random_state=seed, verbose=verbose).fit(texts[:1])
    # "auto" is capped at the backbone's depth: the report gives the layers trained.
    recipe["trainable_layers"] = SimCSEEncoder._check_trainable_layers(
        recipe["trainable_layers"], base.model_[0].auto_model, auto=trainable_layers == "auto"
    )
    same = reference_model == model
    if not same:
        ref = SimCSEEncoder(reference_model, epochs=0, random_state=seed, verbose=verbose)
        ref.fit(texts[:1])

    def timed(fn):
        start = time.perf_counter()
        result = fn()
        return result, time.perf_counter() - start

    say(f"[1/3] {_TITLES['baseline']}: embedding {len(texts)} texts")
    embeddings["baseline"], t_embed = timed(lambda: base.transform(texts))
    kmeans = KMeans(n_clusters=n_categories, n_init=10, random_state=seed)
    labels["baseline"], t_cluster = timed(lambda: kmeans.fit_predict(embeddings["baseline"]))
    stages["baseline"] = {"seconds": {"embed": t_embed, "cluster": t_cluster}}

    say(
        f"[2/3] {_TITLES['simcse']}: training {epochs} epoch(s), augment={augment!r}, "
        f"learning_rate={recipe['learning_rate']:g}, "
        f"{layers_trained(recipe['trainable_layers'])}"
    )
    _, t_train = timed(lambda: encoder.fit(texts))
    embeddings["simcse"], t_embed = timed(lambda: encoder.transform(texts))
    stages["simcse"] = {
        "seconds": {"train": t_train, "embed": t_embed},
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

    say(f"[3/3] {_TITLES['reference']}: embedding")
    if same:
        embeddings["reference"], t_embed = embeddings["baseline"], 0.0
    else:
        embeddings["reference"], t_embed = timed(lambda: ref.transform(texts))
    stages["reference"] = {"seconds": {"embed": t_embed}}

    # Every UMAP + HDBSCAN run at once: the stages' own, the seed noise's (SimCSE's and the
    # untrained vectors at each seed) and the plots' 2-D UMAPs.
    seeds = [seed + i for i in range(NOISE_SEEDS)]
    jobs = {("simcse", s): (embeddings["simcse"], s, 5) for s in seeds}
    jobs |= {("untrained", s): (embeddings["baseline"], s, 5) for s in seeds}
    if not same:
        jobs["reference", seed] = (embeddings["reference"], seed, 5)
    # The reference's plot is the baseline's when they share their vectors.
    plotted = [stage for stage in STAGES if not (same and stage == "reference")]
    if output is not None:
        jobs |= {("plot", stage): (embeddings[stage], seed, 2) for stage in plotted}
    say(
        f"clustering: UMAP + HDBSCAN of each embedding at seeds {', '.join(map(str, seeds))}"
        + ("" if output is None else ", and 2-D UMAPs for the plots")
    )
    done = dict(
        zip(
            jobs,
            Parallel(n_jobs=n_jobs, max_nbytes=None)(
                delayed(_cluster)(*job) for job in jobs.values()
            ),
            strict=True,
        )
    )
    labels["simcse"], stages["simcse"]["seconds"]["umap_hdbscan"] = done["simcse", seed]
    labels["reference"], stages["reference"]["seconds"]["umap_hdbscan"] = done[
        "untrained" if same else "reference", seed
    ]
    noise = noise_verdict(
        seeds,
        *(
            [float(v_measure_score(y, done[name, s][0])) for s in seeds]
            for name in ("simcse", "untrained")
        ),
    )
    for stage in STAGES:
        stages[stage].update(_scores(y, labels[stage]))
        stages[stage]["n_clusters"] = int(len(np.unique(labels[stage][labels[stage] >= 0])))
        stages[stage]["title"] = _TITLES[stage]
        description = describe_clusters(texts, labels[stage], embeddings[stage])
        stages[stage]["clusters"] = description.to_dict(orient="records")
    report = {
        "n_samples": len(texts),
        "n_categories": n_categories,
        "stages": stages,
        "noise": noise,
        "settings": {
            "model": model,
            "reference_model": reference_model,
            "epochs": epochs,
            **recipe,
            "seed": seed,
            "data": None if data is None else str(data),
        },
    }
    if output is not None:
        folder = Path(output)
        folder.mkdir(parents=True, exist_ok=True)
        say(f"plots: 2-D UMAP of each embedding, into {folder}")
        projected = {
            stage: done["plot", stage if stage in plotted else "baseline"][0] for stage in STAGES
        }
        report["plots"] = _plot(projected, labels, y, folder)
        for name, text in (
            ("report.json", json.dumps(report, indent=2) + "\n"),
            ("report.md", format_report(report)),
        ):
            with atomic_write(folder / name) as handle:
                handle.write(text.encode("utf-8"))
    return report


def _cluster(X: np.ndarray, seed: int, n_components: int) -> tuple[np.ndarray, float]:
    """Cluster ``X`` as the study does (or, with 2 components, project it for a plot).

    Returns the labels (or the 2-D points) and the seconds it took.
    """
    from skcse.manifold import UMAP
    from skcse.pipeline import make_cluster_pipeline

    _warm_up()
    start = time.perf_counter()
    if n_components == 2:
        result = UMAP(
            n_neighbors=15, n_components=2, metric="cosine", min_dist=0.1, random_state=seed
        ).fit_transform(X)
    else:
        result = make_cluster_pipeline(random_state=seed).fit_predict(X)
    return result, time.perf_counter() - start


@functools.cache
def _warm_up() -> None:
    """Cluster a few points once per process, untimed.

    A process's first UMAP + HDBSCAN run loads their compiled code (about 3 s on 2 cores),
    which would count in the time of whichever stage ran first in that process.
    """
    import warnings

    from skcse.pipeline import make_cluster_pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no cluster in random points, as expected
        make_cluster_pipeline(random_state=0).fit_predict(np.random.default_rng(0).random((30, 4)))


def noise_verdict(
    seeds: Sequence[int], simcse: Sequence[float], untrained: Sequence[float]
) -> dict[str, Any]:
    """Decide whether SimCSE's V-measure differs from the untrained one beyond seed noise.

    A paired t-test over the clustering seeds: the same sign at every one of three seeds is
    not enough when one seed's clustering collapses (differences +0.001, +0.236, +0.002
    have a mean below their spread).

    Parameters
    ----------
    seeds : sequence of int
        The clustering seeds.
    simcse, untrained : sequence of float
        V-measure of each embedding at each seed, in the order of ``seeds``.

    Returns
    -------
    dict
        ``{"seeds", "v_measure": {"simcse", "untrained"}, "difference", "difference_std",
        "p_value", "beyond_noise"}``; beyond the noise when ``p_value < 0.05``.
    """
    from scipy.stats import ttest_1samp

    differences = np.subtract(simcse, untrained)
    if np.ptp(differences) == 0:  # no spread: t is undefined, the sign is certain
        p_value = float(differences[0] == 0)
    else:
        p_value = float(ttest_1samp(differences, 0.0).pvalue)
    return {
        "seeds": list(seeds),
        "v_measure": {"simcse": list(simcse), "untrained": list(untrained)},
        "difference": float(differences.mean()),
        "difference_std": float(differences.std(ddof=1)),
        "p_value": p_value,
        "beyond_noise": p_value < NOISE_P_VALUE,
    }


def _plot(
    projected: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    y: np.ndarray,
    folder: Path,
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed
    import matplotlib.pyplot as plt

    written = []
    categories, y_codes = np.unique(y, return_inverse=True)
    for stage in STAGES:
        xy = projected[stage]
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


def _seconds(row: dict[str, Any]) -> str:
    parts = ", ".join(f"{name} {value:.1f}" for name, value in row["seconds"].items())
    return f"{sum(row['seconds'].values()):.1f} ({parts})"


def format_table(report: dict[str, Any]) -> str:
    """Format the report's scores and seconds as a Markdown table, one row per stage.

    Parameters
    ----------
    report : dict
        As returned by :func:`run_compare` or read from its ``report.json``.

    Returns
    -------
    str
        The Markdown table that `skcse compare` prints, with the numbers right-aligned.
    """
    rows = [
        [
            row["title"],
            *(f"{row[key]:.3f}" for key in ("v_measure", "ari", "nmi")),
            row["n_clusters"],
            _seconds(row),
        ]
        for row in (report["stages"][stage] for stage in STAGES)
    ]
    return markdown_table(
        ["Stage", "V-measure", "ARI", "NMI", "Clusters", "Seconds (total and parts)"],
        rows,
        align=["left", "right", "right", "right", "right", "left"],
    )


def _model_name(name: str | None) -> str:
    return "embedded all-MiniLM-L6-v2" if name is None else f"`{name}`"


def _summary(report: dict[str, Any]) -> str:
    settings, simcse = report["settings"], report["stages"]["simcse"]
    if simcse["first_loss"] is None:
        training = "no step"
    else:
        training = (
            f"loss {simcse['first_loss']:.2g} at the first step, {simcse['final_loss']:.2g} at "
            f"the last; alignment {simcse['alignment_start']:.3f} → "
            f"{simcse['alignment_end']:.3f}, uniformity {simcse['uniformity_start']:.3f} → "
            f"{simcse['uniformity_end']:.3f}"
        )
    command = (
        f"skcse compare --n-samples {report['n_samples']} --seed {settings['seed']} --epochs "
        f"{settings['epochs']} --augment {settings['augment']} --learning-rate "
        f"{float(settings['learning_rate'])!r} --trainable-layers "
        f"{settings.get('trainable_layers') or 'all'}"
    )
    command += "".join(
        f" --{flag} {shlex.quote(str(settings[key]))}"
        # Reports written before "data" was recorded lack it.
        for key, flag in (
            ("data", "data"),
            ("model", "model"),
            ("reference_model", "reference-model"),
        )
        if settings.get(key) is not None
    )
    # Reports written before trainable_layers existed trained every layer.
    layers = layers_trained(settings.get("trainable_layers"))
    return (
        f"- Sample: {report['n_samples']} reviews in {report['n_categories']} categories.\n"
        f"- Seed: {settings['seed']} (sample, SimCSE, KMeans and UMAP).\n"
        f"- Backbone: {_model_name(settings['model'])}; reference model: "
        f"{_model_name(settings['reference_model'])}.\n"
        f"- SimCSE: {settings['epochs']} epoch(s), `augment={settings['augment']!r}`, "
        f"learning rate {settings['learning_rate']:g}, {layers}, "
        f"{simcse['n_steps']} optimizer steps, "
        f"{training}.\n"
        f"- Command: `{command}`.\n"
    )


def _versus(a: dict[str, Any], b: dict[str, Any]) -> str:
    """'V-measure 0.406 vs 0.403 (+0.003), ARI 0.352 vs 0.305 (+0.047)' for rows a and b."""
    return ", ".join(
        f"{label} {a[key]:.3f} vs {b[key]:.3f} ({a[key] - b[key]:+.3f})"
        for key, label in (("v_measure", "V-measure"), ("ari", "ARI"))
    )


def format_noise(report: dict[str, Any]) -> str:
    """Say whether SimCSE's difference to the untrained backbone exceeds the seed noise.

    Parameters
    ----------
    report : dict
        As returned by :func:`run_compare` or read from its ``report.json``.

    Returns
    -------
    str
        One sentence: the V-measure difference at each clustering seed, and the verdict.
    """
    noise = report["noise"]
    per_seed = np.subtract(noise["v_measure"]["simcse"], noise["v_measure"]["untrained"])
    seeds = ", ".join(str(s) for s in noise["seeds"])
    head = (
        f"SimCSE against the untrained backbone, both through UMAP + HDBSCAN at seeds {seeds}: "
        f"V-measure {noise['difference']:+.3f} ± {noise['difference_std']:.3f} (per seed "
        + ", ".join(f"{d:+.3f}" for d in per_seed)
        + ")"
    )
    test = f"paired t-test over the seeds p = {noise['p_value']:.3f}"
    if noise["beyond_noise"]:
        return f"{head}: {test}, larger than the clustering's seed noise."
    return (
        f"{head}: {test}, so the difference is NOT larger than the clustering's seed noise, "
        "and this run cannot tell SimCSE from the untrained backbone."
    )


def _findings(report: dict[str, Any]) -> str:
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
    if "noise" in report:  # reports written before it was measured have none
        lines.append(
            f"- Seed noise: {format_noise(report)} (Training at another seed adds noise that "
            "this run does not measure.)"
        )
    if same_backbone:
        lines.append(
            f"- Same untrained vectors, two clusterings: KMeans {base['v_measure']:.3f}, "
            f"UMAP + HDBSCAN {ref['v_measure']:.3f} (V-measure)."
        )
    return "\n".join(lines) + "\n"


def format_report(report: dict[str, Any]) -> str:
    """Render the whole report as Markdown: settings, the table and what it shows.

    This is the ``report.md`` that :func:`run_compare` writes beside ``report.json``.

    Parameters
    ----------
    report : dict
        As returned by :func:`run_compare` or read from its ``report.json``.

    Returns
    -------
    str
        Markdown: a comment line marking the file as skcse's, then the settings as a list,
        the table of :func:`format_table` and the findings as a list, separated by blank
        lines.
    """
    parts = (_MARKDOWN_MARK + "\n", _summary(report), format_table(report), _findings(report))
    return "\n".join(parts)
