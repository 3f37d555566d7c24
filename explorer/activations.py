"""Prompt tokenization, hook activations and SAE feature activations, with every hooked call serialised.

All forward passes that attach hooks or SAEs to the shared model go through `explorer.lock` (see
`explorer.loading.model_lock`): the cached model is shared by every browser session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from sae_lens import HookedSAETransformer
from sae_lens.util import extract_stop_at_layer_from_tlens_hook_name

from explorer.errors import ExplorerError, out_of_memory_as_error
from explorer.loading import Explorer

Hook = tuple[str, Callable[..., Any]]
DEFAULT_PROMPT = "Once upon a time, there was a little girl named Lily."


@dataclass(frozen=True)
class PromptTokens:
    """A tokenized prompt: its text, ids [1, pos], their strings, and whether it was cut to the context."""

    text: str
    ids: torch.Tensor  # [1, pos]
    strings: list[str]
    prepend_bos: bool
    n_original: int  # tokens before truncation

    @property
    def truncated(self) -> bool:
        """True when the prompt was longer than the model's context and was cut."""
        return self.n_original > len(self.strings)


def default_prepend_bos(explorer: Explorer) -> bool:
    """Whether to prepend BOS: the SAE metadata's `prepend_bos`, else the model's default."""
    value = explorer.sae.metadata.prepend_bos
    return bool(explorer.model.cfg.default_prepend_bos if value is None else value)


def tokenize_prompt(explorer: Explorer, text: str, prepend_bos: bool | None = None) -> PromptTokens:
    """Tokenize `text` for the model, truncated to its context length; empty prompts are an error."""
    if not text or not text.strip():
        raise ExplorerError("The prompt is empty.", hint="Type some text to analyse.")
    prepend_bos = default_prepend_bos(explorer) if prepend_bos is None else prepend_bos
    ids = explorer.model.to_tokens(text, prepend_bos=prepend_bos, truncate=False)
    n_original = ids.shape[1]
    ids = ids[:, : explorer.model.cfg.n_ctx]
    return PromptTokens(text, ids, token_strings(explorer.model.tokenizer, ids[0]), prepend_bos, n_original)


_VOCABULARY_STRINGS: dict[int, list[str]] = {}  # id(tokenizer) -> each token id's string


def token_strings(tokenizer: Any, ids: torch.Tensor) -> list[str]:
    """Each token's own string, as `model.to_str_tokens` gives it, looked up in a per-tokenizer table."""
    table = _VOCABULARY_STRINGS.get(id(tokenizer))
    if table is None:  # built once per tokenizer: decoding tokens one by one on every prompt is slow
        table = tokenizer.batch_decode(
            [[i] for i in range(len(tokenizer))], clean_up_tokenization_spaces=False
        )
        _VOCABULARY_STRINGS[id(tokenizer)] = table
    return [table[i] for i in ids.tolist()]


@torch.no_grad()
def hook_activations(explorer: Explorer, tokens: torch.Tensor) -> torch.Tensor:
    """Activations at the SAE's hook for `tokens` [batch, pos] -> [batch, pos, d_in] (model run only to the hook).

    For hook_z SAEs this is `[batch, pos, n_heads, d_head]`, which the SAE's encoder flattens itself.
    """
    hook = explorer.hook_name
    with out_of_memory_as_error("running the model to the hook"), explorer.lock:
        _, cache = explorer.model.run_with_cache(
            tokens, names_filter=[hook], stop_at_layer=extract_stop_at_layer_from_tlens_hook_name(hook)
        )
    return cache[hook]


def flat_acts(acts: torch.Tensor, sae: Any) -> torch.Tensor:
    """Hook activations (or their reconstruction) in the SAE's input space `[..., d_in]`.

    hook_z SAEs read `[..., n_heads, d_head]` and flatten it themselves; everything else is already flat.
    """
    return acts.flatten(-2) if sae.cfg.reshape_activations == "hook_z" else acts


@torch.no_grad()
def encoded_activations(explorer: Explorer, tokens: torch.Tensor) -> torch.Tensor:
    """SAE feature activations for `tokens` [batch, pos] -> [batch, pos, d_sae], left on the SAE's device and dtype."""
    acts = hook_activations(explorer, tokens)
    with out_of_memory_as_error("encoding with the SAE"):
        return explorer.sae.sae.encode(acts)


def feature_activations(explorer: Explorer, tokens: torch.Tensor) -> torch.Tensor:
    """SAE feature activations for `tokens` [batch, pos] -> [batch, pos, d_sae] (float32, on CPU)."""
    return encoded_activations(explorer, tokens).float().cpu()


