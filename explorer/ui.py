"""The few Streamlit helpers pages share (the only module of `explorer/` that imports streamlit)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from explorer.activations import DEFAULT_PROMPT, PromptAnalysis, analyze_prompt, default_prepend_bos
from explorer.errors import ExplorerError
from explorer.loading import Explorer

EXPLORER_KEY = "explorer"
OTHER_SOURCE = "Other: directory, RELEASE:SAE_ID or run:ID"


def select_source(source: str) -> None:
    """Point the sidebar's source picker at `source` for the next run (e.g. a finished training run)."""
    st.session_state["sae_choice"] = OTHER_SOURCE
    st.session_state["sae_other"] = source
    st.query_params["sae"] = source


def current_explorer() -> Explorer:
    """The model + SAE loaded from the sidebar; stops the page with a message when none is loaded."""
    explorer = st.session_state.get(EXPLORER_KEY)
    if explorer is None:
        st.info("Pick an SAE in the sidebar to start.")
        st.stop()
    return explorer


def show_error(error: ExplorerError | Exception) -> None:
    """Show a user-fixable problem as one clear message (no traceback)."""
    if isinstance(error, ExplorerError):
        st.error(error.message + (f"\n\n{error.hint}" if error.hint else ""), icon=":material/error:")
    else:
        st.error(f"Unexpected {type(error).__name__}: {error}", icon=":material/bug_report:")


def summary_rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    """The (label, value) rows of the summary card for an `Explorer.info()` dict."""
    hook = info["hook_name"]
    if info.get("hook_name_mapped_from"):
        hook += f" (mapped from {info['hook_name_mapped_from']})"
    rows = [
        ("Model", info["model_name"]),
        ("Hook", hook),
        ("d_in → d_sae", f"{info['d_in']} → {info['d_sae']}"),
        ("Architecture", info["architecture"]),
        ("Device / dtype", f"{info['device']} / {info['dtype']}"),
    ]
    if info.get("neuronpedia_id"):
        rows.append(("Neuronpedia", info["neuronpedia_id"]))
    return rows


@st.cache_data(max_entries=64, show_spinner=False)
def cached_analysis(_explorer: Explorer, key: str, text: str, prepend_bos: bool) -> PromptAnalysis:  # noqa: ARG001
    """`analyze_prompt`, cached per (loaded model + SAE, text, prepend_bos)."""
    return analyze_prompt(_explorer, text, prepend_bos)


def prompt_analysis(explorer: Explorer, text: str, prepend_bos: bool) -> PromptAnalysis:
    """The prompt's analysis from the cache; stops the page with a clear message on bad input."""
    try:
        return cached_analysis(explorer, explorer.key, text, prepend_bos)
    except ExplorerError as error:
        show_error(error)
        st.stop()


def prompt_inputs(explorer: Explorer, key_prefix: str = "") -> tuple[str, bool]:
    """The shared prompt box and prepend-BOS toggle (their values persist across pages)."""
    text = st.text_area(
        "Prompt",
        value=st.session_state.get("prompt", DEFAULT_PROMPT),
        height=90,
        key=f"{key_prefix}prompt_box",
    )
    st.session_state["prompt"] = text
    prepend_bos = st.toggle(
        "Prepend BOS", value=default_prepend_bos(explorer), key=f"{key_prefix}bos",
        help="Default from the SAE's metadata (prepend_bos).",
    )  # fmt: skip
    return text, prepend_bos


def truncation_notice(analysis: PromptAnalysis, n_ctx: int) -> None:
    """Say so when the prompt was cut to the model's context."""
    if analysis.tokens.truncated:
        st.warning(
            f"The prompt has {analysis.tokens.n_original} tokens; the model's context is {n_ctx}, "
            f"so only the first {n_ctx} are analysed."
        )


def prompt_section(explorer: Explorer) -> PromptAnalysis:
    """The prompt box, the BOS toggle, the (cached) analysis and the truncation notice, as pages share them."""
    text, prepend_bos = prompt_inputs(explorer)
    analysis = prompt_analysis(explorer, text, prepend_bos)
    truncation_notice(analysis, explorer.model.cfg.n_ctx)
    return analysis
