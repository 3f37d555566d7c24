"""Every SAE layout SAE-Lens loads gives SAE-Lens' own numbers; layouts with no meaning here are refused clearly.

The folders are made with SAE-Lens itself (`tests/sae_folders.py`): its training runner (final saves
and mid-training checkpoints, hook_z, BatchTopK, Matryoshka, activation scaler, whitening), and old or
hand-written configs around its weights. The reference loads and measures with SAE-Lens only
(`tests/sae_lens_reference.py`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.__main__ import main
from explorer.activations import analyze_prompt, spliced, top_features
from explorer.data import open_dataset, token_rows
from explorer.errors import ExplorerError
from explorer.generation import GenerationSettings, compare_loss, generate_text
from explorer.loading import Explorer, load_explorer
from explorer.metrics import compute_metrics
from explorer.steering import FeatureSteer, steered
from tests.conftest import CliResult
from tests.sae_folders import SaeFolder, build_bad_folders, build_good_folders
from tests.sae_lens_reference import reference_feature_acts, reference_metrics, reference_sae

APP = str(Path(__file__).resolve().parent.parent / "app.py")
GOOD = [
    "hook_z_runner", "hook_z_reshape", "scaled_checkpoint", "batchtopk_checkpoint", "batchtopk_final",
    "whitened_jumprelu_checkpoint", "hook_z_matryoshka_checkpoint", "abstopk_final", "v3_config", "v4_topk_config",
    "hand_written_hf_hook",
]  # fmt: skip
BAD = ["nan", "inf", "extra", "missing", "d_sae_mismatch", "head_index", "transcoder"]
# What `info`'s "conversions" must say for each layout (a fragment of one entry each).
CONVERSIONS = {
    "hook_z_runner": ["hook_z reshaping"],
    "hook_z_reshape": [],
    "scaled_checkpoint": ["training checkpoint", "scaling factor"],
    "batchtopk_checkpoint": ["'batchtopk'", "scaling factor"],
    "batchtopk_final": [],
    "whitened_jumprelu_checkpoint": ["training checkpoint", "whitening folded"],
    "hook_z_matryoshka_checkpoint": ["'matryoshka_batchtopk'", "scaling factor", "hook_z reshaping"],
    "abstopk_final": [],
    "v3_config": ["SAE-Lens 3.5.0", "handle_pre_6_0_config", "hook_point -> hook_name"],
    "v4_topk_config": ["handle_pre_6_0_config", "k=16"],
    "hand_written_hf_hook": ["top level", "mapped to 'blocks.1.hook_mlp_out'"],
}
PROMPTS = ["Tom saw a red dog. It was very big.", "Once upon a time, there was a little girl named Lily."]


@pytest.fixture(scope="session")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SaeFolder]:
    """The loadable layouts, trained or written with SAE-Lens (about 15 s)."""
    return {folder.name: folder for folder in build_good_folders(tmp_path_factory.mktemp("layouts"))}


@pytest.fixture(scope="session")
def bad_layouts(
    layouts: dict[str, SaeFolder], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, str]]:
    """Folders that must be refused, each with a fragment of its one-line error."""
    return build_bad_folders(layouts, tmp_path_factory.mktemp("bad_layouts"))


@pytest.fixture(scope="session")
def rows(demo: Explorer) -> torch.Tensor:
    """Eight held-out rows of 64 tokens, as SAE-Lens' activation store cuts them."""
    return token_rows(open_dataset("demo"), demo.model.tokenizer, 64, True, 8)


def load(folder: SaeFolder) -> Explorer:
    return load_explorer(str(folder.path), device="cpu", dtype="float32")


@pytest.mark.parametrize("name", GOOD)
def test_weights_equal_sae_lens_own_loading(name: str, layouts: dict[str, SaeFolder]) -> None:
    folder = layouts[name]
    explorer = load(folder)
    reference = reference_sae(folder.path, folder.reference == "training")
    ours = explorer.sae.sae.state_dict()
    assert explorer.sae.architecture == reference.cfg.architecture()
    assert set(ours) == set(reference.state_dict())
    for tensor_name, tensor in reference.state_dict().items():
        assert torch.allclose(ours[tensor_name], tensor, rtol=1e-5, atol=1e-7), tensor_name
    assert explorer.sae.sae.cfg.normalize_activations == "none"


