"""Load an SAE from a local folder, a training run or an SAE-Lens release, through SAE-Lens' own code.

Local folders go through `SAE.load_from_disk` (or `TrainingSAE.load_from_disk`) with a converter
that reads the folder the way `sae_lens_disk_loader` does, plus what SAE-Lens cannot do by itself:
- a hand-written `cfg.json` that keeps the model keys (`hook_name`, `model_name`, ...) at the top level;
- hook names written as Hugging Face module paths (mapped to TransformerLens names);
- a one-line error naming the tensor when weights are missing, extra, mis-shaped, NaN or infinite.
Everything SAE-Lens knows how to convert is converted its way, and listed in `LoadedSAE.conversions`:
- configs from before SAE-Lens 6 (`handle_config_defaulting` -> `handle_pre_6_0_config`);
- training checkpoints (`batchtopk`, `matryoshka_batchtopk`, or any cfg with training-only fields) are
  loaded as `TrainingSAE`, get `activation_scaler.json` (scaling factor, whitening) folded in as the
  trainer does before its final save, and become the inference SAE the trainer would have saved;
- hook_z SAEs saved with `reshape_activations: "none"` get SAE-Lens' hook_z reshaping, so they read
  and write `[..., n_heads, d_head]` activations like the ones SAE-Lens' own releases ship.
Weights are read only from safetensors and JSON; nothing user-supplied is unpickled.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from packaging.version import Version
from sae_lens import SAE, TrainingSAE
from sae_lens import __version__ as SAE_LENS_VERSION
from sae_lens.constants import (
    ACTIVATION_SCALER_CFG_FILENAME,
    ACTIVATION_WHITENING_FILENAME,
    SAE_CFG_FILENAME,
    SAE_WEIGHTS_FILENAME,
    SPARSITY_FILENAME,
)
from sae_lens.loading.pretrained_sae_loaders import handle_config_defaulting, read_sae_components_from_disk
from sae_lens.registry import SAE_CLASS_REGISTRY, SAE_TRAINING_CLASS_REGISTRY
from sae_lens.training.activation_scaler import ActivationScaler
from safetensors import SafetensorError, safe_open

from explorer.errors import ExplorerError, out_of_memory_as_error
from explorer.hooks import resolve_hook_name
from explorer.hub import describe_error, hub_errors
from explorer.sources import SaeSource, latest_run_checkpoint, parse_sae_source, pretrained_directory

log = logging.getLogger(__name__)
LOAD_COUNTS: Counter[str] = Counter()  # "model" / "sae" loads in this process (benchmarks, tests)

# Keys of an SAE config that describe the model side; hand-written cfg.json files keep them at the top
# level instead of under "metadata" (SAE-Lens' pre-6 conversion lifts them too).
METADATA_KEYS = (
    "model_name", "hook_name", "hook_head_index", "model_class_name", "context_size", "prepend_bos",
    "dataset_path", "neuronpedia_id", "model_from_pretrained_kwargs", "exclude_special_tokens",
    "seqpos_slice", "sae_lens_training_version", "hook_name_out", "hook_head_index_out",
)  # fmt: skip
TRANSCODER_ARCHITECTURES = (
    "transcoder",
    "skip_transcoder",
    "jumprelu_transcoder",
    "jumprelu_skip_transcoder",
)
HEAD_DIM_HOOKS = (
    "hook_q",
    "hook_k",
    "hook_v",
    "hook_z",
)  # hooks whose activations are [..., n_heads, d_head]


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
    conversions: list[str] = field(default_factory=list)  # what was converted on the way in, for the user
    warnings: list[str] = field(default_factory=list)  # what could not be checked or converted

    @property
    def architecture(self) -> str:
        """The SAE architecture name as SAE-Lens registers it (the inference form)."""
        return self.sae.cfg.architecture()

    @property
    def d_in(self) -> int:
        """Width of the activations the SAE reads (n_heads * d_head for hook_z SAEs)."""
        return self.sae.cfg.d_in

    @property
    def d_sae(self) -> int:
        """Number of SAE features."""
        return self.sae.cfg.d_sae

    @property
    def metadata(self) -> Any:
        """The SAE-Lens metadata object (model name, hook, context size, ...)."""
        return self.sae.cfg.metadata

    @property
    def reads_heads(self) -> bool:
        """True for SAEs on `hook_z`, whose activations are `[..., n_heads, d_head]` (flattened for the SAE)."""
        return self.sae.cfg.reshape_activations == "hook_z"


# ----------------------------------------------------------------------------- reading a folder


def _read_cfg(directory: Path) -> dict[str, Any]:
    if not directory.exists():
        raise ExplorerError(f"The SAE directory '{directory}' does not exist.")
    if not directory.is_dir():
        raise ExplorerError(f"'{directory}' is not a directory.")
    cfg_path = directory / SAE_CFG_FILENAME
    if not cfg_path.is_file():
        raise ExplorerError(
            f"'{directory}' has no {SAE_CFG_FILENAME}.",
            hint="An SAE directory holds cfg.json and sae_weights.safetensors (as SAE-Lens' save_model writes).",
        )
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExplorerError(f"{cfg_path} is not readable JSON: {error}.") from None
    if not isinstance(cfg, dict):
        raise ExplorerError(f"{cfg_path} must hold a JSON object.")
    return cfg


def _sae_lens_version(cfg: dict[str, Any]) -> Version | None:
    text = cfg.get("sae_lens_version") or (cfg.get("metadata") or {}).get("sae_lens_version")
    try:
        return Version(str(text)) if text else None
    except ValueError:
        return None


def _lift_metadata(cfg: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Copy model-side keys kept at the top level (or as `hook_point`) into `metadata`; list what moved."""
    cfg = dict(cfg)
    metadata = dict(cfg.get("metadata") or {})
    if "hook_point" in cfg and "hook_name" not in cfg:
        cfg["hook_name"] = cfg["hook_point"]
    if "hook_point_head_index" in cfg and "hook_head_index" not in cfg:
        cfg["hook_head_index"] = cfg["hook_point_head_index"]
    moved = []
    for key in METADATA_KEYS:
        if metadata.get(key) is None and cfg.get(key) is not None:
            metadata[key] = cfg[key]
            moved.append(key)
    cfg["metadata"] = metadata
    return cfg, moved


