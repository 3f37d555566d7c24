"""Home: what the app is, what is loaded, and what each page is for."""

from __future__ import annotations

import streamlit as st

from explorer.ui import current_explorer, prompt_inputs

st.title("SAE Feature Explorer")
st.markdown(
    "Explore the features of a sparse autoencoder (SAE) trained on a language model's activations: "
    "which features fire on your text, what they promote, and how much of the model the SAE preserves. "
    "Pick the SAE in the sidebar: a demo SAE shipped with the app (works offline), a local directory "
    "saved by SAE-Lens, an SAE-Lens pretrained release (`RELEASE:SAE_ID`, needs the hub or a local "
    "Hugging Face cache), or a finished training run (`run:ID`)."
)

explorer = current_explorer()
info = explorer.info()
st.subheader("Loaded")
cols = st.columns([3, 3, 2, 2])
cols[0].markdown(
    f"**Model**  \n`{info['model_name']}`"
)  # names are long: code text, not a metric, so none is cut
cols[1].markdown(f"**Hook**  \n`{info['hook_name']}`")
cols[2].markdown(f"**Features (d_sae)**  \n`{info['d_sae']:,}`")
cols[3].markdown(f"**Architecture**  \n`{info['architecture']}`")
st.caption(
    f"Model: {info['n_layers']} layers, d_model {info['d_model']}, context {info['n_ctx']}, "
    f"vocabulary {info['d_vocab']:,}. SAE read from `{info['sae_path']}`. "
    f"Context size {info['context_size']}, prepend BOS {info['prepend_bos']} (from the SAE's metadata)."
)
if info["conversions"]:
    st.markdown(
        "**Converted on loading**, the way SAE-Lens' own code does (so the numbers are the ones SAE-Lens gives):\n"
        + "\n".join(f"- {conversion}" for conversion in info["conversions"])
    )
for warning in info["warnings"]:
    st.warning(warning)

st.subheader("Start from a prompt")
st.caption("Type text here; every page uses it (it stays for the session and goes into shared links).")
prompt_inputs(explorer, key_prefix="home_")

st.subheader("Pages")
PAGE_GUIDE = (  # (file in pages/, title, what it does)
    ("prompt", "Prompt activations", "a feature's activation on each token of your text, a token × feature heatmap, "
     "and every feature active at a chosen token."),
    ("top_features", "Top features", "the k strongest features at the last token, a chosen token, or over the whole "
     "prompt (max, mean or firing count), with their density, the tokens they promote and Neuronpedia links."),
    ("feature", "Feature dashboard", "one feature in depth, as Neuronpedia shows it: logits, nearest features, "
     "density, max-activating and quantile examples, histogram, your own text, a search by token; and actions "
     "to colour the prompt by it, steer with it or compare it. Statistics come from one cached pass over a sample."),
    ("logit_view", "Feature-subset logits", "splice in a reconstruction from only some features (top-k, random, or "
     "typed ids) and compare the next-token distribution with the model and the full SAE."),
    ("attribution", "Attribution", "which features, at which tokens, made the model predict a token here "
     "(activation × gradient with the SAE's error term), each checked against its real ablation effect."),
    ("generation", "Generation and loss", "generate with and without the SAE from the same seed; the prompt's loss "
     "original / with the SAE / zero-ablated, CE loss recovered and a per-token loss chart."),
    ("steering", "Steering", "generate with chosen features pushed (strength × W_dec[f]), clamped or ablated, "
     "beside the default text from the same seed."),
    ("sparsity", "Sparsity and reconstruction", "on a dataset sample: L0 and density histograms, dead and dense "
     "features, MSE, explained variance, cosine similarity, CE loss recovered and KL divergence."),
    ("compare", "Compare two SAEs", "a second SAE on the same model: the same metrics side by side, overlaid "
     "histograms, and a feature's nearest features in the other SAE."),
    ("lists", "Feature lists", "your lists of features with labels, densities and their activation on the prompt; "
     "reorder, annotate, and export a list as one HTML file a colleague opens offline."),
    ("training", "Train an SAE", "launch SAE-Lens training runs from a form, watch them live, cancel, resume, and "
     "open the trained SAE (or its latest checkpoint) here."),
)  # fmt: skip
for file, title, what in PAGE_GUIDE:
    link, text = st.columns([1, 3])
    link.page_link(f"pages/{file}.py", label=title)
    text.markdown(what)
st.caption(
    "Every page keeps its settings (SAE, prompt, feature, k, ...) in the URL: copy the address to share the view."
)
