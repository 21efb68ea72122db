"""Peak memory of SimCSEEncoder.transform: 10,000 vs 100,000 short texts.

Each size runs in its own process, so that each peak RSS is its own. The texts are review
titles from the reviews CSV (``--data`` or ``SKCSE_DATA``), repeated to the size asked for.
``transform`` tokenizes one batch at a time, so its memory should grow only by the output
array (n x 384 float32 = 1.5 MB per 1,000 texts), not by the tokenized corpus.

    python benchmarks/bench_memory.py --sizes 10000 100000 --json memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import json_out, peak_rss_mib, positive_int, write_report


def child(n: int, data: str | None) -> dict:
    from skcse import SimCSEEncoder, load_amazon_reviews

    titles = [t for t in load_amazon_reviews(data).frame["Title"].dropna() if str(t).strip()]
    texts = [titles[i % len(titles)] for i in range(n)]
    encoder = SimCSEEncoder(epochs=0).fit(texts[:2])
    before = peak_rss_mib()
    start = time.perf_counter()
    X = encoder.transform(texts)
    seconds = time.perf_counter() - start
    return {
        "n_texts": n,
        "peak_rss_mb_before_transform": round(before, 1),
        "peak_rss_mb": round(peak_rss_mib(), 1),
        "output_mb": round(X.nbytes / 2**20, 1),
        "seconds": round(seconds, 1),
        "texts_per_second": round(n / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--data", default=os.environ.get("SKCSE_DATA"))
    parser.add_argument("--json", type=json_out, help="write the results here")
    parser.add_argument("--child", type=positive_int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.data)))
        return
    from skcse._report import markdown_table

    rows = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--child", str(n)]
        if args.data:
            cmd += ["--data", args.data]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(
        markdown_table(
            ["texts", "peak RSS MB before transform", "peak RSS MB", "output MB", "texts/s"],
            (
                [
                    r["n_texts"],
                    f"{r['peak_rss_mb_before_transform']:.0f}",
                    f"{r['peak_rss_mb']:.0f}",
                    f"{r['output_mb']:.0f}",
                    f"{r['texts_per_second']:.0f}",
                ]
                for r in rows
            ),
            align=["right"] * 5,
        )
    )
    if len(rows) > 1:
        growth = rows[-1]["peak_rss_mb"] - rows[0]["peak_rss_mb"]
        print(
            f"peak RSS grows by {growth:.0f} MB from {rows[0]['n_texts']} to {rows[-1]['n_texts']}"
        )
    if args.json:
        write_report(args.json, rows)


if __name__ == "__main__":
    main()
