"""Feature statistics for every feature of an SAE in one streaming pass over dataset tokens.

For all d_sae features at once, with memory that does not grow with the number of tokens:
- the top-k max-activating contexts (row, position, activation), kept by a streaming top-k per feature;
- a uniform random sample (reservoir) of each feature's non-zero activations, from which examples per
  activation-quantile band are drawn;
- an exact histogram of non-zero activations on bins [0, M) that double when a larger value
  arrives (bin pairs merge), so no bin edges need to be known in advance;
- density (fraction of tokens where the feature is non-zero), mean non-zero activation and max.
Special tokens (BOS) are excluded, as everywhere in the explorer. The pass keeps all of this on the
SAE's device and copies only the final per-feature state to the host; the token and activation
windows of an example are cut when its feature is viewed, from the stored rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from explorer.activations import (
    encoded_activations,
    feature_activations,
    special_token_ids,
    special_token_mask,
)
from explorer.devices import available_memory_bytes
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
    """Per-feature kept examples, on the SAE's device while streaming: score [F, K], and for each a value, row and position."""

    score: torch.Tensor  # [F, K] (activation for top-k, a random key for the reservoir); -inf = empty
    value: torch.Tensor  # [F, K] activation
    row: torch.Tensor  # [F, K] global row index (-1 = empty)
    pos: torch.Tensor  # [F, K] position in the row

    FIELDS = ("score", "value", "row", "pos")

    @classmethod
    def empty(cls, d_sae: int, k: int, device: torch.device | str = "cpu") -> _Examples:
        return cls(
            torch.full((d_sae, k), -torch.inf, device=device), torch.zeros(d_sae, k, device=device),
            torch.full((d_sae, k), -1, dtype=torch.long, device=device),
            torch.zeros(d_sae, k, dtype=torch.long, device=device),
        )  # fmt: skip

    def merge_rows(self, features: torch.Tensor, other: _Examples) -> None:
        """In place: for each of `features` [T], keep the K best entries of self and `other` [T, K].

        Best = highest score, then (on equal scores) the earliest (row, position): the order does not
        depend on how the rows were batched or sharded, so merged partial passes equal one pass.
        """
        k = self.score.shape[1]
        both = {
            name: torch.cat([getattr(self, name)[features], getattr(other, name)], 1) for name in self.FIELDS
        }
        # Both halves are already best-first, and within one pass every kept entry comes from an earlier
        # token than the batch's: one stable sort by score gives the (score, then earliest) order.
        keep = both["score"].argsort(dim=1, descending=True, stable=True)[:, :k]  # [T, K]
        for name in self.FIELDS:
            getattr(self, name)[features] = both[name].gather(1, keep)

    def to(self, device: torch.device | str) -> _Examples:
        """The same examples on another device."""
        return _Examples(*(getattr(self, name).to(device) for name in self.FIELDS))


def _best_first(score: torch.Tensor, row: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Column order [T, N] putting each row's entries by score (highest first), ties by (row, position)."""
    place = torch.where(row < 0, torch.iinfo(torch.long).max, row * _MAX_POSITIONS + pos)
    by_place = place.argsort(dim=1, stable=True)
    by_score = score.gather(1, by_place).argsort(dim=1, descending=True, stable=True)
    return by_place.gather(1, by_score)


# splitmix64 constants, as signed 64-bit integers
_SPLITMIX = (-7046029254386353131, -4658895280553007687, -7723592293110705685)
_MAX_POSITIONS = 2**24  # positions per row, for ordering (row, position) pairs


def _logical_shift(x: torch.Tensor, bits: int) -> torch.Tensor:
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def reservoir_keys(global_token: torch.Tensor, feature: torch.Tensor, d_sae: int, seed: int) -> torch.Tensor:
    """Uniform keys in [0, 1) for (global token index, feature) entries, from a hash (splitmix64) of the pair.

    Each key depends only on the entry and the seed, never on batching or on which worker saw it: shards
    of a pass keep exactly the reservoir one pass would.
    """
    offset = (_SPLITMIX[0] * (seed + 1) + 2**63) % 2**64 - 2**63  # wrapped to a signed 64-bit integer
    z = global_token.long() * d_sae + feature.long() + offset
    z = (z ^ _logical_shift(z, 30)) * _SPLITMIX[1]
    z = (z ^ _logical_shift(z, 27)) * _SPLITMIX[2]
    z = z ^ _logical_shift(z, 31)
    return (_logical_shift(z, 40).float() + 0.5) / 2.0**24  # 24 bits: exact in float32


def _sortable_bits(x: torch.Tensor) -> torch.Tensor:
    """float32 values as int64 integers in [-2**31, 2**31) with the same order (for non-NaN values)."""
    bits = x.float().view(torch.int32).long()
    return torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)


