"""Map hook names written as Hugging Face module paths to TransformerLens hook names.

SAEs trained outside SAE-Lens (for example on Llama-3 with plain PyTorch hooks) name their hook by
the Hugging Face module whose *output* they read, e.g. `model.layers.20.mlp.down_proj`.
"""

from __future__ import annotations

import re

# (pattern on the HF module path, TransformerLens hook name template). The first match wins.
# o_proj / c_proj / dense outputs are the attention output summed over heads, which TransformerLens
# exposes as `hook_attn_out`; `attn.hook_result` is the same quantity split per head
# ([batch, pos, head, d_model]) and needs `use_attn_result`, so an SAE of width d_model belongs on
# `hook_attn_out`.
_LAYER = r"(?:model\.layers|model\.decoder\.layers|transformer\.h|gpt_neox\.layers|layers|h)\.(\d+)"
_HF_TO_TL: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^{_LAYER}$"), "blocks.{0}.hook_resid_post"),
    (
        re.compile(rf"^{_LAYER}\.(?:mlp|feed_forward)(?:\.(?:down_proj|c_proj|dense_4h_to_h|fc2|w2))?$"),
        "blocks.{0}.hook_mlp_out",
    ),
    (re.compile(rf"^{_LAYER}\.(?:mlp|feed_forward)\.(?:act_fn|act)$"), "blocks.{0}.mlp.hook_post"),
    (
        re.compile(rf"^{_LAYER}\.(?:self_attn|attn|attention)(?:\.(?:o_proj|c_proj|dense|out_proj))?$"),
        "blocks.{0}.hook_attn_out",
    ),
    (re.compile(rf"^{_LAYER}\.(?:input_layernorm|ln_1)$"), "blocks.{0}.ln1.hook_normalized"),
    (re.compile(rf"^{_LAYER}\.(?:post_attention_layernorm|ln_2)$"), "blocks.{0}.ln2.hook_normalized"),
    (re.compile(r"^(?:model\.embed_tokens|transformer\.wte|gpt_neox\.embed_in)$"), "hook_embed"),
]


def to_transformer_lens_hook(name: str) -> str | None:
    """The TransformerLens hook name for a Hugging Face module path, or None if it is not one we know."""
    for pattern, template in _HF_TO_TL:
        match = pattern.match(name)
        if match:
            return template.format(*match.groups())
    return None


def resolve_hook_name(name: str, available: set[str] | None = None) -> tuple[str, str | None]:
    """Return (TransformerLens hook name, the original name if it was mapped, else None).

    A name already in `available` (or already in TransformerLens form) is kept as it is.
    """
    if (available is not None and name in available) or name.startswith(("blocks.", "hook_")):
        return name, None
    mapped = to_transformer_lens_hook(name)
    if mapped is None:
        return name, None
    return mapped, name
