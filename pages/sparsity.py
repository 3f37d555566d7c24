"""Sparsity and reconstruction on a dataset sample: L0 and density histograms, reconstruction and loss metrics."""

from __future__ import annotations

import streamlit as st

from explorer.data import sae_context_size, sample_prompts
from explorer.errors import ExplorerError
from explorer.features import density_from_file
from explorer.hub import hub_reachable
from explorer.metrics import DENSE_THRESHOLD, compute_metrics
from explorer.plots import l0_histogram, log_density_histogram
from explorer.ui import current_explorer, show_error

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
        "Dataset", value=default_dataset(metadata.dataset_path),
        help="demo (the bundle's held-out split), a .txt (one document per line), .jsonl, .parquet or .csv file, "
        "a directory saved with Dataset.save_to_disk, or a Hugging Face dataset name (needs the hub).",
    )  # fmt: skip
    c1, c2, c3 = st.columns(3)
    n_prompts = c1.number_input("Prompts", 1, 10_000, 64)
    context = c2.number_input(
        "Context size", 2, explorer.model.cfg.n_ctx, sae_context_size(explorer),
        help="Default from the SAE's metadata (context_size).",
    )  # fmt: skip
    with_loss = c3.toggle("CE loss and KL", value=True, help="Off: the model runs only up to the hook.")
    submitted = st.form_submit_button("Compute", type="primary")

state_key = (explorer.key, dataset, int(n_prompts), int(context), with_loss)
if submitted:
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
if saved is None or saved[0][0] != explorer.key:
    st.info("Choose a sample and press Compute.")
    st.stop()
(_, shown_dataset, *_), result = saved
st.caption(
    f"{result.n_prompts} prompts, {result.n_tokens:,} tokens from `{shown_dataset}` (special tokens excluded)."
)

st.subheader("Sparsity")
m1, m2, m3, m4 = st.columns(4)
m1.metric("Mean L0", f"{result.l0:.1f}", help="Features > 0 per token, averaged over tokens (BOS excluded).")
m2.metric("Dead features", f"{result.dead_features:,}", help="Never fired on this sample.")
m3.metric(
    "Dense features",
    f"{result.dense_features:,}",
    help=f"Fired on more than {DENSE_THRESHOLD:.0%} of tokens.",
)
m4.metric(
    "Mean density",
    f"{result.mean_density:.2e}",
    help="Mean over features of the fraction of tokens where each fires.",
)
left, right = st.columns(2)
left.plotly_chart(l0_histogram(result.l0_per_token), width="stretch")
right.plotly_chart(log_density_histogram(result.feature_density, explorer.sae.log_sparsity), width="stretch")
if density_from_file(explorer) is None:
    right.caption("No sparsity.safetensors for this SAE: only the measured density is shown.")

st.subheader("Reconstruction")
r1, r2, r3 = st.columns(3)
r1.metric("MSE", f"{result.mse:.4g}", help="Mean over tokens of ||x − x̂||² (summed over d_in).")
r2.metric(
    "Explained variance",
    f"{result.explained_variance:.3f}",
    help="1 − E||x − x̂||² / (E||x||² − ||E[x]||²), pooled over tokens.",
)
r3.metric("Cosine similarity", f"{result.cosine_similarity:.3f}", help="Mean over tokens of cos(x, x̂).")
st.caption(
    "Explained variance uses SAE-Lens 6's pooled definition 1 − E||x − x̂||² / (E||x||² − ||E[x]||²); "
    "earlier SAE-Lens versions averaged a per-token ratio, which gives different numbers."
)
if result.ce_loss_orig is not None:
    st.subheader("Downstream loss")
    d1, d2, d3, d4, d5 = st.columns(5)
    d1.metric("CE loss (original)", f"{result.ce_loss_orig:.3f}")
    d2.metric("CE loss (with SAE)", f"{result.ce_loss_recon:.3f}")
    d3.metric("CE loss (zero-ablated)", f"{result.ce_loss_zero:.3f}")
    recovered = result.ce_loss_recovered
    d4.metric(
        "CE loss recovered",
        "n/a" if recovered is None else f"{recovered:.3f}",
        help="(zero − recon) / (zero − orig); n/a when zero-ablating the hook does not change the loss.",
    )
    d5.metric("KL divergence", f"{result.kl_div:.4f}", help="Mean over tokens of KL(p_orig ‖ p_with_SAE).")
