"""Embedding quality: V-measure of each encoder through each clustering, over seeds.

Rows are encoders: TF-IDF + LSA, the untrained backbone, and SimCSE with each augmentation
(more with ``--row``). Corpora (``--corpus``, repeatable; default: the reviews):

- ``reviews``: the Amazon reviews (``--data`` or ``SKCSE_DATA``), ``Text`` scored against two
  targets, ``Cat1`` and ``Cat2``; every review unless ``--n`` is given;
- ``banking77``, ``trec``, ``newsgroups_mini``, ``emotion_dairai``: the labelled CSVs of
  ``../shared/data/corpora`` (``--corpora`` or ``SKCSE_CORPORA`` names another folder);
- ``PATH.csv:TEXT_COLUMN:LABEL_COLUMN``: any CSV, named after its file.

A CSV corpus is a stratified sample of ``--n`` texts (2,000 by default; all if fewer), the
same texts at every seed. For every corpus, row, seed and target the script scores:

- ``kmeans_raw``: KMeans on the encoder's vectors, k = number of categories;
- ``umap_hdbscan``: the fixed UMAP + HDBSCAN of ``skcse compare``,
  ``skcse.make_cluster_pipeline()`` (50 neighbours, 5 components, min_cluster_size n/40,
  min_samples 10, noise assigned by soft membership);
- ``umap_kmeans``: KMeans on that same UMAP output;
- ``tuned``: the fair protocol. Every encoder gets the same UMAP + HDBSCAN grid, searched by
  ``GridSearchCV(cv=InSampleSplit(), scoring=v_measure_scorer)``; the best candidate's score
  is reported, with the whole grid in the JSON.

The seed drives SimCSE training (data order, dropout, views), the SVD of LSA, UMAP and KMeans.
Runs are merged into ``--out`` by (corpus, row, seed), so corpora, rows and seeds can be
added by later calls (a report written before ``--corpus`` existed holds the reviews). The
Markdown beside it has one table per corpus and target (mean ± std over the seeds present)
and one across corpora: each row's tuned score minus the ``untrained`` row's on the same
corpus and seed, mean ± std over seeds, the grid medians' difference in brackets.

Run: ``python benchmarks/bench_quality.py --seeds 0 1 2`` (about 7 minutes per trained row
and seed on 2 CPU cores at max_seq_length 64 on the 15k reviews); ``--corpus trec --corpus
my.csv:body:topic`` runs other corpora; ``--smoke`` proves it runs in a minute.
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
from _common import (
    GRID_CLUSTER_DIVISORS,
    GRID_MIN_SAMPLES,
    GRID_NEIGHBORS,
    add_corpus_arguments,
    check_distinct_corpora,
    cluster_grid,
    cpu_name,
    json_out,
    load_corpus,
    write_report,
)

COLUMNS = ("kmeans_raw", "umap_hdbscan", "umap_kmeans", "tuned")
# Built-in rows; "simcse" rows take SimCSEEncoder parameters on top of the common ones.
ROWS: dict[str, dict[str, Any]] = {
    "tfidf_lsa": {"kind": "tfidf"},
    "untrained": {"kind": "simcse", "epochs": 0},
    "dropout": {"kind": "simcse", "augment": "dropout"},
    "crop": {"kind": "simcse", "augment": "crop"},
    "delete": {"kind": "simcse", "augment": "delete"},
}
# The row every other row is compared with in the table across corpora.
BASELINE = "untrained"
# A CSV corpus's sample when --n is not given (the reviews keep every text).
CSV_SAMPLE = 2000
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
        from sklearn.preprocessing import normalize

        start = time.perf_counter()
        tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2, stop_words="english")
        weights = tfidf.fit_transform(texts)
        # A small corpus can have fewer words than LSA_COMPONENTS.
        svd = TruncatedSVD(min(LSA_COMPONENTS, weights.shape[1]), random_state=seed)
        X = normalize(svd.fit_transform(weights)).astype(np.float32)
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


def score(
    X: np.ndarray, targets: dict[str, np.ndarray], seed: int, grid: dict[str, list] | None
) -> dict:
    """Score one embedding through each clustering, for each target; ``grid=None``: no tuning.

    One search serves every target: y holds one column per target and each scorer reads its
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

    Y = np.column_stack(list(targets.values()))
    results: dict[str, dict[str, Any]] = {target: {} for target in targets}
    with tempfile.TemporaryDirectory() as cache:
        # One UMAP fit per setting, shared by the fixed pipeline and the grid.
        memory = Memory(cache, verbose=0)
        fixed = make_cluster_pipeline(random_state=seed, memory=memory)
        labels = fixed.fit_predict(X, Y)
        Z = fixed[0].embedding_
        for j, target in enumerate(targets):
            y, row = Y[:, j], results[target]
            kmeans = KMeans(n_clusters=len(np.unique(y)), n_init=10, random_state=seed)
            row["kmeans_raw"] = float(v_measure_score(y, kmeans.fit_predict(X)))
            row["umap_hdbscan"] = float(v_measure_score(y, labels))
            row["umap_hdbscan_clusters"] = int(len(np.unique(labels)))
            row["umap_kmeans"] = float(v_measure_score(y, clone(kmeans).fit_predict(Z)))
        if grid is None:
            return results
        search = GridSearchCV(
            clone(fixed),
            grid,
            scoring={
                target: make_clustering_scorer(_v_measure_of_column, column=j)
                for j, target in enumerate(targets)
            },
            cv=InSampleSplit(),
            refit=False,
            error_score="raise",
        ).fit(X, Y)
    cv = search.cv_results_
    for target in targets:
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


