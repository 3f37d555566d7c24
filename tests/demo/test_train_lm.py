"""The demo build's training: the fused forward against TransformerLens', the moving average, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformer_lens import HookedTransformer

from explorer.demo.build import normalise_json_files
from explorer.demo.train_lm import LMTrainingConfig, fast_logits, model_config, train_language_model


@pytest.fixture(scope="module")
def demo_shaped_model() -> HookedTransformer:
    """A random-weight model of the demo's architecture (small vocabulary), with non-zero biases."""
    cfg = model_config(LMTrainingConfig(n_ctx=32), d_vocab=97, model_name="demo-shaped")
    torch.manual_seed(3)
    model = HookedTransformer(cfg)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("b_Q", "b_K", "b_V", "b_O", "b_in", "b_out", "b_U", ".b")):
                param.normal_(0, 0.1)
            if name.endswith(".w"):
                param.uniform_(0.5, 1.5)
    return model


def test_fast_logits_equal_transformer_lens_logits_and_gradients(
    demo_shaped_model: HookedTransformer,
) -> None:
    model = demo_shaped_model
    tokens = torch.randint(0, model.cfg.d_vocab, (3, 32), generator=torch.Generator().manual_seed(0))
    expected = model(tokens)  # [batch, pos, d_vocab]
    actual = fast_logits(model, tokens)
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, atol=2e-5, rtol=1e-5)

    def grads(logits: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten())
        params = dict(model.named_parameters())
        return dict(
            zip(params, torch.autograd.grad(loss, list(params.values()), allow_unused=True), strict=True)
        )

    reference, fused = grads(model(tokens)), grads(fast_logits(model, tokens))
    for name, grad in reference.items():
        if grad is None:  # TransformerLens leaves no parameter unused in this architecture
            assert fused[name] is None, name
            continue
        torch.testing.assert_close(fused[name], grad, atol=2e-5, rtol=1e-4, msg=name)


def test_fast_logits_refuse_other_architectures() -> None:
    cfg = model_config(LMTrainingConfig(n_ctx=8, n_layers=1), d_vocab=11, model_name="rotary")
    cfg.positional_embedding_type = "rotary"
    cfg.rotary_dim = cfg.d_head
    model = HookedTransformer(cfg)
    with pytest.raises(ValueError, match="demo architecture"):
        fast_logits(model, torch.zeros((1, 4), dtype=torch.long))


def test_training_ends_with_the_moving_average_of_the_weights() -> None:
    """With `ema_decay`, the model ends with avg_t = d * avg_(t-1) + (1 - d) * w_t (avg_1 = w_1), computed
    here by hand from a plain run that records each step's weights."""
    rows = torch.randint(0, 23, (6, 12), generator=torch.Generator().manual_seed(1))
    decay = 0.6

    def fresh(ema: float | None) -> tuple[HookedTransformer, LMTrainingConfig]:
        cfg = LMTrainingConfig(n_ctx=12, n_layers=1, warmup_steps=1, ema_decay=ema)
        torch.manual_seed(0)
        return HookedTransformer(model_config(cfg, d_vocab=23, model_name="ema")), cfg

    plain, cfg = fresh(None)
    weights: list[dict[str, torch.Tensor]] = []
    step = torch.optim.AdamW.step

    def recording_step(self: torch.optim.AdamW, *args: object, **kwargs: object) -> object:
        result = step(self, *args, **kwargs)
        weights.append({k: v.detach().clone() for k, v in plain.named_parameters()})
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.optim.AdamW, "step", recording_step)
        train_language_model(plain, rows, cfg)
    assert len(weights) == 3
    expected = dict(weights[0])
    for later in weights[1:]:
        expected = {k: decay * v + (1 - decay) * later[k] for k, v in expected.items()}
    averaged, cfg = fresh(decay)
    train_language_model(averaged, rows, cfg)
    params = dict(averaged.named_parameters())
    for name, param in params.items():
        torch.testing.assert_close(param, expected[name], msg=name)
    last = weights[-1]["embed.W_E"]
    assert not torch.equal(params["embed.W_E"], last)  # not simply the last step's weights


def test_two_trainings_from_the_same_seed_end_bitwise_equal() -> None:
    """The demo build is reproducible: same rows and seed give the same weights to the last bit. Without
    deterministic algorithms, 34 of 42 tensors differ at this size on a 2-core CPU."""
    cfg = LMTrainingConfig(n_ctx=128, warmup_steps=5)
    rows = torch.randint(0, 512, (40, 128), generator=torch.Generator().manual_seed(2))

    def trained() -> dict[str, torch.Tensor]:
        torch.manual_seed(1)
        model = HookedTransformer(model_config(cfg, d_vocab=512, model_name="twice"))
        train_language_model(model, rows, cfg)
        return model.state_dict()

    first, second = trained(), trained()
    assert not torch.are_deterministic_algorithms_enabled()  # the caller's setting is restored
    different = [name for name in first if not torch.equal(first[name], second[name])]
    assert different == []


def test_normalised_json_keeps_the_content_sorts_keys_and_relativises_paths(tmp_path: Path) -> None:
    """SAE-Lens' cfg.json lists some keys in set order (it changes with PYTHONHASHSEED) and runner_cfg.json
    holds the absolute output folder; the build sorts the keys and writes that folder relative to the bundle."""
    bundle_root = tmp_path / "bundle"
    folder = bundle_root / "saes" / "x"
    folder.mkdir(parents=True)
    content = {"k": 32, "d_in": 128, "metadata": {"z": 1, "a": [3, 1]}, "b": None, "note": "/not/under/root"}
    (folder / "cfg.json").write_text(json.dumps({**content, "output_path": str(folder)}))
    (folder / "other.txt").write_text('{"z": 1, "a": 2}')
    normalise_json_files(folder, bundle_root)
    text = (folder / "cfg.json").read_text()
    assert json.loads(text) == {**content, "output_path": "saes/x"}
    assert [line.split('"')[1] for line in text.splitlines() if line.startswith('  "')] == [
        "b", "d_in", "k", "metadata", "note", "output_path",
    ]  # fmt: skip
    assert text.index('"a"') < text.index('"z"')  # nested keys too
    assert (folder / "other.txt").read_text() == '{"z": 1, "a": 2}'  # JSON files only
