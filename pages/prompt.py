"""Prompt activations: a feature's activation on each token, a token x feature heatmap, a token's active features."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.activations import aggregate_activations, top_features
from explorer.plots import activation_heatmap, token_label, tokens_html
from explorer.ui import (
    add_to_list_control,
    cached_figure,
    colour_by_feature,
    colour_by_key,
    current_explorer,
    feature_chart,
    feature_labels,
    feature_table,
    prompt_section,
    share_value,
    with_labels,
)

st.title("Prompt activations")
st.caption(
    "Which SAE features fire on each token of your text. Activations are the SAE encoder's output at the hook."
)
explorer = current_explorer()
analysis = prompt_section(explorer)
tokens = analysis.tokens.strings

over_prompt = top_features(aggregate_activations(analysis, "max"), 20)
default_feature = over_prompt[0].feature if over_prompt else 0
feature = st.number_input(
    "Feature to colour the tokens by", min_value=0, max_value=explorer.sae.d_sae - 1,
    value=colour_by_feature(default_feature, explorer.sae.d_sae),
    help="Defaults to the feature with the highest activation anywhere in the prompt.",
)  # fmt: skip
share_value("feature", int(feature))
st.session_state["colour_by_for"] = colour_by_key()
values = analysis.acts[:, int(feature)].tolist()
colour_label = feature_labels(explorer, [int(feature)]).get(int(feature))
st.markdown(
    f"**Feature {int(feature)}** · max activation {max(values):.3f}" + (f" · {colour_label}" if colour_label else "")
    + " (hover a token for its value)"
)  # fmt: skip
st.html(tokens_html(tokens, values, label=f"f{int(feature)}"))

st.subheader("Tokens × top features")
n_heat = st.slider("Features in the heatmap (highest max activation over the prompt)", 5, 50, 15)
heat_features = [f.feature for f in top_features(aggregate_activations(analysis, "max"), n_heat)]
if heat_features:
    heat_labels = feature_labels(explorer, heat_features)
    heatmap = cached_figure(
        ("heatmap", explorer.key, analysis.tokens.text, analysis.tokens.prepend_bos, tuple(heat_features),
         tuple(sorted(heat_labels.items()))),
        lambda: activation_heatmap(tokens, analysis.acts, heat_features, heat_labels),
    )  # fmt: skip
    feature_chart(heatmap, key="heatmap", width="stretch")
    st.caption("Click a cell to open that feature's dashboard.")
else:
    st.info("No feature fires on this prompt.")

st.subheader("Active features at a token")
position = st.select_slider(
    "Token",
    options=list(range(len(tokens))),
    value=len(tokens) - 1,
    format_func=lambda i: token_label(i, tokens[i]),
)
active = analysis.active_at(position)
st.caption(f"{len(active)} features are active (> 0) at token {token_label(position, tokens[position])}.")
feature_table(
    with_labels(
        explorer,
        pd.DataFrame({"feature": [f.feature for f in active], "activation": [f.activation for f in active]}),
    ),  # fmt: skip
    key="active_features",
    width="stretch",
    height=min(400, 40 + 35 * max(1, len(active))),
)
add_to_list_control(explorer, [f.feature for f in active[:50]], key="prompt-list")