def normalise_config(raw: dict[str, Any], cfg_path: Path) -> tuple[dict[str, Any], list[str]]:
    """A cfg.json as SAE-Lens 6 reads it, with the list of conversions made.

    Configs without a version or from before 6.0 go through SAE-Lens' `handle_config_defaulting`
    (its own pre-6 conversion); the model keys of hand-written configs are lifted into `metadata`.
    """
    conversions: list[str] = []
    version = _sae_lens_version(raw)
    architecture = raw.get("architecture", "standard")
    lifted, moved = _lift_metadata(raw)
    is_pre_6 = version is None or version < Version("6.0.0-rc.0")
    if is_pre_6 and architecture in SAE_CLASS_REGISTRY:
        try:
            cfg = handle_config_defaulting(dict(raw))
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            raise ExplorerError(
                f"{cfg_path}: SAE-Lens cannot convert this pre-6.0 config: {describe_error(error)}"
            ) from None
        # SAE-Lens' conversion keeps only the keys it knows; keep hand-written metadata it dropped.
        for key, value in lifted["metadata"].items():
            cfg["metadata"].setdefault(key, value)
        cfg["metadata"]["sae_lens_version"] = SAE_LENS_VERSION  # converted: SAE-Lens must not convert again
        written_by = (
            version
            or raw.get("sae_lens_training_version")
            or lifted["metadata"].get("sae_lens_training_version")
        )
        what = (
            f"SAE-Lens {written_by}"
            if written_by
            else "a config with no SAE-Lens version (before 6.0 or by hand)"
        )
        details = []
        if "hook_point" in raw:
            details.append("hook_point -> hook_name")
        if "hook_point_head_index" in raw:
            details.append("hook_point_head_index -> hook_head_index")
        if cfg["architecture"] != architecture or "architecture" not in raw:
            details.append(f"architecture '{cfg['architecture']}'")
        if cfg["architecture"] == "topk" and raw.get("activation_fn_str", raw.get("activation_fn")) == "topk":
            details.append(f"activation_fn 'topk' -> k={cfg.get('k')}")
        conversions.append(
            f"{cfg_path.name} from {what} converted by SAE-Lens' handle_pre_6_0_config"
            + (f" ({', '.join(details)})" if details else "")
        )
    else:
        cfg = lifted
        if moved:
            conversions.append(
                f"model keys at the top level of {cfg_path.name} read as metadata ({', '.join(moved)})"
            )
        if version is None:
            cfg["metadata"]["sae_lens_version"] = SAE_LENS_VERSION
    _check_fields(cfg, cfg_path)
    return cfg, conversions


