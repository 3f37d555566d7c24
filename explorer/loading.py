"""Turn an SAE source (and optional model override) into a loaded model + SAE + metadata.

The one loading layer of the project: the app, the CLI and the tests all go through `load_explorer`.
Weights are read only from safetensors and JSON; nothing user-supplied is unpickled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from sae_lens import SAE, HookedSAETransformer
from sae_lens.registry import SAE_CLASS_REGISTRY, SAE_TRAINING_CLASS_REGISTRY
from sae_lens.util import extract_stop_at_layer_from_tlens_hook_name
from safetensors import SafetensorError
from safetensors.torch import load_file

from explorer.demo import bundle
from explorer.errors import ExplorerError, out_of_memory_as_error
from explorer.hooks import resolve_hook_name
from explorer.paths import check_path_allowed
from explorer.sources import SaeSource, parse_sae_source, pretrained_directory

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
SPARSITY_FILE = "sparsity.safetensors"
HOOKED_CONFIG_FILE = "hooked_transformer_config.json"  # a TransformerLens model saved by this project
MODEL_WEIGHTS_FILE = "model.safetensors"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Keys of an SAE config that describe the model side; older / hand-written cfg.json files keep them
# at the top level instead of under "metadata".
METADATA_KEYS = (
    "model_name", "hook_name", "hook_head_index", "model_class_name", "context_size", "prepend_bos",
    "dataset_path", "neuronpedia_id", "model_from_pretrained_kwargs", "exclude_special_tokens",
    "seqpos_slice", "sae_lens_training_version",
)  # fmt: skip
NO_PROCESSING_FLAGS = ("fold_ln", "center_writing_weights", "center_unembed")
log = logging.getLogger(__name__)
LOAD_COUNTS: Counter[str] = Counter()  # "model" / "sae" loads in this process (benchmarks, tests)
HUB_OFFLINE_HINT = (
    "Use the embedded demo (`demo`), a local SAE directory, or a local Hugging Face cache "
    "(set HF_HOME) that already holds it."
)


# ----------------------------------------------------------------------------- device and dtype


def resolve_device(requested: str | None = "auto") -> str:
    """`auto` -> cuda, then mps, then cpu; anything else is checked and returned."""
    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ExplorerError(f"Device '{requested}' was asked for, but CUDA is not available here.")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise ExplorerError("Device 'mps' was asked for, but MPS is not available here.")
    if requested != "cpu" and not requested.startswith(("cuda", "mps")):
        raise ExplorerError(f"Unknown device '{requested}'.", hint="Use auto, cpu, cuda, cuda:N or mps.")
    return requested


def resolve_dtype(requested: str | None, device: str) -> str:
    """`auto` -> bfloat16 on CUDA, float32 elsewhere; anything else must be a known dtype name."""
    if requested in (None, "", "auto"):
        return "bfloat16" if device.startswith("cuda") else "float32"
    if requested not in DTYPES:
        raise ExplorerError(f"Unknown dtype '{requested}'.", hint=f"Use auto or one of {', '.join(DTYPES)}.")
    return requested


# ----------------------------------------------------------------------------- the hub


def _hub_host() -> tuple[str, int]:
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    return endpoint.hostname or "huggingface.co", endpoint.port or 443


def hub_reachable(timeout_s: float = 2.0) -> bool:
    """Whether the Hugging Face Hub answers a TCP connection within `timeout_s` (False when offline mode is set)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    try:
        with socket.create_connection(_hub_host(), timeout=timeout_s):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def hub_mode() -> Iterator[bool]:
    """Run hub calls online when the hub answers, else in offline mode so only the local cache is used."""
    from huggingface_hub import constants

    online = hub_reachable()
    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = previous or not online
    try:
        yield online
    finally:
        constants.HF_HUB_OFFLINE = previous


@contextlib.contextmanager
def hub_errors(what: str, hint: str = HUB_OFFLINE_HINT) -> Iterator[None]:
    """Run hub calls (online when the hub answers, else from the local cache) and explain any failure."""
    with hub_mode() as online:
        try:
            yield
        except ExplorerError:
            raise
        except Exception as error:
            if not online or is_missing_from_cache(error):
                raise ExplorerError(
                    f"The Hugging Face Hub is unreachable and {what} is not in the local cache.", hint=hint
                ) from None
            raise ExplorerError(f"Could not load {what}: {error}") from None


