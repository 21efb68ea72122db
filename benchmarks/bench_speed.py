"""Speed of skcse against sentence-transformers on real reviews, side by side in one run.

(a) fit throughput (pairs/s): SimCSEEncoder.fit against sentence-transformers' SimCSE recipe,
    SentenceTransformer + MultipleNegativesRankingLoss on InputExample(texts=[s, s]) trained
    with its fit; same backbone, batch 64, max_seq_length 128, same number of steps. Rows that
    switch single means off show what each one brings.
(a') fit in steady state (s/step): the references and the recipes of (a), each timed at N and
    2N steps; (t_2N - t_N) / N leaves out loading and the slower first steps, which weigh
    more in a short fit for some rows than for others.
(b) transform throughput (texts/s): transform against SentenceTransformer.encode at its
    defaults (batch 32, fp32), both at max_seq_length 128, with the per-row cosine between
    skcse's vectors and sentence-transformers' fp32 vectors.
(c) peak RSS of a fit on all reviews (in a child process of its own).
(d) GridSearchCV over 8 UMAP/HDBSCAN candidates against 1, with Pipeline(memory=...).
(e) scaling: fit and transform time for N texts and for max_seq_length, each in a child.
(f) the backends' quality: V-measure against the categories of each backend's vectors of the
    untrained backbone, clustered as skcse compare does at many UMAP seeds, and its paired
    difference to torch fp32 at the same seeds, with a 95% confidence interval.
(g) the int8 ceiling of encode on this CPU: the share of encode's time in the products with a
    weight matrix (torch's profiler), how much faster a lone pair of the feed-forward products
    runs in torch's dynamic int8 (fbgemm), the bound that gives by Amdahl's law, and the
    whole model in that int8 against fp32 (speed and cosine). A BERT-like backbone.

Prints Markdown tables and writes them beside the JSON report (--out, and the same name
ending in .md). The Performance page of the documentation includes that Markdown.

Usage:
    python benchmarks/bench_speed.py [--data CSV] [--device cpu|cuda] [--model M] [--steps 8]
                                     [--transform-texts 2000] [--seeds 20]
                                     [--out bench_speed.json] [--smoke]

The reviews are read as by skcse.datasets.load_amazon_reviews: --data, else SKCSE_DATA, else
the download. --smoke runs every part at toy sizes, to prove the script still works.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from _common import (
    cpu_name,
    hardware_path,
    json_out,
    peak_rss_mib,
    positive_int,
    row_cosines,
    write_report,
)

BATCH, MAX_LEN, TEMPERATURE, LR = 64, 128, 0.05, 3e-5
PARTS = ("fit", "steady", "transform", "scaling", "grid", "backends", "ceiling")


def load_reviews(data: str | None) -> tuple[list[str], list[str]]:
    """All review texts and their level-1 categories, in a fixed shuffled order."""
    from skcse.datasets import load_amazon_reviews

    texts, y = load_amazon_reviews(path=data, return_X_y=True)
    # A fixed shuffle, so that any prefix is a random sample.
    order = np.random.default_rng(0).permutation(len(texts))
    return [texts[i] for i in order], [y[i] for i in order]


@contextlib.contextmanager
def in_temporary_folder():
    with tempfile.TemporaryDirectory() as folder:
        previous = os.getcwd()
        os.chdir(folder)
        try:
            yield
        finally:
            os.chdir(previous)


# The environment under which a CPU with bf16 units computes as an AVX2-only one does.
AVX2_ENV = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def native_bf16(device: str) -> bool:
    """Whether bf16 runs natively here: rows that force bf16 are left out elsewhere, where it
    is emulated about 100 times slower."""
    from skcse._backbone import cpu_supports_bf16

    return cpu_supports_bf16() if device == "cpu" else torch.cuda.is_bf16_supported()


def machine(device: str) -> str:
    cpu, path = cpu_name(), hardware_path(device)
    if path == "fp32/AVX2 path":
        from skcse._backbone import cpu_has_bf16_units

        # Emulated only where the caps hide bf16 units the CPU has.
        capped = all(os.environ.get(k) == v for k, v in AVX2_ENV.items())
        path += " (emulated: " if capped and cpu_has_bf16_units() else " ("
        path += f"torch CPU capability {torch.backends.cpu.get_cpu_capability()})"
    text = (
        f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, {path}; "
        f"torch {torch.__version__}"
    )
    if device.startswith("cuda"):
        text += f"; GPU: {torch.cuda.get_device_name(device)}"
    return text


MODEL: str | None = None  # --model; None is the embedded all-MiniLM-L6-v2


def backbone_path() -> str:
    from skcse._backbone import resolve_model_path

    return resolve_model_path(MODEL)


@contextlib.contextmanager
def pytorch_dropout():
    """Switch off skcse's CPU dropout (attention and masks), to measure what it brings."""
    import skcse._training as training

    saved = training.fast_dropout
    training.fast_dropout = lambda model, device: contextlib.nullcontext()
    try:
        yield
    finally:
        training.fast_dropout = saved


