"""Steering: generate with chosen features added, clamped or ablated, beside the default text from the same seed."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.activations import top_features
from explorer.errors import ExplorerError
from explorer.steering import STEER_MODES, FeatureSteer, format_steers, parse_steers, steer_generate
from explorer.ui import (
    continuations_side_by_side,
    current_explorer,
    feature_labels,
    generation_settings_inputs,
    prompt_analysis,
    prompt_inputs,
    recompute_for_link,
    result_shown_in_link,
    share_value,
    show_error,
    url_value,
)

st.title("Steering")
st.caption(
    "**add**: strength × W_dec[f] is added to the hook's activations at every position. "
    "**clamp** / **ablate**: the SAE is spliced with its error term and the feature's activation is set to "
    "the value (or 0), so nothing else changes. Both texts use the same seed."
)
explorer = current_explorer()
text, prepend_bos = prompt_inputs(explorer)

try:
    last = top_features(prompt_analysis(explorer, text, prepend_bos).acts[-1], 1)
    default_steers = format_steers([FeatureSteer(last[0].feature if last else 0, 8.0)])
    steers = parse_steers(url_value("steer", default_steers))
except ExplorerError as error:
    show_error(error)
    steers = []

st.markdown("**Features to steer** (add rows for several features)")
table = st.data_editor(
    pd.DataFrame(
        {"feature": [s.feature for s in steers], "mode": [s.mode for s in steers], "value": [s.value for s in steers]}
    ),
    num_rows="dynamic", hide_index=True, key="steer_table",
    column_config={
        "feature": st.column_config.NumberColumn(min_value=0, max_value=explorer.sae.d_sae - 1, step=1, required=True),
        "mode": st.column_config.SelectboxColumn(options=list(STEER_MODES), required=True, default="add"),
        "value": st.column_config.NumberColumn(
            default=8.0, help="add: the strength (multiples of the unit-norm decoder row); clamp: the activation"
        ),
    },
)  # fmt: skip
rows = table.dropna(subset=["feature"])
chosen = [
    FeatureSteer(int(r.feature), float(0.0 if pd.isna(r.value) else r.value), r.mode or "add")
    for r in rows.itertuples()
]
share_value("steer", format_steers(chosen))
steer_labels = feature_labels(explorer, [s.feature for s in chosen])
if steer_labels:
    st.caption("Labels: " + " · ".join(f"**{f}**: {text}" for f, text in steer_labels.items()))

settings = generation_settings_inputs()
inputs = (text, settings, format_steers(chosen))
result = st.session_state.get("steering_result")
current = result is not None and st.session_state.get("steering_inputs") == inputs
if st.button("Generate", type="primary") or recompute_for_link("generated", current):
    try:
        with st.spinner("Generating…"):
            result = steer_generate(explorer, text, chosen, settings)
        st.session_state["steering_result"], st.session_state["steering_inputs"] = result, inputs
        current = True
    except ExplorerError as error:
        show_error(error)
result_shown_in_link("generated", current)
if current and result is not None:
    continuations_side_by_side(
        result.prompt, ("**Default**", result.default), ("**Steered**: " + "; ".join(result.labels), result.steered),
        result.settings.seed, "the steering",
    )  # fmt: skip
