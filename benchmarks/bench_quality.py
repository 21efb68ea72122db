"""Embedding quality: V-measure of each encoder through each clustering, over seeds.

Rows are encoders: TF-IDF + LSA, the untrained backbone, and SimCSE with each augmentation
(more with ``--row``). For every row, seed and target (``Cat1``, ``Cat2``) the script scores:

- ``kmeans_raw``: KMeans on the encoder's vectors, k = number of categories;
- ``umap_hdbscan``: the fixed UMAP + HDBSCAN of ``skcse compare``,
  ``skcse.make_cluster_pipeline()`` (50 neighbours, 5 components, min_cluster_size n/40,
  min_samples 10, noise assigned by soft membership);
- ``umap_kmeans``: KMeans on that same UMAP output;
- ``tuned``: the fair protocol. Every encoder gets the same UMAP + HDBSCAN grid, searched by
  ``GridSearchCV(cv=InSampleSplit(), scoring=v_measure_scorer)``; the best candidate's score
  is reported, with the whole grid in the JSON.

The seed drives SimCSE training (data order, dropout, views), the SVD of LSA, UMAP and KMeans.
Runs are merged into ``--out`` by (row, seed), so rows and seeds can be added by later calls;
the Markdown table beside it shows mean ± std over the seeds present.

Run: ``python benchmarks/bench_quality.py --seeds 0 1 2`` (about 7 minutes per trained row
and seed on 2 CPU cores at max_seq_length 64); ``--smoke`` proves it runs in a minute.
"""

from __future__ import annotations

import argparse
import ast
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _common import cpu_name

TARGETS = ("Cat1", "Cat2")
COLUMNS = ("kmeans_raw", "umap_hdbscan", "umap_kmeans", "tuned")
# Built-in rows; "simcse" rows take SimCSEEncoder parameters on top of the common ones.
ROWS: dict[str, dict[str, Any]] = {
    "tfidf_lsa": {"kind": "tfidf"},
    "untrained": {"kind": "simcse", "epochs": 0},
    "dropout": {"kind": "simcse", "augment": "dropout"},
    "crop": {"kind": "simcse", "augment": "crop"},
    "delete": {"kind": "simcse", "augment": "delete"},
}
# The grid every encoder gets; it holds the fixed setting. min_cluster_size is n // divisor
# (at least 10): Cat2's 64 classes have a median of 159 reviews in 15k, Cat1's 6 thousands.
GRID_NEIGHBORS = (15, 50, 100)
GRID_MIN_SAMPLES = (10, 30)
GRID_CLUSTER_DIVISORS = (200, 80, 40, 15)
LSA_COMPONENTS = 100


