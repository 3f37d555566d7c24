"""Attribution: which features, at which earlier positions, made the model predict a token here.

The SAE is spliced with its error term, so the model's output is exactly the model's own. One forward
and one backward pass (gradients with respect to the feature activations and the error term only: every
parameter is frozen for the pass, so no parameter gradient and no graph before the hook is built) give
each active feature's attribution `activation x d(metric)/d(activation)` at every position. The hook's
output there is `decode(acts) + error = sum_f acts_f W_dec[f] + b_dec + error`, so for each position

    sum of its features' attributions + error attribution + decoder-bias attribution
      = d(metric)/d(hook) . hook activations,

the first-order change of the metric when the hook is zeroed at that position. Special tokens (BOS)
bypass the SAE, as everywhere in this app, and carry no attribution.

The linear estimate is checked against real ablations: each of the top features is zeroed (at its
position, or at every position) in one batched forward, and the metric's change is recorded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch

from explorer.activations import PromptTokens, special_token_mask, spliced, tokenize_prompt
from explorer.errors import ExplorerError, out_of_memory_as_error
from explorer.loading import Explorer

Metric = Literal["logit", "logprob"]
METRICS: tuple[Metric, ...] = ("logit", "logprob")
AblateAt = Literal["position", "all"]
ABLATE_AT: tuple[AblateAt, ...] = ("position", "all")
ABLATION_BATCH = 8  # at most this many ablated prompt copies per batched forward
ABLATION_ELEMENTS = (
    2**24
)  # and at most about this many feature activations (copies x tokens x d_sae) per batch


@dataclass(frozen=True)
class AttributionTarget:
    """What the metric reads at the position: a token's logit (or log-probability), minus a contrast token's."""

    token_id: int
    token: str
    contrast_id: int | None = None
    contrast: str | None = None

    def describe(self) -> str:
        """E.g. `' red'` or `' red' − ' blue'`."""
        text = repr(self.token)
        return text if self.contrast is None else f"{text} − {self.contrast!r}"


@dataclass(frozen=True)
class FeatureAttribution:
    """One feature's attribution to the metric, at one position (or summed over all, when `position` is None).

    `ablation_effect` is metric(clean) − metric(feature zeroed there): the real contribution that
    `attribution` estimates to first order. None when the ablation check was not run.
    """

    feature: int
    position: int | None
    token: str
    activation: float
    attribution: float
    ablation_effect: float | None = None


@dataclass(frozen=True)
class AblationCheck:
    """How well the linear estimates match the real ablations of the listed features."""

    ablate_at: AblateAt
    correlation: float | None  # Pearson, over the listed features; None for fewer than 3 or no spread
    sign_agreement: float  # share of the listed features whose estimate and ablation effect agree in sign


@dataclass(frozen=True)
class AttributionResult:
    """Attributions to one metric at one position of a prompt; per-position lists run over the prompt's tokens."""

    tokens: PromptTokens
    position: int
    target: AttributionTarget
    metric: Metric
    value: float  # the metric on the clean run (the SAE spliced with its error term: the model's own output)
    top_prediction: str  # the model's most likely next token at the position
    features: list[FeatureAttribution]  # the top ones by |attribution|
    features_by_position: list[float]  # the sum of all features' attributions at each position
    error_by_position: list[float]  # the SAE error term's attribution at each position
    bias_by_position: list[float]  # the decoder bias b_dec's attribution at each position
    heatmap_features: list[int]  # the columns of `heatmap`: the top features by total |attribution|
    heatmap: list[list[float]]  # [position][feature] attribution
    n_active: int  # (position, feature) pairs with a non-zero activation at or before the position
    ablation: AblationCheck | None = None

    @property
    def total_by_position(self) -> list[float]:
        """Features + error + bias at each position: the first-order effect of zeroing the hook there."""
        return [
            f + e + b
            for f, e, b in zip(
                self.features_by_position, self.error_by_position, self.bias_by_position, strict=True
            )
        ]

    @property
    def error_share(self) -> float:
        """|error attribution| as a share of |features| + |error| (each summed over positions first)."""
        features, error = abs(sum(self.features_by_position)), abs(sum(self.error_by_position))
        return error / (features + error) if features + error > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "tokens": self.tokens.strings,
            "position": self.position,
            "target": asdict(self.target),
            "metric": self.metric,
            "value": self.value,
            "top_prediction": self.top_prediction,
            "features": [asdict(f) for f in self.features],
            "features_by_position": self.features_by_position,
            "error_by_position": self.error_by_position,
            "bias_by_position": self.bias_by_position,
            "total_by_position": self.total_by_position,
            "error_share": self.error_share,
            "heatmap_features": self.heatmap_features,
            "heatmap": self.heatmap,
            "n_active": self.n_active,
            "ablation": None if self.ablation is None else asdict(self.ablation),
        }


