"""Feature statistics for every feature of an SAE in one streaming pass over dataset tokens.

For all d_sae features at once, with memory that does not grow with the number of tokens:
- the top-k max-activating contexts (row, position, activation, and a window of tokens around it
  with that feature's activations), kept by a streaming top-k per feature;
- a uniform random sample (reservoir) of each feature's non-zero activations with their windows,
  from which examples per activation-quantile band are drawn at the end;
- an exact histogram of non-zero activations on bins [0, M) that double when a larger value
  arrives (bin pairs merge), so no bin edges need to be known in advance;
- density (fraction of tokens where the feature is > 0), mean non-zero activation and max.
Special tokens (BOS) are excluded, as everywhere in the explorer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from explorer.activations import feature_activations, special_token_mask
from explorer.loading import Explorer

N_BINS = 64  # a power of two, so bins merge in pairs when the range doubles
Progress = Callable[[int, int, float], None]  # (tokens done, tokens in all, tokens per second)


@dataclass(frozen=True)
class StatsConfig:
    """What to keep per feature."""

    top_k: int = 20
    reservoir: int = 48
    window: int = 8  # tokens on each side of an example
    n_quantile_bands: int = 4
    per_band: int = 3
    seed: int = 0


DEFAULT_CONFIG = StatsConfig()


@dataclass
class _Examples:
    """Per-feature kept examples: score [F, K], and for each a row, position, value and window payload."""

    score: torch.Tensor  # [F, K] (activation for top-k, a random key for the reservoir); -inf = empty
    value: torch.Tensor  # [F, K] activation
    row: torch.Tensor  # [F, K] global row index
    pos: torch.Tensor  # [F, K]
    tokens: torch.Tensor  # [F, K, 2W+1] token ids (-1 outside the row)
    acts: torch.Tensor  # [F, K, 2W+1] this feature's activations in the window

    @classmethod
    def empty(cls, d_sae: int, k: int, width: int) -> _Examples:
        return cls(
            torch.full((d_sae, k), -torch.inf), torch.zeros(d_sae, k), torch.full((d_sae, k), -1, dtype=torch.long),
            torch.zeros(d_sae, k, dtype=torch.long), torch.full((d_sae, k, width), -1, dtype=torch.long),
            torch.zeros(d_sae, k, width),
        )  # fmt: skip

    def merge_rows(self, features: torch.Tensor, other: _Examples) -> None:
        """In place: for each of `features` [T], keep the K best-scoring entries of self and `other` [T, K]."""
        k = self.score.shape[1]
        keep = torch.cat([self.score[features], other.score], 1).topk(k, dim=1).indices  # [T, K]
        for name in ("score", "value", "row", "pos", "tokens", "acts"):
            both = torch.cat([getattr(self, name)[features], getattr(other, name)], 1)
            index = keep if both.dim() == 2 else keep[..., None].expand(-1, -1, both.shape[2])
            getattr(self, name)[features] = both.gather(1, index)


def _batch_candidates(
    feature: torch.Tensor,
    token: torch.Tensor,
    score: torch.Tensor,
    threshold: torch.Tensor,
    k: int,
    acts: torch.Tensor,
    tokens: torch.Tensor,
    row_offset: int,
    window: int,
) -> tuple[torch.Tensor, _Examples]:
    """Per feature, the k best-scoring of a batch's non-zero entries that beat the feature's kept k-th score.

    feature, token, score: [E] one entry per non-zero (token, feature); threshold: [F];
    acts: [B, P, F] the batch's activations; tokens: [B, P]. Returns the features with candidates [T]
    and their [T, k] slots (-inf = empty), so merging touches only those features.
    """
    d_sae = acts.shape[2]
    positions = acts.shape[1]
    beats = score > threshold[feature]
    feature, token, score = feature[beats], token[beats], score[beats]
    order = score.argsort(descending=True)
    feature, token, score = feature[order], token[order], score[order]
    order = feature.argsort(stable=True)  # grouped by feature, best first within each group
    feature, token, score = feature[order], token[order], score[order]
    counts = torch.bincount(feature, minlength=d_sae)
    rank = torch.arange(len(feature)) - (counts.cumsum(0) - counts)[feature]
    chosen = rank < k
    feature, token, score, rank = feature[chosen], token[chosen], score[chosen], rank[chosen]
    width = 2 * window + 1
    touched, slot = torch.unique(feature, return_inverse=True)  # [T], [E'] index into touched
    out = _Examples.empty(len(touched), k, width)
    rows, pos = token // positions, token % positions
    window_pos = pos[:, None] + torch.arange(-window, window + 1)  # [E, 2W+1]
    inside = (window_pos >= 0) & (window_pos < positions)
    clamped = window_pos.clamp(0, positions - 1)
    window_rows = rows[:, None].expand_as(clamped)
    out.score[slot, rank] = score
    out.value[slot, rank] = acts[rows, pos, feature]
    out.row[slot, rank] = rows + row_offset
    out.pos[slot, rank] = pos
    out.tokens[slot, rank] = torch.where(inside, tokens[window_rows, clamped], -1)
    out.acts[slot, rank] = torch.where(
        inside, acts[window_rows, clamped, feature[:, None].expand_as(clamped)], 0.0
    )
    return touched, out


@dataclass
class FeatureStats:
    """Statistics of every feature over a token sample (see the module docstring)."""

    n_tokens: int
    context_size: int
    config: StatsConfig
    fire_counts: torch.Tensor  # [F]
    act_sums: torch.Tensor  # [F] sum of activations
    max_acts: torch.Tensor  # [F]
    hist_counts: torch.Tensor  # [F, N_BINS] non-zero activations in bins of width hist_max / N_BINS
    hist_max: torch.Tensor  # [F] upper edge of the histogram range (a power of two)
    top: _Examples  # scored by activation
    sample: _Examples  # scored by a random key: a uniform sample of non-zero activations
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def density(self) -> torch.Tensor:
        """Fraction of tokens where each feature is > 0 [F]."""
        return self.fire_counts / max(self.n_tokens, 1)

    @property
    def mean_nonzero(self) -> torch.Tensor:
        """Mean activation over the tokens where each feature fires [F]."""
        return self.act_sums / self.fire_counts.clamp(min=1)

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """Flat tensors for safetensors."""
        tensors = {
            "fire_counts": self.fire_counts, "act_sums": self.act_sums, "max_acts": self.max_acts,
            "hist_counts": self.hist_counts, "hist_max": self.hist_max,
        }  # fmt: skip
        for prefix, examples in (("top", self.top), ("sample", self.sample)):
            for name in ("score", "value", "row", "pos", "tokens", "acts"):
                tensors[f"{prefix}.{name}"] = getattr(examples, name).contiguous()
        return tensors

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> FeatureStats:
        """Inverse of `to_tensors` (with the JSON metadata written beside it)."""
        examples = {
            prefix: _Examples(
                *(tensors[f"{prefix}.{n}"] for n in ("score", "value", "row", "pos", "tokens", "acts"))
            )
            for prefix in ("top", "sample")
        }
        return cls(
            n_tokens=meta["n_tokens"], context_size=meta["context_size"], config=StatsConfig(**meta["config"]),
            fire_counts=tensors["fire_counts"], act_sums=tensors["act_sums"], max_acts=tensors["max_acts"],
            hist_counts=tensors["hist_counts"], hist_max=tensors["hist_max"], top=examples["top"],
            sample=examples["sample"], seconds=meta.get("seconds", 0.0), meta=meta,
        )  # fmt: skip


def _add_to_histogram(
    counts: torch.Tensor, upper: torch.Tensor, feature: torch.Tensor, value: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Add non-zero activations (entries: feature [E], value [E]) to per-feature histograms [F, N_BINS].

    A feature whose new maximum reaches its range's upper edge doubles the range (d times) and
    merges its bins 2**d to one, so counts stay exact without knowing the range in advance.
    """
    batch_max = torch.zeros_like(upper).scatter_reduce(0, feature, value, reduce="amax")
    too_small = batch_max >= upper
    if too_small.any():
        doublings = torch.zeros_like(upper, dtype=torch.long)
        needed = torch.ceil(torch.log2(batch_max[too_small] / upper[too_small])).long().clamp(min=0)
        needed += (upper[too_small] * 2.0**needed <= batch_max[too_small]).long()  # exactly on an edge
        doublings[too_small] = needed
        for d in doublings.unique().tolist():
            if d == 0:
                continue
            chosen = doublings == d
            factor = min(2**d, N_BINS)
            merged = counts[chosen].reshape(-1, N_BINS // factor, factor).sum(-1)
            counts[chosen] = torch.nn.functional.pad(merged, (0, N_BINS - N_BINS // factor))
            upper[chosen] = upper[chosen] * 2.0**d
    bins = (value / upper[feature] * N_BINS).long().clamp(0, N_BINS - 1)
    flat = torch.bincount(feature * N_BINS + bins, minlength=counts.numel()).reshape(counts.shape)
    return counts + flat, upper


def stats_batch_size(explorer: Explorer, context_size: int, budget_fraction: float = 0.2) -> int:
    """Rows per batch so a batch's dense activations [B, P, d_sae] (and copies) fit a fifth of free memory."""
    from explorer.devices import available_memory_bytes

    per_row = context_size * explorer.sae.d_sae * 4 * 4
    return max(1, min(64, int(available_memory_bytes(explorer.device) * budget_fraction // per_row)))


@torch.no_grad()
def compute_feature_stats(
    explorer: Explorer,
    rows: torch.Tensor,
    config: StatsConfig = DEFAULT_CONFIG,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> FeatureStats:
    """One pass over `rows` [n, ctx] (model run only to the hook) computing every feature's statistics."""
    batch_size = batch_size or stats_batch_size(explorer, rows.shape[1])
    d_sae, context = explorer.sae.d_sae, rows.shape[1]
    width = 2 * config.window + 1
    generator = torch.Generator().manual_seed(config.seed)
    fire_counts = torch.zeros(d_sae, dtype=torch.float64)
    act_sums = torch.zeros(d_sae, dtype=torch.float64)
    max_acts = torch.zeros(d_sae)
    hist_counts = torch.zeros(d_sae, N_BINS, dtype=torch.float64)
    hist_max = torch.full((d_sae,), 2.0**-8)  # doubles as larger activations arrive
    top = _Examples.empty(d_sae, config.top_k, width)
    sample = _Examples.empty(d_sae, config.reservoir, width)
    n_tokens, start = 0, time.perf_counter()
    for first in range(0, len(rows), batch_size):
        tokens = rows[first : first + batch_size]
        acts = feature_activations(explorer, tokens)  # [B, P, F] float32 on CPU
        counted = special_token_mask(tokens, explorer.model.tokenizer)  # [B, P]
        acts *= counted[..., None]
        n_tokens += int(counted.sum())
        # Everything below works on the non-zero entries only (activations are sparse).
        token, feature = torch.nonzero(acts.reshape(-1, d_sae), as_tuple=True)  # [E]
        value = acts.reshape(-1, d_sae)[token, feature]
        fire_counts += torch.bincount(feature, minlength=d_sae)
        act_sums += torch.bincount(feature, weights=value.double(), minlength=d_sae)
        max_acts = max_acts.scatter_reduce(0, feature, value, reduce="amax")
        hist_counts, hist_max = _add_to_histogram(hist_counts, hist_max, feature, value)
        top.merge_rows(
            *_batch_candidates(
                feature, token, value, top.score[:, -1], config.top_k, acts, tokens, first, config.window
            )
        )
        keys = torch.rand(len(value), generator=generator)
        sample.merge_rows(
            *_batch_candidates(
                feature,
                token,
                keys,
                sample.score[:, -1],
                config.reservoir,
                acts,
                tokens,
                first,
                config.window,
            )
        )
        if progress is not None:
            elapsed = time.perf_counter() - start
            progress(
                min(first + batch_size, len(rows)) * context,
                len(rows) * context,
                n_tokens / max(elapsed, 1e-9),
            )
    return FeatureStats(
        n_tokens, context, config, fire_counts.float(), act_sums.float(), max_acts, hist_counts.float(), hist_max,
        top, sample, seconds=time.perf_counter() - start,
    )  # fmt: skip


# ----------------------------------------------------------------------------- one feature's view


@dataclass(frozen=True)
class Example:
    """One context: tokens around a position and the feature's activation on each."""

    tokens: list[str]
    activations: list[float]
    max_activation: float
    position: int  # index of the example's token within `tokens`
    row: int
    row_position: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"tokens": self.tokens, "activations": self.activations, "max_activation": self.max_activation,
                "position": self.position, "row": self.row, "row_position": self.row_position}  # fmt: skip


def _examples_of(
    examples: _Examples, feature: int, explorer: Explorer, order: torch.Tensor | None = None
) -> list[Example]:
    valid = torch.isfinite(examples.score[feature])
    indices = torch.nonzero(valid).flatten() if order is None else order
    result = []
    for i in indices.tolist():
        ids = examples.tokens[feature, i]
        inside = ids >= 0
        strings = explorer.model.to_str_tokens(ids[inside]) if inside.any() else []
        position = int(inside[: examples.tokens.shape[2] // 2].sum())
        result.append(
            Example(
                list(strings),
                examples.acts[feature, i][inside].tolist(),
                float(examples.value[feature, i]),
                position,
                int(examples.row[feature, i]),
                int(examples.pos[feature, i]),
            )  # fmt: skip
        )
    return result


def top_examples(stats: FeatureStats, explorer: Explorer, feature: int) -> list[Example]:
    """The feature's max-activating contexts, highest first."""
    values = torch.where(torch.isfinite(stats.top.score[feature]), stats.top.value[feature], -torch.inf)
    order = values.argsort(descending=True)
    order = order[torch.isfinite(values[order])]
    return _examples_of(stats.top, feature, explorer, order)


def quantile_examples(
    stats: FeatureStats, explorer: Explorer, feature: int
) -> list[tuple[str, list[Example]]]:
    """A few examples per band of the feature's non-zero activation quantiles, highest band first.

    The reservoir is a uniform sample of the feature's non-zero activations, so splitting it at its
    own quantiles gives each band the same share of the distribution.
    """
    sampled = _examples_of(stats.sample, feature, explorer)
    if not sampled:
        return []
    sampled.sort(key=lambda e: e.max_activation)
    bands = stats.config.n_quantile_bands
    result = []
    for band in reversed(range(bands)):
        lo, hi = band * len(sampled) // bands, (band + 1) * len(sampled) // bands
        members = sampled[lo:hi]
        if not members:
            continue
        label = f"{100 * band // bands}–{100 * (band + 1) // bands}th percentile ({members[0].max_activation:.2f}–{members[-1].max_activation:.2f})"
        step = max(1, len(members) // stats.config.per_band)
        result.append((label, members[::step][: stats.config.per_band]))
    return result


def histogram(stats: FeatureStats, feature: int) -> tuple[list[float], list[int]]:
    """Bin centres and counts of the feature's non-zero activations (trailing empty bins dropped)."""
    counts = stats.hist_counts[feature]
    width = float(stats.hist_max[feature]) / N_BINS
    nonzero = torch.nonzero(counts).flatten()
    last = int(nonzero.max()) + 1 if len(nonzero) else 0
    return [width * (i + 0.5) for i in range(last)], [int(c) for c in counts[:last]]


@torch.no_grad()
def nearest_by_decoder(explorer: Explorer, feature: int, n: int = 10) -> list[tuple[int, float]]:
    """The `n` other features whose decoder directions have the highest cosine similarity with this one's."""
    w_dec = explorer.sae.sae.W_dec.float()
    unit = w_dec / w_dec.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    cosine = unit @ unit[feature]
    cosine[feature] = -torch.inf
    top = cosine.topk(min(n, len(cosine) - 1))
    return [(int(i), float(v)) for v, i in zip(top.values, top.indices, strict=True)]


@torch.no_grad()
def features_promoting_token(
    explorer: Explorer, token_id: int | Sequence[int], n: int = 10
) -> list[tuple[int, float]]:
    """The features whose decoder direction most raises a token's logit (W_dec @ W_U; for several, the mean)."""
    from explorer.features import decoder_in_residual_space

    ids = [token_id] if isinstance(token_id, int) else list(token_id)
    directions = decoder_in_residual_space(explorer, range(explorer.sae.d_sae))  # [F, d_model]
    logits = (directions @ explorer.model.W_U[:, ids].float()).mean(1)  # [F]
    top = logits.topk(min(n, len(logits)))
    return [(int(i), float(v)) for v, i in zip(top.values, top.indices, strict=True)]


@torch.no_grad()
def features_firing_on_token(
    explorer: Explorer, rows: torch.Tensor, token_id: int, n: int = 10, max_rows: int = 64
) -> tuple[list[tuple[int, float]], int]:
    """The features with the highest mean activation where `token_id` occurs in `rows`, and how many occurrences."""
    has_token = (rows == token_id).any(1)
    chosen = rows[has_token][:max_rows]
    if len(chosen) == 0:
        return [], 0
    acts = feature_activations(explorer, chosen)  # [R, P, F]
    at_token = acts[chosen == token_id]  # [occurrences, F]
    mean = at_token.mean(0)
    top = mean.topk(min(n, len(mean)))
    return [(int(i), float(v)) for v, i in zip(top.values, top.indices, strict=True) if v > 0], len(at_token)
