"""Attribution: which features, at which tokens, made the model predict a token here (activation × gradient),
each checked against its real ablation effect."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.attribution import ABLATE_AT, METRICS
from explorer.errors import ExplorerError
from explorer.plots import attribution_heatmap, estimate_vs_ablation, token_label, tokens_html, visible
from explorer.steering import FeatureSteer, format_steers
from explorer.ui import (
    add_to_list_control,
    cached_attribution,
    cached_figure,
    current_explorer,
    feature_chart,
    feature_labels,
    feature_table,
    open_feature,
    prompt_section,
    share_value,
    show_error,
    url_index,
    url_value,
)

TARGET_MODES = ("top", "token", "contrast")
TARGET_LABELS = {"top": "The model's top prediction", "token": "A token", "contrast": "Contrast A − B"}
METRIC_LABELS = {"logit": "logit", "logprob": "log-probability"}
ABLATE_LABELS = {"position": "at its position", "all": "at every position (features summed over positions)"}

st.title("Attribution")
st.caption(
    "Which features made the model predict this token here. The SAE is spliced with its error term (the "
    "output is the model's own); one backward pass gives each active feature's **attribution** = activation × "
    "gradient of the target's logit, at every earlier token. Each listed feature is then really zeroed and "
    "the change recorded, so you see where the linear estimate holds."
)
explorer = current_explorer()
analysis = prompt_section(explorer)
tokens = analysis.tokens.strings
n = len(tokens)

if st.session_state.get("attr_prompt") not in (None, analysis.tokens.text):  # a new prompt: its last token
    for name in ("pos", "attr_position"):
        st.session_state.pop(name, None)
st.session_state["attr_prompt"] = analysis.tokens.text
position = st.select_slider(
    "Predict the token after", options=list(range(n)), value=min(max(url_value("pos", n - 1, int), 0), n - 1),
    format_func=lambda i: token_label(i, tokens[i]), key="attr_position",
)  # fmt: skip
share_value("pos", int(position))

left, middle, right = st.columns([2, 2, 1])
mode = left.radio(
    "Target", TARGET_MODES, format_func=TARGET_LABELS.get, horizontal=True, key="attr_mode",
    index=url_index("target_mode", TARGET_MODES),
)  # fmt: skip
share_value("target_mode", mode)
target = contrast = None
if mode == "token":
    target = middle.text_input(
        "Target token", value=url_value("target", " red"), key="attr_target",
        help="The token as the vocabulary has it (' red', with its space), a word (red), or #ID.",
    )  # fmt: skip
    share_value("target", target)
elif mode == "contrast":
    contrast = middle.text_input(
        "Contrast A:B", value=url_value("contrast", "red:blue"), key="attr_contrast",
        help="logit(A) − logit(B), as in IOI-style checks, e.g. Mary:John.",
    )  # fmt: skip
    share_value("contrast", contrast)
metric = right.radio(
    "Metric", METRICS, format_func=METRIC_LABELS.get, key="attr_metric",
    index=url_index("metric", METRICS),
)  # fmt: skip
share_value("metric", metric)

left, middle, right = st.columns([2, 3, 2])
top = left.slider("Features to list", 5, 50, min(max(url_value("top", 20, int), 5), 50), key="attr_top")
share_value("top", int(top))
ablate_at = middle.radio(
    "Ablate each listed feature", ABLATE_AT, format_func=ABLATE_LABELS.get, key="attr_ablate_at",
    index=url_index("ablate_at", ABLATE_AT),
)  # fmt: skip
share_value("ablate_at", ablate_at)
check = right.toggle(
    "Check against ablation", value=url_value("check", "1") == "1", key="attr_check",
    help="One batched forward per 8 features, each zeroing one of them.",
)  # fmt: skip
share_value("check", "1" if check else "0")

try:
    with st.spinner("Attributing…"):
        result = cached_attribution(
            explorer, explorer.key, analysis.tokens.text, analysis.tokens.prepend_bos, int(position),
            target or None, contrast or None, metric, int(top), bool(check), ablate_at,
        )  # fmt: skip
except ExplorerError as error:
    show_error(error)
    st.stop()

what = METRIC_LABELS[metric]
cols = st.columns(4)
cols[0].metric(
    "Target", result.target.describe(), help=f"The model's top prediction here is {result.top_prediction!r}."
)
cols[1].metric(f"Its {what}", f"{result.value:.3f}")
cols[2].metric(
    "Error term's share", f"{result.error_share:.0%}",
    help="|error attribution| / (|features| + |error|), each summed over positions: how much of the "
    "prediction the SAE does not explain.",
)  # fmt: skip
if result.ablation is not None:
    corr = result.ablation.correlation
    cols[3].metric(
        "Estimate vs ablation", "n/a" if corr is None else f"r = {corr:.2f}",
        help=f"Pearson correlation over the listed features; signs agree for {result.ablation.sign_agreement:.0%}.",
    )  # fmt: skip

st.markdown(
    f"**Each token's total attribution** to the {what} of {result.target.describe()} after token "
    f"{token_label(result.position, tokens[result.position])} (red raises it, blue lowers it; hover for values; "
    "the outlined token is the one predicting)."
)
st.html(tokens_html(tokens, result.total_by_position, label="total", signed=True, marked=result.position))
st.caption(
    f"Per token: features {sum(result.features_by_position):+.3f} · error term {sum(result.error_by_position):+.3f} · "
    f"decoder bias {sum(result.bias_by_position):+.3f} (summed over tokens; their sum is the first-order effect of "
    f"zeroing the hook). {result.n_active:,} active (token, feature) pairs; BOS bypasses the SAE."
)

st.subheader("Top features")
if not result.features:
    st.info("No feature is active at or before this token.")
    st.stop()
labels = feature_labels(explorer, [f.feature for f in result.features] + result.heatmap_features)
rows = [
    {
        "feature": f.feature,
        "label": labels.get(f.feature, ""),
        "token": "all" if f.position is None else token_label(f.position, f.token),
        "activation": f.activation,
        "attribution": f.attribution,
        **({} if f.ablation_effect is None else {"ablation effect": f.ablation_effect}),
    }
    for f in result.features
]
feature_table(
    pd.DataFrame(rows), key="attr_table", width="stretch", height=min(420, 40 + 35 * len(rows)),
    column_config={
        "attribution": st.column_config.NumberColumn(format="%+.4f", help="activation × gradient: the estimate"),
        "ablation effect": st.column_config.NumberColumn(
            format="%+.4f", help=f"{what} with the feature − {what} without it (zeroed {ABLATE_LABELS[ablate_at]})"
        ),
    },
)  # fmt: skip

chosen = st.selectbox(
    "Act on a listed feature", [f.feature for f in result.features], key="attr_act_on",
    format_func=lambda f: f"feature {f}" + (f" · {labels[f]}" if labels.get(f) else ""),
)  # fmt: skip
with st.container(horizontal=True, vertical_alignment="center"):
    if st.button("Open its dashboard", icon=":material/insights:", width="content"):
        open_feature(chosen)
    if st.button("Steer with it", icon=":material/tune:", width="content"):
        open_feature(chosen, "steering", steer=format_steers([FeatureSteer(chosen, 8.0)]))
    if st.button("Ablate it and generate", icon=":material/block:", width="content"):
        open_feature(chosen, "steering", steer=format_steers([FeatureSteer(chosen, 0.0, "ablate")]))
    if st.button("Colour the prompt by it", icon=":material/text_fields:", width="content"):
        open_feature(chosen, "prompt")
    add_to_list_control(explorer, [chosen], key=f"attribution-list-{chosen}")

if result.ablation is not None:
    st.subheader("Estimate against ablation")
    st.caption(
        "Each point is a listed feature: its linear estimate (x) and the real change when it is zeroed (y). "
        "On the dotted line the estimate is exact; far from it, the model is not linear over that range "
        "(large activations through LayerNorm, attention saturation). Click a point to open the feature."
    )
    scatter = cached_figure(
        ("attr_scatter", explorer.key, result.tokens.text, result.tokens.prepend_bos, result.position,
         result.target.describe(), metric, int(top), ablate_at),
        lambda: estimate_vs_ablation(
            [f.feature for f in result.features],
            [f"f{f.feature} at {'all' if f.position is None else visible(f.token)}" for f in result.features],
            [f.attribution for f in result.features], [f.ablation_effect or 0.0 for f in result.features],
        ),
    )  # fmt: skip
    feature_chart(scatter, key="attr_scatter", width="stretch")

st.subheader("Tokens × features")
st.caption(
    "Attribution of the top features (by total |attribution|) at each token. Click a cell to open the feature."
)
heat_tokens = tokens[: result.position + 1]
heatmap = cached_figure(
    ("attr_heatmap", explorer.key, result.tokens.text, result.tokens.prepend_bos, result.position,
     result.target.describe(), metric, int(top), tuple(sorted(labels.items()))),
    lambda: attribution_heatmap(heat_tokens, result.heatmap_features, result.heatmap, labels),
)  # fmt: skip
feature_chart(heatmap, key="attr_heatmap", width="stretch")
