"""The loading layer: every source kind, the model kinds, and every error it must explain."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from explorer import bundle
from explorer.devices import resolve_device, resolve_dtype
from explorer.errors import ExplorerError
from explorer.loading import Explorer, load_explorer
from explorer.models import load_model
from explorer.sae_loading import load_sae
from tests.conftest import write_manual_sae
from tests.sae_lens_reference import reference_sae


def test_demo_default_loads_and_fits(demo: Explorer) -> None:
    info = demo.info()
    assert info["model_name"] == bundle.DEMO_MODEL_NAME
    assert info["hook_name"] in demo.model.hook_dict
    assert info["d_in"] == demo.model.cfg.d_model
    assert info["sae_path"] == str(bundle.read_manifest().sae_dir(bundle.read_manifest().default_sae))
    assert demo.sae.log_sparsity is not None and demo.sae.log_sparsity.shape == (info["d_sae"],)
    assert (demo.sae.log_sparsity <= 0).all()  # log10 of a frequency


@pytest.mark.parametrize("name", ["mlp0-standard", "resid1-topk"])
def test_each_demo_sae_loads(name: str) -> None:
    loaded = load_sae(f"demo:{name}")
    manifest_entry = json.loads((bundle.BUNDLE_DIR / "manifest.json").read_text())["saes"][name]
    assert loaded.hook_name == manifest_entry["hook_name"]
    assert loaded.architecture == manifest_entry["architecture"]


def test_two_demo_saes_differ_in_architecture() -> None:
    architectures = {load_sae(f"demo:{name}").architecture for name in bundle.read_manifest().sae_names}
    assert len(architectures) >= 2


def test_demo_model_predicts_the_corpus(demo: Explorer) -> None:
    # A trained model, not random weights: after "named" it predicts a capitalised name.
    logits = demo.model("Once upon a time, there was a little girl named")[0, -1]
    top = demo.model.tokenizer.decode(logits.argmax())
    assert top.strip()[:1].isupper(), top


def test_directory_saved_by_save_model_loads(saved_sae_dir: Path, demo: Explorer) -> None:
    explorer = load_explorer(str(saved_sae_dir), device="cpu")
    assert explorer.sae.source.kind == "path"
    assert explorer.sae.sae_path == saved_sae_dir
    assert torch.allclose(explorer.sae.sae.b_enc, demo.sae.sae.b_enc + 0.01)
    assert torch.equal(explorer.sae.sae.W_dec, demo.sae.sae.W_dec)


def test_manual_training_only_architecture_with_mapped_hook(
    batchtopk_manual_dir: Path, tmp_path: Path
) -> None:
    """A batchtopk training SAE is converted to the JumpReLU SAE-Lens saves for inference (threshold = topk_threshold)."""
    explorer = load_explorer(str(batchtopk_manual_dir), device="cpu")
    assert explorer.sae.architecture == "jumprelu"
    assert any("'batchtopk'" in c and "'jumprelu'" in c for c in explorer.info()["conversions"])
    assert explorer.hook_name == "blocks.0.hook_mlp_out"
    assert explorer.sae.hook_name_mapped_from == "model.layers.0.mlp.down_proj"
    # SAE-Lens' own conversion; SAE-Lens reads an unversioned cfg as pre-6 and then cannot find the
    # training-only architecture, so its copy is stamped as 6.x (this explorer handles that case itself).
    stamped = tmp_path / "stamped"
    shutil.copytree(batchtopk_manual_dir, stamped)
    cfg = json.loads((stamped / "cfg.json").read_text())
    (stamped / "cfg.json").write_text(json.dumps({**cfg, "sae_lens_version": "6.54.12"}))
    reference = reference_sae(stamped, training_checkpoint=True)
    for name, tensor in reference.state_dict().items():
        assert torch.allclose(explorer.sae.sae.state_dict()[name], tensor), name
    weights = load_file(str(batchtopk_manual_dir / "sae_weights.safetensors"))
    assert torch.equal(explorer.sae.sae.threshold, weights["topk_threshold"].expand(256))
    assert explorer.info()["hook_name_mapped_from"] == "model.layers.0.mlp.down_proj"


def test_run_source_loads_a_finished_runs_sae(
    saved_sae_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAE_EXPLORER_RUNS", str(tmp_path))
    shutil.copytree(saved_sae_dir, tmp_path / "run-1" / "sae")
    loaded = load_sae("run:run-1")
    assert loaded.source.kind == "run" and loaded.sae_path == tmp_path / "run-1" / "sae"
    with pytest.raises(ExplorerError, match="no finished SAE"):
        load_sae("run:run-2")


def test_pretrained_release_loads_from_local_hf_cache(local_hf_cache: Path) -> None:
    loaded = load_sae("gpt2-small-res-jb:blocks.8.hook_resid_pre")
    assert loaded.source.kind == "pretrained"
    assert loaded.d_in == 768 and loaded.d_sae == 64
    assert loaded.sae_path is not None and local_hf_cache in loaded.sae_path.parents
    assert loaded.log_sparsity is not None and torch.allclose(loaded.log_sparsity, torch.full((64,), -3.0))
    assert loaded.neuronpedia_id == "gpt2-small/8-res-jb"  # from SAE-Lens' pretrained directory


def test_pretrained_model_missing_offline_is_a_clear_error(local_hf_cache: Path) -> None:
    with pytest.raises(ExplorerError, match="unreachable and model 'gpt2-small' is not in the local cache"):
        load_explorer("gpt2-small-res-jb:blocks.8.hook_resid_pre", device="cpu")


def test_pretrained_release_offline_with_empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ExplorerError, match="Hub is unreachable") as caught:
        load_sae("gpt2-small-res-jb:blocks.8.hook_resid_pre")
    assert "demo" in str(caught.value)


@pytest.fixture(scope="module")
def local_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama causal LM saved in Hugging Face format (as a locally trained Llama-3 would be)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    directory = tmp_path_factory.mktemp("llama")
    tokenizer = AutoTokenizer.from_pretrained(str(bundle.tokenizer_dir()))
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=64, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


def test_local_hugging_face_model_directory(local_llama_dir: Path) -> None:
    """A local HF causal LM loads into TransformerLens and computes the same logits as transformers."""
    from transformers import AutoModelForCausalLM

    loaded = load_model(str(local_llama_dir), from_pretrained_kwargs={})
    assert loaded.path == local_llama_dir
    hf_model = AutoModelForCausalLM.from_pretrained(str(local_llama_dir)).eval()
    tokens = torch.tensor([[0, 5, 17, 42, 99]])
    with torch.no_grad():
        expected = hf_model(tokens).logits.log_softmax(-1)
        actual = loaded.model(tokens).log_softmax(-1)
    assert torch.allclose(actual, expected, atol=1e-4)


def test_manual_llama_style_sae_on_a_local_model(local_llama_dir: Path, tmp_path: Path) -> None:
    """The Llama-3 tutorial path: cfg.json + weights naming an HF module, on a local HF model directory."""
    from sae_lens import StandardSAEConfig
    from sae_lens.registry import get_sae_class

    sae = get_sae_class("standard")[0](StandardSAEConfig(d_in=64, d_sae=96))
    cfg = {"architecture": "standard", "d_in": 64, "d_sae": 96, "hook_name": "model.layers.1.mlp.down_proj",
           "model_name": str(local_llama_dir), "context_size": 64}  # fmt: skip
    directory = write_manual_sae(tmp_path / "llama_sae", cfg, sae.state_dict())
    explorer = load_explorer(str(directory), device="cpu")
    assert explorer.hook_name == "blocks.1.hook_mlp_out"
    assert explorer.sae.sae.cfg.metadata.hook_name == "blocks.1.hook_mlp_out"  # so SAE-Lens splices it
    assert explorer.info()["model_path"] == str(local_llama_dir)
    with explorer.model.saes(saes=[explorer.sae.sae]):
        assert "blocks.1.hook_mlp_out" in explorer.model.acts_to_saes


# ----------------------------------------------------------------------------- errors


def test_missing_path() -> None:
    with pytest.raises(ExplorerError, match="does not exist"):
        load_sae("/no/such/sae/dir")


def test_directory_without_cfg(tmp_path: Path) -> None:
    with pytest.raises(ExplorerError, match=r"has no cfg\.json"):
        load_sae(str(tmp_path))


def test_corrupt_weights(saved_sae_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(saved_sae_dir, broken)
    weights = broken / "sae_weights.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ExplorerError, match="not a valid safetensors file"):
        load_sae(str(broken))


def test_missing_weights(saved_sae_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "noweights"
    shutil.copytree(saved_sae_dir, broken)
    (broken / "sae_weights.safetensors").unlink()
    with pytest.raises(ExplorerError, match=r"has no sae_weights\.safetensors"):
        load_sae(str(broken))


def test_unreadable_cfg(tmp_path: Path) -> None:
    (tmp_path / "cfg.json").write_text("{not json")
    with pytest.raises(ExplorerError, match="not readable JSON"):
        load_sae(str(tmp_path))


def test_unknown_architecture(saved_sae_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "arch"
    shutil.copytree(saved_sae_dir, broken)
    cfg = json.loads((broken / "cfg.json").read_text())
    cfg["architecture"] = "quantum"
    (broken / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(ExplorerError, match="unknown SAE architecture 'quantum'"):
        load_sae(str(broken))


def test_missing_fields(saved_sae_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "fields"
    shutil.copytree(saved_sae_dir, broken)
    cfg = json.loads((broken / "cfg.json").read_text())
    del cfg["d_sae"]
    (broken / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(ExplorerError, match="missing required field.*d_sae"):
        load_sae(str(broken))


def test_weights_not_matching_cfg(saved_sae_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "shape"
    shutil.copytree(saved_sae_dir, broken)
    cfg = json.loads((broken / "cfg.json").read_text())
    cfg["d_sae"] = cfg["d_sae"] // 2
    (broken / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(
        ExplorerError, match=r"tensor 'W_dec' has shape \[2048, 128\], but the config .* needs \[1024, 128\]"
    ):
        load_sae(str(broken))


def _manual_sae(directory: Path, d_in: int, hook: str) -> Path:
    from sae_lens import StandardSAEConfig
    from sae_lens.registry import get_sae_class

    sae = get_sae_class("standard")[0](StandardSAEConfig(d_in=d_in, d_sae=32))
    cfg = {"architecture": "standard", "d_in": d_in, "d_sae": 32, "model_name": bundle.DEMO_MODEL_NAME,
           "hook_name": hook}  # fmt: skip
    return write_manual_sae(directory, cfg, sae.state_dict())


def test_hook_not_in_model(tmp_path: Path) -> None:
    directory = _manual_sae(tmp_path / "hook", 128, "blocks.7.hook_resid_pre")
    with pytest.raises(ExplorerError, match="'blocks.7.hook_resid_pre' is not a hook of model"):
        load_explorer(str(directory), device="cpu")


def test_d_in_does_not_match_hook(tmp_path: Path) -> None:
    directory = _manual_sae(tmp_path / "width", 512, "blocks.0.hook_resid_pre")
    with pytest.raises(ExplorerError, match="d_in is 512, but hook 'blocks.0.hook_resid_pre'.*width 128"):
        load_explorer(str(directory), device="cpu")


def test_d_in_matches_a_wider_hook(tmp_path: Path) -> None:
    directory = _manual_sae(tmp_path / "mlp", 512, "blocks.0.mlp.hook_post")
    assert load_explorer(str(directory), device="cpu").sae.d_in == 512


def test_unknown_model_name(saved_sae_dir: Path) -> None:
    with pytest.raises(ExplorerError, match="Unknown model 'not-a-model'"):
        load_explorer(str(saved_sae_dir), model="not-a-model", device="cpu")


def test_sae_without_hook(tmp_path: Path) -> None:
    directory = _manual_sae(tmp_path / "nohook", 128, "")
    with pytest.raises(ExplorerError, match="names no hook"):
        load_sae(str(directory))


def test_weights_are_never_unpickled(saved_sae_dir: Path, tmp_path: Path) -> None:
    """A pickle file next to cfg.json is ignored: only safetensors are read."""
    directory = tmp_path / "pickle"
    shutil.copytree(saved_sae_dir, directory)
    (directory / "sae_weights.safetensors").unlink()
    torch.save(load_file(str(saved_sae_dir / "sae_weights.safetensors")), directory / "sae_weights.pt")
    with pytest.raises(ExplorerError, match="has no sae_weights.safetensors"):
        load_sae(str(directory))


def test_sparsity_file_of_another_width_is_ignored(saved_sae_dir: Path, tmp_path: Path) -> None:
    directory = tmp_path / "sparsity"
    shutil.copytree(saved_sae_dir, directory)
    save_file({"sparsity": torch.zeros(3)}, str(directory / "sparsity.safetensors"))
    assert load_sae(str(directory)).log_sparsity is None


def test_device_and_dtype_resolution() -> None:
    assert resolve_device("auto") in {"cuda", "mps", "cpu"}
    assert resolve_device("cpu") == "cpu"
    assert resolve_dtype("auto", "cpu") == "float32"
    assert resolve_dtype("auto", "cuda") == "bfloat16"
    assert resolve_dtype("float16", "cpu") == "float16"
    with pytest.raises(ExplorerError, match="Unknown dtype"):
        resolve_dtype("float8", "cpu")
    with pytest.raises(ExplorerError, match="Unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ExplorerError, match="CUDA is not available"):
            resolve_device("cuda")


def test_bfloat16_load(saved_sae_dir: Path) -> None:
    explorer = load_explorer(str(saved_sae_dir), device="cpu", dtype="bfloat16")
    assert explorer.sae.sae.W_enc.dtype == torch.bfloat16
    assert next(explorer.model.parameters()).dtype == torch.bfloat16


# ----------------------------------------------------------------------------- what the hub cache really holds


def test_truncated_cached_sae_weights_say_which_file(local_hf_cache: Path) -> None:
    """A cached file that cannot be read is reported as that, with its path; not as a cache miss."""
    weights = next(local_hf_cache.rglob("sae_weights.safetensors"))
    weights.write_bytes(weights.read_bytes()[:40])
    with pytest.raises(ExplorerError) as caught:
        load_sae("gpt2-small-res-jb:blocks.8.hook_resid_pre")
    message = str(caught.value)
    assert "not in the local cache" not in message
    assert str(weights) in message and "SafetensorError" in message


def test_cached_model_config_the_library_cannot_read_is_reported_as_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached GPT-2 config.json without n_ctx: the real error (and the file), not 'not in the local cache'."""
    from huggingface_hub import constants

    from tests.conftest import FAKE_COMMIT

    repo = tmp_path / "hub" / "models--gpt2"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(FAKE_COMMIT)
    snapshot = repo / "snapshots" / FAKE_COMMIT
    snapshot.mkdir(parents=True)
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": 768, "n_layer": 12,
              "n_head": 12, "n_positions": 1024, "vocab_size": 50257}  # fmt: skip
    (snapshot / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ExplorerError) as caught:
        load_model("gpt2-small")
    message = str(caught.value)
    assert "not in the local cache" not in message
    assert "n_ctx" in message and str(snapshot / "config.json") in message and "\n" not in message


