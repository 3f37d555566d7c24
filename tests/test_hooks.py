"""Hugging Face module paths map to the TransformerLens hooks that carry the same activations."""

from __future__ import annotations

import pytest

from explorer.hooks import resolve_hook_name, to_transformer_lens_hook


@pytest.mark.parametrize(
    ("hf_name", "tl_name"),
    [
        ("model.layers.20.mlp.down_proj", "blocks.20.hook_mlp_out"),
        ("model.layers.3.mlp", "blocks.3.hook_mlp_out"),
        ("model.layers.5.self_attn.o_proj", "blocks.5.hook_attn_out"),
        ("model.layers.5.self_attn", "blocks.5.hook_attn_out"),
        ("model.layers.12", "blocks.12.hook_resid_post"),
        ("model.layers.2.mlp.act_fn", "blocks.2.mlp.hook_post"),
        ("model.layers.2.input_layernorm", "blocks.2.ln1.hook_normalized"),
        ("model.layers.2.post_attention_layernorm", "blocks.2.ln2.hook_normalized"),
        ("transformer.h.7", "blocks.7.hook_resid_post"),
        ("transformer.h.7.mlp.c_proj", "blocks.7.hook_mlp_out"),
        ("transformer.h.7.attn.c_proj", "blocks.7.hook_attn_out"),
        ("gpt_neox.layers.1.mlp", "blocks.1.hook_mlp_out"),
        ("gpt_neox.layers.1.attention.dense", "blocks.1.hook_attn_out"),
        ("model.embed_tokens", "hook_embed"),
    ],
)
def test_hf_names_map(hf_name: str, tl_name: str) -> None:
    assert to_transformer_lens_hook(hf_name) == tl_name
    assert resolve_hook_name(hf_name) == (tl_name, hf_name)


def test_transformer_lens_names_are_kept() -> None:
    assert resolve_hook_name("blocks.0.hook_mlp_out") == ("blocks.0.hook_mlp_out", None)
    assert resolve_hook_name("hook_embed") == ("hook_embed", None)


def test_unknown_names_are_returned_unchanged() -> None:
    assert to_transformer_lens_hook("encoder.block.1") is None
    assert resolve_hook_name("encoder.block.1") == ("encoder.block.1", None)


def test_o_proj_maps_to_a_hook_of_width_d_model(demo) -> None:  # noqa: ANN001
    """The attention output (o_proj) is d_model wide: the hook it maps to must be too."""
    import torch

    hook = to_transformer_lens_hook("model.layers.1.self_attn.o_proj")
    with torch.no_grad():
        _, cache = demo.model.run_with_cache("Hello there", names_filter=[hook])
    assert cache[hook].shape[-1] == demo.model.cfg.d_model