def parse_row(spec: str) -> tuple[str, dict[str, Any]]:
    """Parse ``NAME:key=value;key=value`` into a SimCSE row; values are Python literals."""
    name, _, body = spec.partition(":")
    params: dict[str, Any] = {"kind": "simcse"}
    for item in filter(None, body.split(";")):
        key, _, value = item.partition("=")
        try:
            params[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            params[key.strip()] = value.strip()
    return name.strip(), params


def embed(row: dict[str, Any], texts: list[str], seed: int, common: dict[str, Any]):
    """Return the row's vectors and what its training recorded."""
    if row["kind"] == "tfidf":
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import Normalizer

        lsa = make_pipeline(
            TfidfVectorizer(sublinear_tf=True, min_df=2, stop_words="english"),
            TruncatedSVD(LSA_COMPONENTS, random_state=seed),
            Normalizer(),
        )
        start = time.perf_counter()
        X = lsa.fit_transform(texts).astype(np.float32)
        return X, {"seconds": time.perf_counter() - start}
    from skcse import SimCSEEncoder

    # The table shows alignment and uniformity, which fit measures only when asked.
    params = {"compute_alignment": True, **common, **{k: v for k, v in row.items() if k != "kind"}}
    encoder = SimCSEEncoder(random_state=seed, **params)
    start = time.perf_counter()
    encoder.fit(texts)
    seconds = time.perf_counter() - start
    X = encoder.transform(texts)
    history = encoder.history_
    info: dict[str, Any] = {"fit_seconds": seconds, "n_steps": encoder.n_steps_}
    if history["loss"]:
        info.update(
            loss_first=history["loss"][0],
            loss_last_50=float(np.mean(history["loss"][-50:])),
            alignment=history["alignment"],
            uniformity=history["uniformity"],
        )
    return X, info


def _v_measure_of_column(y: np.ndarray, labels: np.ndarray, column: int) -> float:
    from sklearn.metrics import v_measure_score

    return float(v_measure_score(y[:, column], labels))


def score(X: np.ndarray, targets: dict[str, np.ndarray], seed: int, grid: bool) -> dict:
    """Score one embedding through each clustering, for each target.

    One search serves both targets: y holds one column per target and each scorer reads its
    own, so every UMAP and HDBSCAN candidate is fitted once (UMAP and HDBSCAN ignore y).
    """
    from joblib import Memory
    from sklearn.base import clone
    from sklearn.cluster import KMeans
    from sklearn.metrics import v_measure_score
    from sklearn.model_selection import GridSearchCV

    from skcse.metrics import make_clustering_scorer
    from skcse.model_selection import InSampleSplit
    from skcse.pipeline import make_cluster_pipeline

    Y = np.column_stack([targets[target] for target in TARGETS])
    results: dict[str, dict[str, Any]] = {target: {} for target in TARGETS}
    with tempfile.TemporaryDirectory() as cache:
        # One UMAP fit per setting, shared by the fixed pipeline and the grid.
        memory = Memory(cache, verbose=0)
        fixed = make_cluster_pipeline(random_state=seed, memory=memory)
        labels = fixed.fit_predict(X, Y)
        Z = fixed[0].embedding_
        for j, target in enumerate(TARGETS):
            y, row = Y[:, j], results[target]
            kmeans = KMeans(n_clusters=len(np.unique(y)), n_init=10, random_state=seed)
            row["kmeans_raw"] = float(v_measure_score(y, kmeans.fit_predict(X)))
            row["umap_hdbscan"] = float(v_measure_score(y, labels))
            row["umap_hdbscan_clusters"] = int(len(np.unique(labels)))
            row["umap_kmeans"] = float(v_measure_score(y, clone(kmeans).fit_predict(Z)))
        if not grid:
            return results
        search = GridSearchCV(
            clone(fixed),
            {
                "umap__n_neighbors": list(GRID_NEIGHBORS),
                "hdbscan__min_samples": list(GRID_MIN_SAMPLES),
                "hdbscan__min_cluster_size": sorted(
                    {max(10, len(X) // d) for d in GRID_CLUSTER_DIVISORS}
                ),
            },
            scoring={
                target: make_clustering_scorer(_v_measure_of_column, column=j)
                for j, target in enumerate(TARGETS)
            },
            cv=InSampleSplit(),
            refit=False,
            error_score="raise",
        ).fit(X, Y)
    cv = search.cv_results_
    for target in TARGETS:
        scores = cv[f"mean_test_{target}"]
        best = int(np.argmax(scores))
        results[target].update(
            tuned=float(scores[best]),
            tuned_params=cv["params"][best],
            grid=[float(value) for value in scores],
        )
    results["grid_params"] = cv["params"]
    return results


def _stats(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "n": len(values)}


def summarize(runs: list[dict]) -> dict:
    """Mean, std and count over seeds of each row, target and column."""
    summary: dict[str, Any] = {}
    for run in runs:
        entry = summary.setdefault(run["row"], {"params": run["params"], "seeds": []})
        entry["seeds"].append(run["seed"])
    for name, entry in summary.items():
        mine = [run for run in runs if run["row"] == name]
        for target in TARGETS:
            entry[target] = {}
            for column in COLUMNS:
                values = [
                    run["scores"][target][column] for run in mine if column in run["scores"][target]
                ]
                if values:
                    entry[target][column] = _stats(values)
            # The tuned column is a maximum over candidates, so one lucky clustering lifts it;
            # the grid's median shows whether the whole grid moved.
            medians = [
                float(np.median(run["scores"][target]["grid"]))
                for run in mine
                if "grid" in run["scores"][target]
            ]
            if medians:
                entry[target]["grid_median"] = _stats(medians)
        if all("loss_first" in run["info"] for run in mine):
            entry["fit_seconds"] = float(np.mean([run["info"]["fit_seconds"] for run in mine]))
            for key in ("loss_first", "loss_last_50"):
                entry[key] = float(np.mean([run["info"][key] for run in mine]))
            for key in ("alignment", "uniformity"):
                entry[key] = np.mean([run["info"][key] for run in mine], axis=0).tolist()
    return summary


def markdown(report: dict) -> str:
    """The summary as Markdown tables, one per target and one of training."""
    from skcse._report import markdown_table

    parts = []
    for target in TARGETS:
        rows = []
        for name, entry in report["summary"].items():
            cells = []
            for column in (*COLUMNS, "grid_median"):
                stat = entry[target].get(column)
                if stat is None:
                    cells.append("n/a")
                elif stat["n"] == 1:  # one seed has no spread to show
                    cells.append(f"{stat['mean']:.3f}")
                else:
                    cells.append(f"{stat['mean']:.3f} ± {stat['std']:.3f}")
            rows.append([name, len(entry["seeds"]), *cells])
        parts.append(
            f"**{target}** (V-measure, mean ± std over seeds)\n\n"
            + markdown_table(
                [
                    "encoder",
                    "seeds",
                    "KMeans on raw",
                    "UMAP + HDBSCAN",
                    "UMAP + KMeans",
                    "tuned UMAP + HDBSCAN",
                    "grid median",
                ],
                rows,
            )
        )
    rows = []
    for name, entry in report["summary"].items():
        if "fit_seconds" not in entry:
            continue
        align, unif = entry["alignment"], entry["uniformity"]
        rows.append(
            [
                name,
                ", ".join(f"{k}={v}" for k, v in entry["params"].items() if k != "kind"),
                f"{entry['fit_seconds']:.0f}",
                f"{entry['loss_first']:.2g}",
                f"{entry['loss_last_50']:.2g}",
                f"{align[0]:.3f} → {align[1]:.3f}",
                f"{unif[0]:.3f} → {unif[1]:.3f}",
            ]
        )
    parts.append(
        "**Training** (means over seeds)\n\n"
        + markdown_table(
            [
                "encoder",
                "parameters",
                "fit s",
                "first loss",
                "loss, last 50 steps",
                "alignment start → end",
                "uniformity start → end",
            ],
            rows,
        )
    )
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="reviews CSV (default: SKCSE_DATA)")
    parser.add_argument("--n", type=int, default=None, help="stratified sample (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--rows", nargs="*", default=list(ROWS), help=f"of {list(ROWS)}; none: only --row rows"
    )
    parser.add_argument(
        "--row",
        action="append",
        default=[],
        metavar="NAME:key=value;...",
        help="an extra SimCSE row, e.g. 'crop_lr1e-5:augment=crop;learning_rate=1e-5'",
    )
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--model", default=None, help="backbone (default: the embedded MiniLM)")
    parser.add_argument("--no-grid", action="store_true", help="skip the tuned column")
    parser.add_argument("--out", default="bench_quality.json")
    parser.add_argument("--smoke", action="store_true", help="300 texts, 2 steps, to prove it runs")
    args = parser.parse_args()
    # Some grid candidates find no cluster at all; they score 0, which is the right verdict.
    warnings.filterwarnings("ignore", message="HDBSCAN found no cluster")

    from skcse._io import atomic_write
    from skcse.datasets import load_amazon_reviews

    rows = {name: ROWS[name] for name in args.rows}
    rows.update(parse_row(spec) for spec in args.row)
    common: dict[str, Any] = {"max_seq_length": args.max_seq_length}
    if args.model is not None:  # the tables name only what differs from the defaults
        common["model_name_or_path"] = args.model
    n = args.n
    if args.smoke:
        n, args.seeds = 300, args.seeds[:1]
        common.update(max_steps=2, batch_size=16)
    frame = load_amazon_reviews(args.data, n_samples=n, random_state=0).frame
    texts = frame["Text"].astype(str).tolist()
    targets = {target: frame[target].astype(str).to_numpy() for target in TARGETS}

    out = Path(args.out)
    report = json.loads(out.read_text()) if out.is_file() else {"runs": []}
    for seed in args.seeds:
        for name, row in rows.items():
            start = time.perf_counter()
            X, info = embed(row, texts, seed, common)
            scores = score(X, targets, seed, grid=not args.no_grid)
            run = {
                "row": name,
                "seed": seed,
                "params": {**common, **row} if row["kind"] == "simcse" else row,
                "info": {**info, "total_seconds": time.perf_counter() - start},
                "scores": scores,
            }
            report["runs"] = [
                r for r in report["runs"] if (r["row"], r["seed"]) != (name, seed)
            ] + [run]
            cells = ", ".join(
                f"{t} {c} {scores[t][c]:.3f}" for t in TARGETS for c in COLUMNS if c in scores[t]
            )
            print(
                f"[{name} seed {seed}] {cells} ({run['info']['total_seconds']:.0f} s)", flush=True
            )
            report.update(
                n_samples=len(texts),
                cpu=cpu_name(),
                summary=summarize(report["runs"]),
                grid={
                    "umap__n_neighbors": list(GRID_NEIGHBORS),
                    "hdbscan__min_samples": list(GRID_MIN_SAMPLES),
                    "hdbscan__min_cluster_size_divisor": list(GRID_CLUSTER_DIVISORS),
                },
            )
            # Written after every run, so an interrupted benchmark keeps what it measured.
            for path, text in (
                (out, json.dumps(report, indent=1) + "\n"),
                (out.with_suffix(".md"), markdown(report)),
            ):
                with atomic_write(path) as handle:
                    handle.write(text.encode())
    print(markdown(report))


if __name__ == "__main__":
    main()
