"""Pair a loaded model with a loaded SAE: check that the SAE fits the model, and hold both for every page.

The app, the CLI and the tests all go through `load_explorer`. Loading itself lives in
`explorer.sae_loading` (SAEs), `explorer.models` (models), `explorer.hub` and `explorer.devices`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sae_lens import SAE, HookedSAETransformer
from sae_lens.util import extract_stop_at_layer_from_tlens_hook_name

from explorer.devices import resolve_device, resolve_dtype
from explorer.errors import ExplorerError, out_of_memory_as_error
from explorer.models import LoadedModel, load_model
from explorer.sae_loading import HEAD_DIM_HOOKS, LoadedSAE, load_sae


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
            "conversions": list(self.sae.conversions),
            "warnings": list(self.sae.warnings),
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
        kind = loaded.hook_name.split(".")[-1]
        hint = None
        if kind in HEAD_DIM_HOOKS and kind != "hook_z":
            hint = (f"'{kind}' has one vector per head ({model.cfg.n_heads} x {width}); SAE-Lens splices "
                    "head-flattened SAEs only at hook_z.")  # fmt: skip
        elif kind == "hook_z":
            hint = f"A hook_z SAE reads all heads flattened: d_in = n_heads x d_head = {width}."
        raise ExplorerError(
            f"The SAE's d_in is {loaded.d_in}, but hook '{loaded.hook_name}' of model '{model_name}' has width {width}.",
            hint=hint,
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
