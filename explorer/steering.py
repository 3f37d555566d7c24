"""Steering: generate with chosen features pushed, clamped or ablated, beside the unsteered text.

Three interventions, combinable, each on one feature:
- add: `strength * W_dec[f]` is added to the hook's activations at every position (the SAE is not
  spliced, so the model is otherwise untouched), as Neuronpedia's steering does;
- clamp: the SAE is spliced with its error term and the feature's activation is set to a value;
- ablate: the same, with the value 0.
Because the spliced SAE adds back its own reconstruction error, clamping or ablating changes the
hook's output by exactly (new activation - old activation) * W_dec[f]: nothing else moves.
Both texts come from the same seed, so the only difference is the steering.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch

from explorer.activations import Hook, hooked, spliced, tokenize_prompt
from explorer.errors import ExplorerError
from explorer.features import check_feature_ids
from explorer.generation import GenerationSettings, generate_text, set_features_hook
from explorer.loading import Explorer

SteerMode = Literal["add", "clamp", "ablate"]
STEER_MODES: tuple[SteerMode, ...] = ("add", "clamp", "ablate")


@dataclass(frozen=True)
class FeatureSteer:
    """One intervention: add `value * W_dec[feature]`, clamp the feature to `value`, or ablate it."""

    feature: int
    value: float = 0.0
    mode: SteerMode = "add"

    def describe(self) -> str:
        """A short human label, e.g. `+8.0 × f714` or `f12 := 3.0`."""
        if self.mode == "add":
            return f"{self.value:+g} × W_dec[{self.feature}]"
        if self.mode == "clamp":
            return f"feature {self.feature} clamped to {self.value:g}"
        return f"feature {self.feature} ablated"


def parse_steer(text: str, mode: SteerMode = "add") -> FeatureSteer:
    """Parse `F:VALUE` (add or clamp) or `F` (ablate) into a `FeatureSteer`; bad text raises `ExplorerError`."""
    if mode not in STEER_MODES:
        raise ExplorerError(f"Unknown steering mode '{mode}'.", hint=f"Use one of {', '.join(STEER_MODES)}.")
    feature_text, sep, value_text = text.strip().partition(":")
    try:
        feature = int(feature_text)
        value = float(value_text) if sep else 0.0
    except ValueError:
        raise ExplorerError(
            f"'{text}' is not a steering entry.",
            hint="Write FEATURE:STRENGTH, e.g. 714:8 (or just FEATURE to ablate).",
        ) from None
    if mode != "ablate" and not sep:
        raise ExplorerError(f"'{text}' has no value.", hint="Write FEATURE:STRENGTH, e.g. 714:8.")
    return FeatureSteer(feature, value, mode)


def format_steers(steers: Sequence[FeatureSteer]) -> str:
    """Steers as one URL-safe string: `F:VALUE` (add), `F=VALUE` (clamp), `F!` (ablate), comma-separated."""
    parts = []
    for s in steers:
        parts.append(
            f"{s.feature}:{s.value:g}"
            if s.mode == "add"
            else f"{s.feature}={s.value:g}"
            if s.mode == "clamp"
            else f"{s.feature}!"
        )
    return ",".join(parts)


def parse_steers(text: str) -> list[FeatureSteer]:
    """Inverse of `format_steers`; bad entries raise `ExplorerError`."""
    steers = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.endswith("!"):
            steers.append(parse_steer(part[:-1], "ablate"))
        elif "=" in part:
            steers.append(parse_steer(part.replace("=", ":", 1), "clamp"))
        else:
            steers.append(parse_steer(part, "add"))
    return steers


def _check(explorer: Explorer, steers: Sequence[FeatureSteer]) -> None:
    if not steers:
        raise ExplorerError("Choose at least one feature to steer.")
    check_feature_ids(explorer, [s.feature for s in steers])
    for steer in steers:
        if not torch.isfinite(torch.tensor(steer.value)):
            raise ExplorerError(f"The value for feature {steer.feature} must be a finite number.")


def steering_vector(explorer: Explorer, steers: Sequence[FeatureSteer]) -> torch.Tensor:
    """The sum of `value * W_dec[f]` over the "add" entries, in the hook's space [d_in]."""
    w_dec = explorer.sae.sae.W_dec
    vector = torch.zeros(w_dec.shape[1], device=w_dec.device, dtype=w_dec.dtype)
    for steer in steers:
        if steer.mode == "add":
            vector += steer.value * w_dec[steer.feature].detach()
    return vector


def _add_hook(explorer: Explorer, vector: torch.Tensor) -> Any:
    def add_direction(acts: torch.Tensor, hook: Any) -> torch.Tensor:  # noqa: ARG001
        # [batch, pos, d_in], or [batch, pos, n_heads, d_head] for hook_z (the direction split per head)
        return acts + vector.to(acts.dtype).reshape(acts.shape[2:])

    return add_direction


@contextmanager
def steered(explorer: Explorer, steers: Sequence[FeatureSteer]) -> Iterator[Any]:
    """Hold the model's lock with the steering applied; undone on exit."""
    _check(explorer, steers)
    vector = steering_vector(explorer, steers)
    assignments = {s.feature: (s.value if s.mode == "clamp" else 0.0) for s in steers if s.mode != "add"}
    adds = any(s.mode == "add" for s in steers)
    with ExitStack() as stack:
        if assignments:  # splice with the error term so only the chosen features change
            hooks: list[Hook] = [(f"{explorer.hook_name}.hook_sae_acts_post", set_features_hook(assignments))]
            if adds:
                hooks.append((f"{explorer.hook_name}.hook_sae_output", _add_hook(explorer, vector)))
            model = stack.enter_context(spliced(explorer, use_error_term=True, extra_hooks=hooks))
        else:
            model = stack.enter_context(hooked(explorer, [(explorer.hook_name, _add_hook(explorer, vector))]))
        yield model


@dataclass(frozen=True)
class SteeringResult:
    """The same prompt continued without and with steering, from the same seed."""

    prompt: str
    default: str
    steered: str
    steers: list[FeatureSteer]
    settings: GenerationSettings
    labels: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)


def steer_generate(
    explorer: Explorer,
    text: str,
    steers: Sequence[FeatureSteer],
    settings: GenerationSettings = GenerationSettings(),
) -> SteeringResult:
    """Continue `text` with the model alone and with `steers` applied, from the same seed."""
    settings.check()
    _check(explorer, steers)
    tokens = tokenize_prompt(explorer, text).ids
    with hooked(explorer) as model:
        default = generate_text(model, tokens, settings)
    with steered(explorer, steers) as model:
        steered_text = generate_text(model, tokens, settings)
    return SteeringResult(text, default, steered_text, list(steers), settings, [s.describe() for s in steers])