def is_missing_from_cache(error: BaseException) -> bool:
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    chain: BaseException | None = error
    while chain is not None:
        if isinstance(chain, LocalEntryNotFoundError | OfflineModeIsEnabled):
            return True
        if isinstance(chain, OSError) and "offline" in str(chain).lower():
            return True
        chain = chain.__cause__ or chain.__context__
    return False


# ----------------------------------------------------------------------------- the SAE


@dataclass
class LoadedSAE:
    """An SAE with what the explorer needs to know about it."""

    sae: SAE[Any]
    source: SaeSource
    sae_path: Path | None  # the local directory the weights were read from
    hook_name: str  # TransformerLens hook name
    hook_name_mapped_from: str | None  # the Hugging Face module name, when it was mapped
    log_sparsity: torch.Tensor | None  # [d_sae] log10 firing frequency from sparsity.safetensors
    neuronpedia_id: str | None

    @property
    def architecture(self) -> str:
        """The SAE architecture name as SAE-Lens registers it."""
        return self.sae.cfg.architecture()

    @property
    def d_in(self) -> int:
        """Width of the activations the SAE reads."""
        return self.sae.cfg.d_in

    @property
    def d_sae(self) -> int:
        """Number of SAE features."""
        return self.sae.cfg.d_sae

    @property
    def metadata(self) -> Any:
        """The SAE-Lens metadata object (model name, hook, context size, ...)."""
        return self.sae.cfg.metadata


def _read_cfg(directory: Path) -> dict[str, Any]:
    if not directory.exists():
        raise ExplorerError(f"The SAE directory '{directory}' does not exist.")
    if not directory.is_dir():
        raise ExplorerError(f"'{directory}' is not a directory.")
    cfg_path = directory / CFG_FILE
    if not cfg_path.is_file():
        raise ExplorerError(
            f"'{directory}' has no {CFG_FILE}.",
            hint="An SAE directory holds cfg.json and sae_weights.safetensors (as SAE-Lens' save_model writes).",
        )
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExplorerError(f"{cfg_path} is not readable JSON: {error}.") from None
    if not isinstance(cfg, dict):
        raise ExplorerError(f"{cfg_path} must hold a JSON object.")
    return cfg


def _check_cfg(cfg: dict[str, Any], cfg_path: Path) -> str:
    """Validate the fields every SAE needs; return the architecture name."""
    architecture = cfg.get("architecture", "standard")
    known = sorted(set(SAE_CLASS_REGISTRY) | set(SAE_TRAINING_CLASS_REGISTRY))
    if architecture not in known:
        raise ExplorerError(
            f"{cfg_path}: unknown SAE architecture '{architecture}'.",
            hint=f"SAE-Lens knows: {', '.join(known)}.",
        )
    missing = [key for key in ("d_in", "d_sae") if key not in cfg]
    if missing:
        raise ExplorerError(f"{cfg_path} is missing required field(s): {', '.join(missing)}.")
    for key in ("d_in", "d_sae"):
        if not isinstance(cfg[key], int) or cfg[key] <= 0:
            raise ExplorerError(f"{cfg_path}: '{key}' must be a positive integer, got {cfg[key]!r}.")
    return architecture


def _lift_metadata(cfg: dict[str, Any]) -> dict[str, Any]:
    """Copy model-side keys kept at the top level (or as `hook_point`) into `metadata`."""
    cfg = dict(cfg)
    metadata = dict(cfg.get("metadata") or {})
    if "hook_point" in cfg and "hook_name" not in cfg:
        cfg["hook_name"] = cfg["hook_point"]
    for key in METADATA_KEYS:
        if metadata.get(key) is None and cfg.get(key) is not None:
            metadata[key] = cfg[key]
    cfg["metadata"] = metadata
    return cfg