def targets_of(run: dict) -> list[str]:
    """The targets a run was scored against (its scores also hold the grid's candidates)."""
    return [key for key in run["scores"] if key != "grid_params"]


def column_name(corpus: str, target: str, n_targets: int) -> str:
    """The corpus's name, with the target's when it has several (the reviews' Cat1, Cat2)."""
    return f"{corpus} {target}" if n_targets > 1 else corpus


def read_report(path: Path) -> dict:
    """The report in ``path``, or an empty one.

    Reports written before ``--corpus`` hold only the reviews, with one sample size for all.
    """
    if not path.is_file():
        return {"runs": []}
    report = json.loads(path.read_text())
    n_samples = report.pop("n_samples", None)
    for run in report["runs"]:
        run.setdefault("corpus", "reviews")
        run.setdefault("n_texts", n_samples)
    return report


def summarize(runs: list[dict]) -> dict:
    """Mean, std and count over seeds of each corpus, row, target and column."""
    groups: dict[str, dict[str, list[dict]]] = {}
    for run in runs:
        groups.setdefault(run["corpus"], {}).setdefault(run["row"], []).append(run)
    summary: dict[str, dict[str, Any]] = {}
    for corpus, rows in groups.items():
        for name, mine in rows.items():
            entry: dict[str, Any] = {
                "params": mine[0]["params"],
                "seeds": [run["seed"] for run in mine],
                "n_texts": mine[0]["n_texts"],
                "scores": {},
            }
            for target in targets_of(mine[0]):
                stats = entry["scores"][target] = {}
                for column in COLUMNS:
                    values = [
                        run["scores"][target][column]
                        for run in mine
                        if column in run["scores"][target]
                    ]
                    if values:
                        stats[column] = _stats(values)
                # The tuned column is a maximum over candidates, so one lucky clustering lifts
                # it; the grid's median shows whether the whole grid moved.
                medians = [
                    float(np.median(run["scores"][target]["grid"]))
                    for run in mine
                    if "grid" in run["scores"][target]
                ]
                if medians:
                    stats["grid_median"] = _stats(medians)
            if all("loss_first" in run["info"] for run in mine):
                entry["fit_seconds"] = float(np.mean([run["info"]["fit_seconds"] for run in mine]))
                for key in ("loss_first", "loss_last_50"):
                    entry[key] = float(np.mean([run["info"][key] for run in mine]))
                for key in ("alignment", "uniformity"):
                    entry[key] = np.mean([run["info"][key] for run in mine], axis=0).tolist()
            summary.setdefault(corpus, {})[name] = entry
    return summary