@pytest.mark.parametrize("name", GOOD)
def test_conversions_are_listed(name: str, layouts: dict[str, SaeFolder]) -> None:
    conversions = load(layouts[name]).info()["conversions"]
    assert bool(conversions) == bool(CONVERSIONS[name]), conversions
    for fragment in CONVERSIONS[name]:
        assert any(fragment in c for c in conversions), (fragment, conversions)


@pytest.mark.parametrize("name", GOOD)
def test_metrics_equal_sae_lens_evals(name: str, layouts: dict[str, SaeFolder], rows: torch.Tensor) -> None:
    """L0, explained variance and CE losses equal SAE-Lens' evals on the same rows."""
    folder = layouts[name]
    explorer = load(folder)
    ours = compute_metrics(explorer, rows, with_loss=True)
    reference = reference_metrics(
        reference_sae(folder.path, folder.reference == "training"), explorer.model, rows, explorer.hook_name
    )
    assert ours.l0 == pytest.approx(reference.l0, rel=1e-4)
    assert ours.explained_variance == pytest.approx(reference.explained_variance, abs=1e-4)
    assert ours.ce_loss_orig == pytest.approx(reference.ce_loss_orig, rel=1e-4)
    assert ours.ce_loss_recon == pytest.approx(reference.ce_loss_recon, rel=1e-4)
    assert ours.ce_loss_zero == pytest.approx(reference.ce_loss_zero, rel=1e-4)
    assert ours.ce_loss_recovered == pytest.approx(reference.ce_loss_recovered, abs=1e-3)
    assert 0 < ours.l0 < explorer.sae.d_sae and (ours.feature_density <= 1).all()


@pytest.mark.parametrize("name", GOOD)
def test_prompt_features_equal_sae_lens(name: str, layouts: dict[str, SaeFolder]) -> None:
    """Every token's active features and top-3 equal SAE-Lens' encoder on the same activations."""
    folder = layouts[name]
    explorer = load(folder)
    reference = reference_sae(folder.path, folder.reference == "training")
    for text in PROMPTS:
        analysis = analyze_prompt(explorer, text)
        expected = reference_feature_acts(reference, explorer.model, analysis.tokens.ids, explorer.hook_name)[
            0
        ]
        assert torch.allclose(analysis.acts, expected, rtol=1e-4, atol=1e-5)
        for position in range(len(expected)):
            ours = [f.feature for f in top_features(analysis.acts[position], 3)]
            values = expected[position].topk(3)
            assert ours == [int(i) for v, i in zip(values.values, values.indices, strict=True) if v > 0]


@pytest.mark.parametrize("name", GOOD)
def test_prompt_loss_equals_sae_lens_splice(name: str, layouts: dict[str, SaeFolder]) -> None:
    """The loss page's numbers equal SAE-Lens' own splice (HookedSAETransformer.run_with_saes)."""
    folder = layouts[name]
    explorer = load(folder)
    reference = reference_sae(folder.path, folder.reference == "training")
    reference.cfg.metadata.hook_name = explorer.hook_name
    if explorer.hook_name.endswith("hook_z"):
        reference.cfg.reshape_activations = "hook_z"
        reference.turn_on_forward_pass_hook_z_reshaping()
    loss = compare_loss(explorer, PROMPTS[0])
    with torch.no_grad():
        expected = explorer.model.run_with_saes(
            loss.tokens.ids,
            saes=[reference],
            return_type="loss",
            loss_per_token=True,
            exclude_special_tokens=True,
        )[0]
    assert loss.loss_recon == pytest.approx(expected.tolist(), rel=1e-4)


def test_batchtopk_features_do_not_depend_on_the_rest_of_the_batch(layouts: dict[str, SaeFolder]) -> None:
    """A BatchTopK checkpoint is encoded per token (as the JumpReLU SAE-Lens makes of it): appended text changes nothing before it."""
    explorer = load(layouts["batchtopk_checkpoint"])
    short = analyze_prompt(explorer, "Tom saw a red dog.")
    longer = analyze_prompt(explorer, "Tom saw a red dog. Then the sun went down and everyone went home.")
    n = len(short.tokens.strings)
    assert longer.tokens.strings[:n] == short.tokens.strings
    assert torch.allclose(longer.acts[:n], short.acts, atol=1e-5)


