"""The ``skcse`` command. It parses arguments and calls the library, nothing more.

Subcommands: ``compare`` (the reference study, the main job), ``fit``, ``embed`` and
``cluster``. Every error ends in one line on stderr: exit code 2 for a problem with the
input, the options or the files, 1 for an unexpected error, 130 for Ctrl-C. Outputs are
written atomically and replace an existing file only with ``--overwrite``, and only a file
of the kind skcse writes there.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["main"]

# The study's default size: on 2 cores without bf16 units a fresh `make run` took 413 s with
# 2,000 reviews and 245 s with 1,000, within the 5 min asked (docs/benchmarks/speed.md).
DEFAULT_N_SAMPLES = 1000
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
_NPY_MAGIC = b"\x93NUMPY"
_SHOWN_ROWS = 5
_DESCRIPTION_KEYS = ("cluster", "size", "terms", "texts")


class UsageError(Exception):
    """A problem with the command's input, reported in one line with exit code 2."""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _refuse_blank(values: pd.Series, file: Path, column: str, *, fix: str) -> None:
    """Refuse empty or whitespace-only cells, naming how many and where."""
    import numpy as np

    rows = np.flatnonzero(values.fillna("").str.strip().eq("").to_numpy())
    if not len(rows):
        return
    where = ", ".join(str(row + 1) for row in rows[:_SHOWN_ROWS])
    where += ", ..." if len(rows) > _SHOWN_ROWS else ""
    if file.suffix.lower() in (".csv", ".tsv"):
        found = f"{_plural(len(rows), 'row')} with an empty {column!r} "
        found += (
            f"({'row' if len(rows) == 1 else 'rows'} {where}, counting from 1 after the header)"
        )
    else:
        found = (
            f"{_plural(len(rows), 'blank line')} ({'line' if len(rows) == 1 else 'lines'} {where})"
        )
    raise UsageError(f"{file} has {found}; {fix}")


def _read_input(
    path: str, column: str | None, encoding: str, label_column: str | None = None
) -> tuple[list[str], np.ndarray | None]:
    """Read the texts (and labels) of every row; refuse empty ones rather than skip them."""
    from skcse._io import EncodingError, read_table, table_kind

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"no such file: {path}")
    try:
        # A codec that is not a text encoding (rot13, base64) fails here too; an empty
        # string would skip the lookup.
        "a".encode(encoding)
    except UnicodeEncodeError:
        pass  # a text encoding, only without "a"
    except LookupError:
        raise UsageError(
            f"--encoding {encoding!r} is not a text encoding Python knows; give a codec name "
            "such as utf-8, latin-1 or cp1252"
        ) from None
    if column is not None and table_kind(file) == "lines":
        # Read as one text per line, its header would become a text and --column be ignored.
        raise UsageError(
            f"--column {column}: {path} is read as one text per line, which has no columns; "
            "give a CSV file a .csv (or .tsv) name"
        )
    column = "Text" if column is None else column
    try:
        frame = read_table(
            file, [column] + ([label_column] if label_column else []), encoding=encoding
        )
    except EncodingError as exc:
        raise UsageError(
            f"{exc} Give the file's encoding with --encoding, e.g. --encoding latin-1"
        ) from None
    # Skipping a row would shift every output row against the input: refuse instead.
    _refuse_blank(
        frame[column],
        file,
        column,
        fix="give each a text or remove it; no row is skipped, so that the output rows line "
        "up with the input",
    )
    labels = None
    if label_column:
        _refuse_blank(
            frame[label_column],
            file,
            label_column,
            fix=f"fill them in, or remove those rows, to score against {label_column!r}",
        )
        labels = frame[label_column].to_numpy(dtype=object)
    return frame[column].tolist(), labels


def _is_npy(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(_NPY_MAGIC)) == _NPY_MAGIC


def _is_cluster_csv(path: Path) -> bool:
    with open(path, "rb") as handle:
        header = handle.readline(4096).decode("utf-8", errors="replace").lstrip("\ufeff")
    return header.split(",")[0].strip().strip('"') == "cluster"