def resolve_token(explorer: Explorer, text: str) -> tuple[int, str]:
    """The id and string of the single vocabulary token `text` names.

    `text` is the token itself (` red`, with its space), a word (`red`: the token with a leading space
    when there is one, as the word reads mid-sentence, else the bare token), or `#ID`. Anything else is an `ExplorerError` that shows how it splits.
    """
    tokenizer = explorer.model.tokenizer
    if text is None or text == "":
        raise ExplorerError(
            "The target token is empty.", hint="Type a token, e.g. ' red', or #ID for a token id."
        )
    if text.startswith("#") and text[1:].isdigit():
        token_id = int(text[1:])
        if token_id >= explorer.model.cfg.d_vocab:
            raise ExplorerError(
                f"Token id {token_id} is outside the vocabulary (0–{explorer.model.cfg.d_vocab - 1})."
            )
        return token_id, tokenizer.decode([token_id])
    candidates = [text] if text.startswith(" ") else [" " + text, text]  # a word: as it reads mid-sentence
    for candidate in candidates:
        ids = tokenizer.encode(candidate, add_special_tokens=False)
        if len(ids) == 1 and ids[0] < explorer.model.cfg.d_vocab:
            return int(ids[0]), tokenizer.decode(ids)
    pieces = [tokenizer.decode([i]) for i in tokenizer.encode(candidates[-1], add_special_tokens=False)]
    raise ExplorerError(
        f"{text!r} is not a single token in this model's vocabulary: it splits into {pieces}.",
        hint="Type one token (e.g. the first piece), or #ID for a token id.",
    )


def parse_contrast(explorer: Explorer, text: str) -> tuple[tuple[int, str], tuple[int, str]]:
    """`A:B` (or `A - B`) as two tokens, for the contrast logit(A) − logit(B)."""
    for separator in (":", " - "):
        if separator in text:
            first, second = text.split(separator, 1)
            return resolve_token(explorer, first.strip() or first), resolve_token(
                explorer, second.strip() or second
            )
    raise ExplorerError(f"{text!r} is not a contrast.", hint="Write two tokens as A:B, e.g. Mary:John.")


def resolve_position(position: int, n_tokens: int) -> int:
    """`position` (negative counts from the end) as an index into the prompt's tokens; out of range is an error."""
    if not -n_tokens <= position < n_tokens:
        raise ExplorerError(
            f"Position {position} is outside the prompt, which has {n_tokens} tokens.",
            hint=f"Use 0 to {n_tokens - 1}, or -1 for the last token.",
        )
    return position % n_tokens


