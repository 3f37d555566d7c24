"""SAE Feature Explorer: entry point. Wires navigation, the sidebar source picker and cached loading."""

from __future__ import annotations

import logging
import os
import sys

import streamlit as st

from explorer.bundle import read_manifest
from explorer.cluster import RAY_ENV
from explorer.errors import ExplorerError
from explorer.loading import Explorer
from explorer.paths import confine_paths
from explorer.ui import (
    EXPLORER_KEY,
    OTHER_SOURCE,
    RAY_ADDRESS_KEY,
    follow_url_source,
    get_explorer,
    other_source_key,
    search_features,
    show_error,
    summary_rows,
    write_url_source,
)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (never to a stream that was replaced and closed)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


_log = logging.getLogger("explorer")
if not _log.handlers:  # once per server process: model and SAE loads go to the server's log
    _log.addHandler(_CurrentStderr())
    _log.setLevel(logging.INFO)

st.set_page_config(page_title="SAE Feature Explorer", page_icon=":material/biotech:", layout="wide")

PAGES = [  # (file in pages/, title, material icon); the URL path is the file name
    ("prompt", "Prompt activations", "text_fields"),
    ("top_features", "Top features", "leaderboard"),
    ("feature", "Feature dashboard", "insights"),
    ("logit_view", "Feature-subset logits", "filter_alt"),
    ("attribution", "Attribution", "account_tree"),
    ("generation", "Generation and loss", "edit_note"),
    ("steering", "Steering", "tune"),
    ("sparsity", "Sparsity and reconstruction", "bar_chart"),
    ("compare", "Compare two SAEs", "compare_arrows"),
    ("lists", "Feature lists", "format_list_bulleted"),
    ("training", "Train an SAE", "model_training"),
]


def sidebar_source() -> tuple[str, str | None, str, str]:
    """The sidebar picker: SAE source, model override, device and dtype (an SAE the URL names first)."""
    demo_choices = [f"demo:{name}" for name in read_manifest().sae_names]
    follow_url_source(demo_choices)
    with st.sidebar:
        st.subheader("SAE")
        source = st.selectbox(
            "Source", [*demo_choices, OTHER_SOURCE], key="sae_choice", persist_state="session",
            help="A demo SAE shipped with the app, or any other source.",
        )  # fmt: skip
        if source == OTHER_SOURCE:
            source = st.text_input(
                "SAE source", key=other_source_key(), persist_state="session",
                placeholder="/path/to/sae  or  gpt2-small-res-jb:blocks.8.hook_resid_pre  or  run:ID",
            ).strip()  # fmt: skip
        with st.expander("Model, device, dtype"):
            model = st.text_input(
                "Model override",
                key="model_override",
                placeholder="from the SAE's metadata",
                persist_state="session",
            )
            device = st.selectbox(
                "Device", ["auto", "cpu", "cuda", "mps"], key="device", persist_state="session"
            )
            dtype = st.selectbox(
                "Dtype", ["auto", "float32", "bfloat16", "float16"], key="dtype", persist_state="session"
            )
            st.text_input(
                "Ray cluster for statistics", key=RAY_ADDRESS_KEY, persist_state="session",
                placeholder=os.environ.get(RAY_ENV) or "HOST:PORT or ray://HOST:10001",
                help=f"Shard the feature-statistics pass over this Ray cluster's workers (empty: {RAY_ENV}, if set). "
                "The results are the same as on one machine.",
            )  # fmt: skip
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
    confine_paths()  # paths typed in this session may only name files under the allowed roots
    pages = [st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)] + [
        # URL paths are the file names (Streamlit's default): until st.navigation has run once in a fresh
        # server, Streamlit routes a deep link by file name, so these must agree (see ui.ensure_entrypoint_ran).
        st.Page(f"pages/{file}.py", title=title, icon=f":material/{icon}:")
        for file, title, icon in PAGES
    ]
    navigation = st.navigation(pages)
    st.session_state[EXPLORER_KEY] = None
    source, model, device, dtype = sidebar_source()
    if source:
        try:
            st.session_state[EXPLORER_KEY] = get_explorer(source, model, device, dtype)
            write_url_source(source)
        except ExplorerError as error:
            with st.sidebar:
                show_error(error)
    if st.session_state[EXPLORER_KEY] is not None:
        sidebar_summary(st.session_state[EXPLORER_KEY])
        with st.sidebar:
            search_features(st.session_state[EXPLORER_KEY], key="sidebar_search", compact=True)
    navigation.run()


main()