def _is_description(path: Path) -> bool:
    """Whether ``path`` is a cluster description written by ``skcse cluster --describe``."""
    import json

    if path.suffix.lower() == ".json":
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            return False
        # A description has a row per cluster, and never none.
        return (
            isinstance(records, list)
            and len(records) > 0
            and all(isinstance(r, dict) and list(r) == list(_DESCRIPTION_KEYS) for r in records)
        )
    with open(path, "rb") as handle:
        header = handle.readline(4096).decode("utf-8", errors="replace").strip()
    return header.startswith(",".join(_DESCRIPTION_KEYS[:3]))


def _flat_description(description: pd.DataFrame) -> pd.DataFrame:
    """One cell per value for a CSV: the terms joined, each text in its own column."""
    import pandas as pd

    flat = description[["cluster", "size"]].copy()
    flat["terms"] = description["terms"].str.join(", ")
    texts = pd.DataFrame(description["texts"].tolist(), index=description.index)
    texts.columns = [f"text_{i + 1}" for i in texts.columns]
    return pd.concat([flat, texts], axis=1)


def _format_description(description: pd.DataFrame, width: int = 100) -> str:
    """Render the description for a terminal: terms per cluster, then its typical texts."""
    lines = ["cluster   size  top terms, then the most typical texts"]
    for row in description.itertuples(index=False):
        name = "noise" if row.cluster == -1 else str(row.cluster)
        lines.append(f"{name:>7} {row.size:>6}  {', '.join(row.terms)}")
        for text in row.texts:
            text = " ".join(text.split())  # one line each, whatever the text's own breaks
            lines.append(f"{'':>15}- {text if len(text) <= width else text[: width - 1] + '…'}")
    return "\n".join(lines)


def _check_output(
    output: str,
    *,
    inputs: Sequence[str | None],
    overwrite: bool,
    ours: Callable[[Path], bool],
    kind: str,
    option: str = "--output",
) -> None:
    """Refuse an output that would destroy data, or that cannot be written, before any work."""
    from skcse._io import check_writable

    if output.endswith(("/", os.sep)):
        raise UsageError(f"{option} {output} names a folder; give a file name")
    out = Path(output)
    if out.exists():
        for given in inputs:
            if given is not None and out.samefile(given):
                raise UsageError(f"{option} {output} is the input {given}; write to another file")
        if not overwrite:
            raise UsageError(f"{output} already exists; pass --overwrite to replace it")
        if not (out.is_file() and ours(out)):
            raise UsageError(
                f"{output} is not {kind}, so it is not replaced, even with --overwrite; "
                f"choose another {option}"
            )
    check_writable(out)


def _save_npy(path: str, array: np.ndarray, *, overwrite: bool) -> None:
    """Write an .npy file atomically, so a failure never leaves a partial file."""
    import numpy as np

    from skcse._io import atomic_write

    # Without --overwrite, a file another process wrote there meanwhile is kept.
    with atomic_write(path, exclusive=not overwrite) as handle:
        np.save(handle, array)


def _load_embeddings(path: str, n_texts: int, input_path: str) -> np.ndarray:
    """Load a numeric .npy array of one finite row per text; never unpickle."""
    import numpy as np

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"no such file: {path}")
    if not _is_npy(file):
        raise UsageError(
            f"{path} is not a .npy file (it lacks NumPy's header); give --embeddings the .npy "
            "file written by `skcse embed`"
        )
    try:
        X = np.load(file, allow_pickle=False)
    except ValueError as exc:
        raise UsageError(f"{path} cannot be read as a numeric .npy array: {exc}") from None
    if X.dtype.kind not in "fiu" or X.ndim != 2 or len(X) != n_texts:
        raise UsageError(
            f"{path} holds an array of {X.dtype} and shape {X.shape}; expected numbers of "
            f"shape ({n_texts}, n_features) to match {input_path}"
        )
    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if len(bad):
        raise UsageError(
            f"{path} has {_plural(len(bad), 'row')} with NaN or infinite values (the first: "
            f"row {bad[0] + 1}); embed the texts again"
        )
    return X


def _encoder_for(model: str | None, texts, quiet: bool):
    """Load a saved skcse folder, or use any other backbone untrained."""
    from skcse import SimCSEEncoder

    if model is not None and (Path(model) / "skcse.json").is_file():
        encoder = SimCSEEncoder.load(model)
        encoder.set_params(verbose=0 if quiet else 1)
        return encoder
    return SimCSEEncoder(model, epochs=0, verbose=0 if quiet else 1).fit(texts)