def _read_weights(path: Path, device: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ExplorerError(f"'{path.parent}' has no {path.name}.")
    try:
        return load_file(str(path), device=device)
    except (SafetensorError, OSError, ValueError) as error:
        raise ExplorerError(
            f"{path} is not a valid safetensors file (truncated or corrupt?): {error}."
        ) from None


def _load_sae_from_dir(directory: Path, device: str, dtype: str) -> tuple[SAE[Any], dict[str, Any]]:
    """Load an SAE directory: SAE-Lens layout or the manual cfg.json + weights layout."""
    raw_cfg = _read_cfg(directory)
    architecture = _check_cfg(raw_cfg, directory / CFG_FILE)
    cfg = _lift_metadata(raw_cfg)
    cfg.update(device=device, dtype=dtype)
    state_dict = _read_weights(directory / WEIGHTS_FILE, device)
    # Inference architectures use SAE's own classes; training-only ones (batchtopk, matryoshka) need
    # TrainingSAE, as SAE-Lens itself does in `TrainingSAE.load_from_disk`.
    if architecture in SAE_CLASS_REGISTRY:
        sae_cls, cfg_cls = SAE_CLASS_REGISTRY[architecture]
    else:
        sae_cls, cfg_cls = SAE_TRAINING_CLASS_REGISTRY[architecture]
    try:
        sae_cfg = cfg_cls.from_dict(cfg)
        sae_cfg.device = "meta"  # as SAE.load_from_disk: build on meta, then assign the real weights
        sae = sae_cls(sae_cfg)
        sae.cfg.device = device
        sae.process_state_dict_for_loading(state_dict)
        sae.load_state_dict(state_dict, assign=True)
    except (TypeError, ValueError, KeyError, RuntimeError) as error:
        raise ExplorerError(f"The SAE in '{directory}' does not match its {CFG_FILE}: {error}") from None
    return sae.to(dtype=DTYPES[dtype], device=device), cfg


def _load_pretrained(
    source: SaeSource, device: str, dtype: str
) -> tuple[SAE[Any], dict[str, Any], Any, Path | None]:
    from huggingface_hub import try_to_load_from_cache
    from sae_lens.loading.pretrained_saes_directory import get_repo_id_and_folder_name

    assert source.sae_id is not None
    repo_id, folder = get_repo_id_and_folder_name(source.name, source.sae_id)
    with hub_errors(f"{source.name}:{source.sae_id}"):
        sae, cfg, log_sparsity = SAE.from_pretrained_with_cfg_and_sparsity(
            source.name, source.sae_id, device=device, dtype=dtype
        )
    cached = try_to_load_from_cache(repo_id, f"{folder}/{CFG_FILE}" if folder else CFG_FILE)
    sae_path = Path(cached).parent if isinstance(cached, str) else None
    return sae, cfg, log_sparsity, sae_path


@out_of_memory_as_error("loading the SAE")
def load_sae(source: str | SaeSource, device: str = "cpu", dtype: str = "float32") -> LoadedSAE:
    """Load the SAE a source names, with its sparsity and metadata, on `device` in `dtype`."""
    log.info("loading SAE %s on %s (%s)", source if isinstance(source, str) else source.text, device, dtype)
    parsed = parse_sae_source(source) if isinstance(source, str) else source
    LOAD_COUNTS["sae"] += 1
    log_sparsity = None
    if parsed.kind == "pretrained":
        sae, cfg, log_sparsity, sae_path = _load_pretrained(parsed, device, dtype)
    else:
        sae_path = parsed.local_dir()
        assert sae_path is not None
        if parsed.kind == "run" and not sae_path.is_dir():
            raise ExplorerError(f"Run '{parsed.name}' has no finished SAE ({sae_path} not found).")
        sae, cfg = _load_sae_from_dir(sae_path, device, dtype)
        if (sae_path / SPARSITY_FILE).is_file():
            log_sparsity = _read_weights(sae_path / SPARSITY_FILE, device).get("sparsity")
    hook = sae.cfg.metadata.hook_name
    if not hook:
        raise ExplorerError(f"The SAE from '{parsed.text}' names no hook (metadata.hook_name in {CFG_FILE}).")
    hook_name, mapped_from = resolve_hook_name(hook)
    sae.cfg.metadata.hook_name = hook_name  # SAE-Lens splices at metadata.hook_name: use the TL name
    neuronpedia_id = sae.cfg.metadata.neuronpedia_id or cfg.get("neuronpedia_id")
    if neuronpedia_id is None and parsed.kind == "pretrained":
        neuronpedia_id = (pretrained_directory()[parsed.name].neuronpedia_id or {}).get(parsed.sae_id)
    if log_sparsity is not None:
        log_sparsity = log_sparsity.float().cpu()
        if log_sparsity.shape != (sae.cfg.d_sae,):
            log_sparsity = None  # a sparsity file for another SAE: ignore rather than mislead
    return LoadedSAE(sae, parsed, sae_path, hook_name, mapped_from, log_sparsity, neuronpedia_id)


# ----------------------------------------------------------------------------- the model


@dataclass
class LoadedModel:
    """A HookedSAETransformer and where it came from."""

    model: HookedSAETransformer
    name: str
    path: Path | None  # local directory, when it was loaded from one


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
    model.load_state_dict(_read_weights(directory / MODEL_WEIGHTS_FILE, device), strict=True)
    return model.to(device, print_details=False).to(DTYPES[dtype], print_details=False).eval()


def _load_hf_dir(directory: Path, device: str, dtype: str, kwargs: dict[str, Any]) -> HookedSAETransformer:
    """Load a local Hugging Face causal-LM directory into TransformerLens."""
    from transformer_lens import loading_from_pretrained as tl_loading
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        hf_model = AutoModelForCausalLM.from_pretrained(
            str(directory), dtype=DTYPES[dtype], use_safetensors=True
        )
        tokenizer = AutoTokenizer.from_pretrained(str(directory))
        # TransformerLens picks some architectures from the *name* ("llama" in the path -> Llama, and
        # then never reads config.json); a neutral symlink makes it read the directory's own config.
        with tempfile.TemporaryDirectory(prefix="local-model-") as neutral:
            link = Path(neutral) / "model"
            link.symlink_to(directory.resolve(), target_is_directory=True)
            cfg = tl_loading.get_pretrained_model_config(str(link), device=device, dtype=DTYPES[dtype])
            state_dict = tl_loading.get_pretrained_state_dict(str(link), cfg, hf_model=hf_model)
    except (OSError, ValueError, KeyError, AttributeError, NotImplementedError) as error:
        raise ExplorerError(f"Could not load the Hugging Face model in '{directory}': {error}") from None
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
        get_official_model_name(name)
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
    with hub_errors(f"model '{name}'"):
        return loader(name, device=device, dtype=DTYPES[dtype], **kwargs).eval()


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
        elif (path / "config.json").is_file():
            model = _load_hf_dir(path, device, dtype, kwargs)
        else:
            raise ExplorerError(f"'{path}' holds no model (no config.json or {HOOKED_CONFIG_FILE}).")
        return LoadedModel(model, model.cfg.model_name or path.name, path)
    if name_or_path.startswith(("/", "./", "../", "~")):
        raise ExplorerError(f"The model path '{name_or_path}' does not exist.")
    return LoadedModel(_load_named(name_or_path, device, dtype, kwargs), name_or_path, None)


# ----------------------------------------------------------------------------- model + SAE


def model_lock(model: HookedSAETransformer) -> threading.RLock:
    """The lock that serialises every hooked call on `model` (shared by all sessions of the app).

    Splicing an SAE or adding hooks mutates the model object, and so does `run_with_cache`, so two
    threads must never run hooked forwards on one model at once.
    """
    with _LOCKS_GUARD:
        lock = getattr(model, "_explorer_lock", None)
        if lock is None:
            lock = threading.RLock()
            object.__setattr__(model, "_explorer_lock", lock)
        return lock


_LOCKS_GUARD = threading.Lock()


@dataclass
class Explorer:
    """A model with one SAE that fits it: what every page and CLI command works on."""

    model: HookedSAETransformer
    sae: LoadedSAE
    model_name: str
    model_path: Path | None
    device: str
    dtype: str

    @property
    def lock(self) -> threading.RLock:
        """The model's hook lock (see `model_lock`)."""
        return model_lock(self.model)

    @property
    def key(self) -> str:
        """A string naming this model + SAE pairing, for caches keyed by what is loaded."""
        return f"{self.sae.source.text}|{self.model_name}|{self.device}|{self.dtype}"

    @property
    def hook_name(self) -> str:
        """The TransformerLens hook the SAE reads and writes."""
        return self.sae.hook_name

    def info(self) -> dict[str, Any]:
        """JSON-safe summary of what is loaded (the CLI's `info` and the sidebar card)."""
        return {
            "model_name": self.model_name,
            "hook_name": self.hook_name,
            "hook_name_mapped_from": self.sae.hook_name_mapped_from,
            "d_in": self.sae.d_in,
            "d_sae": self.sae.d_sae,
            "architecture": self.sae.architecture,
            "device": self.device,
            "dtype": self.dtype,
            "sae_source": self.sae.source.text,
            "sae_path": str(self.sae.sae_path) if self.sae.sae_path else None,
            "model_path": str(self.model_path) if self.model_path else None,
            "neuronpedia_id": self.sae.neuronpedia_id,
            "context_size": self.sae.metadata.context_size,
            "prepend_bos": self.sae.metadata.prepend_bos,
            "n_layers": self.model.cfg.n_layers,
            "d_model": self.model.cfg.d_model,
            "n_ctx": self.model.cfg.n_ctx,
            "d_vocab": self.model.cfg.d_vocab,
        }


def hook_width(model: HookedSAETransformer, sae: SAE[Any], hook_name: str) -> int:
    """Width of the activations the SAE sees at `hook_name` (runs two tokens up to the hook)."""
    tokens = torch.zeros((1, 2), dtype=torch.long, device=model.cfg.device)
    with model_lock(model), torch.no_grad():
        _, cache = model.run_with_cache(
            tokens,
            names_filter=[hook_name],
            stop_at_layer=extract_stop_at_layer_from_tlens_hook_name(hook_name),
        )
    acts = cache[hook_name]
    if sae.cfg.metadata.hook_head_index is not None:
        return acts.shape[-1]
    if sae.cfg.reshape_activations == "hook_z":
        return acts.shape[-2] * acts.shape[-1]
    return acts.shape[-1]


def similar_hooks(model: HookedSAETransformer, hook_name: str, n: int = 4) -> list[str]:
    """The model's hooks of the same kind as `hook_name` (same last part, other layers), for error hints."""
    kind = hook_name.split(".")[-1]
    return [h for h in model.hook_dict if h.split(".")[-1] == kind][:n]


@out_of_memory_as_error("checking that the SAE fits the model")
def check_fits(model: HookedSAETransformer, loaded: LoadedSAE, model_name: str) -> None:
    """Raise `ExplorerError` unless the SAE's hook exists in the model and its width is the SAE's d_in.

    HookedSAETransformer.add_sae silently attaches nothing to a hook the model lacks, so this check
    is what turns that into an error.
    """
    if loaded.hook_name not in model.hook_dict:
        mapped = f" (mapped from '{loaded.hook_name_mapped_from}')" if loaded.hook_name_mapped_from else ""
        layer_hooks = similar_hooks(model, loaded.hook_name)
        raise ExplorerError(
            f"The SAE's hook '{loaded.hook_name}'{mapped} is not a hook of model '{model_name}'.",
            hint=f"Similar hooks: {', '.join(layer_hooks)}." if layer_hooks else None,
        )
    width = hook_width(model, loaded.sae, loaded.hook_name)
    if width != loaded.d_in:
        raise ExplorerError(
            f"The SAE's d_in is {loaded.d_in}, but hook '{loaded.hook_name}' of model '{model_name}' has width {width}."
        )


def model_request(loaded_sae: LoadedSAE, model: str | None = None) -> tuple[str, dict[str, Any]]:
    """The model to load for an SAE: `model` if given, else its metadata's, with its from_pretrained kwargs."""
    model_name = model or loaded_sae.metadata.model_name
    if not model_name:
        raise ExplorerError(
            "The SAE's config names no model (metadata.model_name).", hint="Name one with --model."
        )
    return model_name, dict(loaded_sae.metadata.model_from_pretrained_kwargs or {})


def assemble(loaded_model: LoadedModel, loaded_sae: LoadedSAE, device: str, dtype: str) -> Explorer:
    """Pair a loaded model and SAE after checking that the SAE fits the model."""
    check_fits(loaded_model.model, loaded_sae, loaded_model.name)
    return Explorer(loaded_model.model, loaded_sae, loaded_model.name, loaded_model.path, device, dtype)


def load_explorer(
    sae_source: str,
    model: str | None = None,
    device: str | None = "auto",
    dtype: str | None = "auto",
) -> Explorer:
    """Load the SAE a source names and the model its metadata names (or `model`), and check they fit."""
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    loaded_sae = load_sae(sae_source, device=device, dtype=dtype)
    model_name, kwargs = model_request(loaded_sae, model)
    return assemble(load_model(model_name, device, dtype, kwargs), loaded_sae, device, dtype)


def with_sae(explorer: Explorer, loaded_sae: LoadedSAE) -> Explorer:
    """A second SAE on the same loaded model (for comparisons): the model is shared, not reloaded."""
    loaded_model = LoadedModel(explorer.model, explorer.model_name, explorer.model_path)
    return assemble(loaded_model, loaded_sae, explorer.device, explorer.dtype)
