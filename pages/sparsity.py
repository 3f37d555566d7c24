"""Sparsity and reconstruction on a dataset sample: L0 and density histograms, reconstruction and loss metrics."""

from __future__ import annotations

import streamlit as st

from explorer.data import sae_context_size, sample_prompts
from explorer.errors import ExplorerError
from explorer.features import density_from_file
from explorer.hub import hub_reachable
from explorer.metrics import METRICS, compute_metrics, format_metric, small_sample_warning
from explorer.plots import l0_histogram, log_density_histogram
from explorer.ui import (
    current_explorer,
    recompute_for_link,
    result_shown_in_link,
    share_value,
    show_error,
    url_value,
)

st.title("Sparsity and reconstruction")
explorer = current_explorer()
metadata = explorer.sae.metadata


@st.cache_data(ttl=60, show_spinner=False)
def default_dataset(dataset_path: str | None) -> str:
    """The SAE's training dataset when it is a hub dataset and the hub answers; else the demo split."""
    if dataset_path and dataset_path != "demo" and hub_reachable():
        return dataset_path
    return "demo"


with st.form("sample"):
    dataset = st.text_input(
        "Dataset", value=url_value("dataset", default_dataset(metadata.dataset_path)), key="w_dataset",
        help="demo (the bundle's held-out split), a .txt (one document per line), .jsonl, .parquet or .csv file, "
        "a directory saved with Dataset.save_to_disk, or a Hugging Face dataset name (needs the hub).",
    )  # fmt: skip
    c1, c2, c3 = st.columns(3)
    n_prompts = c1.number_input(
        "Prompts", 1, 10_000, min(max(url_value("prompts", 64), 1), 10_000), key="w_prompts"
    )
    context = c2.number_input(
        "Context size", 2, explorer.model.cfg.n_ctx,
        min(max(url_value("context", sae_context_size(explorer)), 2), explorer.model.cfg.n_ctx),
        help="Default from the SAE's metadata (context_size).", key="w_context",
    )  # fmt: skip
    with_loss = c3.toggle("CE loss and KL", value=url_value("with_loss", True, cast=lambda raw: raw == "True"),
                          help="Off: the model runs only up to the hook.", key="w_with_loss")  # fmt: skip
    submitted = st.form_submit_button("Compute", type="primary")

state_key = (explorer.key, dataset, int(n_prompts), int(context), with_loss)
saved = st.session_state.get("sparsity")
if submitted or recompute_for_link("computed", saved is not None and saved[0] == state_key):
    for name, value in (("dataset", dataset), ("prompts", int(n_prompts)), ("context", int(context)),
                        ("with_loss", bool(with_loss))):  # fmt: skip
        share_value(name, value)
    bar = st.progress(0.0, text="Tokenizing…")
    try:
        rows = sample_prompts(explorer, dataset, int(n_prompts), int(context))
        result = compute_metrics(
            explorer, rows, with_loss=with_loss,
            progress=lambda done, total: bar.progress(done / total, text=f"{done}/{total} prompts"),
        )  # fmt: skip
        st.session_state["sparsity"] = (state_key, result)
    except ExplorerError as error:
        show_error(error)
    bar.empty()

saved = st.session_state.get("sparsity")
result_shown_in_link("computed", saved is not None and saved[0][0] == explorer.key)
if saved is None or saved[0][0] != explorer.key:
    st.info("Choose a sample and press Compute.")
    st.stop()
(_, shown_dataset, *_), result = saved
st.caption(
    f"{result.n_prompts} prompts, {result.n_tokens:,} tokens from `{shown_dataset}` (special tokens excluded)."
)

values = result.to_dict()


def show_metrics(names: tuple[str, ...]) -> None:
    """One st.metric per name, labelled, formatted and explained as everywhere else (see explorer.metrics.METRICS)."""
    for column, name in zip(st.columns(len(names)), names, strict=True):
        column.metric(METRICS[name].label, format_metric(name, values[name]), help=METRICS[name].help)


st.subheader("Sparsity")
show_metrics(("l0", "dead_features", "dense_features", "mean_density"))
warning = small_sample_warning(result.n_tokens)
if warning:
    st.warning(warning)
left, right = st.columns(2)
left.plotly_chart(l0_histogram(result.l0_per_token), width="stretch")
right.plotly_chart(log_density_histogram(result.feature_density, explorer.sae.log_sparsity), width="stretch")
if density_from_file(explorer) is None:
    right.caption("No sparsity.safetensors for this SAE: only the measured density is shown.")

st.subheader("Reconstruction")
show_metrics(("mse", "explained_variance", "cosine_similarity"))
st.caption(
    "Explained variance uses SAE-Lens 6's pooled definition 1 − E||x − x̂||² / (E||x||² − ||E[x]||²); "
    "earlier SAE-Lens versions averaged a per-token ratio, which gives different numbers."
)
if result.ce_loss_orig is not None:
    st.subheader("Downstream loss")
    show_metrics(("ce_loss_orig", "ce_loss_recon", "ce_loss_zero", "ce_loss_recovered", "kl_div"))