def _batch_candidates(
    feature: torch.Tensor,
    token: torch.Tensor,
    score: torch.Tensor,
    value: torch.Tensor,
    threshold: torch.Tensor,
    k: int,
    positions: int,
    row_offset: int,
) -> tuple[torch.Tensor, _Examples]:
    """Per feature, the k best-scoring of a batch's non-zero entries that beat the feature's kept k-th score.

    feature, token, score, value: [E] one entry per non-zero (token, feature), token = row * positions
    + position within the batch; threshold: [F]. Returns the features with candidates [T] and their
    [T, k] slots (-inf = empty), so merging touches only those features. All on one device.
    """
    beats = score > threshold[feature]
    feature, token, score, value = feature[beats], token[beats], score[beats], value[beats]
    # Grouped by feature, best first within each group; ties keep the earliest token (entries come in
    # token order and the sort is stable). One sort of a combined key: feature, then descending score.
    order = (feature.long() * 2**32 + (2**31 - 1 - _sortable_bits(score))).argsort(stable=True)
    feature, token, score, value = feature[order], token[order], score[order], value[order]
    touched, slot, counts = torch.unique_consecutive(feature, return_inverse=True, return_counts=True)
    starts = counts.cumsum(0) - counts
    rank = torch.arange(len(feature), device=feature.device) - starts[slot]
    chosen = rank < k
    slot, token, score, value, rank = slot[chosen], token[chosen], score[chosen], value[chosen], rank[chosen]
    out = _Examples.empty(len(touched), k, feature.device)
    out.score[slot, rank] = score
    out.value[slot, rank] = value
    out.row[slot, rank] = token // positions + row_offset
    out.pos[slot, rank] = token % positions
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
    rows: torch.Tensor  # [n, ctx] the token rows, to cut example windows from when a feature is viewed
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def density(self) -> torch.Tensor:
        """Fraction of tokens where each feature is non-zero [F]."""
        return self.fire_counts / max(self.n_tokens, 1)

    @property
    def mean_nonzero(self) -> torch.Tensor:
        """Mean activation over the tokens where each feature fires [F]."""
        return self.act_sums / self.fire_counts.clamp(min=1)

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """Flat tensors for safetensors."""
        tensors = {
            "fire_counts": self.fire_counts, "act_sums": self.act_sums, "max_acts": self.max_acts,
            "hist_counts": self.hist_counts, "hist_max": self.hist_max, "rows": self.rows.to(torch.int32),
        }  # fmt: skip
        for prefix, examples in (("top", self.top), ("sample", self.sample)):
            for name in _Examples.FIELDS:
                tensors[f"{prefix}.{name}"] = getattr(examples, name).contiguous()
        return tensors

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> FeatureStats:
        """Inverse of `to_tensors` (with the JSON metadata written beside it)."""
        examples = {
            prefix: _Examples(*(tensors[f"{prefix}.{n}"] for n in _Examples.FIELDS))
            for prefix in ("top", "sample")
        }
        return cls(
            n_tokens=meta["n_tokens"], context_size=meta["context_size"], config=StatsConfig(**meta["config"]),
            fire_counts=tensors["fire_counts"], act_sums=tensors["act_sums"], max_acts=tensors["max_acts"],
            hist_counts=tensors["hist_counts"], hist_max=tensors["hist_max"], top=examples["top"],
            sample=examples["sample"], rows=tensors["rows"].long(), seconds=meta.get("seconds", 0.0), meta=meta,
        )  # fmt: skip


