"""Label-free scorers against labels: does the candidate they pick cluster the topics well?

For each corpus the script embeds a stratified sample once with the untrained backbone
(``SimCSEEncoder(epochs=0)``; the vectors are cached, so reruns are cheap), then searches
one grid of UMAP + HDBSCAN settings (``skcse.make_cluster_pipeline`` without the encoder,
on those vectors) with ``GridSearchCV(cv=InSampleSplit())``. Every candidate is scored by
the V-measure against the labels and by each label-free scorer; each label-free scorer picks
its best candidate, and the table sets that candidate's V-measure beside the grid's best
V-measure and the grid's median. The labels reach only the V-measure scorer.

Corpora: the Amazon reviews (``Text``, level-1 category) and the four CSVs (``text``,
``label``) of ``../shared/data/corpora`` (banking77, trec, newsgroups_mini, emotion_dairai;
``--corpora`` or ``SKCSE_CORPORA`` names another folder); ``--corpus`` (repeatable) runs
only the corpora it names, or a CSV given as ``PATH.csv:TEXT_COLUMN:LABEL_COLUMN``.

Run: ``python benchmarks/bench_unlabeled.py`` (about 15 minutes on 2 CPU cores, 3 of them
embedding); ``--smoke`` runs a 2-candidate grid to prove the script works.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    CORPORA,
    add_corpus_arguments,
    check_distinct_corpora,
    cluster_grid,
    cpu_name,
    hardware_path,
    json_out,
    load_corpus,
    write_report,
)

TOLERANCE = 0.02


def label_free_scorers() -> dict[str, Any]:
    """The label-free scorers tried, by name."""
    from sklearn.metrics import silhouette_score

    from skcse.metrics import (
        bic_scorer,
        calinski_harabasz_scorer,
        dbcv_scorer,
        gaussian_bic_score,
        make_label_free_scorer,
        silhouette_scorer,
    )

    return {
        "calinski_harabasz": calinski_harabasz_scorer,
        "bic": bic_scorer,
        # What bic_scorer was before it moved before UMAP: full covariances, each
        # candidate's own UMAP output.
        "bic_umap": make_label_free_scorer(gaussian_bic_score, worst_score=-np.inf),
        "dbcv": dbcv_scorer,
        "silhouette": silhouette_scorer,
        "silhouette_embedding": make_label_free_scorer(
            silhouette_score, space="umap", metric="cosine"
        ),
    }


def n_clusters(estimator: Any, X: Any, y: Any = None) -> int:
    """A 'scorer' that records how many clusters (noise apart) a candidate found."""
    labels = estimator.predict(X)
    return len(np.unique(labels[labels != -1]))


def vector_path() -> str:
    """The path that computes the vectors here: the encoder's default device and precision.

    The picks depend on it: bf16 and fp32 vectors differ slightly, and UMAP + HDBSCAN can
    turn a slight difference into another clustering.
    """
    from skcse._backbone import resolve_device

    return hardware_path(resolve_device(None).type)


def embed(texts: list[str], args: argparse.Namespace, cache: Path) -> tuple[np.ndarray, bool]:
    """The texts' vectors, from the cache when these texts were embedded the same way."""
    from skcse import SimCSEEncoder
    from skcse._io import atomic_write

    key = hashlib.sha256(
        json.dumps([args.model, args.max_seq_length, vector_path(), texts]).encode("utf-8")
    ).hexdigest()[:20]
    path = cache / f"{key}.npy"
    if path.is_file():
        return np.load(path), True
    encoder = SimCSEEncoder(args.model, epochs=0, max_seq_length=args.max_seq_length)
    X = encoder.fit(texts[:2]).transform(texts)
    # Atomic: a run killed while saving must not leave a cache entry that cannot be read.
    with atomic_write(path) as handle:
        np.save(handle, X)
    return X, False


def grid(n: int, smoke: bool) -> dict[str, list[Any]]:
    if smoke:
        return {"umap__n_neighbors": [10], "hdbscan__min_cluster_size": [5, 10]}
    return cluster_grid(n)


