"""Generation and next-token loss with and without the SAE spliced in, and a data-returning answer check.

Formulas (stated in the UI next to each number):
- CE loss recovered = (zero - recon) / (zero - orig), where zero is the loss with the hook's
  activations replaced by zeros (zero ablation), recon with the SAE reconstruction spliced in and
  orig the model alone. 1 means the SAE preserves the loss; 0 means it is no better than ablation.
- Per-token losses are next-token cross-entropies; position t predicts token t + 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from explorer.activations import PromptTokens, hooked, spliced, tokenize_prompt
from explorer.errors import ExplorerError
from explorer.features import check_feature_ids
from explorer.loading import Explorer


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings; the same seed gives the same text."""

    max_new_tokens: int = 40
    temperature: float = 0.8
    seed: int = 0
    stop_at_eos: bool = True

    def check(self) -> None:
        """Raise `ExplorerError` for settings the model cannot use."""
        if not 1 <= self.max_new_tokens <= 1024:
            raise ExplorerError(f"max new tokens must be between 1 and 1024, got {self.max_new_tokens}.")
        if self.temperature < 0:
            raise ExplorerError(f"temperature must be >= 0, got {self.temperature}.")


@dataclass(frozen=True)
class GenerationPair:
    """The same prompt continued by the model alone and with the SAE spliced in, from the same seed."""

    prompt: str
    base: str
    with_sae: str
    settings: GenerationSettings
    use_error_term: bool
    ablated_features: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)


def set_features_hook(assignments: dict[int, float]) -> Any:
    """A hook for `{hook}.hook_sae_acts_post` that sets the given features' activations to the given values."""
    features, values = list(assignments), list(assignments.values())

    def set_features(acts: torch.Tensor, hook: Any) -> torch.Tensor:  # noqa: ARG001
        acts[..., features] = torch.tensor(values, dtype=acts.dtype, device=acts.device)
        return acts

    return set_features


def ablation_hooks(explorer: Explorer, features: Sequence[int]) -> list[tuple[str, Any]]:
    """Hooks that zero the given features' activations inside the spliced SAE."""
    features = check_feature_ids(explorer, features)
    if not features:
        return []
    return [(f"{explorer.hook_name}.hook_sae_acts_post", set_features_hook(dict.fromkeys(features, 0.0)))]


@torch.no_grad()
def generate_text(model: Any, tokens: torch.Tensor, settings: GenerationSettings) -> str:
    """Sample a continuation of `tokens` [1, pos] with `settings`, seeded; returns only the new text.

    Each step feeds token ids to the model, with TransformerLens' key-value cache. (`model.generate`
    feeds embeddings instead, so a spliced SAE's special-token mask would be computed on floats:
    wrong positions in general, and a crash for hook_z SAEs.)
    """
    from transformer_lens import TransformerLensKeyValueCache
    from transformer_lens.utils import sample_logits

    torch.manual_seed(settings.seed)
    cache = TransformerLensKeyValueCache.init_cache(model.cfg, model.cfg.device, tokens.shape[0])
    eos = model.tokenizer.eos_token_id
    n_new = min(settings.max_new_tokens, model.cfg.n_ctx - tokens.shape[1])
    generated: list[int] = []
    logits = model(tokens, past_kv_cache=cache)[:, -1]
    for step in range(n_new):
        if settings.temperature > 0:
            next_token = sample_logits(logits.float(), temperature=settings.temperature)
        else:
            next_token = logits.argmax(-1)
        generated.append(int(next_token[0]))
        if settings.stop_at_eos and eos is not None and generated[-1] == eos:
            break
        if step + 1 < n_new:
            logits = model(next_token[:, None], past_kv_cache=cache)[:, -1]
    return model.tokenizer.decode(generated, skip_special_tokens=True)


def generate_pair(
    explorer: Explorer,
    text: str,
    settings: GenerationSettings = GenerationSettings(),
    use_error_term: bool = False,
    ablate: Sequence[int] = (),
) -> GenerationPair:
    """Continue `text` with the model alone and with the SAE spliced in (optionally ablating features)."""
    settings.check()
    tokens = tokenize_prompt(explorer, text).ids
    with hooked(explorer) as model:
        base = generate_text(model, tokens, settings)
    with spliced(explorer, use_error_term, ablation_hooks(explorer, ablate)) as model:
        with_sae = generate_text(model, tokens, settings)
    return GenerationPair(text, base, with_sae, settings, use_error_term, list(ablate))


