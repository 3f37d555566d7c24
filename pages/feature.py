"""Feature dashboard: logits and neighbours at once; then density, max-activating and quantile examples, histogram."""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer.activations import analyze_prompt
from explorer.autointerp import configured_endpoint, explain
from explorer.data import sae_context_size
from explorer.errors import ExplorerError
from explorer.export import export_html, feature_export
from explorer.feature_stats import (
    default_stats_tokens,
    features_firing_on_token,
    features_promoting_token,
    histogram,
    nearest_by_decoder,
    quantile_examples,
    top_examples,
)
from explorer.features import check_feature_ids, direct_logit_effects, neuronpedia_url
from explorer.formats import percent
from explorer.labels import ensure_automatic_labels, sae_identity
from explorer.plots import examples_html, tokens_html
from explorer.stats_cache import get_feature_stats, load_cached, sample_rows, stats_key
from explorer.steering import FeatureSteer, format_steers
from explorer.store import LABEL_KINDS, MAX_LABEL, label_kinds, note_for, set_label, set_note
from explorer.ui import (
    add_to_list_control,
    current_explorer,
    feature_table,
    label_column,
    open_feature,
    ray_address,
    search_features,
    share_value,
    show_error,
    url_value,
    with_labels,
)

st.title("Feature dashboard")
explorer = current_explorer()
d_sae = explorer.sae.d_sae
default_tokens = default_stats_tokens(explorer.device)

requested = url_value("feature", "0", str)
try:
    initial = check_feature_ids(explorer, [int(requested)])[0]
except (ValueError, ExplorerError):
    st.warning(f"`?feature={requested}` is not a feature of this SAE (0..{d_sae - 1}); showing feature 0.")
    initial = 0
pick, actions = st.columns([1, 4], vertical_alignment="bottom")
feature = int(pick.number_input("Feature", 0, d_sae - 1, initial, key="feature_id"))
share_value("feature", feature)
with actions.container(horizontal=True, vertical_alignment="center"):  # whole labels, wrapped when narrow
    if st.button("Colour the prompt by it", icon=":material/text_fields:", width="content"):
        open_feature(feature, "prompt")
    if st.button("Steer with it", icon=":material/tune:", width="content"):
        open_feature(feature, "steering", steer=format_steers([FeatureSteer(feature, 8.0)]))
    if st.button("Compare with another SAE", icon=":material/compare_arrows:", width="content"):
        open_feature(feature, "compare")
    url = neuronpedia_url(explorer, feature)
    if url:
        st.link_button("Neuronpedia", url, icon=":material/open_in_new:", width="content")
    else:
        st.caption("No Neuronpedia id for this SAE.")

# The feature's label (yours wins over an imported or automatic one) and note, editable here.
identity = sae_identity(explorer)
try:
    kinds = label_kinds(identity, feature)
    note = note_for(identity, feature)
except ExplorerError as error:
    show_error(error)
    kinds, note = {}, ""
shown = next(((kinds[k], k) for k in LABEL_KINDS if k in kinds), None)
st.markdown(f"### Feature {feature}" + (f" · {shown[0]}" if shown else ""))
if shown and shown[1] != "user":
    st.caption(
        f"{shown[1].capitalize()} label. Give it your own: yours is shown wherever the feature appears."
    )
edit, listing = st.columns([3, 1], vertical_alignment="bottom")
with edit.expander("Label and note", icon=":material/edit:"), st.form(f"label-{feature}"):
    label_text = st.text_input("Your label", value=kinds.get("user", ""), max_chars=MAX_LABEL,
                               placeholder=kinds.get("auto", "e.g. colour adjectives"))  # fmt: skip
    note_text = st.text_area("Note", value=note, height=100)
    if "auto" in kinds:
        st.caption(f"Automatic: {kinds['auto']}")
    if "imported" in kinds:
        st.caption(f"Imported: {kinds['imported']}")
    if "llm" in kinds:
        st.caption(f"From the LLM: {kinds['llm']}")
    if st.form_submit_button("Save"):
        try:
            set_label(identity, feature, label_text)
            set_note(identity, feature, note_text)
        except ExplorerError as error:
            show_error(error)
        else:
            st.rerun()
