"""Match SAE features to the corpus' concept labels: each concept's best single feature.

A feature "fires" on a token when its activation is > 0. For concept c and feature f:
precision = P(token has c | f fires), recall = P(f fires | token has c); the best feature maximises F1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from sae_lens import SAE, HookedSAETransformer
from sae_lens.util import extract_stop_at_layer_from_tlens_hook_name
from transformers import PreTrainedTokenizerBase

from explorer.demo.corpus import CONCEPTS, LabeledStory, token_concept_labels


@dataclass(frozen=True)
class ConceptMatch:
    """The feature that best detects one concept, with its precision and recall on labelled tokens."""

    concept: str
    feature: int
    precision: float
    recall: float
    f1: float
    n_concept_tokens: int

    def to_dict(self) -> dict[str, float | int | str]:
        """JSON-safe form."""
        return asdict(self)


def story_tokens_and_labels(
    story: LabeledStory, tokenizer: PreTrainedTokenizerBase, max_len: int
) -> tuple[list[int], dict[str, list[bool]]]:
    """BOS + the story's tokens (cut to `max_len`) and each concept's per-token labels."""
    encoded = tokenizer(story.text, return_offsets_mapping=True, add_special_tokens=False)
    ids = [tokenizer.bos_token_id, *encoded["input_ids"]][:max_len]
    offsets = [(0, 0), *encoded["offset_mapping"]][:max_len]
    return ids, token_concept_labels(story, offsets)


@torch.no_grad()
def best_concept_features(
    model: HookedSAETransformer,
    sae: SAE,
    hook_name: str,
    tokenizer: PreTrainedTokenizerBase,
    stories: Sequence[LabeledStory],
    concepts: Sequence[str] = CONCEPTS,
    max_len: int = 128,
) -> dict[str, ConceptMatch]:
    """For each concept, the feature with the highest F1 at detecting it over `stories` (BOS excluded)."""
    device = next(sae.parameters()).device
    fires_and_label = torch.zeros(sae.cfg.d_sae, len(concepts), device=device)  # [d_sae, n_concepts]
    fire_counts = torch.zeros(sae.cfg.d_sae, device=device)
    label_counts = torch.zeros(len(concepts), device=device)
    for story in stories:
        ids, labels = story_tokens_and_labels(story, tokenizer, max_len)
        tokens = torch.tensor([ids], device=device)
        _, cache = model.run_with_cache(
            tokens,
            names_filter=[hook_name],
            stop_at_layer=extract_stop_at_layer_from_tlens_hook_name(hook_name),
        )
        fires = (sae.encode(cache[hook_name])[0, 1:] > 0).float()  # [pos-1, d_sae], BOS dropped
        label_matrix = torch.tensor(
            [labels[c][1:] for c in concepts], device=device
        ).T.float()  # [pos-1, n_c]
        fires_and_label += fires.T @ label_matrix
        fire_counts += fires.sum(0)
        label_counts += label_matrix.sum(0)
    precision = fires_and_label / fire_counts.clamp(min=1)[:, None]
    recall = fires_and_label / label_counts.clamp(min=1)[None, :]
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-9)
    matches = {}
    for i, concept in enumerate(concepts):
        best = int(f1[:, i].argmax())
        matches[concept] = ConceptMatch(
            concept,
            best,
            float(precision[best, i]),
            float(recall[best, i]),
            float(f1[best, i]),
            int(label_counts[i]),
        )
    return matches
