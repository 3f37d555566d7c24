"""Weight-based facts about features: density from the sparsity file, direct logit effects, Neuronpedia links."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from explorer.errors import ExplorerError
from explorer.loading import Explorer

NEURONPEDIA_URL = "https://www.neuronpedia.org/{id}/{feature}"


def check_feature_ids(explorer: Explorer, features: Sequence[int]) -> list[int]:
    """Return `features` as ints, or raise `ExplorerError` naming the first id out of range."""
    checked = []
    for feature in features:
        if not 0 <= int(feature) < explorer.sae.d_sae:
            raise ExplorerError(
                f"Feature {feature} is out of range: this SAE has features 0..{explorer.sae.d_sae - 1}."
            )
        checked.append(int(feature))
    return checked


def density_from_file(explorer: Explorer) -> torch.Tensor | None:
    """Each feature's firing frequency [d_sae] from sparsity.safetensors (10 ** log10 density), if present."""
    log_sparsity = explorer.sae.log_sparsity
    return None if log_sparsity is None else torch.pow(10.0, log_sparsity)


def neuronpedia_url(explorer: Explorer, feature: int) -> str | None:
    """The feature's Neuronpedia page, when the SAE has a Neuronpedia id."""
    if not explorer.sae.neuronpedia_id:
        return None
    return NEURONPEDIA_URL.format(id=explorer.sae.neuronpedia_id, feature=feature)


@torch.no_grad()
def decoder_in_residual_space(explorer: Explorer, features: Sequence[int]) -> torch.Tensor:
    """Each feature's decoder direction as it enters the residual stream [n_features, d_model].

    Residual, MLP-out and attention-out hooks write d_model vectors directly; an `mlp.hook_post`
    direction goes through that layer's W_out, and an `attn.hook_z` direction through W_O.
    """
    w_dec = explorer.sae.sae.W_dec[list(features)].float()  # [n, d_in]
    model, hook = explorer.model, explorer.hook_name
    layer = hook.split(".")[1] if hook.startswith("blocks.") else None
    if w_dec.shape[-1] == model.cfg.d_model and not hook.endswith(("hook_z", "hook_q", "hook_k", "hook_v")):
        return w_dec
    if layer is not None and hook.endswith("mlp.hook_post"):
        return w_dec @ model.blocks[int(layer)].mlp.W_out.float()
    if layer is not None and hook.endswith("attn.hook_z") and explorer.sae.metadata.hook_head_index is None:
        w_o = model.blocks[int(layer)].attn.W_O.float()  # [n_heads, d_head, d_model]
        return torch.einsum("nhd,hdm->nm", w_dec.reshape(len(w_dec), *w_o.shape[:2]), w_o)
    raise ExplorerError(
        f"Direct logit effects are not defined for hook '{hook}' (no path to the residual stream)."
    )


@dataclass(frozen=True)
class LogitEffect:
    """A feature's direct effect on the logits: the tokens it most promotes and most suppresses."""

    feature: int
    top_tokens: list[str]
    top_values: list[float]
    bottom_tokens: list[str]
    bottom_values: list[float]

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        return {
            "feature": self.feature,
            "top_logits": [
                {"token": t, "value": v} for t, v in zip(self.top_tokens, self.top_values, strict=True)
            ],
            "bottom_logits": [
                {"token": t, "value": v} for t, v in zip(self.bottom_tokens, self.bottom_values, strict=True)
            ],
        }


@torch.no_grad()
def direct_logit_effects(explorer: Explorer, features: Sequence[int], n: int = 10) -> list[LogitEffect]:
    """W_dec[f] @ W_U for each feature: its top and bottom `n` tokens.

    The final LayerNorm is not applied: it is not linear, so the raw product is the standard
    "logit lens" reading of a feature direction (as SAEDashboard and Neuronpedia show it).
    """
    features = check_feature_ids(explorer, features)
    logits = (
        decoder_in_residual_space(explorer, features) @ explorer.model.W_U.float()
    )  # [n_features, d_vocab]
    top = logits.topk(n, dim=-1)
    bottom = logits.topk(n, dim=-1, largest=False)
    to_str = explorer.model.to_str_tokens
    effects = []
    for row, feature in enumerate(features):
        effects.append(
            LogitEffect(
                feature,
                list(to_str(top.indices[row])),
                top.values[row].tolist(),
                list(to_str(bottom.indices[row])),
                bottom.values[row].tolist(),
            )
        )
    return effects


def feature_densities(explorer: Explorer, measured: torch.Tensor | None = None) -> list[float] | None:
    """Each feature's firing frequency: `measured` (a statistics pass's density) if given, else
    sparsity.safetensors', else None."""
    density = measured if measured is not None else density_from_file(explorer)
    return None if density is None else density.tolist()