@pytest.fixture(scope="module")
def local_gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GPT-2 saved by transformers 5 (whose config.json has no n_ctx), as a researcher's fine-tune would be."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    directory = tmp_path_factory.mktemp("models") / "my-finetuned-gpt2"
    tokenizer = AutoTokenizer.from_pretrained(str(bundle.tokenizer_dir()))
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=64, n_layer=2, n_head=4,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


def test_local_gpt2_directory_written_by_transformers_5(local_gpt2_dir: Path) -> None:
    """It loads (context = n_positions), computes transformers' logits, is named after its folder, and its files stay as they were."""
    from transformers import AutoModelForCausalLM

    config_text = (local_gpt2_dir / "config.json").read_text()
    assert "n_ctx" not in json.loads(config_text)  # what transformers 5 writes
    loaded = load_model(str(local_gpt2_dir), from_pretrained_kwargs={})
    assert loaded.name == "my-finetuned-gpt2" and loaded.model.cfg.n_ctx == 64
    hf_model = AutoModelForCausalLM.from_pretrained(str(local_gpt2_dir)).eval()
    tokens = torch.tensor([[0, 5, 17, 42, 99]])
    with torch.no_grad():
        expected = hf_model(tokens).logits.log_softmax(-1)
        actual = loaded.model(tokens).log_softmax(-1)
    assert torch.allclose(actual, expected, atol=1e-4)
    assert (local_gpt2_dir / "config.json").read_text() == config_text


def test_local_model_is_named_after_its_folder(local_llama_dir: Path) -> None:
    assert load_model(str(local_llama_dir), from_pretrained_kwargs={}).name == local_llama_dir.name
