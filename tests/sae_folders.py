"""SAE folders in every layout the loading issue lists, made with SAE-Lens itself (its runner or `save_model`).

Each `SaeFolder` says how SAE-Lens alone would load it (`reference`): as an inference SAE, or as a
training checkpoint that SAE-Lens' trainer would finish (fold the activation scaler, save the
inference model). Tests compare the explorer's numbers with that SAE-Lens-only reference.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file

from explorer import bundle

Reference = Literal["inference", "training"]
DEMO_MODEL = bundle.DEMO_MODEL_NAME


@dataclass(frozen=True)
class SaeFolder:
    """A folder and how SAE-Lens alone loads it."""

    name: str
    path: Path
    reference: Reference


def train_with_runner(
    out: Path,
    architecture: str,
    hook: str,
    d_in: int,
    normalize: str = "none",
    d_sae: int = 256,
    k: int = 16,
    **sae_kwargs: Any,
) -> tuple[Path, Path]:
    """Train a small SAE with SAE-Lens' `LanguageModelSAETrainingRunner` on the demo model.

    Returns (the final SAE folder, the mid-training checkpoint folder), both as the runner wrote them.
    """
    from sae_lens import LanguageModelSAERunnerConfig, LanguageModelSAETrainingRunner, LoggingConfig
    from sae_lens.registry import get_sae_training_class

    from explorer.models import load_model
    from explorer.train_worker import demo_training_dataset

    torch.manual_seed(0)
    model = load_model(DEMO_MODEL).model
    _, cfg_cls = get_sae_training_class(architecture)
    extra: dict[str, Any] = {"k": k} if "topk" in architecture else {}
    sae_cfg = cfg_cls(d_in=d_in, d_sae=d_sae, normalize_activations=normalize, **extra, **sae_kwargs)
    cfg = LanguageModelSAERunnerConfig(
        sae=sae_cfg, model_name=DEMO_MODEL, hook_name=hook, dataset_path="demo-train", is_dataset_tokenized=False,
        streaming=False, context_size=64, training_tokens=24_576, train_batch_size_tokens=1024,
        n_batches_in_buffer=16, store_batch_size_prompts=8, lr=3e-3, lr_warm_up_steps=2, device="cpu", n_checkpoints=1,
        checkpoint_path=str(out / "checkpoints"), output_path=str(out / "final"),
        logger=LoggingConfig(log_to_wandb=False), n_batches_for_norm_estimate=5, verbose=False, seed=0,
    )  # fmt: skip
    LanguageModelSAETrainingRunner(
        cfg, override_model=model, override_dataset=demo_training_dataset(30_000)
    ).run()
    checkpoints = sorted((out / "checkpoints").glob("*/*/cfg.json"))
    assert checkpoints, f"the runner wrote no checkpoint under {out}"
    return out / "final", checkpoints[0].parent


def edit_cfg(source: Path, target: Path, edit: Any) -> Path:
    """Copy an SAE folder and rewrite its cfg.json with `edit(cfg) -> cfg`."""
    shutil.copytree(source, target)
    cfg = json.loads((target / "cfg.json").read_text())
    (target / "cfg.json").write_text(json.dumps(edit(cfg)))
    return target


def write_old_config(source: Path, target: Path, cfg: dict[str, Any]) -> Path:
    """A folder with `source`'s weights and a hand-written (old-style) cfg.json."""
    target.mkdir(parents=True)
    shutil.copy(source / "sae_weights.safetensors", target / "sae_weights.safetensors")
    (target / "cfg.json").write_text(json.dumps(cfg))
    return target


def with_weights(source: Path, target: Path, edit: Any) -> Path:
    """Copy an SAE folder and rewrite its weights with `edit(state_dict)` (in place)."""
    shutil.copytree(source, target)
    weights = load_file(str(target / "sae_weights.safetensors"))
    edit(weights)
    save_file(weights, str(target / "sae_weights.safetensors"))
    return target


