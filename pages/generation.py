"""Generation and loss with and without the SAE spliced in, and an answer check like test_prompt."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.errors import ExplorerError
from explorer.generation import check_answer, generate_pair
from explorer.logits import parse_feature_ids
from explorer.plots import loss_difference_chart
from explorer.ui import (
    cached_figure,
    cached_loss,
    continuations_side_by_side,
    current_explorer,
    generation_settings_inputs,
    prompt_inputs,
    recompute_for_link,
    result_shown_in_link,
    share_value,
    show_error,
    url_value,
)

st.title("Generation and loss")
explorer = current_explorer()
text, prepend_bos = prompt_inputs(explorer)

with st.expander("Splicing", expanded=False):
    use_error_term = st.toggle(
        "Splice with the error term", value=url_value("error_term", False, cast=lambda raw: raw == "True"),
        help="Adds back the SAE's reconstruction error, so the spliced model equals the original and "
        "ablating a feature isolates that feature's effect.", key="w_error_term",
    )  # fmt: skip
    ablate_text = st.text_input(
        "Ablate features (set to zero in the spliced run)",
        value=url_value("ablate", ""),
        placeholder="e.g. 12, 345",
        key="w_ablate",
    )
share_value("error_term", bool(use_error_term))
share_value("ablate", ablate_text)

try:
    ablate = parse_feature_ids(ablate_text)
except ExplorerError as error:
    show_error(error)
    st.stop()

st.subheader("Generate")
settings = generation_settings_inputs()
inputs = (text, settings, use_error_term, tuple(ablate))
pair = st.session_state.get("generation")
current = pair is not None and st.session_state.get("generation_inputs") == inputs
if st.button("Generate", type="primary") or recompute_for_link("generated", current):
    try:
        with st.spinner("Generating…"):
            pair = generate_pair(explorer, text, settings, use_error_term, ablate)
        st.session_state["generation"], st.session_state["generation_inputs"] = pair, inputs
        current = True
    except ExplorerError as error:
        show_error(error)
result_shown_in_link("generated", current)
if current and pair is not None:
    continuations_side_by_side(
        pair.prompt, ("**Model alone**", pair.base),
        ("**With the SAE spliced in**" + (" (error term on)" if pair.use_error_term else ""), pair.with_sae),
        pair.settings.seed, "the splice",
    )  # fmt: skip

st.subheader("Next-token loss on the prompt")
try:
    loss = cached_loss(explorer, explorer.key, text, prepend_bos)
except ExplorerError as error:
    show_error(error)
    st.stop()
m1, m2, m3, m4 = st.columns(4)
m1.metric("Original", f"{loss.ce_loss_orig:.3f}")
m2.metric(
    "With SAE",
    f"{loss.ce_loss_recon:.3f}",
    f"{loss.ce_loss_recon - loss.ce_loss_orig:+.3f}",
    delta_color="inverse",
)
m3.metric("Hook zero-ablated", f"{loss.ce_loss_zero:.3f}")
recovered = loss.ce_loss_recovered
m4.metric("CE loss recovered", "n/a" if recovered is None else f"{recovered:.3f}")
st.caption(
    "Mean next-token cross-entropy (nats) over the prompt. CE loss recovered = (zero − recon) / (zero − orig): "
    "1 means the SAE preserves the model's loss, 0 means it is no better than zeroing the hook."
)
loss_chart = cached_figure(
    ("loss_difference", explorer.key, text, prepend_bos),
    lambda: loss_difference_chart(loss.tokens.strings, loss.loss_orig, loss.loss_recon),
)
st.plotly_chart(loss_chart, width="stretch")

st.subheader("Answer check")
st.caption(
    "Like TransformerLens' test_prompt: the probability and rank of the answer's first token after the prompt."
)
answer = st.text_input("Answer", value=" Lily" if text.rstrip().endswith("named") else "")
if answer.strip():
    try:
        check = check_answer(explorer, text, answer, use_error_term, ablate, prepend_bos)
    except ExplorerError as error:
        show_error(error)
        st.stop()
    st.caption(f"Answer tokens: {check.answer_tokens} (the first is scored)")
    left, right = st.columns(2)
    for column, title, ranking in (
        (left, "Model alone", check.base),
        (right, "With the SAE", check.with_sae),
    ):
        column.markdown(f"**{title}**: probability {ranking.probability:.4f}, rank {ranking.rank}")
        column.dataframe(
            pd.DataFrame({"token": [repr(t) for t in ranking.top_tokens], "probability": ranking.top_probabilities}),
            hide_index=True, width="stretch",
        )  # fmt: skip
