"""Benchmark: the feature-statistics pass against its bare cost, tokens per second, and N vs 10·N.

    python benchmarks/feature_stats.py [--sae demo] [--n-tokens 20480]

Bare cost = on the same rows and batches, the forward pass to the hook (`stop_at_layer`) plus the
SAE encode, nothing kept. Goal: the stats pass <= 1.3x that. Then the pass runs on N and on 10·N
tokens, each in a fresh process, to show time growing linearly and peak memory staying flat.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from explorer.activations import feature_activations  # noqa: E402
from explorer.feature_stats import compute_feature_stats  # noqa: E402
from explorer.loading import load_explorer  # noqa: E402
from explorer.stats_cache import sample_rows  # noqa: E402

BATCH = 16


def one_size(sae: str, n_tokens: int) -> dict[str, float]:
    """Run the pass on n_tokens in this process; report seconds, tokens/s and peak RSS."""
    explorer = load_explorer(sae)
    rows = sample_rows(explorer, "demo", n_tokens)
    compute_feature_stats(explorer, rows[:BATCH], batch_size=BATCH)  # warm-up
    start = time.perf_counter()
    stats = compute_feature_stats(explorer, rows, batch_size=BATCH)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"n_tokens": rows.numel(), "seconds": seconds, "tokens_per_s": rows.numel() / seconds, "peak_rss_mib": peak_mib,
            "counted_tokens": stats.n_tokens}  # fmt: skip


def compare_with_bare(sae: str, n_tokens: int) -> None:
    explorer = load_explorer(sae)
    rows = sample_rows(explorer, "demo", n_tokens)

    def bare() -> None:
        for first in range(0, len(rows), BATCH):
            feature_activations(explorer, rows[first : first + BATCH])

    bare()  # warm-up
    timings = {"bare": [], "stats": []}
    for _ in range(3):
        start = time.perf_counter()
        bare()
        timings["bare"].append(time.perf_counter() - start)
        start = time.perf_counter()
        compute_feature_stats(explorer, rows, batch_size=BATCH)
        timings["stats"].append(time.perf_counter() - start)
    bare_s, stats_s = min(timings["bare"]), min(timings["stats"])
    print(
        f"stats pass ({rows.numel():,} tokens, {sae}, d_sae {explorer.sae.d_sae}, {explorer.device}, best of 3):"
    )
    print(f"  bare forward-to-hook + encode: {bare_s:.3f} s")
    print(f"  stats pass:                    {stats_s:.3f} s ({rows.numel() / stats_s:,.0f} tokens/s)")
    print(f"  ratio:                         {stats_s / bare_s:.2f}x (goal <= 1.3x)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sae", default="demo")
    parser.add_argument("--n-tokens", type=int, default=20_480)
    parser.add_argument("--one-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_size:
        print(json.dumps(one_size(args.sae, args.one_size)))
        return
    torch.manual_seed(0)
    compare_with_bare(args.sae, args.n_tokens)
    print("scaling (each size in a fresh process):")
    for n in (args.n_tokens, 10 * args.n_tokens):
        out = subprocess.run([sys.executable, __file__, "--sae", args.sae, "--one-size", str(n)], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
        result = json.loads(out.strip().splitlines()[-1])
        print(f"  {result['n_tokens']:>9,} tokens: {result['seconds']:7.2f} s, {result['tokens_per_s']:>8,.0f} tokens/s, "
              f"peak RSS {result['peak_rss_mib']:,.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