def build_good_folders(root: Path) -> list[SaeFolder]:
    """Every loadable layout of the issue, made with SAE-Lens."""
    folders: list[SaeFolder] = []
    # 1. hook_z, as the runner writes it (d_in = n_heads x d_head, reshape_activations "none"), and the
    #    same weights declaring SAE-Lens' hook_z reshaping.
    hz_final, _ = train_with_runner(root / "run-hook-z", "standard", "blocks.0.attn.hook_z", 128)
    folders.append(SaeFolder("hook_z_runner", hz_final, "inference"))
    folders.append(
        SaeFolder(
            "hook_z_reshape",
            edit_cfg(hz_final, root / "hook-z-reshape", lambda c: {**c, "reshape_activations": "hook_z"}),
            "inference",
        )
    )
    # 2. A mid-training checkpoint with normalize_activations "expected_average_only_in" (scaler not folded).
    _, scaled = train_with_runner(
        root / "run-scaled", "standard", "blocks.0.hook_mlp_out", 128, "expected_average_only_in"
    )
    folders.append(SaeFolder("scaled_checkpoint", scaled, "training"))
    # 3. A BatchTopK training checkpoint (topk_threshold buffer), with a scaler too.
    bt_final, bt_checkpoint = train_with_runner(
        root / "run-batchtopk", "batchtopk", "blocks.1.hook_resid_pre", 128, "expected_average_only_in"
    )
    folders.append(SaeFolder("batchtopk_checkpoint", bt_checkpoint, "training"))
    folders.append(SaeFolder("batchtopk_final", bt_final, "inference"))
    # 4. A JumpReLU checkpoint trained on whitened activations (whitening not folded yet).
    _, whitened = train_with_runner(
        root / "run-whitened", "jumprelu", "blocks.0.hook_resid_post", 128, "covariance_whitening"
    )
    folders.append(SaeFolder("whitened_jumprelu_checkpoint", whitened, "training"))
    # 5. A hook_z BatchTopK checkpoint: training conversion and hook_z reshaping together.
    _, hz_bt = train_with_runner(root / "run-hook-z-bt", "matryoshka_batchtopk", "blocks.1.attn.hook_z", 128,
                                 "expected_average_only_in", matryoshka_widths=[64, 256])  # fmt: skip
    folders.append(SaeFolder("hook_z_matryoshka_checkpoint", hz_bt, "training"))
    # 5b. AbsTopK (signed activations: a feature is active when != 0, as SAE-Lens counts L0).
    abs_final, _ = train_with_runner(root / "run-abstopk", "abstopk", "blocks.0.hook_resid_pre", 128, k=16)
    folders.append(SaeFolder("abstopk_final", abs_final, "inference"))
    # 6. A 3.x-style config: hook_point, hook_point_layer, "torch.float32", no architecture, no version.
    std_final, _ = train_with_runner(root / "run-standard", "standard", "blocks.1.hook_mlp_out", 128)
    v3 = {"d_in": 128, "d_sae": 256, "hook_point": "blocks.1.hook_mlp_out", "hook_point_layer": 1,
          "dtype": "torch.float32", "device": "cpu", "model_name": DEMO_MODEL, "context_size": 64,
          "l1_coefficient": 5.0, "lr": 0.0004, "normalize_activations": False, "prepend_bos": True,
          "apply_b_dec_to_input": True, "dataset_path": "demo", "sae_lens_training_version": "3.5.0"}  # fmt: skip
    folders.append(SaeFolder("v3_config", write_old_config(std_final, root / "v3-config", v3), "inference"))
    # 7. A 4.x-style TopK config: architecture "standard" with activation_fn_str "topk".
    topk_final, _ = train_with_runner(root / "run-topk", "topk", "blocks.0.hook_resid_post", 128, k=16)
    v4 = {"architecture": "standard", "d_in": 128, "d_sae": 256, "activation_fn_str": "topk",
          "activation_fn_kwargs": {"k": 16}, "hook_name": "blocks.0.hook_resid_post", "hook_layer": 0,
          "hook_head_index": None, "model_name": DEMO_MODEL, "dtype": "float32", "device": "cpu",
          "context_size": 64, "prepend_bos": True, "apply_b_dec_to_input": True, "finetuning_scaling_factor": False,
          "normalize_activations": "none", "sae_lens_training_version": "4.4.1"}  # fmt: skip
    folders.append(
        SaeFolder("v4_topk_config", write_old_config(topk_final, root / "v4-topk", v4), "inference")
    )
    # 8. A hand-written 6.x folder with the model keys at the top level and an HF module hook name.
    hand = dict(json.loads((std_final / "cfg.json").read_text()))
    metadata = hand.pop("metadata")
    hand.update(model_name=DEMO_MODEL, hook_name="model.layers.1.mlp.down_proj", context_size=64,
                prepend_bos=True, sae_lens_version=metadata["sae_lens_version"])  # fmt: skip
    folders.append(
        SaeFolder(
            "hand_written_hf_hook", write_old_config(std_final, root / "hand-written", hand), "inference"
        )
    )
    return folders