def across(runs: list[dict]) -> dict:
    """Per row and corpus column: the tuned score and grid median, and their gain over BASELINE.

    A gain pairs two runs of the same corpus and seed; mean ± std are over those seeds.
    """
    baseline = {(run["corpus"], run["seed"]): run for run in runs if run["row"] == BASELINE}
    cells: dict[str, dict[str, dict[str, list]]] = {}
    for run in runs:
        base = baseline.get((run["corpus"], run["seed"]))
        targets = targets_of(run)
        for target in targets:
            scores = run["scores"][target]
            # --no-grid runs have no tuned score to compare.
            if base is None or "grid" not in scores or "grid" not in base["scores"][target]:
                continue
            base_scores = base["scores"][target]
            column = column_name(run["corpus"], target, len(targets))
            cell = cells.setdefault(run["row"], {}).setdefault(column, {"seeds": []})
            values = {
                "tuned": scores["tuned"],
                "grid_median": float(np.median(scores["grid"])),
                "tuned_gain": scores["tuned"] - base_scores["tuned"],
                "grid_median_gain": float(
                    np.median(scores["grid"]) - np.median(base_scores["grid"])
                ),
            }
            cell["seeds"].append(run["seed"])
            for key, value in values.items():
                cell.setdefault(key, []).append(value)
    return {
        row: {
            column: {key: value if key == "seeds" else _stats(value) for key, value in cell.items()}
            for column, cell in columns.items()
        }
        for row, columns in cells.items()
    }


def _cell(stat: dict[str, float] | None, sign: str = "") -> str:
    """Mean ± std, or the value alone for one seed, which has no spread to show."""
    if stat is None:
        return "n/a"
    if stat["n"] == 1:
        return f"{stat['mean']:{sign}.3f}"
    return f"{stat['mean']:{sign}.3f} ± {stat['std']:.3f}"


def markdown_across(report: dict) -> str:
    """The table across corpora: BASELINE's scores, and every other row's gain over them."""
    from skcse._report import markdown_table

    table = report["across"]
    if not table:
        return f"No table across corpora: it needs the `{BASELINE}` row and the tuned column.\n"
    columns = list(dict.fromkeys(column for cells in table.values() for column in cells))
    most = max(len(cell["seeds"]) for cells in table.values() for cell in cells.values())
    rows = []
    # The baseline first: its scores are the scale the gains are read on.
    for name in sorted(table, key=lambda name: name != BASELINE):
        line = [name]
        for column in columns:
            cell = table[name].get(column)
            if cell is None:
                line.append("n/a")
                continue
            if name == BASELINE:
                text = f"{_cell(cell['tuned'])} ({cell['grid_median']['mean']:.3f})"
            else:
                gain = cell["grid_median_gain"]["mean"]
                text = f"{_cell(cell['tuned_gain'], '+')} ({gain:+.3f})"
            if len(cell["seeds"]) < most:  # fewer seeds than elsewhere in the table
                text += f" [seeds {', '.join(map(str, cell['seeds']))}]"
            line.append(text)
        rows.append(line)
    return (
        f"**Across corpora**: tuned UMAP + HDBSCAN V-measure of `{BASELINE}`, and each other "
        f"encoder's gain over it on the same corpus and seed; mean ± std over seeds, the grid "
        f"median (its gain) in brackets\n\n" + markdown_table(["encoder", *columns], rows)
    )


