"""Embedding the reviews with transform_dask on a local dask cluster, against one process.

(a) ``SimCSEEncoder.transform`` of N reviews in one process (a child of its own, so that its
    peak RSS is its own), torch using every core.
(b) ``skcse.parallel.transform_dask`` of the same reviews as a dask.dataframe Series of
    ``--partitions`` partitions, on a LocalCluster of ``--workers`` worker processes with one
    thread each, on 127.0.0.1, in dask's default worker environment. The time runs from the
    ``transform_dask`` call (which sends the encoder to the workers) to the end of
    ``compute()``; starting the cluster and importing torch on the workers are timed apart.
(c) As (b), with ``MALLOC_TRIM_THRESHOLD_`` left unset on the workers: dask sets it to 64 kB
    so that workers hand freed memory back to the system, and torch, which frees and
    allocates large buffers in every batch, then pays for fresh pages each time.

Both use ``SimCSEEncoder(epochs=0)``: the embedded all-MiniLM-L6-v2 unless ``--model`` names
another backbone, untrained, at its default precision. Reported: wall time and texts/s of
each, the lowest row cosine of (b) and of (c) against (a), the peak RSS (VmHWM) of the single
process and of each worker, and how many times each worker unpickled the encoder (counted on
the workers).

Prints a Markdown table and writes the report as JSON (--out) and the table beside it (same
name ending in .md).

Usage:
    python benchmarks/bench_dask.py [--data CSV] [--n 15422] [--partitions 8] [--workers 2]
                                    [--model NAME] [--out bench_dask.json] [--smoke]

The reviews are read as by skcse.datasets.load_amazon_reviews: --data, else SKCSE_DATA, else
the download. --smoke embeds a few texts in (a) and (b) only, to prove the script still works.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import cpu_name, json_out, peak_rss_mib, positive_int, row_cosines, write_report


def load_texts(data: str | None, n: int | None) -> list[str]:
    from skcse.datasets import load_amazon_reviews

    texts, _ = load_amazon_reviews(path=data, return_X_y=True)
    return texts[:n]


def machine() -> str:
    import dask
    import torch

    cpu = cpu_name()
    return f"{cpu}, {os.cpu_count()} cores; torch {torch.__version__}, dask {dask.__version__}"


def child_single(args: argparse.Namespace) -> None:
    """Part (a), in a process of its own: print its figures, save its vectors."""
    import torch

    from skcse import SimCSEEncoder

    texts = load_texts(args.data, args.n)
    encoder = SimCSEEncoder(args.model, epochs=0).fit(texts[:2])
    start = time.perf_counter()
    vectors = encoder.transform(texts)
    seconds = time.perf_counter() - start
    np.save(args.vectors, vectors)
    result = {
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "torch_threads": torch.get_num_threads(),
        # None: no autocast, fp32.
        "precision": str(encoder._compute_dtype() or torch.float32).removeprefix("torch."),
    }
    print("RESULT " + json.dumps(result))


def run_single(args: argparse.Namespace, vectors: Path) -> dict:
    command = [sys.executable, __file__, "--child-single", "--vectors", str(vectors)]
    command += ["--n", str(args.n)] + (["--data", args.data] if args.data else [])
    command += ["--model", args.model] if args.model else []
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"single-process run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


# The three functions below run on the workers, through client.run; defined in __main__, they
# travel by value.
def worker_imports() -> int:
    import torch

    import skcse.encoder  # noqa: F401  (what unpickling the encoder would import)

    return torch.get_num_threads()


def count_encoder_unpickles() -> None:
    from skcse.encoder import SimCSEEncoder

    original = SimCSEEncoder.__setstate__

    def counting(self, state):
        counting.calls += 1
        original(self, state)

    counting.calls = 0
    SimCSEEncoder.__setstate__ = counting


def encoder_unpickles() -> int:
    from skcse.encoder import SimCSEEncoder

    return SimCSEEncoder.__setstate__.calls


def malloc_trim_threshold() -> str | None:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


@contextlib.contextmanager
def worker_environment(malloc_trim: bool):
    """dask's worker environment, or that without MALLOC_TRIM_THRESHOLD_.

    The nanny writes its worker variables into this process's environment too, where the next
    cluster's workers would inherit them, so the environment is restored afterwards.
    """
    import dask

    saved = dict(os.environ)
    key = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
    try:
        with dask.config.set({} if malloc_trim else {key: None}):
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_dask(
    args: argparse.Namespace, texts: list[str], malloc_trim: bool
) -> tuple[dict, np.ndarray]:
    import dask.dataframe as dd
    import pandas as pd
    from distributed import Client, LocalCluster

    from skcse import SimCSEEncoder
    from skcse.parallel import transform_dask

    encoder = SimCSEEncoder(args.model, epochs=0).fit(texts[:2])
    start = time.perf_counter()
    with (
        worker_environment(malloc_trim),
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        threads = client.run(worker_imports)
        startup = time.perf_counter() - start
        client.run(count_encoder_unpickles)
        series = dd.from_pandas(pd.Series(texts), npartitions=args.partitions)
        start = time.perf_counter()
        embeddings = transform_dask(encoder, series)
        scatter = time.perf_counter() - start
        vectors = embeddings.compute()
        seconds = time.perf_counter() - start
        unpickles = client.run(encoder_unpickles)
        peaks = client.run(peak_rss_mib)
        trim = client.run(malloc_trim_threshold)
    workers = sorted(peaks)
    result = {
        "malloc_trim_threshold": trim[workers[0]],
        "seconds": seconds,
        "scatter_seconds": scatter,
        "cluster_start_seconds": startup,
        "partitions": embeddings.numblocks[0],
        "workers": len(workers),
        "torch_threads_per_worker": [threads[w] for w in workers],
        "worker_peak_rss_mib": [peaks[w] for w in workers],
        "encoder_unpickles_per_worker": [unpickles[w] for w in workers],
    }
    return result, vectors


def markdown(report: dict) -> str:
    """The report as a Markdown table and notes: printed, and written beside the JSON."""
    from skcse._report import markdown_table

    single, n = report["single"], report["n_texts"]
    rows = [
        [
            "(a) `transform`, one process",
            f"1 × {single['torch_threads']}",
            f"{single['seconds']:.1f}",
            f"{n / single['seconds']:.0f}",
            f"{single['peak_rss_mib']:.0f}",
            "-",
        ]
    ]
    names = [f"({name})" for name in "bc"[: len(report["dask"])]]
    for name, run in zip(names, report["dask"], strict=True):
        trim = run["malloc_trim_threshold"]
        setting = "dask's default" if trim else "unset"
        rows.append(
            [
                f"{name} `transform_dask`, {run['partitions']} partitions, "
                f"MALLOC_TRIM_THRESHOLD_ {setting}{f' ({trim})' if trim else ''}",
                f"{run['workers']} × {max(run['torch_threads_per_worker'])}",
                f"{run['seconds']:.1f}",
                f"{n / run['seconds']:.0f}",
                " / ".join(f"{mb:.0f}" for mb in run["worker_peak_rss_mib"]),
                " / ".join(str(count) for count in run["encoder_unpickles_per_worker"]),
            ]
        )
    table = markdown_table(
        [
            "run",
            "processes × torch threads",
            "wall s",
            "texts/s",
            "peak RSS MiB per process",
            "encoder unpickled per worker",
        ],
        rows,
        align=["left", "left", "right", "right", "right", "right"],
    )
    cosines = ", ".join(f"{c:.6f}" for c in report["min_row_cosine"])
    scatter = ", ".join(f"{run['scatter_seconds']:.1f}" for run in report["dask"])
    start = ", ".join(f"{run['cluster_start_seconds']:.1f}" for run in report["dask"])
    return (
        f"Machine: {report['machine']}.\n\n"
        f"{n} reviews, `SimCSEEncoder(epochs=0)` ({report.get('model') or 'all-MiniLM-L6-v2'}, "
        f"{single['precision']}).\n\n"
        f"{table}\n"
        f"Lowest row cosine against (a): {cosines} for {', '.join(names)}. The times of "
        f"{' and '.join(names)} "
        f"include sending the encoder to the workers ({scatter} s); starting the cluster and "
        f"importing torch there ({start} s) are not included.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="reviews CSV (default: SKCSE_DATA)")
    parser.add_argument(
        "--n", type=positive_int, default=None, help="reviews to embed (default: all)"
    )
    parser.add_argument("--partitions", type=positive_int, default=8)
    parser.add_argument("--workers", type=positive_int, default=2)
    parser.add_argument("--model", default=None, help="backbone (default: the embedded one)")
    parser.add_argument("--out", type=json_out, default="bench_dask.json")
    parser.add_argument("--smoke", action="store_true", help="a few texts, to prove it runs")
    parser.add_argument("--child-single", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--vectors", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_single:
        child_single(args)
        return
    if args.smoke:
        args.n, args.partitions = 64, 4
    texts = load_texts(args.data, args.n)
    args.n = len(texts)
    report = {"machine": machine(), "model": args.model, "n_texts": args.n, "smoke": args.smoke}
    print(report["machine"], flush=True)
    with tempfile.TemporaryDirectory() as folder:
        vectors_path = Path(folder) / "single.npy"
        report["single"] = run_single(args, vectors_path)
        print(f"(a) one process: {report['single']['seconds']:.1f} s", flush=True)
        single = np.load(vectors_path)
        report["dask"], report["min_row_cosine"] = [], []
        # The smoke run proves (b) works; (c) is the same code under another variable.
        runs = (("b", True),) if args.smoke else (("b", True), ("c", False))
        for name, malloc_trim in runs:
            run, vectors = run_dask(args, texts, malloc_trim)
            print(f"({name}) transform_dask: {run['seconds']:.1f} s", flush=True)
            report["dask"].append(run)
            report["min_row_cosine"].append(float(row_cosines(single, vectors).min()))
    table = markdown(report)
    print(table)
    write_report(args.out, report, table)


if __name__ == "__main__":
    main()
