"""Steering: the concept test on the demo bundle, exactness of clamp/ablate through the error term, parsing, CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from explorer.demo.corpus import LEXICON
from explorer.errors import ExplorerError
from explorer.feature_stats import features_promoting_token
from explorer.generation import GenerationSettings
from explorer.loading import Explorer, load_explorer
from explorer.steering import FeatureSteer, format_steers, parse_steer, parse_steers, steer_generate, steered
from tests.conftest import CliResult

ROOT = Path(__file__).resolve().parent.parent
COLOURS = set(LEXICON["colour"])
PROMPT = "Once upon a time, there was a little boy named Tom. One day, Tom went to the park with his mom."


def colour_words(text: str) -> int:
    return sum(word in COLOURS for word in re.findall(r"[a-z]+", text.lower()))


@pytest.fixture(scope="module")
def resid() -> Explorer:
    return load_explorer("demo:resid1-topk", device="cpu", dtype="float32")


def colour_features(explorer: Explorer, n: int = 5) -> list[int]:
    """The `n` features whose decoder directions most promote the colour words (the explorer's own search).

    Several: in the rebuilt demo the colour direction is shared by a few near-tied features. Over six
    seeds at strength 15 (baseline 5 colour words), the top 3 raised colour words to 44 on `resid1-topk`
    but only to 11 on the layer-0 `mlp0-standard`, whose output reaches the logits through layer 1; the
    top 5 raise them to 92 and 28."""
    ids = [explorer.model.to_single_token(" " + colour) for colour in sorted(COLOURS)]
    return [feature for feature, _ in features_promoting_token(explorer, ids, n=n)]


@pytest.mark.parametrize("source", ["demo:resid1-topk", "demo:mlp0-standard"])
def test_steering_a_colour_feature_raises_colour_words_over_seeds(
    source: str, demo: Explorer, resid: Explorer
) -> None:
    explorer = resid if source == "demo:resid1-topk" else demo
    features = colour_features(explorer)
    baseline = steered_count = 0
    for seed in range(6):
        result = steer_generate(
            explorer,
            PROMPT,
            [FeatureSteer(feature, 15.0) for feature in features],
            GenerationSettings(40, 0.8, seed, stop_at_eos=False),
        )
        baseline += colour_words(result.default)
        steered_count += colour_words(result.steered)
    # Stories about a trip to the park rarely name colours; steering should make them common.
    assert steered_count >= max(3 * baseline, baseline + 15), (baseline, steered_count)


def test_same_seed_and_zero_strength_give_the_default_text(demo: Explorer) -> None:
    settings = GenerationSettings(20, 0.8, 3)
    result = steer_generate(demo, PROMPT, [FeatureSteer(5, 0.0)], settings)
    assert result.steered == result.default
    again = steer_generate(demo, PROMPT, [FeatureSteer(5, 0.0)], settings)
    assert again.default == result.default


@torch.no_grad()
def test_ablate_changes_the_hook_output_by_exactly_that_features_decoder_term(demo: Explorer) -> None:
    tokens = demo.model.to_tokens(PROMPT)
    hook = demo.hook_name
    _, clean = demo.model.run_with_cache(tokens, names_filter=[hook])
    acts = demo.sae.sae.encode(clean[hook])  # [1, pos, d_sae]
    feature = int(acts[0, 1:].sum(0).argmax())  # fires somewhere after BOS
    with steered(demo, [FeatureSteer(feature, mode="ablate")]) as model:
        _, cache = model.run_with_cache(tokens, names_filter=[f"{hook}.hook_sae_output"])
    out = cache[f"{hook}.hook_sae_output"]
    expected = clean[hook] - acts[..., feature, None] * demo.sae.sae.W_dec[feature]
    # BOS is excluded from splicing, so it keeps its original activation.
    torch.testing.assert_close(out[0, 1:], expected[0, 1:], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out[0, 0], clean[hook][0, 0])


@torch.no_grad()
def test_clamp_sets_the_feature_and_add_shifts_by_the_decoder_row(demo: Explorer) -> None:
    tokens = demo.model.to_tokens(PROMPT)
    hook = demo.hook_name
    _, clean = demo.model.run_with_cache(tokens, names_filter=[hook])
    acts = demo.sae.sae.encode(clean[hook])
    with steered(demo, [FeatureSteer(7, 2.5, "clamp")]) as model:
        _, cache = model.run_with_cache(tokens, names_filter=[f"{hook}.hook_sae_output"])
    expected = clean[hook] + (2.5 - acts[..., 7, None]) * demo.sae.sae.W_dec[7]
    torch.testing.assert_close(cache[f"{hook}.hook_sae_output"][0, 1:], expected[0, 1:], atol=1e-4, rtol=1e-4)
    with steered(demo, [FeatureSteer(7, 3.0)]) as model:
        _, cache = model.run_with_cache(tokens, names_filter=[hook])
    torch.testing.assert_close(cache[hook], clean[hook] + 3.0 * demo.sae.sae.W_dec[7])


def test_parse_and_format_round_trip() -> None:
    steers = [FeatureSteer(12, 8.0), FeatureSteer(3, 1.5, "clamp"), FeatureSteer(9, 0.0, "ablate")]
    assert format_steers(steers) == "12:8,3=1.5,9!"
    assert parse_steers(format_steers(steers)) == steers
    assert parse_steer("714:-4") == FeatureSteer(714, -4.0)
    for bad in ("abc:1", "12", "12:x"):
        with pytest.raises(ExplorerError, match="FEATURE:STRENGTH"):
            parse_steer(bad)


def test_bad_steering_input_is_a_clear_error(demo: Explorer) -> None:
    with pytest.raises(ExplorerError, match="out of range"):
        steer_generate(demo, PROMPT, [FeatureSteer(10**6, 1.0)])
    with pytest.raises(ExplorerError, match="at least one feature"):
        steer_generate(demo, PROMPT, [])
    with pytest.raises(ExplorerError, match="prompt is empty"):
        steer_generate(demo, "  ", [FeatureSteer(1, 1.0)])


def test_cli_steer_prints_both_texts(run_cli: Callable[..., CliResult]) -> None:
    out = run_cli("steer", "--sae", "demo", "--text", PROMPT, "--feature", "12:8", "--feature", "40:-2", "--ablate",
                  "7", "--max-new-tokens", "10", "--device", "cpu")  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["prompt"] == PROMPT and result["default"] and result["steered"]
    assert [s["feature"] for s in result["steers"]] == [12, 40, 7]
    assert result["steers"][2]["mode"] == "ablate"
    bad = run_cli("steer", "--sae", "demo", "--text", "hi", "--feature", "12")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stdout == ""
    assert "error: '12' has no value." in bad.stderr