@pytest.mark.parametrize("name", ["hook_z_runner", "hook_z_matryoshka_checkpoint"])
def test_hook_z_clamp_moves_the_heads_by_the_decoder_direction(
    name: str, layouts: dict[str, SaeFolder]
) -> None:
    """Clamping through the error term changes z by exactly (new - old) * W_dec[f], split per head."""
    explorer = load(layouts[name])
    tokens = analyze_prompt(explorer, PROMPTS[0])
    position = 1 + int(tokens.acts[1:].max(-1).values.argmax())  # a (non-BOS) position where a feature fires
    feature = top_features(tokens.acts[position], 1)[0]
    captured: dict[str, torch.Tensor] = {}

    def grab(acts: torch.Tensor, hook: object) -> None:  # noqa: ARG001
        captured["z"] = acts.detach().clone()

    hook = (f"{explorer.hook_name}.hook_sae_output", grab)
    with torch.no_grad(), spliced(explorer, use_error_term=True, extra_hooks=[hook]) as model:
        model(tokens.tokens.ids)
    before = captured["z"]
    with torch.no_grad(), steered(explorer, [FeatureSteer(feature.feature, 10.0, "clamp")]) as model:
        model.add_hook(*hook)
        model(tokens.tokens.ids)
    after = captured["z"]
    w_dec = explorer.sae.sae.W_dec[feature.feature].reshape(before.shape[-2:])
    assert after.shape == before.shape and before.dim() == 4
    expected = before[0, position] + (10.0 - feature.activation) * w_dec
    assert torch.allclose(after[0, position], expected, atol=1e-4)


@pytest.mark.parametrize("name", ["hook_z_runner", "v3_config"])
def test_generation_without_sae_equals_transformer_lens_generate(
    name: str, layouts: dict[str, SaeFolder]
) -> None:
    """The explorer's sampling loop (token ids + KV cache) gives TransformerLens' `generate` text for the same seed."""
    explorer = load(layouts[name])
    tokens = analyze_prompt(explorer, PROMPTS[1]).tokens.ids
    settings = GenerationSettings(max_new_tokens=12, temperature=0.8, seed=3, stop_at_eos=False)
    ours = generate_text(explorer.model, tokens, settings)
    torch.manual_seed(3)
    out = explorer.model.generate(
        tokens, max_new_tokens=12, temperature=0.8, stop_at_eos=False, verbose=False
    )
    assert ours == explorer.model.tokenizer.decode(out[0, tokens.shape[1] :], skip_special_tokens=True)


# ----------------------------------------------------------------------------- every command on every layout

COMMANDS = [
    ["info"],
    ["prompt", "--text", PROMPTS[0], "--k", "3"],
    ["metrics", "--n-prompts", "4", "--context-size", "32"],
    ["generate", "--text", PROMPTS[0], "--max-new-tokens", "4", "--use-error-term", "--ablate", "1"],
    ["steer", "--text", PROMPTS[0], "--feature", "3:4", "--max-new-tokens", "4"],
    ["steer", "--text", PROMPTS[0], "--clamp", "3:4", "--ablate", "2", "--max-new-tokens", "4"],
    [
        "compare",
        "--other",
        "demo",
        "--n-prompts",
        "2",
        "--context-size",
        "32",
    ],  # matches: tests/test_compare.py
    ["stats", "--n-tokens", "512"],
    ["feature", "--id", "1", "--n-tokens", "512"],
]


