"""Load the language model an SAE belongs to: the demo model, a local model folder, or a TransformerLens name.

Local folders are either a TransformerLens model saved by this project (config JSON + safetensors +
tokenizer) or a Hugging Face causal-LM folder, converted by TransformerLens' own loading functions.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sae_lens import HookedSAETransformer
from safetensors import SafetensorError
from safetensors.torch import load_file

from explorer import bundle
from explorer.devices import DTYPES
from explorer.errors import ExplorerError, out_of_memory_as_error
from explorer.hub import describe_error, hub_errors
from explorer.paths import check_path_allowed
from explorer.sae_loading import LOAD_COUNTS

HOOKED_CONFIG_FILE = "hooked_transformer_config.json"  # a TransformerLens model saved by this project
MODEL_WEIGHTS_FILE = "model.safetensors"
HF_CONFIG_FILE = "config.json"
NO_PROCESSING_FLAGS = ("fold_ln", "center_writing_weights", "center_unembed")
log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A HookedSAETransformer and where it came from."""

    model: HookedSAETransformer
    name: str
    path: Path | None  # local directory, when it was loaded from one


def read_safetensors(path: Path, device: str) -> dict[str, Any]:
    """A safetensors file's tensors, or a one-line error when it is missing or unreadable."""
    if not path.is_file():
        raise ExplorerError(f"'{path.parent}' has no {path.name}.")
    try:
        return load_file(str(path), device=device)
    except (SafetensorError, OSError, ValueError) as error:
        raise ExplorerError(
            f"{path} is not a valid safetensors file (truncated or corrupt?): {error}."
        ) from None


def _load_hooked_dir(directory: Path, device: str, dtype: str) -> HookedSAETransformer:
    """Load a TransformerLens model saved by this project (config JSON + safetensors + HF tokenizer)."""
    from transformer_lens import HookedTransformerConfig
    from transformers import AutoTokenizer

    cfg_dict = json.loads((directory / HOOKED_CONFIG_FILE).read_text())
    cfg_dict.update(device=device, dtype=DTYPES[dtype])
    cfg = HookedTransformerConfig(**cfg_dict)
    tokenizer_dir = directory / "tokenizer" if (directory / "tokenizer").is_dir() else bundle.tokenizer_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    model = HookedSAETransformer(cfg, tokenizer=tokenizer)
    model.load_state_dict(read_safetensors(directory / MODEL_WEIGHTS_FILE, device), strict=True)
    return model.to(device, print_details=False).to(DTYPES[dtype], print_details=False).eval()


def neutral_view(directory: Path, view: Path) -> Path:
    """A view of a Hugging Face model folder under a neutral name, with the config TransformerLens needs.

    TransformerLens picks some architectures from the folder's *name* ("llama" in the path -> Llama,
    and then never reads config.json), so it reads the folder through links in `view`. Its GPT-2
    conversion reads `n_ctx`, which transformers 5 no longer writes: the view's config.json then gets
    `n_ctx = n_positions`. The user's files are never changed.
    """
    view.mkdir(parents=True, exist_ok=True)
    for item in directory.iterdir():
        if item.name != HF_CONFIG_FILE:
            (view / item.name).symlink_to(item.resolve(), target_is_directory=item.is_dir())
    config = json.loads((directory / HF_CONFIG_FILE).read_text())
    if config.get("model_type") == "gpt2" and "n_ctx" not in config and "n_positions" in config:
        config["n_ctx"] = config["n_positions"]
    (view / HF_CONFIG_FILE).write_text(json.dumps(config))
    return view