def build_bad_folders(good: dict[str, SaeFolder], root: Path) -> dict[str, tuple[Path, str]]:
    """Folders that must be refused, each with a fragment of the one-line error it must give."""
    base = good["v3_config"].path
    nan = with_weights(base, root / "nan", lambda w: w["W_enc"].__setitem__((0, 0), float("nan")))
    inf = with_weights(base, root / "inf", lambda w: w["b_dec"].__setitem__(3, float("inf")))
    extra = with_weights(base, root / "extra", lambda w: w.__setitem__("W_mystery", torch.zeros(3)))
    missing = with_weights(base, root / "missing", lambda w: w.pop("b_enc"))
    mismatch = edit_cfg(base, root / "d-sae", lambda c: {**c, "d_sae": 128})
    head_index = write_old_config(standard_sae_folder(root / "one-head", d_in=32), root / "head-index", {
        "d_in": 32, "d_sae": 256, "hook_point": "blocks.0.attn.hook_z", "hook_point_layer": 0,
        "hook_point_head_index": 1, "model_name": DEMO_MODEL, "dtype": "torch.float32", "context_size": 64,
    })  # fmt: skip
    return {
        "nan": (nan, "tensor 'W_enc' has 1 NaN"),
        "inf": (inf, "tensor 'b_dec' has 0 NaN and 1 infinite"),
        "extra": (extra, "has tensor 'W_mystery'"),
        "missing": (missing, "has no tensor 'b_enc'"),
        "d_sae_mismatch": (mismatch, "tensor 'W_dec' has shape [256, 128]"),
        "head_index": (head_index, "hook_head_index 1"),
        "transcoder": (transcoder_folder(root / "transcoder"), "architecture 'transcoder'"),
    }


def standard_sae_folder(path: Path, d_in: int, d_sae: int = 256) -> Path:
    """A standard SAE with random weights saved by SAE-Lens' `save_model`."""
    from sae_lens import StandardSAEConfig
    from sae_lens.registry import get_sae_class

    torch.manual_seed(0)
    get_sae_class("standard")[0](StandardSAEConfig(d_in=d_in, d_sae=d_sae)).save_model(path)
    return path


def transcoder_folder(path: Path) -> Path:
    """A transcoder saved by SAE-Lens' `save_model` (reads blocks.0.ln2.hook_normalized, writes mlp_out)."""
    from sae_lens.registry import get_sae_class

    sae_cls, cfg_cls = get_sae_class("transcoder")
    cfg = cfg_cls(d_in=128, d_sae=64, d_out=128, apply_b_dec_to_input=False)
    cfg.metadata.model_name = DEMO_MODEL
    cfg.metadata.hook_name = "blocks.0.ln2.hook_normalized"
    cfg.metadata.hook_name_out = "blocks.0.hook_mlp_out"
    sae_cls(cfg).save_model(path)
    return path
