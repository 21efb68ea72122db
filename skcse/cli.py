"""The ``skcse`` command. It parses arguments and calls the library, nothing more.

Subcommands: ``compare`` (the reference study, the main job), ``fit``, ``embed`` and
``cluster``. Bad paths, unknown columns and empty files end in one line on stderr and exit
code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

DEFAULT_N_SAMPLES = 2000


class UsageError(Exception):
    """A problem with the command's input, reported in one line with exit code 2."""


def _read_table(path: str, column: str | None, label_column: str | None = None):
    """Read texts (and labels) from a CSV column or a text file with one text per line."""
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"no such file: {path}")
    if file.suffix.lower() in (".csv", ".tsv"):
        try:
            frame = pd.read_csv(file, sep="\t" if file.suffix.lower() == ".tsv" else ",")
        except pd.errors.EmptyDataError:
            raise UsageError(f"{path} is empty") from None
        column = column or "Text"
        for name in (column, label_column):
            if name is not None and name not in frame.columns:
                raise UsageError(
                    f"{path} has no column {name!r}; its columns are {list(frame.columns)}"
                )
        frame = frame.dropna(subset=[column])
        texts = frame[column].astype(str).tolist()
        labels = frame[label_column].astype(str).to_numpy() if label_column else None
    else:
        if label_column:
            raise UsageError("--label-column needs a CSV input")
        texts = [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
        labels = None
    if not texts:
        raise UsageError(f"{path} holds no texts")
    return texts, labels


def _save_npy(path: str, array) -> None:
    """Write an .npy file atomically, so a failure never leaves a partial file."""
    import numpy as np

    from skcse._io import atomic_write

    with atomic_write(path) as handle:
        np.save(handle, array)


def _encoder_for(model: str | None, texts, quiet: bool):
    """Load a saved skcse folder, or use any other backbone untrained."""
    from skcse import SimCSEEncoder

    if model is not None and (Path(model) / "skcse.json").is_file():
        encoder = SimCSEEncoder.load(model)
        encoder.set_params(verbose=0 if quiet else 1)
        return encoder
    return SimCSEEncoder(model, epochs=0, verbose=0 if quiet else 1).fit(texts)


def _cmd_compare(args: argparse.Namespace) -> int:
    from skcse._compare import format_table, run_compare
    from skcse.datasets import load_amazon_reviews

    say = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    data = load_amazon_reviews(
        args.data, n_samples=args.n_samples, random_state=args.seed, progress=not args.quiet
    )
    say(f"{len(data.data)} reviews from {data.path}, {len(data.target_names)} categories")
    report = run_compare(
        data.data,
        data.target,
        model=args.model,
        reference_model=args.reference_model,
        epochs=args.epochs,
        augment=args.augment,
        learning_rate=args.learning_rate,
        seed=args.seed,
        output=args.output,
        log=say,
        progress=not args.quiet,
    )
    print(format_table(report))
    print(f"report and plots written to {args.output}")
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    from skcse import SimCSEEncoder

    texts, _ = _read_table(args.input, args.column)
    if Path(args.output).exists() and not args.overwrite:
        raise UsageError(f"{args.output} already exists; pass --overwrite to replace it")
    encoder = SimCSEEncoder(
        args.model,
        epochs=args.epochs,
        augment=args.augment,
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        random_state=args.seed,
        verbose=0 if args.quiet else 1,
    ).fit(texts)
    encoder.save(args.output, overwrite=args.overwrite)
    print(f"trained {encoder.n_steps_} steps on {len(texts)} texts; saved to {args.output}")
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    texts, _ = _read_table(args.input, args.column)
    encoder = _encoder_for(args.model, texts, args.quiet)
    X = encoder.transform(texts)
    _save_npy(args.output, X)
    print(f"wrote {X.shape[0]} x {X.shape[1]} embeddings to {args.output}")
    return 0


def _cmd_cluster(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd
    from sklearn.metrics import v_measure_score

    from skcse._compare import _umap_hdbscan

    texts, labels = _read_table(args.input, args.column, args.label_column)
    if args.embeddings:
        if not Path(args.embeddings).is_file():
            raise UsageError(f"no such file: {args.embeddings}")
        X = np.load(args.embeddings, allow_pickle=False)
        if X.ndim != 2 or len(X) != len(texts):
            raise UsageError(
                f"{args.embeddings} holds an array of shape {X.shape}; expected "
                f"({len(texts)}, n_features) to match {args.input}"
            )
    else:
        X = _encoder_for(args.model, texts, args.quiet).transform(texts)
    pipe = _umap_hdbscan(len(texts), args.seed)
    if args.min_cluster_size is not None:
        pipe.set_params(hdbscan__min_cluster_size=args.min_cluster_size)
    clusters = pipe.fit_predict(X)
    out = pd.DataFrame({"cluster": clusters})
    if labels is not None:
        out[args.label_column] = labels
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.output, index=False)
    message = (
        f"{len(np.unique(clusters))} clusters for {len(texts)} texts, written to {args.output}"
    )
    if labels is not None:
        message += (
            f"; V-measure against {args.label_column}: {v_measure_score(labels, clusters):.3f}"
        )
    print(message)
    return 0


def _parser() -> argparse.ArgumentParser:
    from skcse._compare import DEFAULT_AUGMENT, DEFAULT_LEARNING_RATE

    parser = argparse.ArgumentParser(
        prog="skcse", description="SimCSE sentence embeddings, judged by clustering."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    compare = sub.add_parser(
        "compare",
        help="the reference study on the Amazon reviews (the main job)",
        description="Untrained backbone + KMeans vs. SimCSE + UMAP + HDBSCAN vs. a reference "
        "sentence model + UMAP + HDBSCAN, scored by V-measure, ARI and NMI.",
    )
    compare.add_argument("--data", help="reviews CSV (default: SKCSE_DATA, else download)")
    compare.add_argument(
        "--n-samples",
        type=int,
        default=DEFAULT_N_SAMPLES,
        help=f"stratified sample size (default {DEFAULT_N_SAMPLES})",
    )
    compare.add_argument("--epochs", type=int, default=1, help="SimCSE epochs (default 1)")
    compare.add_argument(
        "--augment",
        default=DEFAULT_AUGMENT,
        help=f"how SimCSE makes its two views: dropout, crop or delete (default {DEFAULT_AUGMENT})",
    )
    compare.add_argument(
        "--learning-rate",
        type=float,
        default=DEFAULT_LEARNING_RATE,
        help=f"SimCSE's peak learning rate (default {DEFAULT_LEARNING_RATE:g})",
    )
    compare.add_argument("--model", help="backbone (default: the embedded all-MiniLM-L6-v2)")
    compare.add_argument(
        "--reference-model",
        help="reference sentence model (default: the embedded all-MiniLM-L6-v2)",
    )
    compare.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    compare.add_argument(
        "--output",
        default="skcse_output",
        help="folder for report.json and plots (default skcse_output)",
    )
    compare.add_argument("--quiet", action="store_true", help="no progress output")
    compare.set_defaults(func=_cmd_compare)

    def add_input(p: argparse.ArgumentParser) -> None:
        p.add_argument("input", help="a CSV file (with --column) or a text file, one text a line")
        p.add_argument("--column", help="CSV column holding the texts (default Text)")
        p.add_argument("--quiet", action="store_true", help="no progress output")

    fit = sub.add_parser("fit", help="train an encoder and save it as a folder")
    add_input(fit)
    fit.add_argument("--output", required=True, help="folder to save the encoder to")
    fit.add_argument("--model", help="backbone (default: the embedded all-MiniLM-L6-v2)")
    fit.add_argument("--epochs", type=int, default=1)
    fit.add_argument(
        "--augment",
        default="dropout",
        help="how the two views are made: dropout (default, the paper's), crop or delete "
        "(for a sentence-tuned backbone)",
    )
    fit.add_argument("--batch-size", type=int, default=64)
    fit.add_argument("--max-seq-length", type=int, default=128)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    fit.set_defaults(func=_cmd_fit)

    embed = sub.add_parser("embed", help="write embeddings to .npy")
    add_input(embed)
    embed.add_argument(
        "--model",
        help="a folder saved by `skcse fit`, or a backbone used "
        "untrained (default: the embedded all-MiniLM-L6-v2)",
    )
    embed.add_argument("--output", required=True, help=".npy file to write")
    embed.set_defaults(func=_cmd_embed)

    cluster = sub.add_parser("cluster", help="UMAP + HDBSCAN labels, and V-measure with labels")
    add_input(cluster)
    cluster.add_argument("--embeddings", help=".npy from `skcse embed` (default: embed here)")
    cluster.add_argument("--model", help="as for embed, when --embeddings is not given")
    cluster.add_argument("--label-column", help="CSV column of true labels: prints V-measure")
    cluster.add_argument(
        "--min-cluster-size", type=int, help="HDBSCAN min_cluster_size (default n/40, at least 10)"
    )
    cluster.add_argument("--seed", type=int, default=0)
    cluster.add_argument("--output", required=True, help="CSV of labels to write")
    cluster.set_defaults(func=_cmd_cluster)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``skcse`` command.

    Parameters
    ----------
    argv : sequence of str or None
        Arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    int
        The exit code: 0 on success, 2 on bad input.
    """
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, FileNotFoundError, FileExistsError, ValueError, TypeError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"skcse {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
