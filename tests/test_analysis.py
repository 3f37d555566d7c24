"""Prompt activations, top-k, subset logits, generation and loss: checked against plain hooks and formulas."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import torch

from explorer.activations import (
    DEFAULT_PROMPT,
    aggregate_activations,
    analyze_prompt,
    feature_maxima,
    feature_traces,
    tokenize_prompt,
    top_features,
)
from explorer.errors import ExplorerError
from explorer.features import direct_logit_effects, neuronpedia_url
from explorer.generation import GenerationSettings, check_answer, compare_loss, generate_pair
from explorer.loading import Explorer, assemble
from explorer.logits import choose_features, parse_feature_ids, subset_logit_view
from explorer.sae_loading import load_sae
from tests.conftest import plain_hook_activations


def test_prompt_analysis_matches_a_plain_hook(demo: Explorer) -> None:
    analysis = analyze_prompt(demo, DEFAULT_PROMPT)
    expected = demo.sae.sae.encode(plain_hook_activations(demo, analysis.tokens.ids))[0]
    assert torch.allclose(analysis.acts, expected, atol=1e-5)
    assert analysis.tokens.strings[0] == demo.model.tokenizer.bos_token
    assert analysis.tokens.strings[-1] == "."


def test_top_k_is_sorted_and_matches_brute_force(demo: Explorer) -> None:
    analysis = analyze_prompt(demo, DEFAULT_PROMPT)
    top = top_features(aggregate_activations(analysis, "last"), 5)
    values = analysis.acts[-1].tolist()
    brute = sorted(range(len(values)), key=lambda i: -values[i])[:5]
    assert [f.feature for f in top] == [i for i in brute if values[i] > 0]
    assert [f.activation for f in top] == sorted((f.activation for f in top), reverse=True)


def test_feature_traces_and_maxima_match_brute_force(demo: Explorer) -> None:
    analysis = analyze_prompt(demo, DEFAULT_PROMPT)
    features = [int(f) for f in analysis.acts.max(0).values.topk(3).indices] + [0]
    traces = feature_traces(analysis, features)
    maxima = feature_maxima(analysis, features)
    for feature, trace, maximum in zip(features, traces, maxima, strict=True):
        column = [float(row[feature]) for row in analysis.acts]  # every token, BOS included
        assert trace == column
        assert maximum == max(column)
    assert feature_traces(analysis, []) == [] and feature_maxima(analysis, []) == []


def test_aggregations(demo: Explorer) -> None:
    analysis = analyze_prompt(demo, DEFAULT_PROMPT)
    body = analysis.acts[1:]
    assert torch.equal(aggregate_activations(analysis, "max"), body.max(0).values)
    assert torch.allclose(aggregate_activations(analysis, "mean"), body.mean(0))
    assert torch.equal(aggregate_activations(analysis, "count"), (body > 0).sum(0).float())
    assert torch.equal(aggregate_activations(analysis, "max", ignore_bos=False), analysis.acts.max(0).values)
    assert torch.equal(aggregate_activations(analysis, "token", position=3), analysis.acts[3])
    with pytest.raises(ExplorerError, match="outside the prompt"):
        aggregate_activations(analysis, "token", position=99)


def test_active_features_at_a_token(demo: Explorer) -> None:
    analysis = analyze_prompt(demo, DEFAULT_PROMPT)
    active = analysis.active_at(2)
    assert {f.feature for f in active} == set(torch.nonzero(analysis.acts[2] > 0).flatten().tolist())


def test_empty_and_overlong_prompts(demo: Explorer) -> None:
    with pytest.raises(ExplorerError, match="prompt is empty"):
        tokenize_prompt(demo, "   ")
    long = tokenize_prompt(demo, "The cat sat. " * 400)
    assert (
        long.truncated
        and long.ids.shape[1] == demo.model.cfg.n_ctx
        and long.n_original > demo.model.cfg.n_ctx
    )


def test_prepend_bos_toggle(demo: Explorer) -> None:
    with_bos = tokenize_prompt(demo, DEFAULT_PROMPT, prepend_bos=True)
    without = tokenize_prompt(demo, DEFAULT_PROMPT, prepend_bos=False)
    assert with_bos.strings[1:] == without.strings


def test_direct_logit_effects_are_w_dec_times_w_u(demo: Explorer) -> None:
    effect = direct_logit_effects(demo, [7], n=3)[0]
    logits = demo.sae.sae.W_dec[7] @ demo.model.W_U
    assert effect.top_values == pytest.approx(logits.topk(3).values.tolist(), rel=1e-5)
    assert effect.bottom_values == pytest.approx(logits.topk(3, largest=False).values.tolist(), rel=1e-5)
    with pytest.raises(ExplorerError, match="out of range"):
        direct_logit_effects(demo, [demo.sae.d_sae])
    assert neuronpedia_url(demo, 7) is None  # the demo SAE has no Neuronpedia id


def test_subset_with_every_feature_is_the_full_reconstruction(demo: Explorer) -> None:
    view = subset_logit_view(demo, DEFAULT_PROMPT, list(range(demo.sae.d_sae)), n=5)
    assert [t.token_id for t in view.subset] == [t.token_id for t in view.full_sae]
    assert [t.probability for t in view.subset] == pytest.approx(
        [t.probability for t in view.full_sae], abs=1e-5
    )


def test_subset_matches_a_hand_spliced_reconstruction(demo: Explorer) -> None:
    analysis = analyze_prompt(demo, DEFAULT_PROMPT)
    features = choose_features(demo, "top_k", last_token_acts=analysis.acts[-1], k=3)
    view = subset_logit_view(demo, DEFAULT_PROMPT, features, n=5)
    sae = demo.sae.sae

    def only_subset(act: torch.Tensor, hook: Any) -> torch.Tensor:  # noqa: ARG001
        feats = sae.encode(act)
        keep = torch.zeros_like(feats)
        keep[..., features] = feats[..., features]
        out = keep @ sae.W_dec + sae.b_dec
        out[:, 0] = act[:, 0]  # BOS keeps its activations
        return out

    with torch.no_grad():
        logits = demo.model.run_with_hooks(analysis.tokens.ids, fwd_hooks=[(demo.hook_name, only_subset)])[
            0, -1
        ]
    expected = logits.softmax(-1).topk(5)
    assert [t.token_id for t in view.subset] == expected.indices.tolist()
    assert [t.probability for t in view.subset] == pytest.approx(expected.values.tolist(), abs=1e-5)
    base = demo.model(analysis.tokens.ids)[0, -1].softmax(-1).topk(5)
    assert [t.token_id for t in view.base] == base.indices.tolist()


def test_choose_features_modes(demo: Explorer) -> None:
    first = choose_features(demo, "random", n_random=5, seed=1)
    assert (
        first
        == choose_features(demo, "random", n_random=5, seed=1)
        != choose_features(demo, "random", n_random=5, seed=2)
    )
    assert choose_features(demo, "ids", ids=[5, 3, 5]) == [3, 5]
    with pytest.raises(ExplorerError, match="out of range"):
        choose_features(demo, "ids", ids=[10**6])
    assert parse_feature_ids("12, 3 7") == [12, 3, 7]
    with pytest.raises(ExplorerError, match="'x1' is not a feature id"):
        parse_feature_ids("1, x1")


def test_loss_comparison_by_hand(demo: Explorer) -> None:
    comparison = compare_loss(demo, DEFAULT_PROMPT)
    tokens = comparison.tokens.ids
    sae = demo.sae.sae
    with torch.no_grad():
        orig = demo.model(tokens, return_type="loss", loss_per_token=True)[0]
        recon = demo.model.run_with_hooks(
            tokens,
            return_type="loss",
            loss_per_token=True,
            fwd_hooks=[
                (demo.hook_name, lambda a, hook: torch.cat([a[:, :1], sae(a[:, 1:])], dim=1))
            ],  # BOS kept,
        )[0]
        zero = demo.model.run_with_hooks(
            tokens,
            return_type="loss",
            loss_per_token=True,
            fwd_hooks=[(demo.hook_name, lambda a, hook: a * 0)],
        )[0]
    assert comparison.loss_orig == pytest.approx(orig.tolist(), abs=1e-5)
    assert comparison.loss_recon == pytest.approx(recon.tolist(), abs=1e-5)
    expected = (zero.mean() - recon.mean()) / (zero.mean() - orig.mean())
    assert comparison.ce_loss_recovered == pytest.approx(expected.item(), abs=1e-5)
    assert comparison.ce_loss_zero > comparison.ce_loss_recon > 0


def test_generation_is_reproducible_and_error_term_is_exact(demo: Explorer) -> None:
    settings = GenerationSettings(max_new_tokens=15, temperature=1.0, seed=3)
    first = generate_pair(demo, DEFAULT_PROMPT, settings)
    assert first == generate_pair(demo, DEFAULT_PROMPT, settings)
    assert first.base != generate_pair(demo, DEFAULT_PROMPT, GenerationSettings(15, 1.0, seed=4)).base
    exact = generate_pair(demo, DEFAULT_PROMPT, settings, use_error_term=True)
    assert exact.with_sae == exact.base  # the error term makes the splice an identity
    with pytest.raises(ExplorerError, match="max new tokens"):
        generate_pair(demo, DEFAULT_PROMPT, GenerationSettings(max_new_tokens=0))


def test_answer_check_without_inference_tensor_errors(demo: Explorer) -> None:
    generate_pair(
        demo, DEFAULT_PROMPT, GenerationSettings(max_new_tokens=3)
    )  # generate runs in inference mode
    check = check_answer(demo, "Once upon a time, there was a little girl named", " Lily")
    probs = demo.model(demo.model.to_tokens("Once upon a time, there was a little girl named"))[
        0, -1
    ].softmax(-1)
    lily = demo.model.to_single_token(" Lily")
    assert check.base.probability == pytest.approx(probs[lily].item(), abs=1e-5)
    assert check.base.rank == int((probs > probs[lily]).sum())
    exact = check_answer(
        demo, "Once upon a time, there was a little girl named", " Lily", use_error_term=True
    )
    assert exact.with_sae.probability == pytest.approx(exact.base.probability, abs=1e-5)
    ablated = check_answer(demo, "Once upon a time, there was a little girl named", " Lily", use_error_term=True,
                           ablate=list(range(demo.sae.d_sae)))  # fmt: skip
    assert ablated.with_sae.probability != pytest.approx(ablated.base.probability, abs=1e-4)


def test_concurrent_splices_on_one_shared_model(demo: Explorer) -> None:
    """Threads splicing two different SAEs into the same model object each get their own correct answer."""
    other = assemble_other(demo)
    assert other.model is demo.model
    prompts = [DEFAULT_PROMPT, "Tom saw a big red ball in the park.", '"Can I play?" asked Mia.']
    expected = {
        (name, p): compare_loss(e, p).loss_recon for name, e in (("a", demo), ("b", other)) for p in prompts
    }
    expected_views = {p: subset_logit_view(other, p, [1, 2, 3]).subset for p in prompts}
    results: dict[tuple[str, str], list[float]] = {}
    views: dict[str, Any] = {}
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for round_ in range(3):
                prompt = prompts[(index + round_) % len(prompts)]
                name, explorer = ("a", demo) if index % 2 else ("b", other)
                results[(name, prompt)] = compare_loss(explorer, prompt).loss_recon
                if index % 3 == 0:
                    views[prompt] = subset_logit_view(other, prompt, [1, 2, 3]).subset
                generate_pair(explorer, prompt, GenerationSettings(max_new_tokens=3))
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for key, losses in results.items():
        assert losses == pytest.approx(expected[key], abs=1e-5), key
    for prompt, view in views.items():
        assert [t.token_id for t in view] == [t.token_id for t in expected_views[prompt]]
    assert not demo.model.acts_to_saes  # nothing left spliced


def assemble_other(demo: Explorer) -> Explorer:
    """The second demo SAE on the very same model object, as the app's cache pairs them."""
    from explorer.bundle import read_manifest
    from explorer.models import LoadedModel

    name = next(n for n in read_manifest().sae_names if n != demo.sae.source.name)
    return assemble(
        LoadedModel(demo.model, demo.model_name, demo.model_path), load_sae(f"demo:{name}"), "cpu", "float32"
    )


def test_token_strings_are_transformer_lens_own(demo: Explorer) -> None:
    from explorer.activations import token_strings

    text = 'Lily said, "Look, 3 red ducks!" 🦆 and laughed.'
    ids = demo.model.to_tokens(text)[0]
    assert token_strings(demo.model.tokenizer, ids) == demo.model.to_str_tokens(ids)
