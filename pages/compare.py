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
from explorer.metrics import METRICS, format_metric, small_sample_warning
from explorer.plots import density_histogram, l0_histogram
from explorer.ui import (
    current_explorer,
    feature_table,
    get_explorer,
    recompute_for_link,
    result_shown_in_link,
    share_value,
    show_error,
    url_value,
    with_labels,
)

st.title("Compare two SAEs")
explorer = current_explorer()
st.caption(f"**A** is the SAE chosen in the sidebar: `{explorer.sae.source.text}` at `{explorer.hook_name}`.")

demo_sources = [f"demo:{name}" for name in read_manifest().sae_names]
others = [s for s in demo_sources if s != explorer.sae.source.text] or demo_sources
other_text = st.text_input(
    "B: the second SAE (same model; any source)", value=url_value("other", others[0]),
    help="demo:NAME, a local directory, RELEASE:SAE_ID or run:ID. Both SAEs share the one loaded model.",
    key="other_source",
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
    dataset = c1.text_input("Dataset", value=url_value("dataset", "demo"), key="w_dataset")
    n_prompts = c2.number_input(
        "Prompts", 1, 10_000, min(max(url_value("prompts", 32), 1), 10_000), key="w_prompts"
    )
    with_loss = c3.toggle(
        "CE loss and KL",
        value=url_value("with_loss", True, cast=lambda raw: raw == "True"),
        key="w_with_loss",
    )
    submitted = st.form_submit_button("Compare", type="primary")

key = (explorer.key, other.key, dataset, int(n_prompts), with_loss)
saved = st.session_state.get("comparison")
if submitted or recompute_for_link("compared", saved is not None and saved[0] == key):
    for name, value in (("dataset", dataset), ("prompts", int(n_prompts)), ("with_loss", bool(with_loss))):
        share_value(name, value)
    try:
        with st.spinner("Running both SAEs on the sample…"):
            rows = sample_prompts(explorer, dataset, int(n_prompts))
            st.session_state["comparison"] = (key, rows, *compare_metrics(explorer, other, rows, with_loss))
    except ExplorerError as error:
        show_error(error)
saved = st.session_state.get("comparison")
result_shown_in_link("compared", saved is not None and saved[0][:2] == key[:2])
if saved is None or saved[0][:2] != key[:2]:
    st.info("Choose a sample and press Compare.")
    st.stop()
_, rows, metrics_a, metrics_b = saved

a_values, b_values = metrics_a.to_dict(), metrics_b.to_dict()
table_rows = []
for name, definition in METRICS.items():
    a, b = a_values.get(name), b_values.get(name)
    if a is None and b is None:
        continue
    better = ""
    if definition.better and a is not None and b is not None and a != b:
        better = "A" if (a > b) == (definition.better == "higher") else "B"
    table_rows.append({"metric": definition.label, "A": format_metric(name, a), "B": format_metric(name, b),
                       "better": better, "definition": definition.help})  # fmt: skip
st.dataframe(
    pd.DataFrame(table_rows), hide_index=True, width="stretch", height=38 + 35 * len(table_rows),
    column_config={"better": st.column_config.TextColumn(help="Which SAE does better on this metric (blank: neither is better)"),
                   "definition": st.column_config.TextColumn(width="large")},
)  # fmt: skip
warning = small_sample_warning(min(metrics_a.n_tokens, metrics_b.n_tokens))
if warning:
    st.warning(warning)
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
        "Feature of A",
        0,
        explorer.sae.d_sae - 1,
        min(url_value("feature", 0, int), explorer.sae.d_sae - 1),
        key="compare_feature",
    )
)
share_value("feature", feature)
by_decoder, by_correlation = st.columns(2)
try:
    with by_decoder:
        st.markdown("**By decoder cosine similarity** (directions in the residual stream)")
        feature_table(
            with_labels(other, pd.DataFrame([m.to_dict() for m in nearest_by_decoder_across(explorer, other, feature)]).rename(
                columns={"score": "cosine"}
            )),
            key="matches_by_decoder", sae_source=other.sae.source.text, width="stretch",
        )  # fmt: skip
    with by_correlation:
        st.markdown("**By activation correlation** (Pearson, over the sample's tokens)")
        feature_table(
            with_labels(other, pd.DataFrame([m.to_dict() for m in nearest_by_correlation(explorer, other, feature, rows)]).rename(
                columns={"score": "correlation"}
            )),
            key="matches_by_correlation", sae_source=other.sae.source.text, width="stretch",
        )  # fmt: skip
except ExplorerError as error:
    show_error(error)