def _cmd_compare(args: argparse.Namespace) -> int:
    from skcse._compare import format_noise, format_table, run_compare
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
        trainable_layers=args.trainable_layers,
        seed=args.seed,
        output=args.output,
        log=say,
        progress=not args.quiet,
        n_jobs=args.n_jobs,
        # Resolved, so that the report's command runs from any folder.
        data=Path(data.path).resolve(),
    )
    print(format_table(report))
    print(format_noise(report))
    print(f"report (report.json, report.md) and plots written to {args.output}")
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    from skcse import SimCSEEncoder
    from skcse._persistence import check_target

    texts, _ = _read_input(args.input, args.column, args.encoding)
    target = Path(args.output).resolve()
    if target.exists() and not args.overwrite:
        raise UsageError(f"{args.output} already exists; pass --overwrite to replace it")
    if target.is_dir() and Path(args.input).resolve().is_relative_to(target):
        raise UsageError(
            f"the input {args.input} is inside --output {args.output}; replacing the folder "
            "would delete it"
        )
    # Refuse a folder skcse did not write, or an unwritable place, before minutes of training.
    check_target(args.output, overwrite=args.overwrite)
    encoder = SimCSEEncoder(
        args.model,
        epochs=args.epochs,
        augment=args.augment,
        learning_rate=args.learning_rate,
        trainable_layers=args.trainable_layers,
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        random_state=args.seed,
        verbose=0 if args.quiet else 1,
    ).fit(texts)
    encoder.save(args.output, overwrite=args.overwrite)
    print(f"trained {encoder.n_steps_} steps on {len(texts)} texts; saved to {args.output}")
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    texts, _ = _read_input(args.input, args.column, args.encoding)
    _check_output(
        args.output,
        inputs=[args.input],
        overwrite=args.overwrite,
        ours=_is_npy,
        kind="a .npy file",
    )
    encoder = _encoder_for(args.model, texts, args.quiet)
    X = encoder.transform(texts)
    _save_npy(args.output, X, overwrite=args.overwrite)
    print(f"wrote {X.shape[0]} x {X.shape[1]} embeddings to {args.output}")
    return 0


def _cmd_cluster(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd
    from sklearn.metrics import v_measure_score

    from skcse._io import atomic_write
    from skcse.describe import describe_clusters
    from skcse.pipeline import _fewest_samples, make_cluster_pipeline

    if args.label_column == "cluster":
        raise UsageError(
            "--label-column cluster: the output's column 'cluster' holds the clusters found; "
            "rename the label column in the input"
        )
    texts, labels = _read_input(args.input, args.column, args.encoding, args.label_column)
    if args.min_cluster_size is not None and args.min_cluster_size < 2:
        raise UsageError(f"--min-cluster-size must be at least 2, got {args.min_cluster_size}")
    if args.describe is not None:
        if Path(args.describe).suffix.lower() not in (".csv", ".json"):
            raise UsageError(
                f"--describe {args.describe} must end in .csv or .json, the formats it writes"
            )
        # resolve() follows links and "..", so two spellings of one file are one file.
        if Path(args.describe).resolve() == Path(args.output).resolve():
            raise UsageError(f"--describe and --output are the same file, {args.output}")
    if args.embeddings:
        X = _load_embeddings(args.embeddings, len(texts), args.input)
    _check_output(
        args.output,
        inputs=[args.input, args.embeddings],
        overwrite=args.overwrite,
        ours=_is_cluster_csv,
        kind="a CSV of clusters (its header does not start with 'cluster')",
    )
    if args.describe is not None:
        _check_output(
            args.describe,
            inputs=[args.input, args.embeddings],
            overwrite=args.overwrite,
            ours=_is_description,
            kind="a cluster description written by --describe",
            option="--describe",
        )
    size = {} if args.min_cluster_size is None else {"min_cluster_size": args.min_cluster_size}
    pipe = make_cluster_pipeline(random_state=args.seed, **size)
    needed = _fewest_samples(pipe)
    if len(texts) < needed:
        raise UsageError(f"clustering needs at least {needed} texts; {args.input} has {len(texts)}")
    if not args.embeddings:
        X = _encoder_for(args.model, texts, args.quiet).transform(texts)
    clusters = pipe.fit_predict(X)
    if labels is None or args.describe is not None:
        description = describe_clusters(texts, clusters, X)
    out = pd.DataFrame({"cluster": clusters})
    if labels is not None:
        out[args.label_column] = labels
    files = {args.output: out.to_csv(index=False)}
    if args.describe is not None:
        if Path(args.describe).suffix.lower() == ".json":
            data = description.to_json(orient="records", indent=1, force_ascii=False) + "\n"
        else:
            data = _flat_description(description).to_csv(index=False)
        files[args.describe] = data
    # Both written in full before either replaces its file: a failure leaves neither.
    with contextlib.ExitStack() as stack:
        for path, data in files.items():
            handle = atomic_write(path, exclusive=not args.overwrite)
            stack.enter_context(handle).write(data.encode("utf-8"))
    n_clusters = len(np.unique(clusters[clusters >= 0]))
    n_noise = int((clusters < 0).sum())
    if n_clusters:
        message = f"{_plural(n_clusters, 'cluster')} for {_plural(len(texts), 'text')}"
        message += f" ({n_noise} of them noise, label -1)" if n_noise else ""
    else:
        message = (
            f"no cluster found: all {_plural(len(texts), 'text')} are noise (label -1); "
            "a smaller --min-cluster-size may find some"
        )
    message += f"; written to {args.output}"
    if labels is not None:
        message += (
            f"; V-measure against {args.label_column}: {v_measure_score(labels, clusters):.3f}"
        )
    if args.describe is not None:
        message += f"; description written to {args.describe}"
    if labels is None:
        # Without labels to score against, what each cluster is about is the result.
        print(_format_description(description))
    print(message)
    return 0


def _layers(value: str) -> int | str | None:
    # --trainable-layers: a positive count, "all" (SimCSEEncoder's None) or "auto".
    if value in ("all", "auto"):
        return None if value == "all" else value
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive number, 'all' or 'auto', got {value!r}"
        )
    return int(value)


