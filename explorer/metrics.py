"""Sparsity and reconstruction metrics of the SAE on a sample of dataset rows.

Definitions (the same as `sae_lens.evals` 6.x, so the numbers can be checked against it; special
tokens such as BOS are excluded everywhere):
- L0: number of features != 0 at a token (AbsTopK features can be negative); the mean over tokens.
- MSE: mean over tokens of the squared error summed over the d_in dimensions, ||x - x̂||².
- Explained variance: 1 - E||x - x̂||² / (E||x||² - ||E[x]||²), pooled over all tokens. (SAE-Lens
  before 6.x averaged a per-token ratio; that "legacy" form is not used.)
- Cosine similarity: mean over tokens of cos(x, x̂).
- CE loss recovered: (zero - recon) / (zero - orig), with the hook zero-ablated for `zero`; the
  reconstruction is spliced in at every token but special ones, which keep their activations.
- KL divergence: mean over tokens of KL(p_orig || p_with_SAE).
- Density: the fraction of tokens where a feature is != 0. Dead: density 0 on the sample; dense:
  density > 0.1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from sae_lens.util import extract_stop_at_layer_from_tlens_hook_name
from transformer_lens.utils import lm_cross_entropy_loss

from explorer.activations import flat_acts, special_token_mask
from explorer.devices import available_memory_bytes
from explorer.errors import ExplorerError, OutOfMemory, out_of_memory_as_error
from explorer.formats import percent
from explorer.generation import zero_ablation_hook
from explorer.loading import Explorer

DENSE_THRESHOLD = 0.1
RARE_DENSITY = 1e-4  # a feature firing once in 10,000 tokens should fire on a sample before it is called dead


@dataclass(frozen=True)
class MetricDefinition:
    """How a metric is labelled, formatted and explained everywhere, and which direction is better."""

    label: str
    format: str  # str.format spec for the value
    help: str
    better: str | None  # "higher", "lower", or None when neither is better


METRICS: dict[str, MetricDefinition] = {
    "n_tokens": MetricDefinition("Tokens", "{:,}", "Tokens in the sample (BOS excluded).", None),
    "l0": MetricDefinition(
        "Mean L0", "{:.1f}", "Features > 0 per token, averaged over tokens (BOS excluded).", None
    ),
    "dead_features": MetricDefinition("Dead features", "{:,}", "Never fired on this sample.", "lower"),
    "dense_features": MetricDefinition(
        "Dense features", "{:,}", f"Fired on more than {DENSE_THRESHOLD:.0%} of tokens.", "lower"
    ),
    "mean_density": MetricDefinition(
        "Mean density",
        "{:.3g}",
        "Mean over features of the share of tokens where each fires (= L0 / d_sae).",
        None,
    ),
    "mse": MetricDefinition("MSE", "{:.4g}", "Mean over tokens of ||x − x̂||² (summed over d_in).", "lower"),
    "explained_variance": MetricDefinition(
        "Explained variance",
        "{:.3f}",
        "1 − E||x − x̂||² / (E||x||² − ||E[x]||²), pooled over tokens.",
        "higher",
    ),
    "cosine_similarity": MetricDefinition(
        "Cosine similarity", "{:.3f}", "Mean over tokens of cos(x, x̂).", "higher"
    ),
    "ce_loss_orig": MetricDefinition(
        "CE loss (original)", "{:.3f}", "The model's next-token loss (nats).", None
    ),
    "ce_loss_recon": MetricDefinition(
        "CE loss (with SAE)", "{:.3f}", "Next-token loss with the SAE's reconstruction spliced in.", "lower"
    ),
    "ce_loss_zero": MetricDefinition(
        "CE loss (zero-ablated)", "{:.3f}", "Next-token loss with the hook's activations set to zero.", None
    ),
    "ce_loss_recovered": MetricDefinition(
        "CE loss recovered",
        "{:.3f}",
        "(zero − recon) / (zero − orig); n/a when zero-ablating the hook does not change the loss.",
        "higher",
    ),  # fmt: skip
    "kl_div": MetricDefinition(
        "KL divergence", "{:.4f}", "Mean KL(original ‖ with SAE) of the next-token distributions.", "lower"
    ),
}


def format_metric(name: str, value: float | None) -> str:
    """A metric's value in its one display format ('n/a' when undefined); densities as percentages."""
    if value is None:
        return "n/a"
    if name == "mean_density":
        return percent(value)
    return METRICS[name].format.format(value)


def small_sample_warning(n_tokens: int) -> str | None:
    """A warning when the sample is too small to call a feature dead, else None."""
    missed = (1 - RARE_DENSITY) ** n_tokens
    if missed <= 0.05:
        return None
    return (
        f"This sample has {n_tokens:,} tokens: a feature that fires once in {1 / RARE_DENSITY:,.0f} tokens would "
        f"not fire on it with probability {missed:.0%}, so 'dead' here only means 'did not fire on this sample'. "
        f"Use at least {int(3 / RARE_DENSITY):,} tokens to call features dead."
    )