@contextlib.contextmanager
def untrimmed_batches():
    """Embed each training batch in one padded piece, as on a GPU, to measure the chunks."""
    import skcse._training as training

    saved = training.CPU_CHUNK
    training.CPU_CHUNK = None
    try:
        yield
    finally:
        training.CPU_CHUNK = saved


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def skcse_fit(texts: list[str], device: str, **params) -> float:
    from skcse import SimCSEEncoder

    encoder = SimCSEEncoder(
        MODEL, batch_size=BATCH, max_seq_length=MAX_LEN, random_state=0, device=device, **params
    )
    seconds = timed(lambda: encoder.fit(texts))
    assert encoder.n_steps_ == len(texts) // BATCH
    return seconds


def st_fit(texts: list[str], device: str, bf16: bool) -> float:
    """sentence-transformers' SimCSE recipe, model loading included as in skcse's fit."""
    from sentence_transformers import InputExample, SentenceTransformer

    try:  # the home of the losses since sentence-transformers 6
        from sentence_transformers.sentence_transformer import losses
    except ImportError:
        from sentence_transformers import losses

    def run() -> None:
        model = SentenceTransformer(backbone_path(), device=device)
        model.max_seq_length = MAX_LEN
        loss = losses.MultipleNegativesRankingLoss(model, scale=1 / TEMPERATURE)
        if not bf16:  # the documented recipe: fit, which has no bf16 (use_amp means fp16)
            from torch.utils.data import DataLoader

            examples = [InputExample(texts=[s, s]) for s in texts]
            loader = DataLoader(examples, shuffle=True, batch_size=BATCH)
            model.fit(
                train_objectives=[(loader, loss)],
                epochs=1,
                warmup_steps=0,
                optimizer_params={"lr": LR},
                show_progress_bar=False,
            )
            return
        from datasets import Dataset
        from sentence_transformers import (
            SentenceTransformerTrainer,
            SentenceTransformerTrainingArguments,
        )

        args = SentenceTransformerTrainingArguments(
            output_dir="st_out",
            per_device_train_batch_size=BATCH,
            num_train_epochs=1,
            learning_rate=LR,
            warmup_steps=0,
            bf16=True,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=device == "cpu",
            # Pinned memory speeds copies to a GPU; on the CPU torch warns that it has none.
            dataloader_pin_memory=device != "cpu",
        )
        dataset = Dataset.from_dict({"anchor": texts, "positive": texts})
        SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss).train()

    # Both fit paths write a checkpoint folder into the working directory.
    with in_temporary_folder():
        return timed(run)


ST_FIT_REFERENCE = "sentence-transformers fit (fp32): the reference recipe"


def fit_runs(device: str) -> list[tuple[str, Callable[[list[str]], float]]]:
    """The rows of part (a): each a name and a function that fits on texts and returns seconds."""
    cpu, bf16 = device == "cpu", native_bf16(device)
    runs = [
        (ST_FIT_REFERENCE, partial(st_fit, device=device, bf16=False)),
        ("sentence-transformers Trainer, bf16=True", partial(st_fit, device=device, bf16=True)),
        # The paper's recipe, the one sentence-transformers' runs train: dropout views, every
        # layer.
        ("skcse augment='dropout'", partial(skcse_fit, device=device, augment="dropout")),
        ("skcse precision='fp32'", partial(skcse_fit, device=device, precision="fp32")),
        ("skcse default", partial(skcse_fit, device=device)),  # crops, the top 2 layers
        ("skcse group_by_length=True", partial(skcse_fit, device=device, group_by_length=True)),
        (
            "skcse trainable_layers=None",
            partial(skcse_fit, device=device, trainable_layers=None),
        ),
    ]
    if not bf16:  # fp32 is what "auto" runs here, and bf16 would be emulated
        runs = [run for run in runs if "bf16" not in run[0] and "'fp32'" not in run[0]]
    if cpu:

        def plain_dropout(texts: list[str]) -> float:
            with pytorch_dropout():
                return skcse_fit(texts, device, augment="dropout")

        def one_piece(texts: list[str]) -> float:
            with untrimmed_batches():
                return skcse_fit(texts, device)

        runs.insert(3, ("skcse augment='dropout', PyTorch's attention and dropout", plain_dropout))
        runs.insert(-2, ("skcse default, each batch in one padded piece", one_piece))
    return runs