def _check_fields(cfg: dict[str, Any], cfg_path: Path) -> None:
    architecture = cfg.get("architecture", "standard")
    known = sorted(set(SAE_CLASS_REGISTRY) | set(SAE_TRAINING_CLASS_REGISTRY))
    if architecture not in known:
        raise ExplorerError(
            f"{cfg_path}: unknown SAE architecture '{architecture}'.",
            hint=f"SAE-Lens knows: {', '.join(known)}.",
        )
    if architecture in TRANSCODER_ARCHITECTURES:
        raise_transcoder(architecture)
    missing = [key for key in ("d_in", "d_sae") if key not in cfg]
    if missing:
        raise ExplorerError(f"{cfg_path} is missing required field(s): {', '.join(missing)}.")
    for key in ("d_in", "d_sae"):
        if isinstance(cfg[key], bool) or not isinstance(cfg[key], int) or cfg[key] <= 0:
            raise ExplorerError(f"{cfg_path}: '{key}' must be a positive integer, got {cfg[key]!r}.")


def raise_transcoder(architecture: str) -> None:
    """Refuse a transcoder, naming its architecture."""
    raise ExplorerError(
        f"The SAE is a transcoder (architecture '{architecture}'): it reads one hook and writes another, "
        "and this explorer only analyses SAEs that reconstruct the hook they read.",
        hint="Load an SAE (standard, topk, jumprelu, gated, ...) instead.",
    )


def is_training_checkpoint(cfg: dict[str, Any]) -> bool:
    """True for a config written by a `TrainingSAE` (a runner checkpoint or a training-only architecture)."""
    architecture = cfg.get("architecture", "standard")
    if architecture not in SAE_TRAINING_CLASS_REGISTRY:
        return False
    if architecture not in SAE_CLASS_REGISTRY:
        return True
    training_fields = {f.name for f in fields(SAE_TRAINING_CLASS_REGISTRY[architecture][1])}
    inference_fields = {f.name for f in fields(SAE_CLASS_REGISTRY[architecture][1])}
    return any(name in cfg for name in training_fields - inference_fields)


def _meta_sae(sae_cls: type[SAE[Any]], cfg_dict: dict[str, Any]) -> SAE[Any]:
    """An SAE of this config built on the meta device (no memory), as `SAE.load_from_disk` builds it."""
    cfg = sae_cls.get_sae_config_class_for_architecture(cfg_dict["architecture"]).from_dict(
        {**cfg_dict, "device": "meta"}
    )
    return sae_cls.get_sae_class_for_architecture(cfg.architecture())(cfg)