with listing:
    add_to_list_control(explorer, [feature], key="dashboard-list")

# Weight-based views need no statistics: shown at once.
left, right = st.columns(2)
effect = direct_logit_effects(explorer, [feature], n=10)[0]
left.markdown("**Logits** (W_dec[f] @ W_U, final LayerNorm not applied)")
left.dataframe(
    pd.DataFrame({"promotes": [repr(t) for t in effect.top_tokens], "logit": effect.top_values,
                  "suppresses": [repr(t) for t in effect.bottom_tokens], "logit ": effect.bottom_values}),
    hide_index=True, width="stretch",
)  # fmt: skip
with right:
    st.markdown("**Nearest features** (decoder cosine similarity)")
    nearest = nearest_by_decoder(explorer, feature)
    feature_table(
        pd.DataFrame({"feature": [f for f, _ in nearest], "label": label_column(explorer, [f for f, _ in nearest]),
                      "cosine": [c for _, c in nearest]}),
        key="nearest_features", width="stretch",
    )  # fmt: skip

with st.expander("Statistics sample", expanded=False), st.form("stats"):
    c1, c2 = st.columns(2)
    dataset = c1.text_input("Dataset", value=url_value("stats_dataset", "demo"),
                                help="The same sources as the Sparsity page; `file:PATH` for a text file.", key="w_stats_dataset")  # fmt: skip
    n_tokens = c2.number_input(
        "Tokens",
        1_024,
        50_000_000,
        min(max(url_value("stats_tokens", default_tokens), 1_024), 50_000_000),
        step=8_192,
        help="1 M by default on a GPU, so rare features get good examples; 64 k on the CPU.",
        key="w_stats_tokens",
    )
    if st.form_submit_button("Use this sample"):
        share_value("stats_dataset", dataset)
        share_value("stats_tokens", int(n_tokens))
dataset = url_value("stats_dataset", "demo")  # the sample is in the URL, so a link shows the same statistics
n_tokens = int(min(max(url_value("stats_tokens", default_tokens), 1_024), 50_000_000))
context = sae_context_size(explorer)

stats = load_cached(stats_key(explorer, dataset, n_tokens, context))
fresh = stats is None
if stats is None:  # computed once, automatically, then cached on disk for every feature of this SAE
    cluster = ray_address()
    where = f" on the Ray cluster `{cluster}`" if cluster else ""
    bar = st.progress(
        0.0, text=f"Computing statistics over {n_tokens:,} sampled tokens of `{dataset}`{where}…"
    )
    try:
        stats, _ = get_feature_stats(
            explorer, dataset, n_tokens, context, ray_address=cluster,
            progress=lambda done, total, rate: bar.progress(
                done / total, text=f"Statistics for all features: {done:,}/{total:,} tokens · {rate:,.0f} tokens/s"
            ),
        )  # fmt: skip
    except ExplorerError as error:
        show_error(error)
        st.stop()
    bar.empty()
try:
    if ensure_automatic_labels(explorer, stats, refresh=fresh) and shown is None:  # a new pass: new labels
        st.rerun()  # once, so the heading above shows this feature's new automatic label
except ExplorerError as error:
    show_error(error)
st.caption(
    f"Statistics over {stats.n_tokens:,} tokens of `{dataset}` ({n_tokens:,} sampled, BOS tokens excluded; "
    f"context {stats.context_size})."
)

density, max_act, mean_act = (
    float(stats.density[feature]),
    float(stats.max_acts[feature]),
    float(stats.mean_nonzero[feature]),
)
m1, m2, m3 = st.columns(3)
m1.metric("Density", percent(density), help="Share of sampled tokens where the feature is > 0.")
m2.metric("Max activation", f"{max_act:.3f}")
m3.metric("Mean when active", f"{mean_act:.3f}")
if density == 0:
    st.warning("This feature never fired on the sample (dead here).")