def markdown(report: dict) -> str:
    """The summary as Markdown: across corpora, one table per corpus and target, training."""
    from skcse._report import markdown_table

    parts = [markdown_across(report)]
    for corpus, entries in report["summary"].items():
        targets = list(next(iter(entries.values()))["scores"])
        for target in targets:
            rows = []
            for name, entry in entries.items():
                stats = entry["scores"][target]
                cells = [_cell(stats.get(column)) for column in (*COLUMNS, "grid_median")]
                rows.append([name, len(entry["seeds"]), *cells])
            n_texts = next(iter(entries.values()))["n_texts"]
            parts.append(
                f"**{column_name(corpus, target, len(targets))}** ({n_texts} texts; V-measure, "
                "mean ± std over seeds)\n\n"
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
    for corpus, entries in report["summary"].items():
        for name, entry in entries.items():
            if "fit_seconds" not in entry:
                continue
            align, unif = entry["alignment"], entry["uniformity"]
            rows.append(
                [
                    corpus,
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
                "corpus",
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
    add_corpus_arguments(
        parser,
        n=None,
        n_help=f"stratified sample per corpus (default: every review, {CSV_SAMPLE} of a CSV)",
    )
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
    parser.add_argument("--out", type=json_out, default="bench_quality.json")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="300 texts per corpus, 2 steps, the grid at 50 neighbours only: to prove it runs",
    )
    args = parser.parse_args()
    # Some grid candidates find no cluster at all; they score 0, which is the right verdict.
    warnings.filterwarnings("ignore", message="HDBSCAN found no cluster")

    unknown = set(args.rows) - set(ROWS)
    if unknown:
        parser.error(f"unknown --rows {sorted(unknown)}; choose from {list(ROWS)}")
    rows = {name: ROWS[name] for name in args.rows}
    rows.update(parse_row(spec) for spec in args.row)
    common: dict[str, Any] = {"max_seq_length": args.max_seq_length}
    if args.model is not None:  # the tables name only what differs from the defaults
        common["model_name_or_path"] = args.model
    if args.smoke:
        args.n, args.seeds = 300, args.seeds[:1]
        common.update(max_steps=2, batch_size=16)
    # The same texts at every seed; all read first, so that a wrong path fails before any work.
    corpora = [
        load_corpus(
            spec,
            # Every review unless told, as before --corpus, so older reports keep their meaning.
            n=args.n if args.n is not None or spec == "reviews" else CSV_SAMPLE,
            random_state=0,
            data=args.data,
            folder=args.corpora,
        )
        for spec in args.corpus or ["reviews"]
    ]
    check_distinct_corpora(parser, corpora)

    out = args.out
    report = read_report(out)
    # Runs merge by corpus name: refuse to mix two samples of one corpus in one table.
    for corpus in corpora:
        sizes = {run["n_texts"] for run in report["runs"] if run["corpus"] == corpus.name}
        if sizes - {len(corpus.texts)}:
            parser.error(
                f"{out} holds {corpus.name} runs on {sorted(sizes)} texts, this call has "
                f"{len(corpus.texts)}: give the same --n or another --out"
            )
    for seed in args.seeds:
        for corpus in corpora:
            grid = None if args.no_grid else cluster_grid(len(corpus.texts))
            if grid is not None and args.smoke:  # one UMAP per run: the fixed setting's, cached
                grid["umap__n_neighbors"] = [50]
            for name, row in rows.items():
                start = time.perf_counter()
                X, info = embed(row, corpus.texts, seed, common)
                scores = score(X, corpus.targets, seed, grid)
                run = {
                    "corpus": corpus.name,
                    "n_texts": len(corpus.texts),
                    "row": name,
                    "seed": seed,
                    "params": {**common, **row} if row["kind"] == "simcse" else row,
                    "info": {**info, "total_seconds": time.perf_counter() - start},
                    "scores": scores,
                }
                key = (corpus.name, name, seed)
                report["runs"] = [
                    r for r in report["runs"] if (r["corpus"], r["row"], r["seed"]) != key
                ] + [run]
                cells = ", ".join(
                    f"{t} {c} {scores[t][c]:.3f}"
                    for t in corpus.targets
                    for c in COLUMNS
                    if c in scores[t]
                )
                print(
                    f"[{corpus.name} {name} seed {seed}] {cells} "
                    f"({run['info']['total_seconds']:.0f} s)",
                    flush=True,
                )
                report.update(
                    cpu=cpu_name(),
                    summary=summarize(report["runs"]),
                    across=across(report["runs"]),
                    grid={
                        "umap__n_neighbors": list(GRID_NEIGHBORS),
                        "hdbscan__min_samples": list(GRID_MIN_SAMPLES),
                        "hdbscan__min_cluster_size_divisor": list(GRID_CLUSTER_DIVISORS),
                    },
                )
                # Written after every run, so an interrupted benchmark keeps what it measured.
                write_report(out, report, markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