def check_state_dict(
    state_dict: dict[str, torch.Tensor], expected: dict[str, torch.Size], where: str
) -> None:
    """Raise a one-line `ExplorerError` naming the first tensor that is missing, extra, mis-shaped or not finite."""
    names = ", ".join(expected)
    missing = [name for name in expected if name not in state_dict]
    extra = [name for name in state_dict if name not in expected]
    if missing:
        raise ExplorerError(
            f"{where} has no tensor '{missing[0]}' (the config's architecture needs {names})."
        )
    if extra:
        raise ExplorerError(
            f"{where} has tensor '{extra[0]}', which the config's architecture does not have (it has {names})."
        )
    for name, shape in expected.items():
        if state_dict[name].shape != shape:
            raise ExplorerError(
                f"{where}: tensor '{name}' has shape {list(state_dict[name].shape)}, "
                f"but the config (d_in, d_sae) needs {list(shape)}."
            )
    check_finite(state_dict, where)


def check_finite(tensors: dict[str, torch.Tensor], where: str) -> None:
    """Raise a one-line `ExplorerError` naming the first floating tensor with NaN or infinite values."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            n_nan, n_inf = int(torch.isnan(tensor).sum()), int(torch.isinf(tensor).sum())
            raise ExplorerError(
                f"{where}: tensor '{name}' has {n_nan} NaN and {n_inf} infinite values; "
                "weights that cannot be right are refused."
            )


def _disk_converter(cfg_dict: dict[str, Any], sae_cls: type[SAE[Any]], directory: Path) -> Any:
    """A converter for `SAE.load_from_disk`: SAE-Lens' own reader on the normalised config, plus checks."""
    weights_path = directory / SAE_WEIGHTS_FILENAME

    def convert(
        path: str | Path,  # noqa: ARG001 (the directory is bound above)
        device: str = "cpu",
        cfg_overrides: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        cfg = {**cfg_dict, "device": device, **(cfg_overrides or {})}
        if not weights_path.is_file():
            raise ExplorerError(f"'{directory}' has no {SAE_WEIGHTS_FILENAME}.")
        try:
            cfg, state_dict = read_sae_components_from_disk(cfg, weights_path, device=device)
        except (SafetensorError, OSError) as error:
            raise ExplorerError(
                f"{weights_path} is not a valid safetensors file (truncated or corrupt?): {error}."
            ) from None
        except ValueError as error:  # SAE-Lens' own complaint, e.g. about a scaling factor
            raise ExplorerError(f"{weights_path}: {error}") from None
        meta = _meta_sae(sae_cls, cfg)
        processed = dict(state_dict)
        meta.process_state_dict_for_loading(processed)
        expected = {name: tensor.shape for name, tensor in meta.state_dict().items()}
        check_state_dict(processed, expected, str(weights_path))
        return cfg, state_dict

    return convert


# ----------------------------------------------------------------------------- converting as SAE-Lens does


def fold_activation_scaler(sae: SAE[Any], directory: Path) -> tuple[list[str], list[str]]:
    """Fold `activation_scaler.json` (and its whitening) into the weights, as SAE-Lens' trainer does
    before its final save. Returns (conversions, warnings)."""
    norm = sae.cfg.normalize_activations
    scaler_path = directory / ACTIVATION_SCALER_CFG_FILENAME
    conversions: list[str] = []
    warnings: list[str] = []
    if norm not in ("expected_average_only_in", "covariance_whitening"):
        return conversions, warnings
    scaler = ActivationScaler()
    if scaler_path.is_file():
        try:
            scaler.load(scaler_path)
        except (OSError, ValueError, KeyError, SafetensorError) as error:
            raise ExplorerError(f"{scaler_path} is not readable: {type(error).__name__}: {error}.") from None
    if scaler.scaling_factor is not None:
        factor = float(scaler.scaling_factor)
        if not factor > 0 or factor == float("inf"):
            raise ExplorerError(
                f"{scaler_path}: scaling_factor {factor} cannot be right (it must be positive and finite)."
            )
        sae.fold_activation_norm_scaling_factor(factor)
        conversions.append(
            f"{ACTIVATION_SCALER_CFG_FILENAME}: scaling factor {factor:.6g} folded into the weights, as SAE-Lens' "
            f"trainer does before its final save (normalize_activations '{norm}' -> 'none')"
        )
    if scaler.whitening is not None:
        whitening = scaler.whitening
        check_finite(
            {"mean": whitening.mean, "matrix": whitening.matrix, "inverse_matrix": whitening.inverse_matrix},
            str(directory / ACTIVATION_WHITENING_FILENAME),
        )
        sae.fold_activation_whitening(
            mean=whitening.mean,
            whitening_matrix=whitening.matrix,
            unwhitening_matrix=whitening.inverse_matrix,
        )
        conversions.append(
            f"{ACTIVATION_WHITENING_FILENAME}: whitening folded into the weights, as SAE-Lens' trainer does "
            f"before its final save (normalize_activations '{norm}' -> 'none')"
        )
    if sae.cfg.normalize_activations != "none":
        warnings.append(
            f"normalize_activations is '{norm}' but the folder has no {ACTIVATION_SCALER_CFG_FILENAME} with its "
            "statistics: activations are used unscaled, as SAE-Lens' SAE.load_from_disk does; if this is a "
            "mid-training checkpoint its numbers are off."
        )
    return conversions, warnings


def to_inference_sae(training_sae: TrainingSAE[Any]) -> SAE[Any]:
    """The inference SAE that SAE-Lens' trainer saves for this training SAE (`save_inference_model`), in memory.

    BatchTopK and Matryoshka become JumpReLU with the learned threshold; the others keep their architecture.
    """
    state_dict = training_sae.state_dict()
    training_sae.process_state_dict_for_saving_inference(state_dict)
    cfg_dict = training_sae.cfg.get_inference_sae_cfg_dict()
    device, dtype = str(training_sae.W_enc.device), training_sae.W_enc.dtype
    sae = _meta_sae(SAE, cfg_dict)
    sae.cfg.device = device
    sae.process_state_dict_for_loading(state_dict)
    sae.load_state_dict(state_dict, assign=True)
    return sae.to(device=device, dtype=dtype)


def apply_hook_z_reshaping(sae: SAE[Any]) -> list[str]:
    """Give a hook_z SAE saved with `reshape_activations: "none"` SAE-Lens' hook_z reshaping.

    SAE-Lens' runner trains on z flattened over heads (its activation store flattens) and saves
    `reshape_activations: "none"`; splicing it into the model needs the per-head reshaping that
    SAE-Lens' own hook_z releases declare.
    """
    hook = sae.cfg.metadata.hook_name or ""
    if not hook.endswith("hook_z") or sae.cfg.metadata.hook_head_index is not None:
        return []
    if sae.cfg.reshape_activations == "hook_z":
        return []
    sae.cfg.reshape_activations = "hook_z"
    sae.turn_on_forward_pass_hook_z_reshaping()
    return [
        f"hook_z SAE saved with reshape_activations 'none' (d_in {sae.cfg.d_in} = heads x d_head): read and "
        "written per head with SAE-Lens' hook_z reshaping"
    ]


def check_supported(sae: SAE[Any], where: str) -> None:
    """Refuse SAEs this explorer cannot splice or measure correctly, with a message naming why."""
    architecture = sae.cfg.architecture()
    if architecture in TRANSCODER_ARCHITECTURES or sae.cfg.metadata.hook_name_out:
        raise_transcoder(architecture)
    head = sae.cfg.metadata.hook_head_index
    if head is not None:
        raise ExplorerError(
            f"The SAE from {where} reads a single attention head (hook_head_index {head} at "
            f"'{sae.cfg.metadata.hook_name}'); single-head SAEs cannot be spliced here, so their numbers would be wrong.",
            hint="Use an SAE on the whole hook (all heads flattened, d_in = n_heads x d_head).",
        )


def _load_folder(
    directory: Path, device: str, dtype: str
) -> tuple[SAE[Any], dict[str, Any], list[str], list[str]]:
    """Load a local SAE folder through SAE-Lens; returns (sae, cfg, conversions, warnings)."""
    raw = _read_cfg(directory)
    cfg, conversions = normalise_config(raw, directory / SAE_CFG_FILENAME)
    training = is_training_checkpoint(cfg)
    sae_cls: type[SAE[Any]] = TrainingSAE if training else SAE
    try:
        sae = sae_cls.load_from_disk(
            directory, device=device, dtype=dtype, converter=_disk_converter(cfg, sae_cls, directory)
        )
    except ExplorerError:
        raise
    except (TypeError, ValueError, KeyError, RuntimeError, AttributeError) as error:
        raise ExplorerError(
            f"The SAE in '{directory}' does not match its {SAE_CFG_FILENAME}: {describe_error(error)}"
        ) from None
    folded, warnings = fold_activation_scaler(sae, directory)
    if training:
        assert isinstance(sae, TrainingSAE)
        training_architecture = sae.cfg.architecture()
        sae = to_inference_sae(sae)
        conversions.append(
            f"training checkpoint (architecture '{training_architecture}') converted to the inference SAE "
            f"SAE-Lens saves at the end of training (architecture '{sae.cfg.architecture()}')"
        )
    conversions += folded
    return sae, cfg, conversions, warnings


def _first_unreadable(paths: list[Path]) -> str | None:
    """The first of these cached files that cannot be read, and why (for errors from the hub cache)."""
    for path in paths:
        if not path.is_file():
            continue
        try:
            if path.suffix == ".json":
                json.loads(path.read_text())
            else:
                with safe_open(str(path), framework="pt") as handle:  # type: ignore[no-untyped-call]
                    for name in handle.keys():  # noqa: SIM118
                        handle.get_slice(name)
        except (OSError, ValueError, SafetensorError, UnicodeDecodeError) as error:
            return f"{path}: {describe_error(error)}"
    return None


def _load_pretrained(
    source: SaeSource, device: str, dtype: str
) -> tuple[SAE[Any], dict[str, Any], Any, Path | None]:
    from huggingface_hub import try_to_load_from_cache
    from sae_lens.loading.pretrained_saes_directory import get_repo_id_and_folder_name

    assert source.sae_id is not None
    repo_id, folder = get_repo_id_and_folder_name(source.name, source.sae_id)

    def cached(name: str) -> Path | None:
        found = try_to_load_from_cache(repo_id, f"{folder}/{name}" if folder else name)
        return Path(found) if isinstance(found, str) else None

    candidates = [
        p for p in (cached(n) for n in (SAE_CFG_FILENAME, SAE_WEIGHTS_FILENAME, SPARSITY_FILENAME)) if p
    ]
    bad = _first_unreadable(candidates)
    if bad:
        raise ExplorerError(
            f"SAE {source.name}:{source.sae_id} is in the local Hugging Face cache, but a file cannot be read: {bad}"
        )
    with hub_errors(f"{source.name}:{source.sae_id}"):
        sae, cfg, log_sparsity = SAE.from_pretrained_with_cfg_and_sparsity(
            source.name, source.sae_id, device=device, dtype=dtype
        )
    cfg_path = cached(SAE_CFG_FILENAME)
    return sae, cfg, log_sparsity, cfg_path.parent if cfg_path else None


def _read_sparsity(path: Path, d_sae: int, device: str) -> tuple[torch.Tensor | None, list[str]]:
    """`sparsity.safetensors` (log10 firing frequencies), or None with a warning when it cannot be right."""
    try:
        with safe_open(str(path), framework="pt", device=device) as handle:  # type: ignore[no-untyped-call]
            log_sparsity = handle.get_tensor("sparsity") if "sparsity" in handle.keys() else None  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as error:
        return None, [
            f"{path.name} is not readable ({describe_error(error)}); firing frequencies are not shown."
        ]
    return _checked_sparsity(log_sparsity, d_sae, path.name)


def _checked_sparsity(
    log_sparsity: torch.Tensor | None, d_sae: int, name: str
) -> tuple[torch.Tensor | None, list[str]]:
    if log_sparsity is None:
        return None, []
    log_sparsity = log_sparsity.float().cpu()
    if log_sparsity.shape != (d_sae,):
        return None, [
            f"{name} has shape {list(log_sparsity.shape)}, not [{d_sae}]: it belongs to another SAE and is ignored."
        ]
    if torch.isnan(log_sparsity).any() or (log_sparsity > 1e-6).any():
        return None, [
            f"{name} holds NaN or frequencies above 1 (log10 > 0): it cannot be right and is ignored."
        ]
    return log_sparsity, []


@out_of_memory_as_error("loading the SAE")
def load_sae(source: str | SaeSource, device: str = "cpu", dtype: str = "float32") -> LoadedSAE:
    """Load the SAE a source names, with its sparsity, metadata and conversions, on `device` in `dtype`."""
    log.info("loading SAE %s on %s (%s)", source if isinstance(source, str) else source.text, device, dtype)
    parsed = parse_sae_source(source) if isinstance(source, str) else source
    LOAD_COUNTS["sae"] += 1
    warnings: list[str] = []
    if parsed.kind == "pretrained":
        sae, cfg, log_sparsity, sae_path = _load_pretrained(parsed, device, dtype)
        conversions: list[str] = []
        check_finite(dict(sae.state_dict()), f"SAE {parsed.text}")
    else:
        sae_path = parsed.local_dir()
        assert sae_path is not None
        checkpoint_note = None
        if parsed.kind == "run" and not sae_path.is_dir():
            checkpoint = latest_run_checkpoint(sae_path.parent)
            if checkpoint is None:
                raise ExplorerError(
                    f"Run '{parsed.name}' has no finished SAE ({sae_path} not found) and no checkpoint yet."
                )
            sae_path = checkpoint
            checkpoint_note = f"run '{parsed.name}' has no final SAE: its latest checkpoint ({checkpoint.name} tokens) is loaded"
        sae, cfg, conversions, warnings = _load_folder(sae_path, device, dtype)
        if checkpoint_note:
            conversions.insert(0, checkpoint_note)
        log_sparsity = None
        if (sae_path / SPARSITY_FILENAME).is_file():
            log_sparsity, sparsity_warnings = _read_sparsity(
                sae_path / SPARSITY_FILENAME, sae.cfg.d_sae, device
            )
            warnings += sparsity_warnings
    if parsed.kind == "pretrained":
        log_sparsity, sparsity_warnings = _checked_sparsity(log_sparsity, sae.cfg.d_sae, SPARSITY_FILENAME)
        warnings += sparsity_warnings
    hook = sae.cfg.metadata.hook_name
    if not hook:
        raise ExplorerError(
            f"The SAE from '{parsed.text}' names no hook (metadata.hook_name in {SAE_CFG_FILENAME})."
        )
    hook_name, mapped_from = resolve_hook_name(hook)
    sae.cfg.metadata.hook_name = hook_name  # SAE-Lens splices at metadata.hook_name: use the TL name
    if mapped_from:
        conversions.append(f"hook '{mapped_from}' (a Hugging Face module) mapped to '{hook_name}'")
    check_supported(sae, f"'{parsed.text}'")
    conversions += apply_hook_z_reshaping(sae)
    neuronpedia_id = sae.cfg.metadata.neuronpedia_id or cfg.get("neuronpedia_id")
    if neuronpedia_id is None and parsed.kind == "pretrained":
        neuronpedia_id = (pretrained_directory()[parsed.name].neuronpedia_id or {}).get(parsed.sae_id)
    sae.eval()
    return LoadedSAE(
        sae, parsed, sae_path, hook_name, mapped_from, log_sparsity, neuronpedia_id, conversions, warnings
    )
