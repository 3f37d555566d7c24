"""Feature-subset logit view: decode only chosen features, splice that in, and read the next-token distribution."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from explorer.activations import PromptTokens, hooked, special_token_mask, spliced, tokenize_prompt
from explorer.errors import ExplorerError
from explorer.features import check_feature_ids
from explorer.loading import Explorer

SubsetMode = Literal["top_k", "random", "ids"]


@dataclass(frozen=True)
class TokenProbability:
    """A candidate next token with its probability."""

    token: str
    token_id: int
    probability: float


@dataclass(frozen=True)
class LogitView:
    """Next-token distributions at one position: base model, full SAE reconstruction, chosen features only."""

    tokens: PromptTokens
    position: int
    features: list[int]
    base: list[TokenProbability]
    full_sae: list[TokenProbability]
    subset: list[TokenProbability]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""

        def rows(dist: list[TokenProbability]) -> list[dict[str, Any]]:
            return [{"token": t.token, "token_id": t.token_id, "probability": t.probability} for t in dist]

        return {
            "tokens": self.tokens.strings,
            "position": self.position,
            "features": self.features,
            "base": rows(self.base),
            "full_sae": rows(self.full_sae),
            "subset": rows(self.subset),
        }


def choose_features(
    explorer: Explorer,
    mode: SubsetMode,
    *,
    last_token_acts: torch.Tensor | None = None,
    k: int = 10,
    n_random: int = 10,
    seed: int = 0,
    ids: Sequence[int] = (),
) -> list[int]:
    """The feature subset: the prompt's top-k at the position, N random ids with a seed, or typed ids."""
    if mode == "top_k":
        if last_token_acts is None:
            raise ExplorerError("Top-k features need the prompt's activations.")
        top = last_token_acts.topk(min(k, len(last_token_acts)))
        return [int(i) for v, i in zip(top.values, top.indices, strict=True) if v > 0]
    if mode == "random":
        generator = torch.Generator().manual_seed(seed)
        n = min(n_random, explorer.sae.d_sae)
        return sorted(torch.randperm(explorer.sae.d_sae, generator=generator)[:n].tolist())
    if mode == "ids":
        if not ids:
            raise ExplorerError("No feature ids given.", hint="Type ids separated by commas, e.g. 12, 345.")
        return sorted(set(check_feature_ids(explorer, ids)))
    raise ExplorerError(f"Unknown subset mode '{mode}'.")


def parse_feature_ids(text: str) -> list[int]:
    """Parse '12, 345 7' into [12, 345, 7]; a clear error for anything that is not an integer."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        return [int(p) for p in parts]
    except ValueError:
        bad = next(p for p in parts if not p.lstrip("-").isdigit())
        raise ExplorerError(f"'{bad}' is not a feature id (a whole number).") from None


def _distribution(logits: torch.Tensor, model: Any, n: int) -> list[TokenProbability]:
    probs = logits.float().softmax(-1)
    top = probs.topk(n)
    strings = model.to_str_tokens(top.indices)
    return [
        TokenProbability(s, int(i), float(p))
        for s, i, p in zip(strings, top.indices, top.values, strict=True)
    ]


@torch.no_grad()
def subset_logit_view(
    explorer: Explorer,
    text: str,
    features: Sequence[int],
    position: int = -1,
    prepend_bos: bool | None = None,
    n: int = 10,
) -> LogitView:
    """Next-token distributions at `position` for the base model, the full SAE and the chosen features only.

    The subset reconstruction is decode(f * mask) (the decoder bias included), spliced in place of
    the hook's activations at every token but special ones, as the full reconstruction is.
    """
    features = check_feature_ids(explorer, features)
    tokens = tokenize_prompt(explorer, text, prepend_bos)
    sae = explorer.sae.sae
    mask = torch.zeros(explorer.sae.d_sae, dtype=torch.bool, device=sae.W_dec.device)
    mask[features] = True

    keep = special_token_mask(tokens.ids, explorer.model.tokenizer)[..., None]  # [1, pos, 1]

    def keep_subset(acts: torch.Tensor, hook: Any) -> torch.Tensor:  # noqa: ARG001
        feats = sae.encode(acts)
        return torch.where(keep, sae.decode(feats * mask).to(acts.dtype), acts)

    with hooked(explorer) as model:
        base = model(tokens.ids)[0, position]
    with spliced(explorer) as model:
        full = model(tokens.ids)[0, position]
    with hooked(explorer, [(explorer.hook_name, keep_subset)]) as model:
        subset = model(tokens.ids)[0, position]
    model = explorer.model
    resolved_position = position % tokens.ids.shape[1]
    return LogitView(
        tokens, resolved_position, features, _distribution(base, model, n), _distribution(full, model, n),
        _distribution(subset, model, n),
    )  # fmt: skip