Progress = Callable[[int, int], None]  # (rows done, rows in all)


@dataclass
class SampleMetrics:
    """What the sparsity page and `python -m explorer metrics` show."""

    n_prompts: int
    n_tokens: int
    l0: float
    mse: float
    explained_variance: float
    cosine_similarity: float
    ce_loss_orig: float | None
    ce_loss_recon: float | None
    ce_loss_zero: float | None
    kl_div: float | None
    l0_per_token: torch.Tensor  # [n_tokens]
    feature_density: torch.Tensor  # [d_sae] measured on the sample

    @property
    def ce_loss_recovered(self) -> float | None:
        """(zero - recon) / (zero - orig)."""
        if self.ce_loss_orig is None or self.ce_loss_recon is None or self.ce_loss_zero is None:
            return None
        denominator = self.ce_loss_zero - self.ce_loss_orig
        return None if abs(denominator) < 1e-9 else (self.ce_loss_zero - self.ce_loss_recon) / denominator

    @property
    def dead_features(self) -> int:
        """Features that never fired on the sample."""
        return int((self.feature_density == 0).sum())

    @property
    def dense_features(self) -> int:
        """Features that fired on more than 10% of tokens."""
        return int((self.feature_density > DENSE_THRESHOLD).sum())

    @property
    def mean_density(self) -> float:
        """Mean over features of their firing density (= L0 / d_sae)."""
        return float(self.feature_density.mean())

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (no per-token or per-feature arrays)."""
        return {
            "n_prompts": self.n_prompts,
            "n_tokens": self.n_tokens,
            "l0": self.l0,
            "mse": self.mse,
            "explained_variance": self.explained_variance,
            "cosine_similarity": self.cosine_similarity,
            "ce_loss_orig": self.ce_loss_orig,
            "ce_loss_recon": self.ce_loss_recon,
            "ce_loss_zero": self.ce_loss_zero,
            "ce_loss_recovered": self.ce_loss_recovered,
            "kl_div": self.kl_div,
            "dead_features": self.dead_features,
            "dense_features": self.dense_features,
            "mean_density": self.mean_density,
        }


def auto_batch_size(
    explorer: Explorer, context_size: int, with_loss: bool, budget_fraction: float = 0.25
) -> int:
    """Rows per batch so that one batch's activations and logits use at most `budget_fraction` of free memory."""
    cfg = explorer.model.cfg
    bytes_per_value = 2 if explorer.dtype in ("bfloat16", "float16") else 4
    per_token = explorer.sae.d_sae * 4 * 2 + cfg.d_model * bytes_per_value * cfg.n_layers * 12
    if with_loss:
        per_token += cfg.d_vocab * 4 * 4  # logits and log-probs of the original and the spliced run
    rows = int(available_memory_bytes(explorer.device) * budget_fraction // (per_token * context_size))
    return max(1, min(64, rows))


class _Accumulator:
    """Running sums over batches (float64 on CPU for the variance, as SAE-Lens does)."""

    def __init__(self, d_in: int, d_sae: int) -> None:
        self.n_tokens = 0
        self.sum_x = torch.zeros(d_in, dtype=torch.float64)
        self.sum_sq_norm = 0.0
        self.sum_sq_err = 0.0
        self.sum_cos = 0.0
        self.fire_counts = torch.zeros(d_sae, dtype=torch.float64)
        self.l0s: list[torch.Tensor] = []
        self.ce = {"orig": 0.0, "recon": 0.0, "zero": 0.0}
        self.kl = 0.0
        self.n_loss_tokens = 0

    def add_reconstruction(self, x: torch.Tensor, x_hat: torch.Tensor, feats: torch.Tensor) -> None:
        x, x_hat = x.double().cpu(), x_hat.double().cpu()  # [n, d_in]
        fires = (feats != 0).cpu()  # [n, d_sae]; != 0 as SAE-Lens counts (AbsTopK is signed)
        self.n_tokens += len(x)
        self.sum_x += x.sum(0)
        self.sum_sq_norm += x.pow(2).sum().item()
        self.sum_sq_err += (x - x_hat).pow(2).sum().item()
        self.sum_cos += torch.nn.functional.cosine_similarity(x, x_hat, dim=-1).sum().item()
        self.fire_counts += fires.sum(0)
        self.l0s.append(fires.sum(-1))

    def add_losses(
        self, orig: torch.Tensor, recon: torch.Tensor, zero: torch.Tensor, kl: torch.Tensor
    ) -> None:
        self.ce["orig"] += orig.sum().item()
        self.ce["recon"] += recon.sum().item()
        self.ce["zero"] += zero.sum().item()
        self.kl += kl.sum().item()
        self.n_loss_tokens += orig.numel()


@torch.no_grad()
def _process_batch(explorer: Explorer, tokens: torch.Tensor, with_loss: bool, acc: _Accumulator) -> None:
    model, sae, hook = explorer.model, explorer.sae.sae, explorer.hook_name
    tokens = tokens.to(explorer.device)
    mask = special_token_mask(tokens, model.tokenizer)  # [b, ctx]
    with explorer.lock:
        stop = None if with_loss else extract_stop_at_layer_from_tlens_hook_name(hook)
        logits, cache = model.run_with_cache(tokens, names_filter=[hook], stop_at_layer=stop)
        x = cache[hook]  # [b, ctx, d_in], or [b, ctx, n_heads, d_head] for hook_z (the SAE flattens it)
        feats = sae.encode(x)
        x_hat = sae.decode(feats).to(x.dtype)  # the shape of x
        acc.add_reconstruction(flat_acts(x[mask], sae), flat_acts(x_hat[mask], sae), feats[mask])
        if not with_loss:
            return
        position_mask = mask.view(*mask.shape, *([1] * (x.dim() - 2)))  # broadcast over the hook's own dims

        def splice(acts: torch.Tensor, hook: Any) -> torch.Tensor:  # noqa: ARG001
            # The reconstruction replaces the activations except at special tokens, as in SAE-Lens' evals.
            return torch.where(position_mask, x_hat, acts)

        recon_logits = model.run_with_hooks(tokens, fwd_hooks=[(hook, splice)])
        zero_logits = model.run_with_hooks(tokens, fwd_hooks=[(hook, zero_ablation_hook)])
    loss_mask = mask[:, :-1]  # position t predicts t + 1; drop positions whose input is special
    losses = [
        lm_cross_entropy_loss(lg.float(), tokens, per_token=True)[loss_mask]
        for lg in (logits, recon_logits, zero_logits)
    ]
    log_p = logits.float().log_softmax(-1)
    log_q = recon_logits.float().log_softmax(-1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1)[mask]
    loss_orig, loss_recon, loss_zero = losses
    acc.add_losses(loss_orig, loss_recon, loss_zero, kl)


def compute_metrics(
    explorer: Explorer,
    rows: torch.Tensor,
    with_loss: bool = True,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> SampleMetrics:
    """Metrics of the SAE over `rows` [n, ctx] (special tokens excluded); see the module docstring.

    With `with_loss=False` the model runs only up to the hook (`stop_at_layer`). The batch size
    adapts to free memory and halves on out-of-memory errors.
    """
    n_rows, context_size = rows.shape
    batch = batch_size or auto_batch_size(explorer, context_size, with_loss)
    acc = _Accumulator(explorer.sae.d_in, explorer.sae.d_sae)
    done = 0
    while done < n_rows:
        chunk = rows[done : done + batch]
        try:
            with out_of_memory_as_error("computing metrics"):
                _process_batch(explorer, chunk, with_loss, acc)
        except OutOfMemory as error:
            if batch == 1:
                error.message = "Out of memory even with one prompt per batch."
                raise
            batch = max(1, batch // 2)
            continue
        done += len(chunk)
        if progress is not None:
            progress(done, n_rows)
    if acc.n_tokens == 0:
        raise ExplorerError("The sample has no tokens to measure (only special tokens).")
    return _finish(acc, n_rows, with_loss)


def _finish(acc: _Accumulator, n_rows: int, with_loss: bool) -> SampleMetrics:
    n = acc.n_tokens
    mean_x = acc.sum_x / n
    total_variance = acc.sum_sq_norm / n - mean_x.pow(2).sum().item()
    mse = acc.sum_sq_err / n
    l0_per_token = torch.cat(acc.l0s)
    losses = (
        {k: v / acc.n_loss_tokens for k, v in acc.ce.items()} if with_loss and acc.n_loss_tokens else None
    )
    return SampleMetrics(
        n_prompts=n_rows,
        n_tokens=n,
        l0=float(l0_per_token.float().mean()),
        mse=mse,
        explained_variance=1 - mse / total_variance if total_variance > 1e-12 else float("nan"),
        cosine_similarity=acc.sum_cos / n,
        ce_loss_orig=losses["orig"] if losses else None,
        ce_loss_recon=losses["recon"] if losses else None,
        ce_loss_zero=losses["zero"] if losses else None,
        kl_div=acc.kl / n if with_loss else None,
        l0_per_token=l0_per_token,
        feature_density=(acc.fire_counts / n).float(),
    )
