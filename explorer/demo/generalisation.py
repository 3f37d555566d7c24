"""The demo's generalisation check: hand-written stories the corpus code never produced.

Reads the stories file (stories separated by lines holding only ``---``; ``#`` lines are comments)
and measures, on those stories, the demo model's loss, the share of their words the corpus never
uses, and each SAE's explained variance and CE loss recovered when spliced in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from sae_lens import SAE, HookedSAETransformer

from explorer.paths import PROJECT_ROOT

HANDWRITTEN_STORIES = PROJECT_ROOT / "tests" / "data" / "handwritten_stories.txt"
_WORD = re.compile(r"[a-z]+")


def read_stories(path: Path = HANDWRITTEN_STORIES) -> list[str]:
    """The stories of a hand-written stories file, in order."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return [s.strip() for s in re.split(r"^---$", "\n".join(lines), flags=re.M) if s.strip()]


def words(text: str) -> list[str]:
    """Lower-case words of `text` (letters only, so "don't" is "don" and "t")."""
    return _WORD.findall(text.lower())


def unseen_word_share(stories: Sequence[str], corpus: Iterable[str]) -> tuple[float, list[str]]:
    """The share of the stories' word occurrences that never occur in `corpus`, and those words."""
    known = {w for text in corpus for w in words(text)}
    occurrences = [w for s in stories for w in words(s)]
    unseen = [w for w in occurrences if w not in known]
    return len(unseen) / max(1, len(occurrences)), sorted(set(unseen))


def story_tokens(model: HookedSAETransformer, story: str, max_len: int) -> torch.Tensor:
    """BOS + the story's tokens, cut to `max_len`: [1, pos]."""
    return model.to_tokens(story, prepend_bos=True)[:, :max_len]


@torch.no_grad()
def model_loss(model: HookedSAETransformer, stories: Sequence[str], max_len: int = 256) -> float:
    """Mean next-token loss (nats per token) over all predicted tokens of all stories."""
    total, count = 0.0, 0
    for story in stories:
        per_token = model(story_tokens(model, story, max_len), return_type="loss", loss_per_token=True)
        total += per_token.sum().item()
        count += per_token.numel()
    return total / count


@dataclass(frozen=True)
class SpliceQuality:
    """An SAE spliced into the model on some stories (BOS excluded from splicing and statistics)."""

    explained_variance: float
    ce_loss_recovered: float
    loss_clean: float
    loss_spliced: float
    loss_zero_ablated: float

    def to_dict(self) -> dict[str, float]:
        """JSON-safe form, rounded."""
        return {k: round(v, 4) for k, v in asdict(self).items()}


@torch.no_grad()
def splice_quality(
    model: HookedSAETransformer, sae: SAE, hook_name: str, stories: Sequence[str], max_len: int = 128
) -> SpliceQuality:
    """Explained variance and CE loss recovered of `sae` at `hook_name`, story by story, BOS excluded."""
    sq_err = 0.0
    acts: list[torch.Tensor] = []
    clean = spliced = zero = 0.0
    n_tokens = 0

    def splice(act: torch.Tensor, hook: object) -> torch.Tensor:
        return torch.cat([act[:, :1], sae(act[:, 1:])], dim=1)

    def ablate(act: torch.Tensor, hook: object) -> torch.Tensor:
        return torch.cat([act[:, :1], torch.zeros_like(act[:, 1:])], dim=1)

    for story in stories:
        tokens = story_tokens(model, story, max_len)
        _, cache = model.run_with_cache(tokens, names_filter=[hook_name])
        x = cache[hook_name][0, 1:]  # [pos-1, d_in]
        sq_err += (sae.decode(sae.encode(x)) - x).pow(2).sum().item()
        acts.append(x)
        n = tokens.shape[1] - 1
        clean += model(tokens, return_type="loss").item() * n
        spliced += (
            model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(hook_name, splice)]).item() * n
        )
        zero += model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(hook_name, ablate)]).item() * n
        n_tokens += n
    stacked = torch.cat(acts)
    explained = 1 - sq_err / (stacked - stacked.mean(0)).pow(2).sum().item()
    clean, spliced, zero = clean / n_tokens, spliced / n_tokens, zero / n_tokens
    return SpliceQuality(explained, (zero - spliced) / (zero - clean), clean, spliced, zero)