def _add_to_histogram(
    counts: torch.Tensor, upper: torch.Tensor, feature: torch.Tensor, value: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Add non-zero activations (entries: feature [E], value [E]) to per-feature histograms [F, N_BINS].

    A feature whose new maximum reaches its range's upper edge doubles the range (d times) and
    merges its bins 2**d to one, so counts stay exact without knowing the range in advance.
    Negative activations (AbsTopK) are counted by magnitude.
    """
    value = value.abs()
    batch_max = torch.zeros_like(upper).scatter_reduce(0, feature, value, reduce="amax")
    too_small = batch_max >= upper
    if bool(too_small.any()):
        doublings = torch.zeros_like(upper, dtype=torch.long)
        needed = torch.ceil(torch.log2(batch_max[too_small] / upper[too_small])).long().clamp(min=0)
        needed += (upper[too_small] * 2.0**needed <= batch_max[too_small]).long()  # exactly on an edge
        doublings[too_small] = needed
        counts, upper = _widen(counts, upper, doublings)
    bins = (value / upper[feature] * N_BINS).long().clamp(0, N_BINS - 1)
    flat = torch.bincount(feature * N_BINS + bins, minlength=counts.numel()).reshape(counts.shape)
    return counts + flat, upper


def _widen(
    counts: torch.Tensor, upper: torch.Tensor, doublings: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Double each feature's histogram range `doublings[f]` times, merging its bins 2**d to one (exact)."""
    counts, upper = counts.clone(), upper.clone()
    for d in doublings.unique().tolist():
        if d == 0:
            continue
        chosen = doublings == d
        factor = min(2**d, N_BINS)
        merged = counts[chosen].reshape(-1, N_BINS // factor, factor).sum(-1)
        counts[chosen] = torch.nn.functional.pad(merged, (0, N_BINS - N_BINS // factor))
        upper[chosen] = upper[chosen] * 2.0**d
    return counts, upper


def merge_feature_stats(parts: Sequence[FeatureStats]) -> FeatureStats:
    """Partial statistics of consecutive row shards (each computed with its `row_offset`) merged into the
    statistics of one pass over all their rows: counts, sums and max add up; histograms are widened to
    the largest range and added; top-k and reservoir keep the best entries by the same order as one pass."""
    if not parts:
        raise ValueError("Nothing to merge.")
    first = parts[0]
    if any(p.config != first.config or p.context_size != first.context_size for p in parts):
        raise ValueError("Shards of one pass must share their configuration and context size.")
    upper = torch.stack([p.hist_max for p in parts]).amax(0)
    hist = torch.zeros_like(first.hist_counts)
    for part in parts:
        doublings = torch.log2(upper / part.hist_max).round().long()
        widened, _ = _widen(part.hist_counts, part.hist_max, doublings)
        hist += widened

    def best(kind: str, k: int) -> _Examples:
        merged = _Examples(
            *(torch.cat([getattr(getattr(p, kind), n) for p in parts], 1) for n in _Examples.FIELDS)
        )
        keep = _best_first(merged.score, merged.row, merged.pos)[:, :k]
        return _Examples(*(getattr(merged, n).gather(1, keep) for n in _Examples.FIELDS))

    return FeatureStats(
        n_tokens=sum(p.n_tokens for p in parts), context_size=first.context_size, config=first.config,
        fire_counts=sum(p.fire_counts for p in parts), act_sums=sum(p.act_sums.double() for p in parts).float(),
        max_acts=torch.stack([p.max_acts for p in parts]).amax(0), hist_counts=hist, hist_max=upper,
        top=best("top", first.config.top_k), sample=best("sample", first.config.reservoir),
        rows=torch.cat([p.rows for p in parts]), seconds=max(p.seconds for p in parts),
    )  # fmt: skip


# On a CPU a batch's dense activations should stay about cache-sized: with the demo's 2,048 features, 32,768
# tokens took 0.49-0.53 s at 16 rows of 128 (16 MiB) and 0.66-0.70 s at 64 rows (64 MiB).
CPU_BATCH_ACTIVATION_BYTES = 16 * 2**20


def stats_batch_size(explorer: Explorer, context_size: int, budget_fraction: float = 0.2) -> int:
    """Rows per batch (1 to 64): a batch's dense activations [B, P, d_sae] (and copies) fit a fifth of the
    device's free memory, and on a CPU stay near `CPU_BATCH_ACTIVATION_BYTES`."""
    dense_row_bytes = context_size * explorer.sae.d_sae * 4
    rows = int(available_memory_bytes(explorer.device) * budget_fraction // (4 * dense_row_bytes))
    if explorer.device == "cpu":
        rows = min(rows, CPU_BATCH_ACTIVATION_BYTES // dense_row_bytes)
    return max(1, min(64, rows))


def default_stats_tokens(device: str) -> int:
    """Tokens for a statistics pass when none are asked for: 1 M on a GPU (rare features need them), 64 k elsewhere."""
    return 1_048_576 if device.startswith("cuda") else 65_536


@torch.no_grad()
def compute_feature_stats(
    explorer: Explorer,
    rows: torch.Tensor,
    config: StatsConfig = DEFAULT_CONFIG,
    batch_size: int | None = None,
    progress: Progress | None = None,
    row_offset: int = 0,
) -> FeatureStats:
    """One pass over `rows` [n, ctx] (model run only to the hook) computing every feature's statistics.

    `row_offset` is the index of `rows[0]` in a larger sample this pass is one shard of: examples and
    reservoir keys use global row indices, so `merge_feature_stats` of the shards equals one pass.

    Everything stays on the SAE's device: the non-zero entries of each batch update every feature's
    counts, sums, max, histogram, top-k and reservoir with batched operations, and only the final
    per-feature state is copied to the host. No dense activations are copied, and no example
    windows are cut while streaming (see `top_examples`).
    """
    batch_size = batch_size or stats_batch_size(explorer, rows.shape[1])
    d_sae, context = explorer.sae.d_sae, rows.shape[1]
    device = explorer.sae.sae.W_enc.device
    wide = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    special = special_token_ids(explorer.model.tokenizer, device)
    fire_counts = torch.zeros(d_sae, dtype=torch.long, device=device)
    act_sums = torch.zeros(d_sae, dtype=wide, device=device)
    max_acts = torch.zeros(d_sae, device=device)
    hist_counts = torch.zeros(d_sae, N_BINS, dtype=torch.long, device=device)
    hist_max = torch.full((d_sae,), 2.0**-8, device=device)  # doubles as larger activations arrive
    top = _Examples.empty(d_sae, config.top_k, device)
    sample = _Examples.empty(d_sae, config.reservoir, device)
    n_tokens = torch.zeros((), dtype=torch.long, device=device)
    start = time.perf_counter()
    for first in range(0, len(rows), batch_size):
        tokens = rows[first : first + batch_size].to(device, non_blocking=True)
        acts = encoded_activations(explorer, tokens)  # [B, P, F] on the device, in the SAE's dtype
        counted = ~torch.isin(tokens, special).reshape(-1)  # [B * P]: special tokens (BOS) are not counted
        n_tokens += counted.sum()
        flat = acts.reshape(-1, d_sae)
        index = torch.nonzero(flat.reshape(-1)).squeeze(1)  # [E]: activations are sparse
        token, feature = index // d_sae, index % d_sae
        kept = counted[token]
        token, feature = token[kept], feature[kept]
        value = flat[token, feature].float()
        fire_counts += torch.bincount(feature, minlength=d_sae)
        act_sums += torch.bincount(feature, weights=value.to(wide), minlength=d_sae)
        max_acts = max_acts.scatter_reduce(0, feature, value, reduce="amax")
        hist_counts, hist_max = _add_to_histogram(hist_counts, hist_max, feature, value)
        top.merge_rows(
            *_batch_candidates(
                feature, token, value, value, top.score[:, -1], config.top_k, context, row_offset + first
            )
        )
        keys = reservoir_keys((row_offset + first) * context + token, feature, d_sae, config.seed)
        sample.merge_rows(
            *_batch_candidates(
                feature,
                token,
                keys,
                value,
                sample.score[:, -1],
                config.reservoir,
                context,
                row_offset + first,
            )
        )
        if progress is not None:
            elapsed = time.perf_counter() - start
            done = min(first + batch_size, len(rows)) * context
            progress(done, len(rows) * context, done / max(elapsed, 1e-9))
    host = torch.device("cpu")
    return FeatureStats(
        int(n_tokens), context, config, fire_counts.float().to(host), act_sums.float().to(host),
        max_acts.to(host), hist_counts.float().to(host), hist_max.to(host), top.to(host), sample.to(host),
        rows.cpu(), seconds=time.perf_counter() - start,
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


def _feature_on_rows(
    explorer: Explorer, rows: torch.Tensor, feature: int, batch_size: int = 8
) -> torch.Tensor:
    """One feature's activations [R, P] on token rows (special tokens zeroed, as in the pass), a few rows at a time."""
    columns = []
    for first in range(0, len(rows), batch_size):
        tokens = rows[first : first + batch_size].to(explorer.sae.sae.W_enc.device)
        acts = encoded_activations(explorer, tokens)[..., feature].float()
        columns.append((acts * special_token_mask(tokens, explorer.model.tokenizer)).cpu())
    return torch.cat(columns) if columns else torch.zeros(0, rows.shape[1])


def _examples_of(
    stats: FeatureStats,
    examples: _Examples,
    feature: int,
    explorer: Explorer,
    order: torch.Tensor | None = None,
) -> list[Example]:
    """The kept examples of one feature, each with its window of tokens and activations cut from the rows."""
    valid = torch.isfinite(examples.score[feature])
    indices = (torch.nonzero(valid).flatten() if order is None else order).tolist()
    if not indices:
        return []
    window = stats.config.window
    kept_rows = examples.row[feature, indices]
    unique_rows, which = torch.unique(kept_rows, return_inverse=True)
    activations = _feature_on_rows(explorer, stats.rows[unique_rows], feature)  # [U, P]
    result = []
    for slot, i in enumerate(indices):
        row, pos = int(examples.row[feature, i]), int(examples.pos[feature, i])
        lo, hi = max(0, pos - window), min(stats.context_size, pos + window + 1)
        ids = stats.rows[row, lo:hi]
        result.append(
            Example(
                list(explorer.model.to_str_tokens(ids)),
                activations[which[slot], lo:hi].tolist(),
                float(examples.value[feature, i]),
                pos - lo,
                row,
                pos,
            )
        )
    return result


def top_examples(stats: FeatureStats, explorer: Explorer, feature: int) -> list[Example]:
    """The feature's max-activating contexts, highest first."""
    values = torch.where(torch.isfinite(stats.top.score[feature]), stats.top.value[feature], -torch.inf)
    order = values.argsort(descending=True)
    order = order[torch.isfinite(values[order])]
    return _examples_of(stats, stats.top, feature, explorer, order)


def quantile_examples(
    stats: FeatureStats, explorer: Explorer, feature: int
) -> list[tuple[str, list[Example]]]:
    """A few examples per band of the feature's non-zero activation quantiles, highest band first.

    The reservoir is a uniform sample of the feature's non-zero activations, so splitting it at its
    own quantiles gives each band the same share of the distribution.
    """
    sampled = _examples_of(stats, stats.sample, feature, explorer)
    if not sampled:
        return []
    sampled.sort(key=lambda e: e.max_activation)
    bands = stats.config.n_quantile_bands
    cuts = [band * len(sampled) // bands for band in range(bands + 1)]
    result = []
    upper = float(stats.max_acts[feature])  # the top band reaches the feature's true max, not the sample's
    for band in reversed(range(bands)):
        members = sampled[cuts[band] : cuts[band + 1]]
        if not members:
            continue
        lower = members[0].max_activation
        label = f"{100 * band // bands}–{100 * (band + 1) // bands}th percentile ({lower:.2f}–{upper:.2f})"
        step = max(1, len(members) // stats.config.per_band)
        result.append((label, members[::step][: stats.config.per_band]))
        upper = lower  # bands are contiguous: each ends where the one above starts
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
