"""Compare two SAEs on the same model: metrics on one sample, overlaid histograms, and feature matches."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

from explorer.bundle import read_manifest
from explorer.compare import (
    check_same_model,
    compare_metrics,
    nearest_by_correlation,
    nearest_by_decoder_across,
)
from explorer.data import sample_prompts
from explorer.errors import ExplorerError
from explorer.plots import density_histogram, l0_histogram
from explorer.ui import current_explorer, get_explorer, share_value, show_error, url_value

st.title("Compare two SAEs")
explorer = current_explorer()
st.caption(f"**A** is the SAE chosen in the sidebar: `{explorer.sae.source.text}` at `{explorer.hook_name}`.")

demo_sources = [f"demo:{name}" for name in read_manifest().sae_names]
others = [s for s in demo_sources if s != explorer.sae.source.text] or demo_sources
other_text = st.text_input(
    "B: the second SAE (same model; any source)", value=url_value("other", others[0]),
    help="demo:NAME, a local directory, RELEASE:SAE_ID or run:ID. Both SAEs share the one loaded model.",
).strip()  # fmt: skip
share_value("other", other_text)
try:
    other = get_explorer(
        other_text, st.session_state.get("model_override") or None, explorer.device, explorer.dtype
    )
    check_same_model(explorer, other)
except ExplorerError as error:
    show_error(error)
    st.stop()
st.caption(f"**B**: `{other.sae.source.text}` at `{other.hook_name}`, d_sae {other.sae.d_sae}.")

with st.form("compare_sample"):
    c1, c2, c3 = st.columns(3)
    dataset = c1.text_input("Dataset", value="demo")
    n_prompts = c2.number_input("Prompts", 1, 10_000, 32)
    with_loss = c3.toggle("CE loss and KL", value=True)
    submitted = st.form_submit_button("Compare", type="primary")

key = (explorer.key, other.key, dataset, int(n_prompts), with_loss)
if submitted:
    try:
        with st.spinner("Running both SAEs on the sample…"):
            rows = sample_prompts(explorer, dataset, int(n_prompts))
            st.session_state["comparison"] = (key, rows, *compare_metrics(explorer, other, rows, with_loss))
    except ExplorerError as error:
        show_error(error)
saved = st.session_state.get("comparison")
if saved is None or saved[0][:2] != key[:2]:
    st.info("Choose a sample and press Compare.")
    st.stop()
_, rows, metrics_a, metrics_b = saved

table = pd.DataFrame({"A": metrics_a.to_dict(), "B": metrics_b.to_dict()})
st.dataframe(table, width="stretch", height=38 + 35 * len(table), column_config={"A": st.column_config.NumberColumn(format="%.4g"),
                                                     "B": st.column_config.NumberColumn(format="%.4g")})  # fmt: skip
left, right = st.columns(2)
left.plotly_chart(l0_histogram({"A": metrics_a.l0_per_token, "B": metrics_b.l0_per_token}), width="stretch")
right.plotly_chart(
    density_histogram(
        {"A": torch.log10(metrics_a.feature_density), "B": torch.log10(metrics_b.feature_density)}
    ),
    width="stretch",
)

st.subheader("A feature of A, matched in B")
feature = int(
    st.number_input(
        "Feature of A", 0, explorer.sae.d_sae - 1, min(url_value("feature", 0, int), explorer.sae.d_sae - 1)
    )
)
share_value("feature", feature)
by_decoder, by_correlation = st.columns(2)
try:
    by_decoder.markdown("**By decoder cosine similarity** (directions in the residual stream)")
    by_decoder.dataframe(
        pd.DataFrame([m.to_dict() for m in nearest_by_decoder_across(explorer, other, feature)]).rename(
            columns={"score": "cosine"}
        ),
        hide_index=True, width="stretch",
    )  # fmt: skip
    by_correlation.markdown("**By activation correlation** (Pearson, over the sample's tokens)")
    by_correlation.dataframe(
        pd.DataFrame([m.to_dict() for m in nearest_by_correlation(explorer, other, feature, rows)]).rename(
            columns={"score": "correlation"}
        ),
        hide_index=True, width="stretch",
    )  # fmt: skip
except ExplorerError as error:
    show_error(error)