def _rate(value: str) -> float | str:
    # --learning-rate: a number or "auto".
    if value == "auto":
        return value
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {value!r}") from None


def _parser() -> argparse.ArgumentParser:
    from skcse._recipes import PAPER, SENTENCE_TUNED, layers_trained

    def recipe(values: Mapping[str, Any]) -> str:
        rate, layers = values["learning_rate"], values["trainable_layers"]
        return f"learning rate {rate:g}, {layers_trained(layers)}"

    def add_recipe(p: argparse.ArgumentParser) -> None:
        # compare and fit share SimCSEEncoder's recipes: the sentence-tuned one by default,
        # the paper's, for a vanilla masked language model, one option away.
        p.add_argument(
            "--augment",
            default=SENTENCE_TUNED["augment"],
            help="how SimCSE makes its two views, which picks the recipe that 'auto' takes: "
            f"crop (the default) or delete, {recipe(SENTENCE_TUNED)}, for a sentence-tuned "
            f"backbone such as the default; {PAPER['augment']}, {recipe(PAPER)}, the paper's, "
            "for a vanilla masked language model",
        )
        p.add_argument(
            "--learning-rate",
            type=_rate,
            default="auto",
            help="SimCSE's peak learning rate (default auto: the recipe's)",
        )
        p.add_argument(
            "--trainable-layers",
            type=_layers,
            default="auto",
            help="train only this many top transformer layers, 'all', or 'auto' (default: "
            "the recipe's)",
        )

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
    add_recipe(compare)
    compare.add_argument("--model", help="backbone (default: the embedded all-MiniLM-L6-v2)")
    compare.add_argument(
        "--reference-model",
        help="reference sentence model (default: the embedded all-MiniLM-L6-v2)",
    )
    compare.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    compare.add_argument(
        "--output",
        default="skcse_output",
        help="folder for report.json, report.md and plots (default skcse_output)",
    )
    compare.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        help="processes for the clustering runs, each on one core (default -1: all cores)",
    )
    compare.add_argument("--quiet", action="store_true", help="no progress output")
    compare.set_defaults(func=_cmd_compare)

    def add_input(p: argparse.ArgumentParser) -> None:
        p.add_argument("input", help="a CSV file (with --column) or a text file, one text a line")
        p.add_argument("--column", help="CSV column holding the texts (default Text)")
        p.add_argument(
            "--encoding", default="utf-8", help="text encoding of the input (default utf-8)"
        )
        p.add_argument("--quiet", action="store_true", help="no progress output")

    fit = sub.add_parser("fit", help="train an encoder and save it as a folder")
    add_input(fit)
    fit.add_argument("--output", required=True, help="folder to save the encoder to")
    fit.add_argument("--model", help="backbone (default: the embedded all-MiniLM-L6-v2)")
    fit.add_argument("--epochs", type=int, default=1)
    add_recipe(fit)
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
    embed.add_argument("--overwrite", action="store_true", help="replace an existing .npy file")
    embed.set_defaults(func=_cmd_embed)

    cluster = sub.add_parser("cluster", help="UMAP + HDBSCAN labels, and V-measure with labels")
    add_input(cluster)
    cluster.add_argument("--embeddings", help=".npy from `skcse embed` (default: embed here)")
    cluster.add_argument("--model", help="as for embed, when --embeddings is not given")
    cluster.add_argument("--label-column", help="CSV column of true labels: prints V-measure")
    cluster.add_argument(
        "--min-cluster-size",
        type=int,
        help="HDBSCAN min_cluster_size (default n/40, at least min_samples, 10)",
    )
    cluster.add_argument("--seed", type=int, default=0)
    cluster.add_argument("--output", required=True, help="CSV of labels to write")
    cluster.add_argument(
        "--describe",
        metavar="PATH",
        help="also write what each cluster is about (size, top terms, typical texts) to a "
        ".csv or .json file; it is printed when no --label-column is given",
    )
    cluster.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing CSV (or --describe file) written by cluster",
    )
    cluster.set_defaults(func=_cmd_cluster)
    return parser


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _within(path: Path, folder: str | os.PathLike[str]) -> bool:
    return path.absolute().is_relative_to(Path(folder).expanduser().absolute())


