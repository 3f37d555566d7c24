"""The committed demo bundle meets its quality bars, re-measured here by brute force on held-out text.

Independent of SAE-Lens' evals (which produced quality.json): plain forward hooks and the notebook
formulas, on a different sample.
"""

from __future__ import annotations

import json

import datasets
import pytest
import torch

from explorer import bundle
from explorer.demo.concepts import story_tokens_and_labels
from explorer.demo.corpus import LabeledStory
from explorer.demo.generalisation import read_stories
from explorer.models import load_model
from explorer.sae_loading import load_sae

N_STORIES = 120
QUALITY = json.loads((bundle.BUNDLE_DIR / "quality.json").read_text())


@pytest.fixture(scope="module")
def model():
    return load_model(bundle.DEMO_MODEL_NAME).model


@pytest.fixture(scope="module")
def heldout() -> list[LabeledStory]:
    rows = datasets.Dataset.from_parquet(str(bundle.dataset_path()))
    rows = rows.select(range(len(rows) - N_STORIES, len(rows)))  # the end: quality.json used the start
    return [
        LabeledStory(r["text"], {k: [tuple(s) for s in v] for k, v in json.loads(r["spans"]).items()})
        for r in rows
    ]


def _token_rows(model, heldout: list[LabeledStory]) -> list[torch.Tensor]:  # noqa: ANN001
    return [torch.tensor([story_tokens_and_labels(s, model.tokenizer, 128)[0]]) for s in heldout]


@torch.no_grad()
def test_language_model_heldout_loss(model, heldout) -> None:  # noqa: ANN001
    losses = [model(tokens, return_type="loss").item() for tokens in _token_rows(model, heldout)]
    mean = sum(losses) / len(losses)
    assert mean < 3.0, mean  # a uniform guess over the vocabulary would be ln(3072) ~ 8.0
    assert mean == pytest.approx(QUALITY["language_model"]["heldout_loss"], abs=0.25)


@pytest.mark.parametrize("name", [s for s in bundle.read_manifest().sae_names])
@torch.no_grad()
def test_sae_quality_bars(name: str, model, heldout) -> None:  # noqa: ANN001
    loaded = load_sae(f"demo:{name}")
    sae, hook = loaded.sae, loaded.hook_name
    sq_err, acts_all, l0s = 0.0, [], []
    ce_orig, ce_recon, ce_zero = 0.0, 0.0, 0.0
    for tokens in _token_rows(model, heldout):
        _, cache = model.run_with_cache(tokens, names_filter=[hook])
        x = cache[hook][0, 1:]  # [pos-1, d_in], BOS excluded
        feats = sae.encode(x)
        sq_err += (sae.decode(feats) - x).pow(2).sum().item()
        acts_all.append(x)
        l0s.append((feats > 0).sum(-1).float())
        splice = lambda act, hook, sae=sae: torch.cat([act[:, :1], sae(act[:, 1:])], dim=1)  # noqa: E731, ARG005
        zero = lambda act, hook: torch.cat([act[:, :1], torch.zeros_like(act[:, 1:])], dim=1)  # noqa: E731, ARG005
        ce_orig += model(tokens, return_type="loss").item()
        ce_recon += model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(hook, splice)]).item()
        ce_zero += model.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(hook, zero)]).item()
    acts = torch.cat(acts_all)
    explained_variance = 1 - sq_err / (acts - acts.mean(0)).pow(2).sum().item()
    ce_recovered = (ce_zero - ce_recon) / (ce_zero - ce_orig)
    mean_l0 = torch.cat(l0s).mean().item()
    assert explained_variance >= 0.8, explained_variance
    assert ce_recovered >= 0.8, ce_recovered
    reported = QUALITY["saes"][name]
    assert explained_variance == pytest.approx(reported["explained_variance"], abs=0.05)
    assert mean_l0 == pytest.approx(reported["mean_l0"], rel=0.25)
    assert 1 <= mean_l0 <= loaded.d_sae / 20