def with_ratios(rows: list[dict], key: str) -> list[dict]:
    """Add each row's speed against the first row and against the fastest ST row (key: speed)."""
    fastest_st = max(r[key] for r in rows if r["run"].startswith("sentence-"))
    for row in rows:
        row["ratio"] = row[key] / rows[0][key]
        row["ratio_fastest_st"] = row[key] / fastest_st
    return rows


def part_fit(texts: list[str], steps: int, device: str, repeats: int) -> list[dict]:
    train = texts[: steps * BATCH]
    skcse_fit(texts[: 2 * BATCH], device)  # warm-up: one-time kernel set-up, for everyone
    runs = fit_runs(device)
    # Each run twice, alternating, and the faster of the two counts: a busy moment on a
    # shared machine then slows one of them, not the comparison.
    seconds: dict[str, list[float]] = {name: [] for name, _ in runs}
    for _ in range(repeats):
        for name, run in runs:
            seconds[name].append(run(train))
            print(f"  {name}: {seconds[name][-1]:.1f} s", flush=True)
    rows = [
        {"run": name, "seconds": min(times), "pairs_per_s": len(train) / min(times)}
        for name, times in seconds.items()
    ]
    return with_ratios(rows, "pairs_per_s")


# Part (a') times these rows of part (a) only: the references and the recipes.
STEADY_RUNS = (
    ST_FIT_REFERENCE,
    "sentence-transformers Trainer, bf16=True",
    "skcse augment='dropout'",
    "skcse default",
    "skcse trainable_layers=None",
)


def part_steady(texts: list[str], steps: int, device: str, repeats: int) -> list[dict]:
    """Seconds per step once loading and the first steps are paid: fits of ``steps`` and of
    ``2 * steps`` steps, (t_long - t_short) / steps, each the best of ``repeats``."""
    skcse_fit(texts[: 2 * BATCH], device)  # warm-up, as in part (a)
    runs = [run for run in fit_runs(device) if run[0] in STEADY_RUNS]
    seconds: dict[tuple[str, int], list[float]] = {}
    for _ in range(repeats):
        for name, run in runs:
            for n in (steps, 2 * steps):
                seconds.setdefault((name, n), []).append(run(texts[: n * BATCH]))
            print(
                f"  {name}: {steps} and {2 * steps} steps, {seconds[name, steps][-1]:.1f} and "
                f"{seconds[name, 2 * steps][-1]:.1f} s",
                flush=True,
            )
    rows = []
    for name, _ in runs:
        per_step = (min(seconds[name, 2 * steps]) - min(seconds[name, steps])) / steps
        # A difference below zero is noise larger than the steps: no speed to report.
        rows.append(
            {
                "run": name,
                "seconds_per_step": per_step,
                "steps_per_s": 1 / per_step if per_step > 0 else float("nan"),
            }
        )
    return with_ratios(rows, "steps_per_s")


def installed(backend: str, st: bool) -> bool:
    """Whether skcse's (st=False) or sentence-transformers' (st=True) ``backend`` can run."""
    from skcse._backends import check_backend

    try:
        if st:  # sentence-transformers exports through optimum
            importlib.import_module(
                {"onnx": "optimum.onnxruntime", "openvino": "optimum.intel"}[backend]
            )
        else:
            check_backend(backend, quantize=True)
    except ImportError:
        return False
    return True


