"""Side-by-side speed of precision="fp32" and precision="auto" on real reviews.

Prints transform throughput (texts/s) and training time per step for both precisions,
measured alternately in one process, and the ratio auto / fp32. The numbers on the
Performance page of the documentation come from this script.

Usage: python benchmarks/bench_precision.py [N_TEXTS] [REPEATS]
The reviews are read as by skcse.datasets.load_amazon_reviews (SKCSE_DATA, else download).
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import torch

from skcse import SimCSEEncoder
from skcse._backbone import cpu_supports_bf16
from skcse.datasets import load_amazon_reviews

N_TEXTS = int(sys.argv[1]) if len(sys.argv) > 1 else 256
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
PRECISIONS = ("fp32", "auto")


def main() -> None:
    texts, _ = load_amazon_reviews(n_samples=N_TEXTS, random_state=0, return_X_y=True)
    print(
        f"{len(texts)} reviews, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"CPU bf16 support: {cpu_supports_bf16()}, CUDA: {torch.cuda.is_available()}"
    )
    encoders = {p: SimCSEEncoder(epochs=0, precision=p).fit(texts) for p in PRECISIONS}
    vectors = {p: e.transform(texts) for p, e in encoders.items()}  # warm-up, and outputs
    speed: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    for _ in range(REPEATS):
        for p in PRECISIONS:  # alternate, so that a busy moment hits both
            start = time.perf_counter()
            encoders[p].transform(texts)
            speed[p].append(len(texts) / (time.perf_counter() - start))
    step: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    for _ in range(2):
        for p in PRECISIONS:
            encoder = SimCSEEncoder(batch_size=64, max_steps=4, precision=p, random_state=0)
            start = time.perf_counter()
            encoder.fit(texts)
            # fit also loads the model (about 0.1 s once cached); count it in.
            step[p].append((time.perf_counter() - start) / encoder.n_steps_)
    print(f"{'precision':<10}{'transform texts/s':>20}{'fit s/step (batch 64)':>24}")
    for p in PRECISIONS:
        print(f"{p:<10}{statistics.median(speed[p]):>20.1f}{statistics.median(step[p]):>24.2f}")
    ratio_t = statistics.median(speed["auto"]) / statistics.median(speed["fp32"])
    ratio_f = statistics.median(step["fp32"]) / statistics.median(step["auto"])
    print(f"speed-up of auto over fp32: transform x{ratio_t:.2f}, fit x{ratio_f:.2f}")
    a, b = vectors["fp32"], vectors["auto"]
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    print(
        f"auto vs fp32 vectors: max abs difference {np.abs(a - b).max():.4f}, "
        f"cosine similarity min {cos.min():.5f}"
    )


if __name__ == "__main__":
    main()
