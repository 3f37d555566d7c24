"""Numbers computed with SAE-Lens alone, to check the explorer against.

Loading: `SAE.load_from_disk` for inference folders; for training checkpoints, what SAE-Lens' trainer
does at the end of training: `TrainingSAE.load_from_disk`, fold `activation_scaler.json`, then
`save_inference_model` and `SAE.load_from_disk` of what it wrote.
Metrics: `sae_lens.evals.get_sparsity_and_variance_metrics` and `sae_lens.evals.get_recons_loss`, on
given token rows, ignoring special tokens (as the explorer does).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sae_lens import SAE, TrainingSAE
from sae_lens.evals import get_recons_loss, get_sparsity_and_variance_metrics
from sae_lens.training.activation_scaler import ActivationScaler
from sae_lens.util import extract_stop_at_layer_from_tlens_hook_name


def reference_sae(path: Path, training_checkpoint: bool) -> SAE[Any]:
    """The SAE that SAE-Lens alone makes of a folder (see the module docstring)."""
    if not training_checkpoint:
        return SAE.load_from_disk(path)
    training_sae = TrainingSAE.load_from_disk(path)
    scaler = ActivationScaler()
    scaler_file = path / "activation_scaler.json"
    if scaler_file.exists():
        scaler.load(scaler_file)
    if scaler.scaling_factor is not None:
        training_sae.fold_activation_norm_scaling_factor(scaler.scaling_factor)
    if scaler.whitening is not None:
        training_sae.fold_activation_whitening(
            mean=scaler.whitening.mean,
            whitening_matrix=scaler.whitening.matrix,
            unwhitening_matrix=scaler.whitening.inverse_matrix,
        )
    with tempfile.TemporaryDirectory() as folder:
        training_sae.save_inference_model(folder)
        return SAE.load_from_disk(folder)


class _Rows:
    """The one method of an ActivationsStore that `get_sparsity_and_variance_metrics` calls."""

    def __init__(self, rows: torch.Tensor) -> None:
        self.rows, self.start = rows, 0

    def get_batch_tokens(self, n: int) -> torch.Tensor:
        batch = self.rows[self.start : self.start + n]
        self.start += n
        return batch


@dataclass
class ReferenceMetrics:
    """SAE-Lens' evals on the same rows."""

    l0: float
    explained_variance: float
    ce_loss_orig: float
    ce_loss_recon: float
    ce_loss_zero: float

    @property
    def ce_loss_recovered(self) -> float:
        """(zero - recon) / (zero - orig)."""
        return (self.ce_loss_zero - self.ce_loss_recon) / (self.ce_loss_zero - self.ce_loss_orig)


def _without_hook_z_reshaping(sae: SAE[Any]) -> SAE[Any]:
    # SAE-Lens' run_evals turns hook_z reshaping off and lets its evals flatten the heads.
    sae.turn_off_forward_pass_hook_z_reshaping()
    return sae


@torch.no_grad()
def reference_metrics(sae: SAE[Any], model: Any, rows: torch.Tensor, hook_name: str) -> ReferenceMetrics:
    """L0, explained variance and CE losses of `sae` at `hook_name` on `rows` [n, ctx], by SAE-Lens' evals."""
    sae.cfg.metadata.hook_name = hook_name
    _without_hook_z_reshaping(sae)
    special = sorted(set(model.tokenizer.all_special_ids))
    sparsity, _ = get_sparsity_and_variance_metrics(
        sae, model, _Rows(rows), ActivationScaler(), n_batches=1, compute_l2_norms=False,
        compute_sparsity_metrics=True, compute_variance_metrics=True,
        compute_featurewise_density_statistics=False, eval_batch_size_prompts=len(rows), model_kwargs={},
        ignore_tokens=special,
    )  # fmt: skip
    losses = get_recons_loss(sae, model, ActivationScaler(), rows, compute_kl=False, compute_ce_loss=True,
                             ignore_tokens=special)  # fmt: skip
    keep = ~torch.isin(
        rows[:, :-1], torch.tensor(special)
    )  # a prediction counts when its input is not special

    def mean(name: str) -> float:
        return float(losses[name][keep].mean())

    return ReferenceMetrics(
        l0=sparsity["l0"],
        explained_variance=sparsity["explained_variance"],
        ce_loss_orig=mean("ce_loss_without_sae"),
        ce_loss_recon=mean("ce_loss_with_sae"),
        ce_loss_zero=mean("ce_loss_with_ablation"),
    )


@torch.no_grad()
def reference_feature_acts(sae: SAE[Any], model: Any, tokens: torch.Tensor, hook_name: str) -> torch.Tensor:
    """Feature activations [batch, pos, d_sae] as SAE-Lens' evals compute them (heads flattened for hook_z)."""
    _without_hook_z_reshaping(sae)
    _, cache = model.run_with_cache(
        tokens, names_filter=[hook_name], stop_at_layer=extract_stop_at_layer_from_tlens_hook_name(hook_name)
    )
    acts = cache[hook_name]
    if hook_name.endswith("hook_z"):
        acts = acts.flatten(-2, -1)
    return sae.encode(acts)
