"""SAE Feature Explorer: entry point. Wires navigation, the sidebar source picker and cached loading."""

from __future__ import annotations

import json

import streamlit as st

from explorer.demo.bundle import read_manifest
from explorer.errors import ExplorerError
from explorer.loading import (
    Explorer,
    LoadedModel,
    LoadedSAE,
    assemble,
    load_model,
    load_sae,
    model_request,
    resolve_device,
    resolve_dtype,
)
from explorer.ui import EXPLORER_KEY, OTHER_SOURCE, show_error, summary_rows

st.set_page_config(page_title="SAE Feature Explorer", page_icon=":material/biotech:", layout="wide")

PAGES = [  # (file in pages/, title, material icon, url path)
    ("prompt", "Prompt activations", "text_fields", "prompt"),
    ("top_features", "Top features", "leaderboard", "top"),
    ("feature", "Feature dashboard", "insights", "feature"),
    ("logit_view", "Feature-subset logits", "filter_alt", "logits"),
    ("generation", "Generation and loss", "edit_note", "generation"),
    ("sparsity", "Sparsity and reconstruction", "bar_chart", "sparsity"),
    ("training", "Train an SAE", "model_training", "training"),
]


@st.cache_resource(show_spinner="Loading SAE…", max_entries=8)
def cached_sae(sae_source: str, device: str, dtype: str) -> LoadedSAE:
    """Each SAE is read once per (source, device, dtype), for every page and browser session."""
    return load_sae(sae_source, device=device, dtype=dtype)


@st.cache_resource(show_spinner="Loading model…", max_entries=2)
def cached_model(name: str, device: str, dtype: str, kwargs_json: str) -> LoadedModel:
    """Each model is loaded once per (name, device, dtype, kwargs); SAEs on the same model share it."""
    return load_model(name, device=device, dtype=dtype, from_pretrained_kwargs=json.loads(kwargs_json))


@st.cache_resource(show_spinner=False, max_entries=8)
def get_explorer(sae_source: str, model: str | None, device: str, dtype: str) -> Explorer:
    """The checked pairing of a cached model and a cached SAE."""
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    loaded_sae = cached_sae(sae_source, device, dtype)
    model_name, kwargs = model_request(loaded_sae, model)
    return assemble(
        cached_model(model_name, device, dtype, json.dumps(kwargs, sort_keys=True)), loaded_sae, device, dtype
    )


def sidebar_source() -> tuple[str, str | None, str, str]:
    """The sidebar picker: SAE source, model override, device and dtype (first filled from the URL's ?sae=)."""
    demo_choices = [f"demo:{name}" for name in read_manifest().sae_names]
    if "sae_choice" not in st.session_state:
        requested = st.query_params.get("sae", demo_choices[0])
        st.session_state["sae_choice"] = requested if requested in demo_choices else OTHER_SOURCE
        st.session_state["sae_other"] = "" if requested in demo_choices else requested
    with st.sidebar:
        st.subheader("SAE")
        source = st.selectbox(
            "Source", [*demo_choices, OTHER_SOURCE], key="sae_choice",
            help="A demo SAE shipped with the app, or any other source.",
        )  # fmt: skip
        if source == OTHER_SOURCE:
            source = st.text_input(
                "SAE source", key="sae_other",
                placeholder="/path/to/sae  or  gpt2-small-res-jb:blocks.8.hook_resid_pre  or  run:ID",
            ).strip()  # fmt: skip
        with st.expander("Model, device, dtype"):
            model = st.text_input(
                "Model override", key="model_override", placeholder="from the SAE's metadata"
            )
            device = st.selectbox("Device", ["auto", "cpu", "cuda", "mps"], key="device")
            dtype = st.selectbox("Dtype", ["auto", "float32", "bfloat16", "float16"], key="dtype")
    return source, model.strip() or None, device, dtype


def sidebar_summary(explorer: Explorer) -> None:
    """The summary card of what is loaded."""
    with st.sidebar, st.container(border=True):
        for label, value in summary_rows(explorer.info()):
            st.markdown(f"**{label}**  \n`{value}`")
        if explorer.sae.hook_name_mapped_from:
            st.caption(
                f"Hook name mapped from the Hugging Face module `{explorer.sae.hook_name_mapped_from}`."
            )


def main() -> None:
    """Render the sidebar, load what it names, and run the selected page."""
    pages = [st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)] + [
        st.Page(f"pages/{file}.py", title=title, icon=f":material/{icon}:", url_path=url)
        for file, title, icon, url in PAGES
    ]
    navigation = st.navigation(pages)
    st.session_state[EXPLORER_KEY] = None
    source, model, device, dtype = sidebar_source()
    if source:
        try:
            st.session_state[EXPLORER_KEY] = get_explorer(source, model, device, dtype)
            if source != st.query_params.get("sae"):
                st.query_params["sae"] = source
        except ExplorerError as error:
            with st.sidebar:
                show_error(error)
    if st.session_state[EXPLORER_KEY] is not None:
        sidebar_summary(st.session_state[EXPLORER_KEY])
    navigation.run()


main()
