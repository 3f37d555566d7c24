"""Benchmark: attribution on a GPT-2-small-shaped model: time and peak memory for a 128-token prompt.

    python benchmarks/attribution.py [--device auto] [--n-tokens 128]

Builds (random weights, no hub) the GPT-2-small-shaped HookedTransformer and TopK SAE of
`benchmarks/feature_stats.py` (12 layers, d_model 768; d_sae 24,576, k 64 at blocks.8.hook_resid_pre),
then, each in a fresh process so peak memory is its own:
- forward: one plain forward of the prompt, no gradients (the floor);
- attribute: `explorer.attribution.attribute` (one forward + one backward, gradients only with respect to
  the SAE's activations and error term), then the same with the 20-feature ablation check;
- naive: the usual hand-written version, a backward pass with every parameter's gradient.
Peak memory is that of the first run (peak RSS on CPU, `max_memory_allocated` on CUDA) and what it adds
over the loaded model; time is that of the second run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from feature_stats import build_gpt2_small_shape  # noqa: E402

from explorer.attribution import attribute  # noqa: E402
from explorer.loading import load_explorer  # noqa: E402
from explorer.stats_cache import sample_rows  # noqa: E402


def peak_mib(device: str) -> float:
    """Peak memory since the last `reset_peak`: device memory on CUDA, else the process's peak RSS (VmHWM)."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_mib(device: str) -> float:
    """Memory in use now: allocated device memory on CUDA, else the process's RSS (VmRSS)."""
    if device.startswith("cuda"):
        return torch.cuda.memory_allocated() / 2**20
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(device: str) -> None:
    """Start measuring the peak afresh (Linux: writing 5 to clear_refs resets the peak RSS)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    else:
        Path("/proc/self/clear_refs").write_text("5")


def one_mode(mode: str, folder: Path, device: str, dtype: str, n_tokens: int) -> dict[str, float]:
    """Load the model and SAE, then run `mode` once to warm up and once measured."""
    explorer = load_explorer(str(folder / "sae"), model=str(folder / "model"), device=device, dtype=dtype)
    row = sample_rows(explorer, "demo", n_tokens, n_tokens)[0]
    text = explorer.model.tokenizer.decode(row[1:])  # the row without its BOS; attribute adds it back
    ids = explorer.model.to_tokens(text)

    def run() -> int:
        if mode == "forward":
            with torch.no_grad():
                explorer.model(ids)
            return ids.shape[1]
        if mode == "naive":  # what a hand-written attribution usually does: every parameter gets a gradient
            for p in explorer.model.parameters():
                p.requires_grad_(True)
            with torch.enable_grad():
                logits = explorer.model(ids)
                logits[0, -1].max().backward()
            return ids.shape[1]
        result = attribute(explorer, text, check_ablation=mode == "attribute+check", top=20)
        return len(result.tokens.strings)

    reset_peak(device)
    loaded = current_mib(device)  # the model, the SAE and the tokenizer
    run()  # the first run: its peak is the memory it needs (later runs reuse the allocator's cache)
    peak = peak_mib(device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    tokens = run()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"tokens": tokens, "seconds": seconds, "peak_mib": peak, "after_load_mib": loaded}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--n-tokens", type=int, default=128)
    parser.add_argument("--d-sae", type=int, default=24_576, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from explorer.devices import resolve_device, resolve_dtype

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    if args.mode:
        print(json.dumps(one_mode(args.mode, Path(args.folder), device, dtype, args.n_tokens)))
        return
    with tempfile.TemporaryDirectory(prefix="attribution-bench-") as folder:
        build_gpt2_small_shape(Path(folder), args.d_sae, 64, device)
        name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
        print(f"gpt2-small shape (random weights), TopK d_sae {args.d_sae} k 64 at blocks.8.hook_resid_pre, "
              f"{dtype} on {name}:")  # fmt: skip
        what = "device memory" if device.startswith("cuda") else "RSS"
        for mode in ("forward", "attribute", "attribute+check", "naive"):
            out = subprocess.run(
                [sys.executable, __file__, "--mode", mode, "--folder", folder, "--device", device,
                 "--dtype", dtype, "--n-tokens", str(args.n_tokens), "--d-sae", str(args.d_sae)],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            r = json.loads(out.strip().splitlines()[-1])
            print(f"  {mode:<16} {r['tokens']} tokens: {r['seconds']:6.3f} s, peak {what} {r['peak_mib']:,.0f} MiB "
                  f"({r['peak_mib'] - r['after_load_mib']:+,.0f} MiB over the loaded model)")  # fmt: skip


if __name__ == "__main__":
    main()