@contextmanager
def spliced(
    explorer: Explorer, use_error_term: bool = False, extra_hooks: Sequence[Hook] = ()
) -> Iterator[HookedSAETransformer]:
    """Hold the model's lock with the SAE spliced in at its hook (and `extra_hooks` added); undo on exit.

    The SAE is bypassed at special tokens (BOS, EOS, PAD), as SAE-Lens' evals do: it was not trained
    on them, and BOS activations are outliers that would otherwise dominate the loss change.
    """
    model = explorer.model
    with (
        explorer.lock,
        model.saes(saes=[explorer.sae.sae], use_error_term=use_error_term, exclude_special_tokens=True),
    ):
        if explorer.hook_name not in model.acts_to_saes:
            raise ExplorerError(f"The SAE could not be attached at '{explorer.hook_name}'.")
        with (
            model.hooks(fwd_hooks=list(extra_hooks)),
            out_of_memory_as_error("running the model with the SAE"),
        ):
            yield model


@contextmanager
def hooked(explorer: Explorer, fwd_hooks: Sequence[Hook] = ()) -> Iterator[HookedSAETransformer]:
    """Hold the model's lock with `fwd_hooks` added (no SAE spliced); remove them on exit."""
    with (
        explorer.lock,
        explorer.model.hooks(fwd_hooks=list(fwd_hooks)),
        out_of_memory_as_error("running the model"),
    ):
        yield explorer.model


def special_token_ids(tokenizer: Any, device: torch.device | str = "cpu") -> torch.Tensor:
    """The tokenizer's special token ids (BOS, EOS, PAD, ...) as a tensor on `device`."""
    return torch.tensor(sorted(set(tokenizer.all_special_ids)), device=device)


def special_token_mask(tokens: torch.Tensor, tokenizer: Any) -> torch.Tensor:
    """True where a token is not special (BOS, EOS, PAD, ...): the positions the SAE is applied to."""
    return ~torch.isin(tokens, special_token_ids(tokenizer, tokens.device))


# ----------------------------------------------------------------------------- prompt analysis


@dataclass(frozen=True)
class FeatureActivation:
    """One feature's value at a position (or aggregated over positions)."""

    feature: int
    activation: float

    def to_dict(self) -> dict[str, float | int]:
        """JSON-safe form."""
        return {"feature": self.feature, "activation": self.activation}


@dataclass(frozen=True)
class PromptAnalysis:
    """A prompt's tokens and every feature's activation at every token."""

    tokens: PromptTokens
    acts: torch.Tensor  # [pos, d_sae]

    def active_at(self, position: int) -> list[FeatureActivation]:
        """Every feature active (!= 0) at `position`, highest first."""
        row = self.acts[position]
        idx = torch.nonzero(row != 0).flatten()
        order = idx[row[idx].argsort(descending=True)]
        return [FeatureActivation(int(i), float(row[i])) for i in order]


AggregateMode = Literal["last", "token", "max", "mean", "count"]


def analyze_prompt(explorer: Explorer, text: str, prepend_bos: bool | None = None) -> PromptAnalysis:
    """Tokenize `text` and compute every SAE feature's activation at every token."""
    tokens = tokenize_prompt(explorer, text, prepend_bos)
    return PromptAnalysis(tokens, feature_activations(explorer, tokens.ids)[0])


def aggregate_activations(
    analysis: PromptAnalysis,
    mode: AggregateMode = "last",
    position: int | None = None,
    ignore_bos: bool = True,
) -> torch.Tensor:
    """One value per feature [d_sae]: at the last or a chosen token, or the max/mean/firing count over the prompt."""
    acts = analysis.acts
    if mode == "last":
        return acts[-1]
    if mode == "token":
        if position is None or not -len(acts) <= position < len(acts):
            raise ExplorerError(f"Token position {position} is outside the prompt (0..{len(acts) - 1}).")
        return acts[position]
    if ignore_bos and analysis.tokens.prepend_bos and len(acts) > 1:
        acts = acts[1:]
    if mode == "max":
        return acts.max(0).values
    if mode == "mean":
        return acts.mean(0)
    if mode == "count":
        return (acts != 0).sum(0).float()
    raise ExplorerError(f"Unknown aggregation '{mode}'.", hint="Use last, token, max, mean or count.")


def top_features(values: torch.Tensor, k: int) -> list[FeatureActivation]:
    """The `k` features with the highest value (only those > 0), highest first."""
    if k <= 0:
        raise ExplorerError(f"k must be positive, got {k}.")
    top = values.topk(min(k, len(values)))
    return [
        FeatureActivation(int(i), float(v)) for v, i in zip(top.values, top.indices, strict=True) if v > 0
    ]


def feature_traces(analysis: PromptAnalysis, features: Sequence[int]) -> list[list[float]]:
    """Each feature's activation on every token of the analysed prompt: [n_features][pos]."""
    return analysis.acts[:, list(features)].T.tolist() if features else []


def feature_maxima(analysis: PromptAnalysis, features: Sequence[int]) -> list[float]:
    """Each of `features`' highest activation over every token of the analysed prompt (BOS included)."""
    maxima = aggregate_activations(analysis, "max", ignore_bos=False)
    return maxima[list(features)].tolist() if features else []