with st.container(horizontal=True):
    try:
        endpoint = configured_endpoint()
    except ExplorerError as error:
        show_error(error)
        endpoint = None
    if endpoint is not None and st.button("Explain with the LLM", icon=":material/auto_awesome:",
                                          help=f"Asks {endpoint.model} at {endpoint.url} from the top examples."):  # fmt: skip
        try:
            with st.spinner("Asking the LLM…"):
                explain(explorer, stats, feature, endpoint)
        except ExplorerError as error:
            show_error(error)
        else:
            st.rerun()
    export = feature_export(explorer, stats, feature)
    st.download_button(
        "Export as HTML", export_html(f"Feature {feature}", [export]), file_name=f"feature-{feature}.html",
        mime="text/html", icon=":material/download:", help="One self-contained file: opens offline, no server.",
    )  # fmt: skip
    st.download_button(
        "Export as JSON", json.dumps(export, indent=1), file_name=f"feature-{feature}.json",
        mime="application/json", icon=":material/data_object:", help="Neuronpedia's field names; schema in docs/.",
    )  # fmt: skip

st.subheader("Max-activating examples")
examples = top_examples(stats, explorer, feature)
if not examples:
    st.caption("No examples: the feature never fired on the sample.")
st.html(examples_html([(e.tokens, e.activations, e.max_activation, e.position) for e in examples], max_act,
                      f"f{feature}"))  # fmt: skip

left, right = st.columns([2, 3])
centres, counts = histogram(stats, feature)
fig = go.Figure(go.Bar(x=centres, y=counts))
fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10}, title="Non-zero activations",
                  xaxis={"title": "activation"}, yaxis={"title": "tokens"})  # fmt: skip
left.plotly_chart(fig, width="stretch")
with right:
    st.markdown("**Examples by activation quantile**")
    for label, band in quantile_examples(stats, explorer, feature):
        st.markdown(label)
        rows = [(e.tokens, e.activations, e.max_activation, e.position) for e in band]
        st.html(examples_html(rows, max_act, f"f{feature}"))

st.subheader("Run it on my text")
own_text = st.text_area(
    "Text", value="", placeholder="Type text to see this feature's activation on each token."
)
if own_text.strip():
    try:
        analysis = analyze_prompt(explorer, own_text)
    except ExplorerError as error:
        show_error(error)
    else:
        values = analysis.acts[:, feature].tolist()
        st.html(tokens_html(analysis.tokens.strings, values, max_value=max_act or None, label=f"f{feature}"))

st.subheader("Search by label or note")
search_features(explorer, key="dashboard-search")

st.subheader("Search by token")
token_text = st.text_input("Token", placeholder="e.g.  red  (a leading space matters)")
if token_text:
    ids = explorer.model.to_tokens(token_text, prepend_bos=False)[0].tolist()
    if len(ids) != 1:
        st.warning(
            f"'{token_text}' is {len(ids)} tokens: {explorer.model.to_str_tokens(token_text, prepend_bos=False)}; searching the first."
        )
    token_id = ids[0]
    left, right = st.columns(2)
    with left:
        st.markdown("**Features that most promote it** (W_dec @ W_U)")
        feature_table(
            with_labels(
                explorer,
                pd.DataFrame(features_promoting_token(explorer, token_id), columns=["feature", "logit"]),
            ),
            key="promoting_features",
        )
    fired, occurrences = features_firing_on_token(
        explorer, sample_rows(explorer, dataset, min(n_tokens, 16_384), context), token_id
    )
    with right:
        st.markdown(
            f"**Features that fire most on it** (mean activation over {occurrences} occurrences in the sample)"
        )
        feature_table(
            with_labels(explorer, pd.DataFrame(fired, columns=["feature", "mean activation"])),
            key="firing_features",
        )
