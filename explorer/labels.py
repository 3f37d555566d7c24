"""Feature labels: the SAE's identity in the store, automatic labels from the statistics, Neuronpedia imports.

An automatic label needs no LLM: "fires on: red, blue, green · promotes: ball, kite", from the tokens
a feature's max-activating examples sit on (most frequent first) and the tokens its decoder direction
promotes most (W_dec @ W_U). They are stored as kind "auto", so a user's own label wins.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from explorer.activations import token_strings
from explorer.errors import ExplorerError
from explorer.feature_stats import FeatureStats
from explorer.features import decoder_in_residual_space
from explorer.loading import Explorer
from explorer.stats_cache import sae_weights_hash
from explorer.store import Label, SaeIdentity, count_labels, labels_for, set_labels

AUTO_TOKENS = 3  # tokens named in each half of an automatic label
LOGIT_CHUNK = 4096  # features per W_dec @ W_U block


def sae_identity(explorer: Explorer) -> SaeIdentity:
    """The loaded SAE as the store knows it: its weights hash, source, model, hook and width."""
    return SaeIdentity(
        sae_weights_hash(explorer), explorer.sae.source.text, explorer.model_name, explorer.hook_name,
        explorer.sae.d_sae,
    )  # fmt: skip


def shown_token(token: str) -> str:
    """A token as a label names it: trimmed, with whitespace-only tokens written as ↵ or ·."""
    text = token.strip()
    if text:
        return text
    return "↵" if "\n" in token else "·"


def _distinct(tokens: list[str], n: int) -> list[str]:
    seen: list[str] = []
    for token in tokens:
        shown = shown_token(token)
        if shown.lower() not in (s.lower() for s in seen):
            seen.append(shown)
        if len(seen) == n:
            break
    return seen


def vocabulary_strings(explorer: Explorer) -> list[str]:
    """Every token id's string, as the prompt pages show tokens."""
    tokenizer = explorer.model.tokenizer
    return token_strings(tokenizer, torch.arange(len(tokenizer)))


def firing_tokens(explorer: Explorer, stats: FeatureStats, n: int = AUTO_TOKENS) -> dict[int, list[str]]:
    """For each live feature, the distinct tokens its max-activating examples sit on, most frequent first."""
    top = stats.top
    valid = torch.isfinite(top.score)  # [F, k]
    ids = stats.rows[top.row.clamp(min=0).long(), top.pos.clamp(min=0).long()]  # [F, k]
    strings = vocabulary_strings(explorer)
    result: dict[int, list[str]] = {}
    for feature in torch.nonzero(valid.any(-1)).flatten().tolist():
        kept = valid[feature]
        counts = Counter(ids[feature][kept].tolist())
        best_value: dict[int, float] = {}
        for token, value in zip(ids[feature][kept].tolist(), top.value[feature][kept].tolist(), strict=True):
            best_value[token] = max(value, best_value.get(token, float("-inf")))
        ranked = sorted(counts, key=lambda t: (-counts[t], -best_value[t]))
        result[feature] = _distinct([strings[t] for t in ranked], n)
    return result


@torch.no_grad()
def promoted_tokens(
    explorer: Explorer, features: Sequence[int], n: int = AUTO_TOKENS
) -> dict[int, list[str]]:
    """For each feature, the distinct tokens its decoder direction promotes most (W_dec @ W_U); {} when the
    hook has no direct path to the logits."""
    result: dict[int, list[str]] = {}
    w_u = explorer.model.W_U.float()
    strings = vocabulary_strings(explorer)
    features = list(features)
    for first in range(0, len(features), LOGIT_CHUNK):
        chunk = features[first : first + LOGIT_CHUNK]
        try:
            logits = decoder_in_residual_space(explorer, chunk) @ w_u  # [chunk, d_vocab]
        except ExplorerError:
            return {}
        top = logits.topk(min(4 * n, logits.shape[-1]), dim=-1).indices.tolist()
        for feature, ids in zip(chunk, top, strict=True):
            result[feature] = _distinct([strings[i] for i in ids if i < len(strings)], n)
    return result


def automatic_labels(explorer: Explorer, stats: FeatureStats) -> dict[int, str]:
    """A one-line label for every feature that fired in the statistics pass."""
    fires = firing_tokens(explorer, stats)
    promotes = promoted_tokens(explorer, sorted(fires))
    labels = {}
    for feature, tokens in fires.items():
        text = "fires on: " + ", ".join(tokens)
        if promotes.get(feature):
            text += " · promotes: " + ", ".join(promotes[feature])
        labels[feature] = text
    return labels


def ensure_automatic_labels(explorer: Explorer, stats: FeatureStats, refresh: bool = False) -> int:
    """Store automatic labels for every live feature unless they are there (or with `refresh`, e.g. after a
    new statistics pass); returns how many were written."""
    identity = sae_identity(explorer)
    if not refresh and count_labels(identity, "auto") > 0:
        return 0
    return set_labels(identity, automatic_labels(explorer, stats).items(), "auto", replace=True)


def parse_neuronpedia_export(data: Any) -> list[tuple[int, str]]:
    """(feature, description) pairs from Neuronpedia's explanation export: a list of objects with an `index`
    (or `feature`) and a `description` (or `explanation`), possibly under an `explanations` key."""
    if isinstance(data, dict):
        data = data.get("explanations", data.get("features"))
    if not isinstance(data, list):
        raise ExplorerError("This is not a Neuronpedia explanation export (expected a list of explanations).")
    pairs = []
    for item in data:
        if not isinstance(item, dict):
            raise ExplorerError("Each explanation must be an object with an index and a description.")
        index = item.get("index", item.get("feature"))
        text = item.get("description", item.get("explanation"))
        try:
            feature = int(index)  # Neuronpedia writes indices as strings
        except (TypeError, ValueError):
            raise ExplorerError(f"An explanation has no feature index: {json.dumps(item)[:120]}") from None
        if isinstance(text, str) and text.strip():
            pairs.append((feature, text))
    return pairs


def import_neuronpedia(explorer: Explorer, path: str | Path) -> int:
    """Import a Neuronpedia explanation export (JSON file) as labels of kind "imported"; returns the count."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ExplorerError(f"Cannot read {path}: {error.strerror}.") from None
    return import_neuronpedia_text(explorer, text, str(path))


def import_neuronpedia_text(explorer: Explorer, text: str, name: str = "The file") -> int:
    """Import a Neuronpedia explanation export given as JSON text (e.g. an upload); returns the count."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ExplorerError(f"{name} is not JSON: {error.msg} (line {error.lineno}).") from None
    pairs = parse_neuronpedia_export(data)
    d_sae = explorer.sae.d_sae
    outside = [f for f, _ in pairs if not 0 <= f < d_sae]
    if outside:
        raise ExplorerError(
            f"{len(outside)} explanations name features outside this SAE (0–{d_sae - 1}), e.g. {outside[0]}.",
            hint="Check that the export is for the SAE loaded in the sidebar.",
        )
    return set_labels(sae_identity(explorer), pairs, "imported")


def label_map(explorer: Explorer, features: Sequence[int]) -> dict[int, Label]:
    """The winning label of each of `features` that has one."""
    return labels_for(sae_identity(explorer), features)