@contextmanager
def frozen_parameters(*modules: torch.nn.Module) -> Iterator[None]:
    """Turn off `requires_grad` on every parameter of `modules` for the block, and restore it afterwards."""
    params = [p for module in modules for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _metric(logits: torch.Tensor, position: int, target: AttributionTarget, metric: Metric) -> torch.Tensor:
    """The scalar the attributions explain, from logits [batch, pos, vocab] -> [batch]."""
    row = logits[:, position].float()
    if metric == "logprob":
        row = row.log_softmax(-1)
    value = row[:, target.token_id]
    if target.contrast_id is not None:
        value = value - row[:, target.contrast_id]
    return value


def _decoder_bias(explorer: Explorer) -> torch.Tensor:
    """What the SAE's decoder adds when every feature is off (b_dec after any output transform), flat [d_in].

    Called after a forward pass: a hook_z SAE learns its head shape from the input it encoded.
    """
    sae = explorer.sae.sae
    with torch.no_grad():
        zeros = torch.zeros(1, 1, explorer.sae.d_sae, device=sae.W_dec.device, dtype=sae.W_dec.dtype)
        return sae.decode(zeros).flatten()


def attribute(
    explorer: Explorer,
    text: str,
    position: int = -1,
    target: str | None = None,
    contrast: str | None = None,
    metric: Metric = "logit",
    top: int = 20,
    check_ablation: bool = True,
    ablate_at: AblateAt = "position",
    prepend_bos: bool | None = None,
) -> AttributionResult:
    """Attribute `metric` of the target token at `position` to every active feature at every earlier position.

    The target is `target` (a token), `contrast` (`A:B`, for logit(A) − logit(B)), or by default the
    model's top prediction at the position. With `check_ablation`, each listed feature is also zeroed
    (at its position, or with `ablate_at="all"` at every position) and the real change is recorded.
    """
    if metric not in METRICS:
        raise ExplorerError(f"Unknown metric '{metric}'.", hint=f"Use one of {', '.join(METRICS)}.")
    if ablate_at not in ABLATE_AT:
        raise ExplorerError(f"Unknown ablation '{ablate_at}'.", hint=f"Use one of {', '.join(ABLATE_AT)}.")
    if top < 1:
        raise ExplorerError("List at least one feature (top ≥ 1).")
    if target and contrast:
        raise ExplorerError("Give a target token or a contrast, not both.")
    tokens = tokenize_prompt(explorer, text, prepend_bos)
    n_tokens = tokens.ids.shape[1]
    position = resolve_position(position, n_tokens)
    chosen: AttributionTarget | None = None
    if contrast:
        (a_id, a), (b_id, b) = parse_contrast(explorer, contrast)
        chosen = AttributionTarget(a_id, a, b_id, b)
    elif target:
        chosen = AttributionTarget(*resolve_token(explorer, target))

    hook = explorer.hook_name
    sae = explorer.sae.sae
    captured: dict[str, torch.Tensor] = {}

    def leaf(name: str) -> Any:
        def capture(acts: torch.Tensor, hook: Any) -> torch.Tensor:  # noqa: ARG001
            acts = (acts.to_dense() if acts.is_sparse else acts).detach().clone().requires_grad_(True)
            captured[name] = acts
            return acts

        return capture

    def keep_output(acts: torch.Tensor, hook: Any) -> torch.Tensor:  # noqa: ARG001
        captured["output"] = acts
        return acts

    hooks = [(f"{hook}.hook_sae_acts_post", leaf("acts")), (f"{hook}.hook_sae_error", leaf("error")),
             (f"{hook}.hook_sae_output", keep_output)]  # fmt: skip
    with (
        torch.inference_mode(False),
        torch.enable_grad(),
        spliced(explorer, use_error_term=True, extra_hooks=hooks) as model,
        frozen_parameters(model, sae),
        out_of_memory_as_error("computing attributions (one forward and one backward pass)"),
    ):
        ids = (
            tokens.ids.clone()
        )  # made here, outside inference mode: no inference tensor in the backward path
        logits = model(ids)
        top_id = int(logits[0, position].argmax())
        if chosen is None:
            chosen = AttributionTarget(top_id, model.tokenizer.decode([top_id]))
        value = _metric(logits, position, chosen, metric)[0]
        acts, error, output = captured["acts"], captured["error"], captured["output"]
        grad_acts, grad_error, grad_output = torch.autograd.grad(value, [acts, error, output])
        del logits
    bias = _decoder_bias(explorer)
    with torch.no_grad():
        applied = special_token_mask(ids[0, : position + 1], model.tokenizer).to(
            acts.device
        )  # [pos]: not BOS
        acts = acts[0, : position + 1].float() * applied[:, None]  # [pos, d_sae]; BOS bypasses the SAE
        grad_acts = grad_acts[0, : position + 1].float()
        scores = acts * grad_acts  # [pos, d_sae]
        error_attr = (
            (error[0, : position + 1].float() * grad_error[0, : position + 1].float()).flatten(1).sum(-1)
        )
        grad_flat = grad_output[0, : position + 1].float().flatten(1)  # [pos, d_in]
        bias_attr = grad_flat @ bias.float()
        bias_attr = bias_attr * applied
        features_attr = scores.sum(-1)
        rows = _top_rows(scores, acts, tokens, top, ablate_at)
        by_feature = scores.abs().sum(0)
        n_columns = min(top, int((by_feature > 0).sum()))
        columns = by_feature.topk(n_columns).indices.tolist() if n_columns else []
        heatmap = scores[:, columns].tolist() if columns else [[] for _ in range(position + 1)]
    for name, numbers in (("feature", scores), ("error", error_attr), ("bias", bias_attr)):
        if not bool(torch.isfinite(numbers).all()):
            raise ExplorerError(f"The {name} attributions are not finite numbers.",
                                hint="The model overflows in this dtype: try float32.")  # fmt: skip
    check = None
    if check_ablation and rows:
        effects = ablation_effects(explorer, ids, position, chosen, metric, rows, float(value.detach()))
        rows = [FeatureAttribution(r.feature, r.position, r.token, r.activation, r.attribution, e)
                for r, e in zip(rows, effects, strict=True)]  # fmt: skip
        check = _agreement(rows, ablate_at)
    pad = [0.0] * (n_tokens - position - 1)  # later positions cannot affect the prediction at `position`
    return AttributionResult(
        tokens=tokens,
        position=position,
        target=chosen,
        metric=metric,
        value=float(value.detach()),
        top_prediction=model.tokenizer.decode([top_id]),
        features=rows,
        features_by_position=features_attr.tolist() + pad,
        error_by_position=error_attr.tolist() + pad,
        bias_by_position=bias_attr.tolist() + pad,
        heatmap_features=[int(c) for c in columns],
        heatmap=heatmap,
        n_active=int((acts != 0).sum()),
        ablation=check,
    )


def _top_rows(
    scores: torch.Tensor, acts: torch.Tensor, tokens: PromptTokens, top: int, ablate_at: AblateAt
) -> list[FeatureAttribution]:
    """The `top` (position, feature) pairs by |attribution|, or features summed over positions for "all"."""
    if ablate_at == "all":
        totals = scores.sum(0)  # [d_sae]
        active = (acts != 0).any(0)
        n = min(top, int(active.sum()))
        order = torch.where(active, totals.abs(), torch.full_like(totals, -1.0)).topk(n).indices if n else []
        rows = []
        for f in (int(i) for i in order):
            at = int(acts[:, f].argmax())
            rows.append(FeatureAttribution(f, None, tokens.strings[at], float(acts[at, f]), float(totals[f])))
        return rows
    active = acts != 0
    n = min(top, int(active.sum()))
    if not n:
        return []
    flat = torch.where(active, scores.abs(), torch.full_like(scores, -1.0)).flatten().topk(n).indices
    d_sae = scores.shape[1]
    return [
        FeatureAttribution(
            int(i) % d_sae,
            int(i) // d_sae,
            tokens.strings[int(i) // d_sae],
            float(acts.flatten()[i]),
            float(scores.flatten()[i]),
        )  # fmt: skip
        for i in flat
    ]


@torch.no_grad()
def ablation_effects(
    explorer: Explorer,
    ids: torch.Tensor,
    position: int,
    target: AttributionTarget,
    metric: Metric,
    rows: Sequence[FeatureAttribution],
    clean: float,
) -> list[float]:
    """`clean` − metric(row's feature zeroed at its position, or at every position when it has none).

    Batched forwards of up to `ABLATION_BATCH` rows (fewer for wide SAEs and long prompts), each prompt
    copy ablating one row; the SAE is spliced with its error term, so nothing but the zeroed feature moves.
    """
    batch_rows: list[FeatureAttribution] = []

    def zero_rows(acts: torch.Tensor, hook: Any) -> torch.Tensor:  # noqa: ARG001
        acts = acts.to_dense() if acts.is_sparse else acts
        for i, row in enumerate(batch_rows):
            if row.position is None:
                acts[i, :, row.feature] = 0
            else:
                acts[i, row.position, row.feature] = 0
        return acts

    hook = (f"{explorer.hook_name}.hook_sae_acts_post", zero_rows)
    effects: list[float] = []
    per_batch = max(1, min(ABLATION_BATCH, ABLATION_ELEMENTS // (ids.shape[1] * explorer.sae.d_sae)))
    with spliced(explorer, use_error_term=True, extra_hooks=[hook]) as model:
        for start in range(0, len(rows), per_batch):
            batch_rows[:] = rows[start : start + per_batch]
            with out_of_memory_as_error("ablating the listed features"):
                values = _metric(model(ids.expand(len(batch_rows), -1)), position, target, metric)
            effects.extend((clean - values).tolist())
    return effects


def _agreement(rows: Sequence[FeatureAttribution], ablate_at: AblateAt) -> AblationCheck:
    """Pearson correlation and sign agreement between the estimates and the ablation effects."""
    estimates = [r.attribution for r in rows]
    effects = [r.ablation_effect or 0.0 for r in rows]
    same_sign = sum((a > 0) == (b > 0) or a == b == 0 for a, b in zip(estimates, effects, strict=True))
    correlation = None
    if len(rows) >= 3:
        x, y = torch.tensor(estimates, dtype=torch.float64), torch.tensor(effects, dtype=torch.float64)
        x, y = x - x.mean(), y - y.mean()
        spread = float(x.norm() * y.norm())
        if spread > 0 and math.isfinite(spread):
            correlation = float((x @ y) / spread)
    return AblationCheck(ablate_at, correlation, same_sign / len(rows))
