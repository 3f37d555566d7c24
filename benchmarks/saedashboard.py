"""Benchmark: this project's feature-statistics pass against SAEDashboard, same model, SAE and token rows.

    python benchmarks/saedashboard.py --dashboard-python /path/to/venv/bin/python [--n-tokens 32768]

SAEDashboard pins versions of transformers (< 4.57), transformer-lens (< 3) and datasets (< 4) that
this project does not use, so it lives in its own virtual environment (see `--help` for the recipe);
this script runs its half there, in a child process. This side saves the token rows, the demo model
(config, weights, tokenizer) and the SAE (SAE-Lens' `save_model`) to a temporary folder; the child
rebuilds them with its own TransformerLens and SAE-Lens. Both run on the CPU in float32 and time only
the computation (models loaded first).

The venv (SAEDashboard's `decode-clt` dependency pulls CUDA builds of torchvision and torchaudio, and
is only used for cross-layer transcoders, so it is left out):

    python -m venv VENV && VENV/bin/pip install torch==2.13.0
    VENV/bin/pip install --no-deps sae-dashboard==0.8.0
    VENV/bin/pip install torch==2.13.0 "transformer-lens<3" "transformers<4.57" "datasets<4" \
        "safetensors<0.5" "sae-lens>=6.8,<7" dataclasses-json eindex-callum einops "jaxtyping<0.3" \
        matplotlib "rich<14" "typer<0.13" SAEDashboard is timed for 64 features and for all of them; this project always computes
all features at once.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def time_explorer(sae: str, rows_path: Path, repeats: int) -> dict[str, float]:
    """Best-of-`repeats` seconds of compute_feature_stats over the saved rows (all features)."""
    from explorer.feature_stats import compute_feature_stats
    from explorer.loading import load_explorer

    explorer = load_explorer(sae, device="cpu", dtype="float32")
    rows = torch.load(rows_path)
    compute_feature_stats(explorer, rows[:64])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        compute_feature_stats(explorer, rows)  # the batch size the app uses
        best = min(best, time.perf_counter() - start)
    return {"all_features_s": best, "d_sae": explorer.sae.d_sae}


def save_for_dashboard(sae: str, folder: Path) -> None:
    """Write the model (config, weights, tokenizer) and the SAE in forms SAEDashboard's own stack reads.

    Its venv has other versions of TransformerLens and SAE-Lens, so the child process rebuilds the model
    from a plain config and state dict, and loads the SAE with its own `SAE.load_from_disk`.
    """
    from explorer.loading import load_explorer

    explorer = load_explorer(sae, device="cpu", dtype="float32")
    config = {k: (str(v) if isinstance(v, torch.dtype | torch.device) else v)
              for k, v in explorer.model.cfg.to_dict().items()}  # fmt: skip
    (folder / "model_config.json").write_text(json.dumps(config, default=str))
    torch.save(explorer.model.state_dict(), folder / "model.pt")
    tokenizer = explorer.model.tokenizer
    tokenizer.backend_tokenizer.save(
        str(folder / "tokenizer.json")
    )  # plain `tokenizers` JSON: any version reads it
    (folder / "special_tokens.json").write_text(json.dumps(
        {"bos_token": tokenizer.bos_token, "eos_token": tokenizer.eos_token, "pad_token": tokenizer.pad_token}
    ))  # fmt: skip
    explorer.sae.sae.save_model(str(folder / "sae"))
    (folder / "hook.txt").write_text(explorer.hook_name)


def time_dashboard(folder: Path, rows_path: Path, n_features: list[int]) -> dict[str, float]:
    """SAEDashboard's SaeVisRunner over the saved rows, for the first n features (runs in its own venv)."""
    import dataclasses

    from sae_dashboard.sae_vis_data import SaeVisConfig
    from sae_dashboard.sae_vis_runner import SaeVisRunner
    from sae_lens import SAE, HookedSAETransformer
    from transformer_lens import HookedTransformerConfig
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    saved = json.loads((folder / "model_config.json").read_text())
    known = {f.name for f in dataclasses.fields(HookedTransformerConfig)}
    config = {k: v for k, v in saved.items() if k in known and k not in ("dtype", "device", "n_params")}
    cfg = HookedTransformerConfig(**config, dtype=torch.float32, device="cpu")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(folder / "tokenizer.json"),
        **json.loads((folder / "special_tokens.json").read_text()),
    )
    tokenizer.save_pretrained(str(folder / "tokenizer"))  # TransformerLens 2 reloads it by name_or_path
    model = HookedSAETransformer(cfg, tokenizer=AutoTokenizer.from_pretrained(str(folder / "tokenizer")))
    own = model.state_dict()
    saved_weights = {
        k: v for k, v in torch.load(folder / "model.pt").items() if k in own and v.shape == own[k].shape
    }
    missing = {name for name, _ in model.named_parameters()} - set(saved_weights)
    assert not missing, f"weights the saved model lacks: {sorted(missing)[:5]}"  # buffers (masks) are rebuilt
    model.load_state_dict(saved_weights, strict=False)
    model.eval()
    sae = SAE.load_from_disk(str(folder / "sae"), device="cpu")
    rows = torch.load(rows_path)
    result: dict[str, float] = {"d_sae": sae.cfg.d_sae}
    for n in n_features:
        config = SaeVisConfig(
            hook_point=(folder / "hook.txt").read_text(), features=list(range(n)), minibatch_size_features=64,
            minibatch_size_tokens=64, device="cpu", dtype="float32", verbose=False,
        )  # fmt: skip
        start = time.perf_counter()
        SaeVisRunner(config).run(encoder=sae, model=model, tokens=rows)
        result[f"{n}_features_s"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sae", default="demo:mlp0-standard")
    parser.add_argument("--n-tokens", type=int, default=32_768)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dashboard-python", help="python of a venv with sae-dashboard installed")
    parser.add_argument("--side", choices=["dashboard"], help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--rows", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "dashboard":
        d_sae = json.loads((args.rows.parent / "sae" / "cfg.json").read_text())["d_sae"]
        print(json.dumps(time_dashboard(args.rows.parent, args.rows, [64, d_sae])))
        return
    from explorer.loading import load_explorer
    from explorer.stats_cache import sample_rows

    explorer = load_explorer(args.sae, device="cpu", dtype="float32")
    rows = sample_rows(explorer, "demo", args.n_tokens, 128)
    with tempfile.TemporaryDirectory() as tmp:
        rows_path = Path(tmp) / "rows.pt"
        torch.save(rows, rows_path)
        ours = time_explorer(args.sae, rows_path, args.repeats)
        theirs: dict[str, float] = {}
        if args.dashboard_python:
            save_for_dashboard(args.sae, Path(tmp))
            child = subprocess.run(
                [args.dashboard_python, __file__, "--side", "dashboard", "--sae", args.sae, "--rows", str(rows_path)],
                capture_output=True, text=True,
            )  # fmt: skip
            if child.returncode != 0:
                sys.exit(f"the SAEDashboard side failed:\n{child.stderr[-3000:]}")
            theirs = json.loads(child.stdout.strip().splitlines()[-1])
    all_key = f"{ours['d_sae']}_features_s"
    print(f"{rows.numel():,} tokens ({rows.shape[0]} rows of {rows.shape[1]}), {args.sae}, CPU, float32")
    print(
        f"this project, all {ours['d_sae']:,} features: {ours['all_features_s']:.2f} s (best of {args.repeats})"
    )
    if theirs:
        print(f"SAEDashboard, 64 features: {theirs['64_features_s']:.2f} s")
        print(f"SAEDashboard, all {ours['d_sae']:,} features: {theirs[all_key]:.2f} s")
        print(f"ours / theirs(64): {ours['all_features_s'] / theirs['64_features_s']:.2f}; "
              f"ours / theirs(all): {ours['all_features_s'] / theirs[all_key]:.4f} (goal <= 0.01)")  # fmt: skip


if __name__ == "__main__":
    main()
