"""Feature-subset logit view: next-token predictions from only some features, beside the base model and full SAE."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.errors import ExplorerError
from explorer.logits import choose_features, parse_feature_ids
from explorer.plots import probability_bars, token_label
from explorer.ui import (
    cached_figure,
    cached_logit_effects,
    cached_logit_view,
    current_explorer,
    feature_labels,
    prompt_section,
    show_error,
)

st.title("Feature-subset logits")
st.caption(
    "Decode only the chosen features, splice that reconstruction in at the hook (at every position) and "
    "compare the next-token distribution with the model alone and with the full SAE reconstruction."
)
explorer = current_explorer()
analysis = prompt_section(explorer)
tokens = analysis.tokens.strings
position = st.select_slider(
    "Predict the token after", options=list(range(len(tokens))), value=len(tokens) - 1,
    format_func=lambda i: token_label(i, tokens[i]),
)  # fmt: skip

mode = st.radio("Features", ["Top-k at this token", "Random", "Typed ids"], horizontal=True)
try:
    if mode == "Top-k at this token":
        k = st.slider("k", 1, 100, 10)
        features = choose_features(explorer, "top_k", last_token_acts=analysis.acts[position], k=k)
    elif mode == "Random":
        left, right = st.columns(2)
        n_random = left.number_input("How many", 1, explorer.sae.d_sae, 10)
        seed = right.number_input("Seed", 0, 2**31 - 1, 0)
        features = choose_features(explorer, "random", n_random=int(n_random), seed=int(seed))
    else:
        typed = st.text_input("Feature ids", placeholder="e.g. 12, 345, 678")
        features = choose_features(explorer, "ids", ids=parse_feature_ids(typed)) if typed.strip() else []
except ExplorerError as error:
    show_error(error)
    st.stop()
if not features:
    st.info("Choose at least one feature (no feature fires at this token for top-k).")
    st.stop()
st.caption(
    f"{len(features)} features: {', '.join(map(str, features[:40]))}{' …' if len(features) > 40 else ''}"
)

view = cached_logit_view(
    explorer, explorer.key, analysis.tokens.text, tuple(features), position, analysis.tokens.prepend_bos
)
columns = st.columns(3)
for column, (title, dist) in zip(
    columns,
    [("Model alone", view.base), ("Full SAE", view.full_sae), ("Chosen features only", view.subset)],
    strict=True,
):
    bars = cached_figure(
        ("probability_bars", explorer.key, analysis.tokens.text, analysis.tokens.prepend_bos, tuple(features),
         position, title),
        lambda dist=dist, title=title: probability_bars([t.token for t in dist], [t.probability for t in dist], title),
    )  # fmt: skip
    column.plotly_chart(bars, width="stretch")

st.subheader("Direct logit effect of each chosen feature")
st.caption(
    "W_dec[f] @ W_U: the tokens each feature's decoder direction most promotes and suppresses. The final LayerNorm is not applied."
)
effects = cached_logit_effects(explorer, explorer.key, tuple(features[:50]), 8)
labels = feature_labels(explorer, [e.feature for e in effects])
st.dataframe(
    pd.DataFrame(
        [
            {"feature": e.feature, "label": labels.get(e.feature, ""), "promotes": " ".join(repr(t) for t in e.top_tokens),
             "suppresses": " ".join(repr(t) for t in e.bottom_tokens), "max logit": e.top_values[0]}
            for e in effects
        ]
    ),
    hide_index=True, width="stretch",
)  # fmt: skip