@pytest.mark.parametrize("name", [s for s in bundle.read_manifest().sae_names])
def test_concept_features_are_meaningful(name: str, model, heldout) -> None:  # noqa: ANN001
    """For at least three concepts, the reported best feature detects the concept on unseen stories.

    Counted token by token: F1 >= 0.45 and precision >= 20x the concept's base rate (a random
    feature scores about the base rate), or >= 0.5 for concepts so frequent (names, pronouns: 4-6% of
    tokens) that 20x their base rate would exceed 1. The layer-0 features split categories into per-word
    features, so a single feature rarely covers a whole category; see the README's table.
    """
    loaded = load_sae(f"demo:{name}")
    concepts = QUALITY["saes"][name]["concepts"]
    counts = {concept: torch.zeros(3, dtype=torch.long) for concept in concepts}  # true pos, fired, labelled
    total = 0
    for story in heldout:
        ids, labels = story_tokens_and_labels(story, model.tokenizer, 128)
        with torch.no_grad():
            _, cache = model.run_with_cache(torch.tensor([ids]), names_filter=[loaded.hook_name])
            acts = loaded.sae.encode(cache[loaded.hook_name])[0, 1:]  # [pos, d_sae], BOS excluded
        total += acts.shape[0]
        for concept, match in concepts.items():
            fires = acts[:, match["feature"]] > 0
            labelled = torch.tensor(labels[concept][1:], dtype=torch.bool)
            counts[concept] += torch.stack([(fires & labelled).sum(), fires.sum(), labelled.sum()])
    good = []
    for concept, (true_pos, fired, labelled) in ((c, n.tolist()) for c, n in counts.items()):
        precision, recall = true_pos / max(fired, 1), true_pos / max(labelled, 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        if f1 >= 0.45 and precision >= min(20 * labelled / total, 0.5):
            good.append(concept)
    assert len(good) >= 3, good


@torch.no_grad()
def test_hand_written_stories(model) -> None:  # noqa: ANN001
    """Stories written by hand, not by the corpus code: the model predicts them, and both SAEs keep that.

    Loss at most 3.5 nats per token, issue 13's goal (a uniform guess is ln 3072 ~ 8.0; the 8-shape demo
    scored 7.84, the grammar corpus 4.83, the first corpus with hand-written tales 3.64); each SAE spliced
    in (BOS kept) recovers 0.8-1.0 of the CE loss that zero-ablating its hook loses. Computed here with
    plain hooks, compared with quality.json.
    """
    stories = read_stories()
    rows = [model.to_tokens(story)[:, :128] for story in stories]  # BOS + story, as quality.json
    weights = [r.shape[1] - 1 for r in rows]
    total = sum(weights)

    def mean_loss(hooks: list) -> float:  # noqa: ANN001
        losses = [model.run_with_hooks(r, return_type="loss", fwd_hooks=hooks).item() for r in rows]
        return sum(loss * w for loss, w in zip(losses, weights, strict=True)) / total

    clean = mean_loss([])
    full_length = [
        model(model.to_tokens(story), return_type="loss", loss_per_token=True) for story in stories
    ]
    full_loss = torch.cat([x.flatten() for x in full_length]).mean().item()
    assert full_loss <= 3.5, full_loss
    reported = QUALITY["handwritten_stories"]
    assert full_loss == pytest.approx(reported["model_loss"], abs=1e-3)
    for name in bundle.read_manifest().sae_names:
        loaded = load_sae(f"demo:{name}")
        sae = loaded.sae
        splice = lambda act, hook, sae=sae: torch.cat([act[:, :1], sae(act[:, 1:])], dim=1)  # noqa: E731, ARG005
        zero = lambda act, hook: torch.cat([act[:, :1], torch.zeros_like(act[:, 1:])], dim=1)  # noqa: E731, ARG005
        spliced, ablated = mean_loss([(loaded.hook_name, splice)]), mean_loss([(loaded.hook_name, zero)])
        recovered = (ablated - spliced) / (ablated - clean)
        assert 0.8 <= recovered <= 1.0, (name, recovered)
        assert recovered == pytest.approx(reported["saes"][name]["ce_loss_recovered"], abs=1e-3)
