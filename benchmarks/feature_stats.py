"""Benchmark: the feature-statistics pass against its bare cost, tokens per second, and N vs 10·N.

    python benchmarks/feature_stats.py [--sae demo] [--n-tokens 20480]
    python benchmarks/feature_stats.py --shape gpt2-small [--n-tokens 131072] [--device auto]

Bare cost = on the same rows and batches, the forward pass to the hook (`stop_at_layer`) plus the
SAE encode, on the device, synchronised, nothing kept. Goals: the stats pass <= 1.3x that on the
demo (CPU), <= 1.5x on the GPT-2-small shape on a GPU. Then the pass runs on N and on 10·N tokens to
show time growing linearly and peak memory (host RSS, and device memory on CUDA) staying flat.

`--shape gpt2-small` builds, in a temporary folder and with random weights (no hub): a
GPT-2-small-shaped HookedTransformer (12 layers, d_model 768, 12 heads, d_mlp 3072) saved in this
project's model layout with the demo tokenizer, and an SAE-Lens TopK SAE (d_sae 24,576, k 64) at
blocks.8.hook_resid_pre; batch 64 rows of 128 tokens, bfloat16 on CUDA. It needs only torch,
transformer-lens and sae-lens (with its own dependencies).
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
    for _ in range(5):  # interleaved, best of 5: this machine's speed drifts between runs
        start = time.perf_counter()
        bare()
        timings["bare"].append(time.perf_counter() - start)
        start = time.perf_counter()
        compute_feature_stats(explorer, rows, batch_size=BATCH)
        timings["stats"].append(time.perf_counter() - start)
    bare_s, stats_s = min(timings["bare"]), min(timings["stats"])
    print(
        f"stats pass ({rows.numel():,} tokens, {sae}, d_sae {explorer.sae.d_sae}, {explorer.device}, best of 5, interleaved):"
    )
    print(f"  bare forward-to-hook + encode: {bare_s:.3f} s")
    print(f"  stats pass:                    {stats_s:.3f} s ({rows.numel() / stats_s:,.0f} tokens/s)")
    print(f"  ratio:                         {stats_s / bare_s:.2f}x (goal <= 1.3x)")


def build_gpt2_small_shape(folder: Path, d_sae: int, k: int, device: str) -> tuple[Path, Path]:
    """A GPT-2-small-shaped model (random weights, project layout) and a TopK SAE at blocks.8.hook_resid_pre."""
    from sae_lens import TopKSAE, TopKSAEConfig
    from safetensors.torch import save_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    from explorer import bundle
    from explorer.models import HOOKED_CONFIG_FILE, MODEL_WEIGHTS_FILE

    tokenizer_vocab = len(
        json.loads((bundle.tokenizer_dir() / "tokenizer.json").read_text())["model"]["vocab"]
    )
    config = {"n_layers": 12, "d_model": 768, "n_heads": 12, "d_head": 64, "d_mlp": 3072, "n_ctx": 1024,
              "d_vocab": tokenizer_vocab, "act_fn": "gelu_new", "normalization_type": "LN",
              "positional_embedding_type": "standard", "model_name": "gpt2-small-shape-random",
              "default_prepend_bos": True, "seed": 0, "dtype": "float32"}  # fmt: skip
    model_dir, sae_dir = folder / "model", folder / "sae"
    model_dir.mkdir(parents=True)
    torch.manual_seed(0)
    with torch.device(device):
        model = HookedTransformer(
            HookedTransformerConfig(**{**config, "device": device, "dtype": torch.float32})
        )
    save_file({name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()},
              str(model_dir / MODEL_WEIGHTS_FILE))  # fmt: skip
    (model_dir / HOOKED_CONFIG_FILE).write_text(json.dumps(config))
    del model
    sae_cfg = TopKSAEConfig(d_in=768, d_sae=d_sae, k=k, device=device)
    sae_cfg.metadata.model_name = str(model_dir)
    sae_cfg.metadata.hook_name = "blocks.8.hook_resid_pre"
    sae_cfg.metadata.context_size = 128
    sae_cfg.metadata.prepend_bos = True
    TopKSAE(sae_cfg).save_model(sae_dir)
    return model_dir, sae_dir


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def shape_benchmark(args: argparse.Namespace) -> None:
    """The GPT-2-small-shaped benchmark: bare on-device forward + encode against the stats pass, N and 10·N."""
    import tempfile

    from explorer.activations import encoded_activations
    from explorer.devices import resolve_device, resolve_dtype

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    with tempfile.TemporaryDirectory(prefix="stats-bench-") as folder:
        model_dir, sae_dir = build_gpt2_small_shape(Path(folder), args.d_sae, args.k, device)
        explorer = load_explorer(str(sae_dir), model=str(model_dir), device=device, dtype=dtype)
        rows = sample_rows(explorer, "demo", args.n_tokens, 128)
        batch = args.batch

        def bare() -> float:
            synchronize(device)
            start = time.perf_counter()
            for first in range(0, len(rows), batch):
                encoded_activations(explorer, rows[first : first + batch].to(device))
            synchronize(device)
            return time.perf_counter() - start

        def stats(some_rows: torch.Tensor) -> float:
            synchronize(device)
            start = time.perf_counter()
            compute_feature_stats(explorer, some_rows, batch_size=batch)
            synchronize(device)
            return time.perf_counter() - start

        bare(), stats(rows[:batch])  # warm-up
        bare_s = min(bare() for _ in range(3))
        stats_s = min(stats(rows) for _ in range(3))
        name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
        print(f"gpt2-small shape, TopK d_sae {args.d_sae} k {args.k}, {rows.numel():,} tokens, batch {batch}, "
              f"{dtype} on {name} (best of 3):")  # fmt: skip
        print(f"  bare forward-to-hook + encode: {bare_s:.3f} s ({rows.numel() / bare_s:,.0f} tokens/s)")
        print(f"  stats pass:                    {stats_s:.3f} s ({rows.numel() / stats_s:,.0f} tokens/s)")
        print(f"  ratio:                         {stats_s / bare_s:.2f}x (goal <= 1.5x)")
        print("scaling (same process):")
        for repeat in (1, 10):
            many = rows.repeat(repeat, 1)
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            seconds = stats(many)
            device_peak = (
                torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else float("nan")
            )
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"  {many.numel():>11,} tokens: {seconds:7.2f} s, {many.numel() / seconds:>10,.0f} tokens/s, "
                  f"peak device memory {device_peak:,.0f} MiB, peak RSS {rss:,.0f} MiB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sae", default="demo")
    parser.add_argument("--shape", choices=["demo", "gpt2-small"], default="demo")
    parser.add_argument(
        "--n-tokens", type=int, default=None, help="default: 20,480 (demo), 131,072 (gpt2-small)"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--batch", type=int, default=64, help="rows per batch for --shape gpt2-small")
    parser.add_argument(
        "--d-sae", type=int, default=24_576, help=argparse.SUPPRESS
    )  # smaller for a smoke test
    parser.add_argument("--k", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument("--one-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.shape == "gpt2-small":
        args.n_tokens = args.n_tokens or 131_072
        shape_benchmark(args)
        return
    args.n_tokens = args.n_tokens or 20_480
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