def run_command(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def finite_numbers(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite_numbers(v) for v in value.values())
    if isinstance(value, list):
        return all(finite_numbers(v) for v in value)
    return True


@pytest.mark.parametrize("name", GOOD)
def test_every_command_works_on_every_layout(
    name: str, layouts: dict[str, SaeFolder], capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("SAE_EXPLORER_CACHE", str(tmp_path))
    for command in COMMANDS:
        code, out, err = run_command(
            capsys, [command[0], "--sae", str(layouts[name].path), "--device", "cpu", *command[1:]]
        )
        assert code == 0, (command, err[-500:])
        assert finite_numbers(json.loads(out)), command  # strict JSON, no NaN


@pytest.mark.parametrize("name", BAD)
def test_every_command_refuses_a_bad_layout_in_one_line(
    name: str, bad_layouts: dict[str, tuple[Path, str]], capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("SAE_EXPLORER_CACHE", str(tmp_path))
    path, fragment = bad_layouts[name]
    for command in COMMANDS:
        code, out, err = run_command(
            capsys, [command[0], "--sae", str(path), "--device", "cpu", *command[1:]]
        )
        assert code == 2 and out == "", (command, err)
        lines = err.strip().splitlines()
        assert "Traceback" not in err and lines[-1].startswith("error: ") and fragment in lines[-1], lines[-1]
    with pytest.raises(ExplorerError, match="cannot|refused|transcoder|tensor|hook_head_index"):
        load_explorer(str(path), device="cpu")


@pytest.mark.parametrize("name", ["nan", "head_index", "transcoder"])
def test_bad_layout_in_the_app_is_one_line_and_the_app_keeps_working(
    name: str, bad_layouts: dict[str, tuple[Path, str]]
) -> None:
    path, fragment = bad_layouts[name]
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["sae"] = str(path)
    at.run()
    assert not at.exception, at.exception
    message = at.sidebar.error[0].value.split("\n\n")[
        0
    ]  # the message; a hint may follow as its own paragraph
    assert fragment in message and "\n" not in message and "Traceback" not in at.sidebar.error[0].value
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/prompt.py").run()
    assert not at.exception and not at.sidebar.error


def test_hook_z_layout_in_the_app_shows_its_conversions(layouts: dict[str, SaeFolder]) -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["sae"] = str(layouts["hook_z_matryoshka_checkpoint"].path)
    at.run()
    assert not at.exception and not at.sidebar.error
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "matryoshka_batchtopk" in text and "hook_z" in text
    at.switch_page("pages/prompt.py").run()
    assert not at.exception


def test_a_cancelled_run_opens_at_its_latest_checkpoint(
    layouts: dict[str, SaeFolder], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run:ID` without a final SAE loads the run's newest checkpoint, converted as SAE-Lens' trainer would finish it."""
    import shutil

    from explorer.sae_loading import load_sae

    monkeypatch.setenv("SAE_EXPLORER_RUNS", str(tmp_path))
    checkpoint = layouts["batchtopk_checkpoint"].path  # .../checkpoints/<id>/<tokens>, as the runner wrote it
    shutil.copytree(checkpoint, tmp_path / "run-1" / "checkpoints" / "abc" / checkpoint.name)
    loaded = load_sae("run:run-1")
    assert "latest checkpoint" in loaded.conversions[0] and loaded.architecture == "jumprelu"
    reference = reference_sae(checkpoint, training_checkpoint=True)
    for tensor_name, tensor in reference.state_dict().items():
        assert torch.allclose(loaded.sae.state_dict()[tensor_name], tensor, rtol=1e-5, atol=1e-7), tensor_name


@pytest.mark.parametrize("name", ["hook_z_runner", "hook_z_matryoshka_checkpoint"])
def test_hook_z_attribution_sums_to_the_first_order_effect_and_the_cli_runs(
    name: str, layouts: dict[str, SaeFolder], run_cli: Callable[..., CliResult]
) -> None:
    """On hook_z SAEs ([pos, heads, d_head] at the hook), features + error + bias at each token equal the
    gradient . z there, measured by central differences on the plain model."""
    from explorer.attribution import attribute
    from tests.test_attribution import metric_value, scale_at

    explorer = load(layouts[name])
    result = attribute(explorer, PROMPTS[0], top=5)
    assert result.features and result.ablation is not None
    ids = result.tokens.ids
    for p in (1, result.position):
        only_p = torch.zeros(ids.shape[1], dtype=torch.bool)
        only_p[p] = True
        up, down = (
            metric_value(
                explorer,
                ids,
                result.position,
                result.target.token_id,
                [(explorer.hook_name, scale_at(only_p, factor))],
            )  # fmt: skip
            for factor in (1.01, 0.99)
        )
        assert result.total_by_position[p] == pytest.approx((up - down) / 0.02, rel=0.02, abs=2e-3)
    cli = run_cli("attribute", "--sae", str(layouts[name].path), "--text", PROMPTS[0], "--top", "3")
    assert cli.returncode == 0, cli.stderr
    assert [f["feature"] for f in json.loads(cli.stdout)["features"]] == [
        f.feature for f in result.features[:3]
    ]