@dataclass(frozen=True)
class LossComparison:
    """Next-token losses on a prompt: original, with the SAE, with the hook zero-ablated."""

    tokens: PromptTokens
    loss_orig: list[float]  # per predicted token, [pos - 1]
    loss_recon: list[float]
    loss_zero: list[float]

    @property
    def ce_loss_orig(self) -> float:
        """Mean loss of the model alone."""
        return sum(self.loss_orig) / len(self.loss_orig)

    @property
    def ce_loss_recon(self) -> float:
        """Mean loss with the SAE reconstruction spliced in."""
        return sum(self.loss_recon) / len(self.loss_recon)

    @property
    def ce_loss_zero(self) -> float:
        """Mean loss with the hook's activations replaced by zeros."""
        return sum(self.loss_zero) / len(self.loss_zero)

    @property
    def ce_loss_recovered(self) -> float | None:
        """(zero - recon) / (zero - orig); None when ablating the hook does not change the loss."""
        denominator = self.ce_loss_zero - self.ce_loss_orig
        return None if abs(denominator) < 1e-9 else (self.ce_loss_zero - self.ce_loss_recon) / denominator

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "tokens": self.tokens.strings,
            "ce_loss_orig": self.ce_loss_orig,
            "ce_loss_recon": self.ce_loss_recon,
            "ce_loss_zero": self.ce_loss_zero,
            "ce_loss_recovered": self.ce_loss_recovered,
            "loss_orig": self.loss_orig,
            "loss_recon": self.loss_recon,
            "loss_zero": self.loss_zero,
        }


def zero_ablation_hook(acts: torch.Tensor, hook: Any) -> torch.Tensor:  # noqa: ARG001
    """Replace a hook's activations with zeros."""
    return torch.zeros_like(acts)


@torch.no_grad()
def compare_loss(explorer: Explorer, text: str, prepend_bos: bool | None = None) -> LossComparison:
    """Per-token next-token loss of the model, with the SAE spliced in, and with the hook zero-ablated."""
    tokens = tokenize_prompt(explorer, text, prepend_bos)
    if tokens.ids.shape[1] < 2:
        raise ExplorerError("The prompt needs at least two tokens to measure a next-token loss.")
    kwargs = {"return_type": "loss", "loss_per_token": True}
    with hooked(explorer) as model:
        orig = model(tokens.ids, **kwargs)[0]
    with spliced(explorer) as model:
        recon = model(tokens.ids, **kwargs)[0]
    with hooked(explorer, [(explorer.hook_name, zero_ablation_hook)]) as model:
        zero = model(tokens.ids, **kwargs)[0]
    return LossComparison(tokens, orig.tolist(), recon.tolist(), zero.tolist())


@dataclass(frozen=True)
class AnswerRanking:
    """Where the answer's first token stands in one next-token distribution."""

    probability: float
    rank: int  # 0 = the most likely token
    top_tokens: list[str]
    top_probabilities: list[float]


@dataclass(frozen=True)
class AnswerCheck:
    """TransformerLens' `test_prompt`, as data: the answer's probability and rank with and without the SAE."""

    prompt: str
    answer: str
    answer_tokens: list[str]
    base: AnswerRanking
    with_sae: AnswerRanking

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)


def _ranking(logits: torch.Tensor, answer_id: int, model: Any, n: int) -> AnswerRanking:
    probs = logits.float().softmax(-1)
    rank = int((probs > probs[answer_id]).sum())
    top = probs.topk(n)
    return AnswerRanking(
        float(probs[answer_id]), rank, list(model.to_str_tokens(top.indices)), top.values.tolist()
    )


@torch.no_grad()
def check_answer(
    explorer: Explorer,
    prompt: str,
    answer: str,
    use_error_term: bool = False,
    ablate: Sequence[int] = (),
    prepend_bos: bool | None = None,
    n: int = 10,
) -> AnswerCheck:
    """Probability and rank of the answer's first token after `prompt`, base model vs SAE spliced in."""
    if not answer.strip():
        raise ExplorerError("The answer is empty.")
    tokens = tokenize_prompt(explorer, prompt, prepend_bos)
    answer_ids = explorer.model.to_tokens(answer, prepend_bos=False)[0]
    answer_id = int(answer_ids[0])
    with hooked(explorer) as model:
        base_logits = model(tokens.ids)[0, -1].clone()
    with spliced(explorer, use_error_term, ablation_hooks(explorer, ablate)) as model:
        sae_logits = model(tokens.ids)[0, -1].clone()
    return AnswerCheck(
        prompt,
        answer,
        list(explorer.model.to_str_tokens(answer_ids)),
        _ranking(base_logits, answer_id, explorer.model, n),
        _ranking(sae_logits, answer_id, explorer.model, n),
    )