def _os_error(exc: OSError) -> str:
    """Return the error's line, with what to do when a disk is full or a place read-only."""
    message = _first_line(exc)
    if exc.errno == errno.ENOSPC:
        return f"{message}; free some space on that disk or write elsewhere"
    # A path that does not exist was being created: a write, not a read, was refused.
    if exc.filename is None:
        return message
    refused = exc.errno == errno.EROFS or (
        exc.errno in (errno.EACCES, errno.EPERM) and not Path(exc.filename).exists()
    )
    if not refused:
        return message
    from huggingface_hub.constants import HF_HOME

    from skcse.datasets import get_data_home

    path = Path(os.fsdecode(exc.filename))
    if _within(path, get_data_home()):
        advice = (
            "the reviews are downloaded there; set SKCSE_DATA_HOME to a writable folder, or "
            "give a local copy of the reviews with --data"
        )
    elif _within(path, HF_HOME):
        advice = "models are downloaded there; set HF_HOME to a writable folder"
    elif _within(path, Path.home()):
        advice = "HOME cannot be written here; choose another --output, or set HOME to a "
        advice += "writable folder"
    else:
        advice = "choose a writable location"
    return f"{message}; {advice}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``skcse`` command.

    Every error ends in one line on stderr, ``skcse COMMAND: error: ...``, never a
    traceback, and no output file is left half-written.

    Parameters
    ----------
    argv : sequence of str or None
        Arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    int
        The exit code: 0 on success; 2 when the input, an option or the file system stops
        the command (the message says what to change); 1 on an unexpected error (the
        message names its type); 130 when interrupted with Ctrl-C or SIGTERM.
    """
    args = _parser().parse_args(argv)
    prefix = f"skcse {args.command}"
    # SIGTERM (a scheduler's or `kill`'s stop) ends the command as Ctrl-C does, so that the
    # partial outputs are removed; signal handlers can only be set in the main thread.
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        on_term = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        print(f"{prefix}: error: {_os_error(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, ValueError, TypeError) as exc:
        print(f"{prefix}: error: {_first_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a bug or a library's own exception: still one line
        message = _first_line(exc)
        if "no locator available" in message:  # numba's cache, needed by UMAP
            message += "; set NUMBA_CACHE_DIR to a writable folder"
        print(f"{prefix}: error: unexpected {type(exc).__name__}: {message}", file=sys.stderr)
        return EXIT_UNEXPECTED
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, on_term)


if __name__ == "__main__":
    sys.exit(main())
