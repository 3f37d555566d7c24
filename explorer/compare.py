"""Two SAEs on the same model, side by side: metrics on one sample, and feature matches across them.

A feature of SAE A is matched to SAE B's features two ways:
- by decoder cosine similarity, with both decoders taken into the residual stream
  (`decoder_in_residual_space`), so SAEs on different hooks of the same model can be compared;
- by the Pearson correlation of activations over the same sample tokens (special tokens excluded),
  accumulated batch by batch so memory does not grow with the sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from explorer.activations import feature_activations, special_token_mask
from explorer.errors import ExplorerError
from explorer.features import check_feature_ids, decoder_in_residual_space
from explorer.loading import Explorer
from explorer.metrics import SampleMetrics, compute_metrics


def check_same_model(a: Explorer, b: Explorer) -> None:
    """Raise `ExplorerError` unless both SAEs are spliced into one and the same loaded model."""
    if a.model is not b.model:
        raise ExplorerError(
            f"The two SAEs are for different models ({a.info()['model_name']} and {b.info()['model_name']}).",
            hint="Compare SAEs trained on the same model.",
        )


def compare_metrics(
    a: Explorer, b: Explorer, rows: torch.Tensor, with_loss: bool = True
) -> tuple[SampleMetrics, SampleMetrics]:
    """Reconstruction and sparsity metrics of both SAEs on the same token rows [n, ctx]."""
    check_same_model(a, b)
    return compute_metrics(a, rows, with_loss=with_loss), compute_metrics(b, rows, with_loss=with_loss)


@dataclass(frozen=True)
class FeatureMatch:
    """A feature of the other SAE and how close it is (cosine or correlation)."""

    feature: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"feature": self.feature, "score": self.score}


@torch.no_grad()
def nearest_by_decoder_across(a: Explorer, b: Explorer, feature: int, n: int = 10) -> list[FeatureMatch]:
    """B's features whose decoder directions (in the residual stream) are closest in cosine to A's `feature`."""
    check_same_model(a, b)
    (feature,) = check_feature_ids(a, [feature])
    direction = torch.nn.functional.normalize(decoder_in_residual_space(a, [feature])[0], dim=0)  # [d_model]
    others = torch.nn.functional.normalize(decoder_in_residual_space(b, range(b.sae.d_sae)), dim=1)
    top = (others @ direction).topk(min(n, b.sae.d_sae))
    return [FeatureMatch(int(i), float(v)) for v, i in zip(top.values, top.indices, strict=True)]


@torch.no_grad()
def nearest_by_correlation(
    a: Explorer, b: Explorer, feature: int, rows: torch.Tensor, n: int = 10, batch_size: int = 16
) -> list[FeatureMatch]:
    """B's features whose activations correlate most (Pearson, over the sample's tokens) with A's `feature`."""
    check_same_model(a, b)
    (feature,) = check_feature_ids(a, [feature])
    d_b = b.sae.d_sae
    count = 0
    sum_x, sum_xx = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    sum_y, sum_yy = torch.zeros(d_b, dtype=torch.float64), torch.zeros(d_b, dtype=torch.float64)
    sum_xy = torch.zeros(d_b, dtype=torch.float64)
    for first in range(0, len(rows), batch_size):
        tokens = rows[first : first + batch_size]
        keep = special_token_mask(tokens, a.model.tokenizer).reshape(-1).cpu()
        x = feature_activations(a, tokens)[..., feature].reshape(-1)[keep].double()  # [tokens]
        y = feature_activations(b, tokens).reshape(-1, d_b)[keep].double()  # [tokens, d_b]
        count += len(x)
        sum_x += x.sum()
        sum_xx += x.pow(2).sum()
        sum_y += y.sum(0)
        sum_yy += y.pow(2).sum(0)
        sum_xy += x @ y
    if count < 2:
        raise ExplorerError("The sample has too few tokens to correlate activations.")
    cov = sum_xy / count - (sum_x / count) * (sum_y / count)
    var_x = sum_xx / count - (sum_x / count) ** 2
    var_y = sum_yy / count - (sum_y / count) ** 2
    if var_x <= 0:
        raise ExplorerError(f"Feature {feature} never fires on this sample, so it has no correlation.")
    correlation = cov / (var_x * var_y).clamp(min=1e-30).sqrt()
    correlation[var_y <= 0] = 0.0  # B's features that never fire
    top = correlation.float().topk(min(n, d_b))
    return [FeatureMatch(int(i), float(v)) for v, i in zip(top.values, top.indices, strict=True)]