def part_transform(texts: list[str], device: str, repeats: int) -> dict:
    from sentence_transformers import SentenceTransformer

    from skcse import SimCSEEncoder

    st = SentenceTransformer(backbone_path(), device=device)
    st.max_seq_length = MAX_LEN
    dev = torch.device(device)

    def st_bf16():
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
            return st.encode(texts)

    encoders = {
        p: SimCSEEncoder(MODEL, epochs=0, device=device, precision=p).fit(texts[:2])
        for p in ("fp32", "auto")
    }
    runs = {
        "sentence-transformers encode (batch 32, fp32)": lambda: st.encode(texts),
        "sentence-transformers encode under bf16 autocast": st_bf16,
        "skcse transform precision='fp32'": lambda: encoders["fp32"].transform(texts),
        "skcse transform default": lambda: encoders["auto"].transform(texts),
    }
    if not native_bf16(device):
        # Emulated bf16 is no option anyone would pick, and takes many minutes.
        del runs["sentence-transformers encode under bf16 autocast"]
    # The inference backends, where the "fast" extra is installed; they run on the CPU.
    for backend in ("onnx", "openvino"):
        if installed(backend, st=True):
            st_backend = SentenceTransformer(backbone_path(), device="cpu", backend=backend)
            st_backend.max_seq_length = MAX_LEN
            name = f"sentence-transformers encode, backend='{backend}'"
            runs[name] = partial(st_backend.encode, texts)
        for quantize in (False, True) if installed(backend, st=False) else ():
            encoder = SimCSEEncoder(
                MODEL, epochs=0, device=device, backend=backend, quantize=quantize
            ).fit(texts[:2])
            name = f"skcse transform backend='{backend}'" + ", quantize=True" * quantize
            runs[name] = partial(encoder.transform, texts)
    # Warm: the backends' exports are made here, outside the timings.
    vectors = {name: np.asarray(run(), dtype=np.float32) for name, run in runs.items()}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():  # alternate, so that a busy moment hits all
            seconds[name].append(timed(run))
    reference = vectors["sentence-transformers encode (batch 32, fp32)"]
    rows = []
    for name in runs:
        cosine = row_cosines(vectors[name], reference)
        rows.append(
            {
                "run": name,
                "seconds": min(seconds[name]),
                "texts_per_s": len(texts) / min(seconds[name]),
                "min_cosine_vs_st_fp32": float(cosine.min()),
                "mean_cosine_vs_st_fp32": float(cosine.mean()),
            }
        )
    # The issue's target: the fastest of sentence-transformers' own options on this machine.
    fastest_st = max(r["texts_per_s"] for r in rows if r["run"].startswith("sentence-"))
    for row in rows:
        row["ratio"] = row["texts_per_s"] / rows[0]["texts_per_s"]
        row["ratio_vs_fastest_st"] = row["texts_per_s"] / fastest_st
    return {"n_texts": len(texts), "repeats": repeats, "rows": rows}


def child_fit(args: argparse.Namespace) -> None:
    """One fit and one transform, in this process alone; prints a JSON line."""
    from skcse import SimCSEEncoder

    texts = load_reviews(args.data)[0][: args.n]
    encoder = SimCSEEncoder(
        MODEL, batch_size=BATCH, max_seq_length=args.max_len, random_state=0, device=args.device
    )
    fit_s = timed(lambda: encoder.fit(texts))
    transform_s = timed(lambda: encoder.transform(texts))
    result = {
        "n_texts": len(texts),
        "max_seq_length": args.max_len,
        "steps": encoder.n_steps_,
        "fit_s": fit_s,
        "transform_s": transform_s,
        "peak_rss_mib": peak_rss_mib(),
    }
    if args.device.startswith("cuda"):
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print("RESULT " + json.dumps(result))


