"""Feature lists: named, ordered features of the loaded SAE with labels, densities and their activation on the
prompt; reorder, annotate, remove; export the list as one self-contained HTML file or as JSON."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from explorer.activations import feature_maxima, feature_traces
from explorer.data import sae_context_size
from explorer.errors import ExplorerError
from explorer.export import export_file_stem, export_html, list_export
from explorer.feature_stats import default_stats_tokens
from explorer.features import feature_densities
from explorer.formats import percent
from explorer.labels import ensure_automatic_labels, import_neuronpedia_text, sae_identity
from explorer.stats_cache import get_feature_stats, load_cached, stats_key
from explorer.store import delete_list, lists, save_list, set_list_items
from explorer.ui import (
    current_explorer,
    feature_table,
    label_column,
    prompt_analysis,
    prompt_inputs,
    ray_address,
    share_value,
    show_error,
    url_value,
)

st.title("Feature lists")
st.caption(
    'Lists of features of the loaded SAE ("colour features", "IOI candidates"), kept in this machine\'s store. '
    "Add a feature from its dashboard or from the Top features page; click a row to open it."
)
explorer = current_explorer()
identity = sae_identity(explorer)
try:
    saved = lists(identity)
except ExplorerError as error:
    show_error(error)
    st.stop()
with st.expander("Import labels from Neuronpedia", icon=":material/upload:"):
    upload = st.file_uploader(
        "Neuronpedia explanation export (JSON)", type=["json"], key="neuronpedia_upload",
        help="A list of {index, description} for this SAE's features; they show as labels (yours still win).",
    )  # fmt: skip
    if upload is not None and st.button("Import", key="neuronpedia_import"):
        try:
            count = import_neuronpedia_text(
                explorer, upload.getvalue().decode("utf-8", "replace"), upload.name
            )
        except ExplorerError as error:
            show_error(error)
        else:
            st.success(f"Imported {count:,} explanations as labels.")
if not saved:
    st.info("This SAE has no lists yet. On a feature's dashboard, use **Add to a list**.")
    st.stop()
names = [s.name for s in saved]
requested = url_value("list", names[0], str)
if requested not in names:
    st.warning(f"This SAE has no list named '{requested}'; showing '{names[0]}'.")
    requested = names[0]
name = st.selectbox("List", names, index=names.index(requested), key="list_choice")
share_value("list", name)
current = next(s for s in saved if s.name == name)
if current.description:
    st.markdown(current.description)

text, prepend_bos = prompt_inputs(explorer)
analysis = prompt_analysis(explorer, text, prepend_bos)
context = sae_context_size(explorer)
stats_tokens = default_stats_tokens(explorer.device)
stats = load_cached(stats_key(explorer, "demo", stats_tokens, context))
densities = feature_densities(explorer, stats.density if stats is not None else None)
traces = feature_traces(analysis, current.features)
features = current.features
frame = pd.DataFrame(
    {
        "feature": features,
        "label": label_column(explorer, features),
        "density": [percent(densities[f]) if densities is not None else "" for f in features],
        "on the prompt": traces,
        "max on the prompt": feature_maxima(analysis, features),
        "note": current.notes,
    }
)
if features:
    feature_table(
        frame, key="list_table", width="stretch", height=min(600, 40 + 35 * len(features)),
        column_config={
            "on the prompt": st.column_config.LineChartColumn(
                help="The feature's activation on each token of the prompt above.", y_min=0
            ),
            "max on the prompt": st.column_config.NumberColumn(format="%.3f"),
        },
    )  # fmt: skip
    if densities is None:
        st.caption(
            "Densities appear once the statistics are computed (feature dashboard) or from sparsity.safetensors."
        )
else:
    st.info("The list is empty.")

with st.expander("Edit the list: order, notes, remove", icon=":material/edit:"):
    edited = st.data_editor(
        pd.DataFrame({"order": list(range(1, len(features) + 1)), "feature": features,
                      "label": frame["label"], "note": current.notes, "remove": [False] * len(features)}),
        key=f"list_editor_{current.id}", hide_index=True, width="stretch",
        disabled=["feature", "label"],
        column_config={"order": st.column_config.NumberColumn(min_value=1, step=1, required=True)},
    )  # fmt: skip
    description = st.text_input(
        "Description", value=current.description, key=f"list_description_{current.id}"
    )
    if st.button("Save changes", type="primary"):
        kept = edited[~edited["remove"]].sort_values("order", kind="stable")
        try:
            set_list_items(
                identity, name, [int(f) for f in kept["feature"]], [str(n or "") for n in kept["note"]]
            )
            save_list(identity, name, description)
        except ExplorerError as error:
            show_error(error)
        else:
            st.rerun()
    if st.button("Delete this list", icon=":material/delete:"):
        st.session_state["confirm_delete_list"] = name
    if st.session_state.get("confirm_delete_list") == name:
        st.warning(f"Delete '{name}' and its {len(features)} items?")
        if st.button("Yes, delete it"):
            delete_list(identity, name)
            st.session_state.pop("confirm_delete_list")
            st.query_params.pop("list", None)
            st.session_state.pop("list", None)
            st.rerun()

st.subheader("Export")
if stats is None:
    st.caption(
        f"An export holds each feature's examples: it needs the statistics over {stats_tokens:,} tokens of the demo."
    )
    if not st.button("Compute statistics"):
        st.stop()
    with st.spinner("Computing statistics for all features…"):
        stats, cached = get_feature_stats(explorer, "demo", stats_tokens, context, ray_address=ray_address())
        ensure_automatic_labels(explorer, stats, refresh=not cached)
try:
    data = list_export(explorer, stats, name)
except ExplorerError as error:
    show_error(error)
    st.stop()
slug = export_file_stem(name)
with st.container(horizontal=True):
    st.download_button(
        "Export as HTML", export_html(f"Feature list: {name}", data["features"], current.description),
        file_name=f"{slug}.html", mime="text/html", icon=":material/download:",
        help="One self-contained file with every feature's dashboard: opens offline, no server.",
    )  # fmt: skip
    st.download_button(
        "Export as JSON", json.dumps(data, indent=1), file_name=f"{slug}.json", mime="application/json",
        icon=":material/data_object:",
    )  # fmt: skip