def _load_hf_dir(directory: Path, device: str, dtype: str, kwargs: dict[str, Any]) -> HookedSAETransformer:
    """Load a local Hugging Face causal-LM directory into TransformerLens."""
    from transformer_lens import loading_from_pretrained as tl_loading
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        hf_model = AutoModelForCausalLM.from_pretrained(
            str(directory), dtype=DTYPES[dtype], use_safetensors=True
        )
        tokenizer = AutoTokenizer.from_pretrained(str(directory))
        with tempfile.TemporaryDirectory(prefix="local-model-") as neutral:
            view = neutral_view(directory, Path(neutral) / "model")
            cfg = tl_loading.get_pretrained_model_config(str(view), device=device, dtype=DTYPES[dtype])
            state_dict = tl_loading.get_pretrained_state_dict(str(view), cfg, hf_model=hf_model)
    except (
        OSError,
        ValueError,
        KeyError,
        AttributeError,
        NotImplementedError,
        json.JSONDecodeError,
    ) as error:
        raise ExplorerError(
            f"Could not load the Hugging Face model in '{directory}': {describe_error(error)}"
        ) from None
    cfg.model_name = directory.name
    model = HookedSAETransformer(cfg, tokenizer=tokenizer)
    no_processing = all(kwargs.get(flag) is False for flag in NO_PROCESSING_FLAGS)
    model.load_and_process_state_dict(
        state_dict,
        fold_ln=not no_processing and kwargs.get("fold_ln", True),
        center_writing_weights=not no_processing and kwargs.get("center_writing_weights", True),
        center_unembed=not no_processing and kwargs.get("center_unembed", True),
    )
    return model.to(device, print_details=False).eval()


def _load_named(name: str, device: str, dtype: str, kwargs: dict[str, Any]) -> HookedSAETransformer:
    """Load an official TransformerLens model by name (from the hub, or the local cache offline)."""
    from transformer_lens.loading_from_pretrained import get_official_model_name

    try:
        official = get_official_model_name(name)
    except ValueError:
        raise ExplorerError(
            f"Unknown model '{name}': not a TransformerLens model name, not the demo model, not a local directory.",
            hint=f"The demo model is '{bundle.DEMO_MODEL_NAME}'.",
        ) from None
    kwargs = dict(kwargs)
    no_processing = all(kwargs.get(flag) is False for flag in NO_PROCESSING_FLAGS)
    loader = (
        HookedSAETransformer.from_pretrained_no_processing
        if no_processing
        else HookedSAETransformer.from_pretrained
    )
    if no_processing:
        for flag in NO_PROCESSING_FLAGS:
            kwargs.pop(flag)
    with hub_errors(f"model '{name}'", cached_file=_cached_model_file(official)):
        return loader(name, device=device, dtype=DTYPES[dtype], **kwargs).eval()


def _cached_model_file(repo_id: str) -> str | None:
    """The model's cached config.json, if any (named in errors that come from the cache)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, HF_CONFIG_FILE)
    return found if isinstance(found, str) else None


@out_of_memory_as_error("loading the model")
def load_model(
    name_or_path: str,
    device: str = "cpu",
    dtype: str = "float32",
    from_pretrained_kwargs: dict[str, Any] | None = None,
) -> LoadedModel:
    """Load the demo model, a local model directory, or an official TransformerLens model by name."""
    kwargs = dict(from_pretrained_kwargs or {})
    LOAD_COUNTS["model"] += 1
    log.info("loading model %s on %s (%s)", name_or_path, device, dtype)
    if name_or_path == bundle.DEMO_MODEL_NAME:
        return LoadedModel(
            _load_hooked_dir(bundle.model_dir(), device, dtype), name_or_path, bundle.model_dir()
        )
    path = Path(name_or_path).expanduser()
    if path.exists() or name_or_path.startswith(("/", "./", "../", "~")):
        check_path_allowed(path)
    if path.is_dir():
        if (path / HOOKED_CONFIG_FILE).is_file():
            model = _load_hooked_dir(path, device, dtype)
            return LoadedModel(model, model.cfg.model_name or path.name, path)
        if (path / HF_CONFIG_FILE).is_file():
            return LoadedModel(_load_hf_dir(path, device, dtype, kwargs), path.name, path)
        raise ExplorerError(f"'{path}' holds no model (no {HF_CONFIG_FILE} or {HOOKED_CONFIG_FILE}).")
    if name_or_path.startswith(("/", "./", "../", "~")):
        raise ExplorerError(f"The model path '{name_or_path}' does not exist.")
    return LoadedModel(_load_named(name_or_path, device, dtype, kwargs), name_or_path, None)
