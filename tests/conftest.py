"""Shared fixtures: the demo explorer (loaded once), SAE directories in every layout, a local HF cache."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

# Tests never reach the network: huggingface_hub answers from the local cache only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_grad_enabled(True)

from explorer import bundle  # noqa: E402
from explorer.loading import Explorer, load_explorer  # noqa: E402

FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class CliResult:
    """What `python -m explorer ARGS` returned and printed."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture()
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """`python -m explorer ARGS` run in this process (same entry point, stdout and stderr captured)."""
    from explorer.__main__ import main

    def run(*args: str, env: dict[str, str] | None = None) -> CliResult:
        for name, value in {"HF_HUB_OFFLINE": "1", **(env or {})}.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session", autouse=True)
def allowed_roots_for_tests(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The app confines typed paths to allowed roots; tests write their SAEs and datasets under pytest's temp."""
    from explorer.paths import ROOTS_ENV, allowed_roots

    os.environ.pop(ROOTS_ENV, None)
    roots = [*allowed_roots(), tmp_path_factory.getbasetemp()]
    os.environ[ROOTS_ENV] = os.pathsep.join(str(r) for r in roots)
    # What users write (labels, notes, lists) goes to a store of the test session's own.
    os.environ["SAE_EXPLORER_STORE"] = str(tmp_path_factory.mktemp("store") / "explorer.sqlite3")


@pytest.fixture(scope="session")
def demo() -> Explorer:
    """The demo bundle's default model + SAE on CPU in float32, loaded once for the session."""
    return load_explorer("demo", device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def saved_sae_dir(demo: Explorer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory written by SAE-Lens' own `save_model` (the demo SAE, perturbed so it is distinct)."""
    from sae_lens import SAE

    directory = tmp_path_factory.mktemp("saved_sae")
    sae = SAE.from_dict(demo.sae.sae.cfg.to_dict())
    sae.load_state_dict({k: v.clone() for k, v in demo.sae.sae.state_dict().items()})
    with torch.no_grad():
        sae.b_enc.add_(0.01)
    sae.save_model(directory)
    return directory


def write_manual_sae(directory: Path, cfg: dict, state_dict: dict[str, torch.Tensor]) -> Path:
    """Write the manual layout: only cfg.json + sae_weights.safetensors."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cfg.json").write_text(json.dumps(cfg))
    save_file({k: v.contiguous() for k, v in state_dict.items()}, str(directory / "sae_weights.safetensors"))
    return directory


@pytest.fixture(scope="session")
def batchtopk_manual_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hand-written batchtopk SAE (training-only architecture) naming its hook as a HF module path."""
    from sae_lens import BatchTopKTrainingSAEConfig
    from sae_lens.registry import get_sae_training_class

    torch.manual_seed(0)
    sae_cls, _ = get_sae_training_class("batchtopk")
    sae = sae_cls(BatchTopKTrainingSAEConfig(d_in=128, d_sae=256, k=8))
    cfg = {
        "architecture": "batchtopk",
        "d_in": 128,
        "d_sae": 256,
        "k": 8,
        "dtype": "float32",
        "model_name": bundle.DEMO_MODEL_NAME,
        "hook_name": "model.layers.0.mlp.down_proj",
        "context_size": 128,
        "prepend_bos": True,
    }
    return write_manual_sae(tmp_path_factory.mktemp("manual") / "batchtopk", cfg, sae.state_dict())


@pytest.fixture()
def local_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local Hugging Face cache holding a small SAE for gpt2-small-res-jb:blocks.8.hook_resid_pre."""
    from huggingface_hub import constants
    from sae_lens import StandardSAEConfig
    from sae_lens.loading.pretrained_saes_directory import get_repo_id_and_folder_name
    from sae_lens.registry import get_sae_class

    repo_id, folder = get_repo_id_and_folder_name("gpt2-small-res-jb", "blocks.8.hook_resid_pre")
    repo_dir = tmp_path / "hub" / f"models--{repo_id.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(FAKE_COMMIT)
    torch.manual_seed(0)
    sae_cls, _ = get_sae_class("standard")
    sae = sae_cls(StandardSAEConfig(d_in=768, d_sae=64))
    cfg = {
        "architecture": "standard",
        "d_in": 768,
        "d_sae": 64,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "sae_lens_version": "6.0.0",
        "metadata": {"model_name": "gpt2-small", "hook_name": "blocks.8.hook_resid_pre", "context_size": 128,
                     "prepend_bos": True, "model_from_pretrained_kwargs": {"center_writing_weights": False}},
    }  # fmt: skip
    snapshot = write_manual_sae(repo_dir / "snapshots" / FAKE_COMMIT / folder, cfg, sae.state_dict())
    save_file({"sparsity": torch.full((64,), -3.0)}, str(snapshot / "sparsity.safetensors"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return tmp_path / "hub"


def plain_hook_activations(explorer: Explorer, tokens: torch.Tensor) -> torch.Tensor:
    """The hook's activations captured by a bare forward hook (no run_with_cache, no stop_at_layer)."""
    captured: dict[str, torch.Tensor] = {}

    def grab(act: torch.Tensor, hook: object) -> None:  # noqa: ARG001
        captured["x"] = act.detach().clone()

    with torch.no_grad():
        explorer.model.run_with_hooks(tokens, fwd_hooks=[(explorer.hook_name, grab)])
    return captured["x"]
