"""Plotly figures and small HTML renderings shared by the pages (no Streamlit here)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go
import torch

FONT = {"family": "ui-monospace, SFMono-Regular, Menlo, monospace"}


def token_label(position: int, token: str) -> str:
    """A token shown with its position, whitespace made visible: `3: ·Lily`."""
    return f"{position}: {visible(token)}"


def visible(token: str) -> str:
    """Spaces as '·' and newlines as '↵', so tokens are readable in tables and axes."""
    return token.replace(" ", "·").replace("\n", "↵")


def tokens_html(
    tokens: Sequence[str], values: Sequence[float], max_value: float | None = None, label: str = ""
) -> str:
    """Tokens as inline spans whose background shows each value (hover: the value)."""
    top = max_value if max_value and max_value > 0 else max([v for v in values if v > 0], default=1.0)
    spans = []
    for position, (token, value) in enumerate(zip(tokens, values, strict=True)):
        alpha = 0.0 if value <= 0 else min(1.0, value / top)
        title = html.escape(f"{position}: {token!r} {label} {value:.3f}".strip(), quote=True)
        text = html.escape(token).replace("\n", "↵<br>")
        spans.append(
            f'<span title="{title}" style="background: rgba(255, 99, 71, {alpha:.2f}); '
            f'border-radius: 3px; padding: 1px 0; white-space: pre-wrap;">{text}</span>'
        )
    return '<div style="font-family: ui-monospace, monospace; line-height: 1.9;">' + "".join(spans) + "</div>"


def examples_html(
    rows: Sequence[tuple[Sequence[str], Sequence[float]]], max_value: float | None, label: str = ""
) -> str:
    """Several token rows (tokens, values) in one block, one row per example, on a shared colour scale."""
    body = "".join(
        f'<div style="border-bottom: 1px solid #eee; padding: 4px 0;">{tokens_html(tokens, values, max_value, label)}</div>'
        for tokens, values in rows
    )
    return f"<div>{body}</div>"


def activation_heatmap(tokens: Sequence[str], acts: torch.Tensor, features: Sequence[int]) -> go.Figure:
    """Tokens (x) by features (y) heatmap of activations; acts is [pos, d_sae]."""
    z = acts[:, list(features)].T.tolist()  # [n_features, pos]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[token_label(i, t) for i, t in enumerate(tokens)],
            y=[f"f{f}" for f in features],
            colorscale="Reds",
            zmin=0,
            hovertemplate="token %{x}<br>feature %{y}<br>activation %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        height=max(250, 22 * len(features) + 120), margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"tickangle": -60, "tickfont": FONT}, yaxis={"autorange": "reversed"},
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
    fig = go.Figure(
        go.Bar(
            x=predicted, y=diff, marker_color=["#d62728" if d > 0 else "#2ca02c" for d in diff],
            hovertemplate="predicting %{x}<br>loss change %{y:.3f}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis={"tickangle": -60, "tickfont": FONT},
        yaxis={"title": "loss with SAE − loss without (nats)"},
    )  # fmt: skip
    return fig


def l0_histogram(l0_per_token: torch.Tensor | dict[str, torch.Tensor]) -> go.Figure:
    """Histogram of the number of active features per token (several SAEs overlaid when given a dict)."""
    series = l0_per_token if isinstance(l0_per_token, dict) else {"": l0_per_token}
    fig = go.Figure()
    for name, values in series.items():
        fig.add_trace(
            go.Histogram(x=values.tolist(), name=name, opacity=0.6 if len(series) > 1 else 1.0, nbinsx=60)
        )
    fig.update_layout(
        barmode="overlay", height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": "L0 (active features per token)"}, yaxis={"title": "tokens"},
        showlegend=len(series) > 1, legend={"orientation": "h", "y": 1.12},
    )  # fmt: skip
    return fig


def density_histogram(log10_densities: dict[str, torch.Tensor]) -> go.Figure:
    """Overlaid histograms of log10 feature density, one per named series (dead features left out)."""
    fig = go.Figure()
    for name, values in log10_densities.items():
        fig.add_trace(
            go.Histogram(x=values[torch.isfinite(values)].tolist(), name=name, opacity=0.6, nbinsx=60)
        )
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
        series["sparsity.safetensors"] = from_file
    return density_histogram(series)
