"""Top-k features for the last token, a chosen token, or the whole prompt, with density and promoted tokens."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.activations import aggregate_activations, top_features
from explorer.features import density_from_file, neuronpedia_url
from explorer.formats import DENSITY_COLUMN_FORMAT
from explorer.plots import token_label
from explorer.ui import (
    add_to_list_control,
    cached_logit_effects,
    current_explorer,
    feature_labels,
    feature_table,
    prompt_section,
    share_value,
    url_value,
)

MODES = {
    "Last token": "last",
    "A chosen token": "token",
    "Whole prompt: max": "max",
    "Whole prompt: mean": "mean",
    "Whole prompt: firing count": "count",
}

st.title("Top features")
explorer = current_explorer()
analysis = prompt_section(explorer)
tokens = analysis.tokens.strings

left, right = st.columns([2, 1])
mode_names = list(MODES.values())
mode = url_value("mode", "last")
mode_label = left.radio(
    "Rank features by their activation at", list(MODES), horizontal=True,
    index=mode_names.index(mode) if mode in mode_names else 0, key="rank_mode",
)  # fmt: skip
mode = MODES[mode_label]
share_value("mode", mode)
k = right.slider(
    "k", 1, 100, min(max(url_value("k", 10), 1), 100), key="top_k"
)  # a key: same widget as k changes
share_value("k", k)
position = None
if mode == "token":
    position = st.select_slider(
        "Token",
        options=list(range(len(tokens))),
        value=len(tokens) - 1,
        format_func=lambda i: token_label(i, tokens[i]),
    )
ignore_bos = mode in ("max", "mean", "count") and st.checkbox("Ignore the BOS token", value=True)

values = aggregate_activations(analysis, mode, position=position, ignore_bos=ignore_bos)  # type: ignore[arg-type]
top = top_features(values, k)
if not top:
    st.info("No feature fires here.")
    st.stop()

density = density_from_file(explorer)
effects = {
    e.feature: e for e in cached_logit_effects(explorer, explorer.key, tuple(f.feature for f in top), 5)
}
column = "firing positions" if mode == "count" else "activation"
labels = feature_labels(explorer, [f.feature for f in top])
rows = []
for f in top:
    rows.append(
        {
            "feature": f.feature,
            "label": labels.get(f.feature, ""),
            column: f.activation,
            "density": None if density is None else 100 * float(density[f.feature]),
            "promotes": " ".join(repr(t) for t in effects[f.feature].top_tokens),
        }
        | ({"neuronpedia": neuronpedia_url(explorer, f.feature)} if explorer.sae.neuronpedia_id else {})
    )
feature_table(
    pd.DataFrame(rows),
    key="top_features_table",
    width="stretch",
    column_config={
        "density": st.column_config.NumberColumn(
            format=DENSITY_COLUMN_FORMAT,
            help="Share of tokens where the feature fires, from sparsity.safetensors",
        ),
        "promotes": st.column_config.TextColumn(
            help="Top tokens of W_dec[f] @ W_U (final LayerNorm not applied)"
        ),
        "neuronpedia": st.column_config.LinkColumn(display_text="open"),
    },
)
add_to_list_control(explorer, [f.feature for f in top], key="top-features-list")
if density is None:
    st.caption(
        "This SAE has no sparsity.safetensors: see the Sparsity page for density measured on a dataset."
    )
if not explorer.sae.neuronpedia_id:
    st.caption("No Neuronpedia id for this SAE, so no Neuronpedia links.")