def run_child(args: argparse.Namespace, n: int, max_len: int) -> dict:
    command = [sys.executable, __file__, "--child-fit", "--n", str(n), "--max-len", str(max_len)]
    command += ["--device", args.device] + (["--data", args.data] if args.data else [])
    command += ["--model", args.model] if args.model else []
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"child fit failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def part_scaling(
    args: argparse.Namespace, sizes: list[int], lengths: list[int], small: int
) -> dict:
    runs = [(n, MAX_LEN) for n in sizes] + [(small, L) for L in lengths if L != MAX_LEN]
    rows = []
    for n, max_len in runs:
        row = run_child(args, n, max_len)
        rows.append(row)
        print(
            f"  N={row['n_texts']} max_seq_length={max_len}: fit {row['fit_s']:.1f} s, "
            f"transform {row['transform_s']:.1f} s, peak RSS {row['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
    return {"rows": rows}


def part_backends(texts: list[str], y: list[str], device: str, seeds: int) -> dict:
    """(f) V-measure of each backend's vectors at ``seeds`` UMAP seeds, against torch fp32."""
    from joblib import Parallel, delayed
    from scipy import stats
    from sklearn.metrics import v_measure_score

    from skcse import SimCSEEncoder, make_cluster_pipeline

    options = {"torch, precision='fp32'": {"device": device, "precision": "fp32"}}
    for backend in ("onnx", "openvino"):
        for quantize in (False, True) if installed(backend, st=False) else ():
            name = f"backend='{backend}'" + ", quantize=True" * quantize
            options[name] = {"backend": backend, "quantize": quantize}
    vectors = {
        name: SimCSEEncoder(MODEL, epochs=0, **params).fit(texts[:2]).transform(texts)
        for name, params in options.items()
    }
    jobs = [(name, seed) for name in options for seed in range(seeds)]
    # Seeded UMAP runs on one core: the runs go to all of them.
    labels = Parallel(n_jobs=-1)(
        delayed(make_cluster_pipeline(random_state=seed).fit_predict)(vectors[name])
        for name, seed in jobs
    )
    scores = {name: np.zeros(seeds) for name in options}
    for (name, seed), found in zip(jobs, labels, strict=True):
        scores[name][seed] = v_measure_score(y, found)
    torch_scores = scores[next(iter(options))]
    rows = []
    for name, v in scores.items():
        difference = v - torch_scores
        half = stats.t.ppf(0.975, seeds - 1) * difference.std(ddof=1) / np.sqrt(seeds)
        rows.append(
            {
                "run": name,
                "v_measure": float(v.mean()),
                "v_measure_std": float(v.std(ddof=1)),
                "difference": float(difference.mean()),
                "ci95": [float(difference.mean() - half), float(difference.mean() + half)],
            }
        )
        print(f"  {name}: {v.mean():.4f}, {difference.mean():+.4f} ± {half:.4f}", flush=True)
    return {"n_texts": len(texts), "seeds": seeds, "rows": rows}


def part_ceiling(texts: list[str], repeats: int) -> dict:
    """(g) What int8 weight products could bring to encode on this CPU, and what they cost."""
    import copy

    from sentence_transformers import SentenceTransformer
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    from torch.profiler import ProfilerActivity, profile

    st = SentenceTransformer(backbone_path(), device="cpu")
    st.max_seq_length = MAX_LEN
    config = st[0].auto_model.config
    hidden, inner = config.hidden_size, config.intermediate_size
    st.encode(texts[:32])  # warm
    profiled = []  # (total, addmm) seconds of each profiled encode
    for _ in range(repeats):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            st.encode(texts)
        events = prof.key_averages()
        profiled.append(
            (
                sum(e.self_cpu_time_total for e in events) / 1e6,
                sum(e.self_cpu_time_total for e in events if e.key == "aten::addmm") / 1e6,
            )
        )
    total_s, addmm_s = min(profiled)  # the least disturbed run
    share = addmm_s / total_s
    # encode's batches of 32, sorted by length, each padded to its longest text.
    lengths = [
        len(st.tokenizer(t, truncation=True, max_length=MAX_LEN)["input_ids"]) for t in texts
    ]
    lengths.sort(reverse=True)
    padded = sum(
        max(lengths[i : i + 32]) * len(lengths[i : i + 32]) for i in range(0, len(texts), 32)
    )
    per_token = 2 * (4 * hidden * hidden + 2 * hidden * inner) * config.num_hidden_layers
    # A lone feed-forward pair on a batch of 16 texts of average length, fp32 and int8.
    linear = {torch.nn.Linear: per_channel_dynamic_qconfig}
    pair = torch.nn.Sequential(torch.nn.Linear(hidden, inner), torch.nn.Linear(inner, hidden))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
        pair_int8 = quantize_dynamic(copy.deepcopy(pair), linear, dtype=torch.qint8)
        st_int8 = copy.deepcopy(st)
        quantize_dynamic(st_int8[0].auto_model, linear, dtype=torch.qint8, inplace=True)
    tokens = torch.randn(16 * round(np.mean(lengths)), hidden)
    pair_s = {"fp32": [], "int8": []}
    with torch.no_grad():
        # A few milliseconds each: many calls, many alternating rounds, whatever `repeats`.
        for _ in range(10):
            for name, module in (("fp32", pair), ("int8", pair_int8)):
                start = time.perf_counter()
                for _ in range(50):
                    module(tokens)
                pair_s[name].append((time.perf_counter() - start) / 50)
    pair_gain = min(pair_s["fp32"]) / min(pair_s["int8"])
    reference, vectors = st.encode(texts), st_int8.encode(texts)
    encode_s = {"fp32": [], "int8": []}
    for _ in range(repeats):
        for name, model in (("fp32", st), ("int8", st_int8)):
            encode_s[name].append(timed(partial(model.encode, texts)))
    cosine = row_cosines(vectors, reference)
    return {
        "n_texts": len(texts),
        "repeats": repeats,
        "mean_tokens": float(np.mean(lengths)),
        "addmm_share": share,
        "addmm_gflops": padded * per_token / addmm_s / 1e9,
        "pair_gflops": 2 * 2 * tokens.shape[0] * hidden * inner / min(pair_s["fp32"]) / 1e9,
        "pair_int8_gain": pair_gain,
        "bound": 1 / ((1 - share) + share / pair_gain),
        "encode_int8_gain": min(encode_s["fp32"]) / min(encode_s["int8"]),
        "mean_cosine": float(cosine.mean()),
        "min_cosine": float(cosine.min()),
    }


def part_grid(texts: list[str], y: list[str], device: str) -> dict:
    from sklearn.model_selection import GridSearchCV

    from skcse import (
        HDBSCAN,
        UMAP,
        InSampleSplit,
        SimCSEEncoder,
        make_cluster_pipeline,
        v_measure_scorer,
    )

    # numba compiles UMAP and HDBSCAN on first use; that is not the search's cost.
    warm = np.random.default_rng(0).normal(size=(300, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # whatever the random data makes them say
        HDBSCAN(min_cluster_size=20).fit(UMAP(n_components=2, random_state=0).fit_transform(warm))
    grids = {
        1: {
            "umap__n_neighbors": [15],
            "hdbscan__min_cluster_size": [20],
            "hdbscan__min_samples": [5],
        },
        8: {
            "umap__n_neighbors": [15, 30],
            "hdbscan__min_cluster_size": [20, 40],
            "hdbscan__min_samples": [5, 10],
        },
    }
    result = {"n_texts": len(texts)}
    for size, grid in grids.items():
        with tempfile.TemporaryDirectory() as cache:
            pipe = make_cluster_pipeline(
                SimCSEEncoder(MODEL, random_state=0, device=device), random_state=0, memory=cache
            )
            search = GridSearchCV(pipe, grid, scoring=v_measure_scorer, cv=InSampleSplit())
            result[f"seconds_{size}"] = timed(lambda search=search: search.fit(texts, y))
            result[f"best_score_{size}"] = float(search.best_score_)
        print(f"  {size} candidate(s): {result[f'seconds_{size}']:.1f} s", flush=True)
    result["ratio_8_over_1"] = result["seconds_8"] / result["seconds_1"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="reviews CSV (default: SKCSE_DATA)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default=None, help="backbone (default: the embedded one)")
    parser.add_argument(
        "--transform-texts", type=positive_int, default=2000, help="texts in part (b)"
    )
    parser.add_argument("--steps", type=positive_int, default=8, help="optimizer steps in part (a)")
    parser.add_argument("--seeds", type=positive_int, default=20, help="UMAP seeds in part (f)")
    parser.add_argument("--out", type=json_out, default="bench_speed.json")
    parser.add_argument("--smoke", action="store_true", help="toy sizes, to prove it runs")
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated parts to run, of {', '.join(PARTS)}; 'none' for the machine line",
    )
    parser.add_argument(
        "--emulate-avx2",
        action="store_true",
        help="measure the fp32/AVX2 path on a CPU with bf16 units (ONEDNN_MAX_CPU_ISA=AVX2, "
        "ATEN_CPU_CAPABILITY=avx2)",
    )
    parser.add_argument("--child-fit", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--max-len", type=int, default=MAX_LEN, help=argparse.SUPPRESS)
    args = parser.parse_args()
    parts = set(args.parts.split(",")) - {"none"}
    if parts - set(PARTS):
        parser.error(f"unknown --parts {sorted(parts - set(PARTS))}; choose from {list(PARTS)}")
    if args.emulate_avx2 and any(os.environ.get(k) != v for k, v in AVX2_ENV.items()):
        # torch reads both caps when it loads, so the script starts again under them.
        argv = [sys.executable, *sys.argv]
        os.execve(sys.executable, argv, {**os.environ, **AVX2_ENV})
    global MODEL
    MODEL = args.model
    if args.child_fit:
        child_fit(args)
        return
    texts, y = load_reviews(args.data)
    if args.smoke:
        steps, n_transform, repeats, seeds, fit_repeats = 1, 64, 1, 2, 1
        # One child process per row of (c, e), about 12 s each: one row, at a length of its own.
        sizes, lengths, small, n_grid = [], [32], 64, 200
    else:
        steps, n_transform, repeats, seeds = args.steps, args.transform_texts, 3, args.seeds
        fit_repeats = 2  # parts (a) and (a'): each fit is slow
        sizes, lengths, small, n_grid = [1000, 4000, len(texts)], [64, 128, 256], 1000, 1000
    report = {"machine": machine(args.device), "device": args.device, "smoke": args.smoke}
    print(report["machine"], flush=True)
    if "fit" in parts:
        print(f"(a) fit, {steps} steps of {BATCH} pairs, max_seq_length {MAX_LEN}", flush=True)
        report["fit"] = {
            "steps": steps,
            "repeats": fit_repeats,
            "rows": part_fit(texts, steps, args.device, fit_repeats),
        }
    if "steady" in parts:
        print(f"(a') fit in steady state, {steps} and {2 * steps} steps", flush=True)
        report["steady"] = {
            "steps": steps,
            "repeats": fit_repeats,
            "rows": part_steady(texts, steps, args.device, fit_repeats),
        }
    if "transform" in parts:
        print(f"(b) transform of {n_transform} reviews", flush=True)
        report["transform"] = part_transform(texts[:n_transform], args.device, repeats)
    if "scaling" in parts:
        print("(c, e) fit and transform in child processes", flush=True)
        report["scaling"] = part_scaling(args, sizes, lengths, small)
    if "grid" in parts:
        print(f"(d) GridSearchCV on {n_grid} reviews", flush=True)
        report["grid"] = part_grid(texts[:n_grid], y[:n_grid], args.device)
    if "backends" in parts:
        print(f"(f) the backends' V-measure on {n_grid} reviews at {seeds} seeds", flush=True)
        report["backends"] = part_backends(texts[:n_grid], y[:n_grid], args.device, seeds)
    if "ceiling" in parts:
        print(f"(g) the int8 ceiling of encode on {n_transform} reviews", flush=True)
        report["ceiling"] = part_ceiling(texts[:n_transform], repeats)
    text = markdown(report)
    print("\n" + text)
    write_report(args.out, report, text)
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


def fit_table(rows: list[dict], unit: str, speed: Callable[[dict], str]) -> str:
    """Parts (a) and (a') as a Markdown table: each row's speed and its two ratios."""
    from skcse._report import markdown_table

    return markdown_table(
        ["run", unit, "× the reference recipe", "× fastest sentence-transformers"],
        ([r["run"], speed(r), f"{r['ratio']:.2f}", f"{r['ratio_fastest_st']:.2f}"] for r in rows),
        align=["left", "right", "right", "right"],
    )


def markdown(report: dict) -> str:
    """The report as Markdown tables, for the parts it holds: printed, and included by the docs."""
    from skcse._report import markdown_table

    sections = [f"Machine: {report['machine']}; device `{report['device']}`.\n"]
    if "fit" in report:
        fit = report["fit"]
        sections += [
            f"**(a) fit**: {fit['steps']} steps of {BATCH} pairs, max_seq_length {MAX_LEN}, "
            f"model loading included; best of {fit['repeats']} alternating runs. Rows that "
            "force bf16 run only where the hardware computes it.\n",
            fit_table(fit["rows"], "pairs/s", lambda r: f"{r['pairs_per_s']:.1f}"),
        ]
    if "steady" in report:
        steady = report["steady"]
        sections += [
            f"**(a') fit in steady state**: seconds per step of {BATCH} pairs, max_seq_length "
            f"{MAX_LEN}: fits of {steady['steps']} and {2 * steady['steps']} steps, (t_long - "
            f"t_short) / {steady['steps']}, so that loading and the first steps cancel; each "
            f"fit the best of {steady['repeats']} alternating runs.\n",
            fit_table(steady["rows"], "s/step", lambda r: f"{r['seconds_per_step']:.2f}"),
        ]
    if "transform" in report:
        transform = report["transform"]
        sections += [
            f"**(b) transform**: {transform['n_texts']} reviews, max_seq_length {MAX_LEN}, best "
            f"of {transform['repeats']} alternating runs; cosine against sentence-transformers' "
            "fp32 vectors, mean and lowest row. × encode: against the first row; × fastest ST: "
            "against the fastest sentence-transformers row. The ONNX and OpenVINO rows run on the "
            "CPU.\n",
            markdown_table(
                ["run", "texts/s", "× encode", "× fastest ST", "mean cosine", "min cosine"],
                (
                    [
                        r["run"],
                        f"{r['texts_per_s']:.1f}",
                        f"{r['ratio']:.2f}",
                        f"{r['ratio_vs_fastest_st']:.2f}",
                        f"{r['mean_cosine_vs_st_fp32']:.5f}",
                        f"{r['min_cosine_vs_st_fp32']:.5f}",
                    ]
                    for r in transform["rows"]
                ),
                align=["left"] + ["right"] * 5,
            ),
        ]
    if "scaling" in report:
        sections += [
            "**(c, e) fit and transform, each in a process of its own**, `SimCSEEncoder` "
            "defaults (one epoch). Time per 1,000 texts is flat when time grows linearly in N.\n",
            markdown_table(
                [
                    "N",
                    "max_seq_length",
                    "steps",
                    "fit s",
                    "fit s / 1,000 texts",
                    "transform s",
                    "transform s / 1,000 texts",
                    "peak RSS MiB",
                ],
                (
                    [
                        r["n_texts"],
                        r["max_seq_length"],
                        r["steps"],
                        f"{r['fit_s']:.1f}",
                        f"{1000 * r['fit_s'] / r['n_texts']:.1f}",
                        f"{r['transform_s']:.1f}",
                        f"{1000 * r['transform_s'] / r['n_texts']:.2f}",
                        f"{r['peak_rss_mib']:.0f}",
                    ]
                    for r in report["scaling"]["rows"]
                ),
                align=["right"] * 8,
            ),
        ]
    if "grid" in report:
        grid = report["grid"]
        sections.append(
            f"**(d) GridSearchCV** on {grid['n_texts']} reviews, Pipeline(memory=...), "
            f"InSampleSplit: 1 candidate {grid['seconds_1']:.1f} s, 8 UMAP/HDBSCAN candidates "
            f"{grid['seconds_8']:.1f} s, ratio {grid['ratio_8_over_1']:.2f}.\n"
        )
    if "backends" in report:
        backends = report["backends"]
        sections += [
            f"**(f) the backends' quality**: {backends['n_texts']} reviews embedded by the "
            "untrained backbone (`epochs=0`), clustered by `make_cluster_pipeline` at UMAP seeds "
            f"0 to {backends['seeds'] - 1}, V-measure against Cat1; the difference to torch "
            "fp32 is paired by seed, with its 95% confidence interval.\n",
            markdown_table(
                ["run", "V-measure (mean ± std)", "difference to torch fp32", "95% interval"],
                (
                    [
                        r["run"],
                        f"{r['v_measure']:.3f} ± {r['v_measure_std']:.3f}",
                        f"{r['difference']:+.4f}",
                        "[{:+.4f}, {:+.4f}]".format(*r["ci95"]),
                    ]
                    for r in backends["rows"]
                ),
                align=["left", "right", "right", "right"],
            ),
        ]
    if "ceiling" in report:
        c = report["ceiling"]
        sections.append(
            f"**(g) the int8 ceiling of encode** on {c['n_texts']} reviews ({c['mean_tokens']:.0f} "
            f"tokens on average), CPU: the products with a weight matrix (`aten::addmm`) take "
            f"{c['addmm_share']:.0%} of sentence-transformers' fp32 encode, at "
            f"{c['addmm_gflops']:.0f} GFLOP/s, against {c['pair_gflops']:.0f} GFLOP/s for a lone "
            f"pair of the feed-forward products. torch's dynamic int8 (fbgemm, weights per "
            f"channel) runs that pair {c['pair_int8_gain']:.2f}× faster, so int8 weight products "
            f"can make encode at most {c['bound']:.2f}× faster; the whole model in that int8 ran "
            f"{c['encode_int8_gain']:.2f}× faster, at a cosine to fp32 of {c['mean_cosine']:.4f} "
            f"(lowest {c['min_cosine']:.4f}). Best of {c['repeats']} runs (profiled, and "
            "alternating for the speeds).\n"
        )
    return "\n".join(sections)


if __name__ == "__main__":
    main()