def run_corpus(X: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    """Search the grid with every scorer; report each label-free scorer's pick."""
    from joblib import Memory
    from sklearn.metrics import v_measure_score
    from sklearn.model_selection import GridSearchCV

    from skcse.metrics import make_clustering_scorer
    from skcse.model_selection import InSampleSplit
    from skcse.pipeline import make_cluster_pipeline

    scorers = label_free_scorers()
    min_samples = {"min_samples": 5} if args.smoke else {}
    with tempfile.TemporaryDirectory() as cache:
        pipe = make_cluster_pipeline(
            random_state=args.seed, memory=Memory(cache, verbose=0), **min_samples
        )
        search = GridSearchCV(
            pipe,
            grid(len(X), args.smoke),
            scoring={
                "v_measure": make_clustering_scorer(v_measure_score),
                "n_clusters": n_clusters,
                **scorers,
            },
            refit=False,
            cv=InSampleSplit(),
            error_score="raise",
        ).fit(X, y)
        cv = search.cv_results_
        v = cv["mean_test_v_measure"]
        best, median = float(v.max()), float(np.median(v))
        picks = {}
        for name, scorer in scorers.items():
            # GridSearchCV's choice: the first of the top-ranked candidates.
            index = int(np.argmin(cv[f"rank_test_{name}"]))
            fitted = pipe.set_params(**cv["params"][index]).fit(X)
            start = time.perf_counter()
            scorer(fitted, X)
            picks[name] = {
                "index": index,
                "params": cv["params"][index],
                "v_measure": float(v[index]),
                "n_clusters": int(cv["mean_test_n_clusters"][index]),
                "gap_to_best": best - float(v[index]),
                "within_tolerance": bool(best - v[index] <= TOLERANCE),
                # When no candidate beats the median, matching the best is all there is.
                "above_median": bool(v[index] > median or v[index] == best),
                "score_seconds": time.perf_counter() - start,
            }
    return {
        "n_texts": len(X),
        "n_labels": len(np.unique(y)),
        "best_v_measure": best,
        "best_n_clusters": int(cv["mean_test_n_clusters"][int(np.argmax(v))]),
        "median_v_measure": median,
        "picks": picks,
        "candidates": [
            {
                "params": cv["params"][i],
                "v_measure": float(v[i]),
                "n_clusters": int(cv["mean_test_n_clusters"][i]),
                **{name: float(cv[f"mean_test_{name}"][i]) for name in scorers},
            }
            for i in range(len(v))
        ],
    }


def summarize(corpora: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    names = next(iter(corpora.values()))["picks"]
    return {
        name: {
            "within_tolerance": sum(c["picks"][name]["within_tolerance"] for c in corpora.values()),
            "above_median": sum(c["picks"][name]["above_median"] for c in corpora.values()),
            "n_corpora": len(corpora),
        }
        for name in names
    }


def markdown(report: dict[str, Any]) -> str:
    """One row per corpus: the grid's best and median, then each scorer's pick."""
    from skcse._report import markdown_table

    names = list(report["summary"])
    rows = []
    for corpus, result in report["corpora"].items():
        cells = [
            f"{result['picks'][name]['v_measure']:.3f} ({result['picks'][name]['n_clusters']})"
            for name in names
        ]
        rows.append(
            [
                corpus,
                result["n_labels"],
                f"{result['best_v_measure']:.3f} ({result['best_n_clusters']})",
                f"{result['median_v_measure']:.3f}",
                *cells,
            ]
        )
    summary = report["summary"]
    for key, title in (
        ("within_tolerance", f"within {TOLERANCE} of best"),
        ("above_median", "above the median"),
    ):
        counts = [f"{summary[name][key]} of {summary[name]['n_corpora']}" for name in names]
        rows.append([f"**{title}**", "", "", "", *counts])
    header = ["corpus", "labels", "best V (clusters)", "median V", *names]
    return (
        f"V-measure of the candidate each scorer picks (its number of clusters in brackets), "
        f"{report['n_candidates']} candidates, {report['cpu']}, "
        f"vectors on the {report['path']}\n\n" + markdown_table(header, rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arguments(parser, n=2000, n_help="stratified sample per corpus (all if fewer)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None, help="backbone (default: the embedded one)")
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument(
        "--cache",
        default=str(Path(tempfile.gettempdir()) / "skcse_bench_unlabeled"),
        help="folder of cached embeddings (default: in the temporary folder)",
    )
    parser.add_argument("--out", type=json_out, default="bench_unlabeled.json")
    parser.add_argument("--smoke", action="store_true", help="a 2-candidate grid")
    args = parser.parse_args()
    # Candidates that find fewer than 2 clusters get the worst score; that is the verdict.
    warnings.filterwarnings("ignore", message="HDBSCAN found no cluster")
    warnings.filterwarnings("ignore", message=r".*cluster\(s\) besides noise")

    report: dict[str, Any] = {
        "cpu": cpu_name(),
        "path": vector_path(),
        "model": args.model,
        "max_seq_length": args.max_seq_length,
        "seed": args.seed,
        "tolerance": TOLERANCE,
        "scorers": {name: repr(scorer) for name, scorer in label_free_scorers().items()},
        "corpora": {},
    }
    # All read first, so that a wrong path fails before any work.
    corpora = [
        load_corpus(spec, n=args.n, random_state=args.seed, data=args.data, folder=args.corpora)
        for spec in args.corpus or CORPORA
    ]
    check_distinct_corpora(parser, corpora)
    for corpus in corpora:
        # The reviews' first target, Cat1, is the one scored here.
        name, texts, y = corpus.name, corpus.texts, next(iter(corpus.targets.values()))
        start = time.perf_counter()
        X, cached = embed(texts, args, Path(args.cache))
        result = run_corpus(X, y, args)
        result["seconds"] = time.perf_counter() - start
        result["embeddings_cached"] = cached
        report["corpora"][name] = result
        picks = ", ".join(f"{k} {p['v_measure']:.3f}" for k, p in result["picks"].items())
        print(
            f"[{name}] best {result['best_v_measure']:.3f}, median "
            f"{result['median_v_measure']:.3f}; picked: {picks} ({result['seconds']:.0f} s)",
            flush=True,
        )
    report["n_candidates"] = len(result["candidates"])
    report["summary"] = summarize(report["corpora"])
    table = markdown(report)
    write_report(args.out, report, table)
    print(table)


if __name__ == "__main__":
    main()
