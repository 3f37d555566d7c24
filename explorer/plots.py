"""Plotly figures and small HTML renderings shared by the pages (no Streamlit here)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

FONT = {"family": "ui-monospace, SFMono-Regular, Menlo, monospace"}


def token_label(position: int, token: str) -> str:
    """A token shown with its position, whitespace made visible: `3: ·Lily`."""
    return f"{position}: {visible(token)}"


def feature_axis_label(feature: int, labels: dict[int, str], width: int = 32) -> str:
    """`f123 · fires on: red…` for a chart axis (the label cut to `width`), or `f123` without one."""
    text = labels.get(int(feature))
    if not text:
        return f"f{feature}"
    return f"f{feature} · " + (text if len(text) <= width else text[: width - 1] + "…")


def visible(token: str) -> str:
    """Spaces as '·' and newlines as '↵', so tokens are readable in tables and axes."""
    return token.replace(" ", "·").replace("\n", "↵")


def tokens_html(
    tokens: Sequence[str],
    values: Sequence[float],
    max_value: float | None = None,
    label: str = "",
    one_line: bool = False,
    marked: int | None = None,
    signed: bool = False,
) -> str:
    """Tokens as inline spans whose background shows each value (hover: the value).

    With `one_line`, a newline inside a token is shown as '↵' without breaking the line; the token at
    position `marked` (an example's own token) is outlined. With `signed`, negative values are shaded
    blue (and positive ones red) on one scale, their largest magnitude.
    """
    magnitudes = [abs(v) for v in values] if signed else [v for v in values if v > 0]
    top = max_value if max_value and max_value > 0 else max(magnitudes, default=1.0) or 1.0
    spans = []
    for position, (token, value) in enumerate(zip(tokens, values, strict=True)):
        shown = abs(value) if signed else value
        alpha = 0.0 if shown <= 0 else min(1.0, shown / top)
        colour = "70, 130, 220" if signed and value < 0 else "255, 99, 71"
        title = html.escape(f"{position}: {token!r} {label} {value:.3f}".strip(), quote=True)
        text = html.escape(token).replace("\n", "↵" if one_line else "↵<br>")
        outline = "outline: 1.5px solid #8b0000; " if position == marked else ""
        spans.append(
            f'<span title="{title}" style="background: rgba({colour}, {alpha:.2f}); {outline}'
            f'border-radius: 3px; padding: 1px 0; white-space: pre{"" if one_line else "-wrap"};">{text}</span>'
        )
    wrap = "white-space: nowrap; overflow-x: auto; " if one_line else ""
    return (
        f'<div style="{wrap}font-family: ui-monospace, monospace; line-height: 1.9;">'
        + "".join(spans)
        + "</div>"
    )


def examples_html(
    rows: Sequence[tuple[Sequence[str], Sequence[float], float, int]],
    max_value: float | None,
    label: str = "",
) -> str:
    """Examples (tokens, values, the example's activation, its position) on a shared colour scale: one
    compact line each, led by the example's own activation, with its token outlined."""
    body = "".join(
        '<div style="display: flex; gap: 0.6em; align-items: baseline; border-bottom: 1px solid #eee;">'
        f'<span style="min-width: 3.5em; text-align: right; font-weight: 600; font-variant-numeric: tabular-nums;">'
        f"{value:.2f}</span>"
        f'<div style="min-width: 0; flex: 1;">{tokens_html(tokens, values, max_value, label, True, position)}</div>'
        "</div>"
        for tokens, values, value, position in rows
    )
    return f"<div>{body}</div>"


def _feature_heatmap(
    z: np.ndarray,
    tokens: Sequence[str],
    features: Sequence[int],
    labels: dict[int, str] | None,
    value: str,
    value_format: str,
    **colours: object,
) -> go.Figure:
    """Tokens (x) by features (y) heatmap of `z` [n_features, pos], rows named `f123 · label`.

    Plotly heatmaps report no click selection to Streamlit, so each cell also carries an invisible
    scatter point whose customdata is the cell's feature: a click on a cell selects that point.
    """
    x_labels = np.array([token_label(i, t) for i, t in enumerate(tokens)], dtype=object)
    y_labels = np.array([feature_axis_label(f, labels or {}) for f in features], dtype=object)
    n_features, n_tokens = z.shape
    fig = go.Figure(
        [
            go.Heatmap(z=z, x=x_labels, y=y_labels, hoverinfo="skip", colorbar={"title": {"text": value}}, **colours),
            go.Scatter(  # one point per cell, row by row
                x=np.tile(x_labels, n_features), y=np.repeat(y_labels, n_tokens),
                customdata=np.repeat(np.asarray(features, dtype=np.int64), n_tokens),
                text=np.char.mod(value_format, z.reshape(-1)).astype(object), mode="markers", showlegend=False,
                marker={"symbol": "square", "size": 16, "opacity": 0},
                selected={"marker": {"opacity": 0}}, unselected={"marker": {"opacity": 0}},
                hovertemplate=f"token %{{x}}<br>feature %{{customdata}}<br>{value} %{{text}}"
                "<br>click to open its dashboard<extra></extra>",
            ) if n_features else go.Scatter(),
        ]
    )  # fmt: skip
    fig.update_layout(
        height=max(250, 22 * len(features) + 140), margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"tickangle": -60, "tickfont": FONT, "title": "token (position: text)"},
        yaxis={"autorange": "reversed", "title": "feature"},
    )  # fmt: skip
    return fig


def activation_heatmap(
    tokens: Sequence[str], acts: torch.Tensor, features: Sequence[int], labels: dict[int, str] | None = None
) -> go.Figure:
    """Tokens (x) by features (y) heatmap of activations (acts is [pos, d_sae]); a click on a cell opens its feature."""
    z = acts[:, list(features)].T.float().numpy()  # [n_features, pos]; arrays keep Plotly's validation cheap
    return _feature_heatmap(z, tokens, features, labels, "activation", "%.3f", colorscale="Reds", zmin=0)


def attribution_heatmap(
    tokens: Sequence[str],
    features: Sequence[int],
    attributions: Sequence[Sequence[float]],
    labels: dict[int, str] | None = None,
) -> go.Figure:
    """Tokens (x) by features (y) of signed attributions ([position][feature]; red promotes, blue suppresses)."""
    z = np.asarray(attributions, dtype=np.float64).reshape(len(tokens), len(features)).T  # [n_features, pos]
    bound = float(np.abs(z).max()) if z.size else 1.0
    return _feature_heatmap(
        z, tokens, features, labels, "attribution", "%+.3f",
        colorscale="RdBu", reversescale=True, zmid=0, zmin=-bound, zmax=bound,
    )  # fmt: skip


def estimate_vs_ablation(
    features: Sequence[int], labels: Sequence[str], estimates: Sequence[float], effects: Sequence[float]
) -> go.Figure:
    """Each listed feature's linear estimate (x) against its real ablation effect (y), with the y = x line."""
    values = [*estimates, *effects]
    low, high = (min(values), max(values)) if values else (-1.0, 1.0)
    fig = go.Figure(
        [
            go.Scatter(x=[low, high], y=[low, high], mode="lines", line={"dash": "dot", "color": "gray"},
                       hoverinfo="skip", showlegend=False),
            go.Scatter(
                x=list(estimates), y=list(effects), mode="markers", customdata=list(features), text=list(labels),
                marker={"size": 9}, showlegend=False,
                hovertemplate="%{text}<br>estimate %{x:+.3f}<br>ablation %{y:+.3f}<br>click to open<extra></extra>",
            ),
        ]
    )  # fmt: skip
    fig.update_layout(
        height=330, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": "attribution (activation × gradient)", "zeroline": True},
        yaxis={"title": "ablation effect (real)", "zeroline": True},
    )  # fmt: skip
    return fig


def probability_bars(tokens: Sequence[str], probabilities: Sequence[float], title: str) -> go.Figure:
    """Horizontal bars of next-token probabilities, most likely on top."""
    fig = go.Figure(go.Bar(x=list(probabilities), y=[visible(t) for t in tokens], orientation="h"))
    fig.update_layout(
        title=title, height=60 + 24 * len(tokens), margin={"l": 10, "r": 10, "t": 40, "b": 10},
        yaxis={"autorange": "reversed", "tickfont": FONT}, xaxis={"range": [0, 1], "title": "probability"},
    )  # fmt: skip
    return fig


def loss_difference_chart(
    tokens: Sequence[str], loss_orig: Sequence[float], loss_recon: Sequence[float]
) -> go.Figure:
    """Per-token change in next-token loss with the SAE spliced in (recon - orig), by predicted token."""
    predicted = [token_label(i + 1, t) for i, t in enumerate(tokens[1:])]
    diff = [r - o for o, r in zip(loss_orig, loss_recon, strict=True)]
    fig = go.Figure()
    for name, colour, keep in (
        ("worse with the SAE", "#d62728", True),
        ("better with the SAE", "#2ca02c", False),
    ):
        picked = [(x, d) for x, d in zip(predicted, diff, strict=True) if (d > 0) == keep]
        fig.add_trace(
            go.Bar(
                x=[x for x, _ in picked], y=[d for _, d in picked], name=name, marker_color=colour,
                hovertemplate="predicting %{x}<br>loss change %{y:.3f}<extra></extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        height=340, margin={"l": 10, "r": 10, "t": 30, "b": 10}, barmode="relative",
        xaxis={"tickangle": -60, "tickfont": FONT, "title": "predicted token (position: text)",
               "categoryorder": "array", "categoryarray": predicted},
        yaxis={"title": "loss with SAE − loss without (nats)"}, legend={"orientation": "h", "y": 1.12},
    )  # fmt: skip
    return fig


SERIES_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")  # distinct hues for overlaid series


def l0_histogram(l0_per_token: torch.Tensor | dict[str, torch.Tensor]) -> go.Figure:
    """Histogram of the number of active features per token (several SAEs overlaid when given a dict).

    Overlaid series use distinct colours and a log count axis, so one SAE's spike (TopK's single L0
    value) does not flatten the other's curve.
    """
    series = l0_per_token if isinstance(l0_per_token, dict) else {"": l0_per_token}
    fig = go.Figure()
    for (name, values), colour in zip(series.items(), SERIES_COLOURS, strict=False):
        fig.add_trace(
            go.Histogram(x=values.tolist(), name=name, opacity=0.6 if len(series) > 1 else 1.0, nbinsx=60,
                         marker_color=colour)
        )  # fmt: skip
    overlaid = len(series) > 1
    fig.update_layout(
        barmode="overlay", height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": "L0 (active features per token)"},
        yaxis={"title": "tokens (log scale)" if overlaid else "tokens", "type": "log" if overlaid else "linear"},
        showlegend=overlaid, legend={"orientation": "h", "y": 1.12},
    )  # fmt: skip
    return fig


def density_histogram(log10_densities: dict[str, torch.Tensor]) -> go.Figure:
    """Overlaid histograms of log10 feature density, one per named series (dead features left out)."""
    fig = go.Figure()
    for (name, values), colour in zip(log10_densities.items(), SERIES_COLOURS, strict=False):
        fig.add_trace(
            go.Histogram(x=values[torch.isfinite(values)].tolist(), name=name, opacity=0.6, nbinsx=60,
                         marker_color=colour)
        )  # fmt: skip
    fig.update_layout(
        barmode="overlay", height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": "log10 feature density (dead features not shown)"}, yaxis={"title": "features"},
        legend={"orientation": "h", "y": 1.12},
    )  # fmt: skip
    return fig


def log_density_histogram(measured: torch.Tensor | None, from_file: torch.Tensor | None) -> go.Figure:
    """Histogram of log10 feature density; measured on the sample and from sparsity.safetensors, overlaid."""
    series = {}
    if measured is not None:
        series["measured on the sample"] = torch.log10(measured)
    if from_file is not None:
        series["from the SAE's training (sparsity.safetensors)"] = from_file
    return density_histogram(series)
