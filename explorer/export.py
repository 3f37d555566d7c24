"""Export features for colleagues: JSON close to Neuronpedia's feature export, and one self-contained HTML file.

The JSON of one feature follows `docs/feature-export.schema.json`: Neuronpedia's field names where it has
them (`index`, `maxActApprox`, `frac_nonzero`, `pos_str`/`pos_values`, `neg_str`/`neg_values`,
`freq_hist_data_bar_heights`/`_values`, `activations` with `tokens`/`values`/`maxValue`/`maxValueTokenIndex`,
`explanations`), plus the label, the note and the quantile bands. The HTML holds everything inline (CSS,
data, an SVG histogram): it opens offline, with no server and no network.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from collections.abc import Sequence
from typing import Any

from explorer.feature_stats import FeatureStats, histogram, quantile_examples, top_examples
from explorer.features import check_feature_ids, direct_logit_effects
from explorer.labels import label_map, sae_identity
from explorer.loading import Explorer
from explorer.plots import examples_html
from explorer.store import get_list, note_for

EXPORT_FORMAT = "sae-explorer-feature/1"


def feature_export(
    explorer: Explorer, stats: FeatureStats, feature: int, n_logits: int = 10
) -> dict[str, Any]:
    """One feature as JSON (the schema in `docs/feature-export.schema.json`)."""
    feature = check_feature_ids(explorer, [feature])[0]
    identity = sae_identity(explorer)
    label = label_map(explorer, [feature]).get(feature)
    try:
        effect = direct_logit_effects(explorer, [feature], n=n_logits)[0]
        pos = (effect.top_tokens, effect.top_values)
        neg = (effect.bottom_tokens, effect.bottom_values)
    except Exception:  # noqa: BLE001 - a hook with no path to the logits: no logits, the rest still exports
        pos = neg = ([], [])
    centres, counts = histogram(stats, feature)

    def activation(example: Any, band: str | None = None) -> dict[str, Any]:
        return {"tokens": example.tokens, "values": example.activations, "maxValue": example.max_activation,
                "maxValueTokenIndex": example.position, **({"bin": band} if band else {})}  # fmt: skip

    top = [activation(e) for e in top_examples(stats, explorer, feature)]
    bands = [
        {"band": band, "activations": [activation(e, band) for e in examples]}
        for band, examples in quantile_examples(stats, explorer, feature)
    ]
    return {
        "format": EXPORT_FORMAT,
        "modelId": explorer.model_name,
        "layer": explorer.hook_name,
        "sae": {
            "source": identity.source,
            "weights_hash": identity.sae_hash,
            "d_sae": explorer.sae.d_sae,
            "architecture": explorer.sae.architecture,
            "neuronpedia_id": explorer.sae.neuronpedia_id,
        },  # fmt: skip
        "index": str(feature),
        "label": label.text if label else "",
        "label_kind": label.kind if label else None,
        "explanations": [{"description": label.text, "typeName": label.kind}] if label else [],
        "note": note_for(identity, feature),
        "maxActApprox": float(stats.max_acts[feature]),
        "frac_nonzero": float(stats.density[feature]),
        "mean_activation_when_active": float(stats.mean_nonzero[feature]),
        "n_tokens": stats.n_tokens,
        "pos_str": pos[0],
        "pos_values": pos[1],
        "neg_str": neg[0],
        "neg_values": neg[1],
        "freq_hist_data_bar_values": centres,
        "freq_hist_data_bar_heights": counts,
        "activations": top,
        "quantiles": bands,
    }


def list_export(explorer: Explorer, stats: FeatureStats, name: str) -> dict[str, Any]:
    """A list of features as JSON: its name, description, and each item's note and feature export."""
    saved = get_list(sae_identity(explorer), name)
    return {
        "format": EXPORT_FORMAT,
        "list": {"name": saved.name, "description": saved.description},
        "features": [
            {**feature_export(explorer, stats, feature), "list_note": note}
            for feature, note in zip(saved.features, saved.notes, strict=True)
        ],
    }


# ----------------------------------------------------------------------------- HTML

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; margin-top: 2.2em; border-top: 2px solid #ddd; padding-top: 1em; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
.meta { color: #666; font-size: 0.9em; }
.stats { display: flex; gap: 2em; flex-wrap: wrap; margin: 0.6em 0; }
.stats div { min-width: 8em; } .stats b { display: block; font-size: 1.3em; }
.cols { display: flex; gap: 2em; flex-wrap: wrap; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { white-space: pre-wrap; background: #f7f7f7; padding: 0.5em; border-radius: 4px; }
nav a { margin-right: 1em; }
"""


def _histogram_svg(
    centres: Sequence[float], counts: Sequence[int], width: int = 420, height: int = 120
) -> str:
    if not counts:
        return "<p class='meta'>No non-zero activations in the sample.</p>"
    top = max(counts) or 1
    bar = width / len(counts)
    bars = "".join(
        f'<rect x="{i * bar:.1f}" y="{height - height * c / top:.1f}" width="{max(bar - 1, 0.5):.1f}" '
        f'height="{height * c / top:.1f}" fill="#e8684a"><title>{x:.3f}: {c}</title></rect>'
        for i, (x, c) in enumerate(zip(centres, counts, strict=True))
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 18}" role="img" '
        f'aria-label="activation histogram">{bars}<text x="0" y="{height + 14}" font-size="11">0</text>'
        f'<text x="{width}" y="{height + 14}" font-size="11" text-anchor="end">{centres[-1]:.2f}</text></svg>'
    )


def _logit_table(title: str, tokens: Sequence[str], values: Sequence[float]) -> str:
    rows = "".join(
        f"<tr><td><code>{html.escape(repr(t))}</code></td><td class='num'>{v:+.3f}</td></tr>"
        for t, v in zip(tokens, values, strict=True)
    )
    return f"<div><h3>{title}</h3><table>{rows}</table></div>"


def _examples(activations: Sequence[dict[str, Any]], max_value: float) -> str:
    rows = [(a["tokens"], a["values"], a["maxValue"], a["maxValueTokenIndex"]) for a in activations]
    return examples_html(rows, max_value) if rows else "<p class='meta'>None in the sample.</p>"


def feature_section(data: dict[str, Any]) -> str:
    """One feature's dashboard as an HTML section (from its JSON export)."""
    index, label = data["index"], data["label"]
    title = f"Feature {index}" + (f" · {html.escape(label)}" if label else "")
    parts = [
        f'<section id="feature-{index}"><h2>{title}</h2>',
        f"<p class='meta'>{html.escape(data['modelId'])} · {html.escape(data['layer'])} · "
        f"{html.escape(data['sae']['source'])}"
        + (f" · label: {data['label_kind']}" if label else "")
        + "</p>",
        "<div class='stats'>"
        f"<div>density<b>{100 * data['frac_nonzero']:.3g}%</b></div>"
        f"<div>max activation<b>{data['maxActApprox']:.3f}</b></div>"
        f"<div>mean when active<b>{data['mean_activation_when_active']:.3f}</b></div>"
        f"<div>sample<b>{data['n_tokens']:,} tokens</b></div></div>",
    ]
    if data.get("list_note"):
        parts.append(f"<p class='note'>{html.escape(data['list_note'])}</p>")
    if data.get("note"):
        parts.append(f"<h3>Note</h3><p class='note'>{html.escape(data['note'])}</p>")
    parts.append("<div class='cols'>")
    parts.append(
        f"<div><h3>Activation histogram</h3>{_histogram_svg(data['freq_hist_data_bar_values'], data['freq_hist_data_bar_heights'])}</div>"
    )
    if data["pos_str"]:
        parts.append(_logit_table("Promotes (W_dec @ W_U)", data["pos_str"], data["pos_values"]))
        parts.append(_logit_table("Suppresses", data["neg_str"], data["neg_values"]))
    parts.append("</div>")
    parts.append(f"<h3>Max-activating examples</h3>{_examples(data['activations'], data['maxActApprox'])}")
    for band in data["quantiles"]:
        parts.append(
            f"<h3>{html.escape(band['band'])}</h3>{_examples(band['activations'], data['maxActApprox'])}"
        )
    parts.append("</section>")
    return "\n".join(parts)


def export_file_stem(name: str) -> str:
    """A file name (without extension) for an export of the list `name`: lower case, letters, digits and dashes."""
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").lower() or "list"


def export_html(title: str, features: Sequence[dict[str, Any]], description: str = "") -> str:
    """A self-contained HTML page of feature dashboards (from their JSON exports): no server, no network."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = " ".join(
        f'<a href="#feature-{f["index"]}">{f["index"]}'
        + (f" · {html.escape(f['label'][:40])}" if f["label"] else "")
        + "</a>"
        for f in features
    )
    data = json.dumps(list(features)).replace("</", "<\\/")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        + (f"<p>{html.escape(description)}</p>" if description else "")
        + f"<p class='meta'>Exported by SAE Feature Explorer on {stamp}. {len(features)} feature(s).</p>"
        + (f"<nav>{nav}</nav>" if len(features) > 1 else "")
        + "".join(feature_section(f) for f in features)
        + f'<script type="application/json" id="feature-data">{data}</script>'
        + "</body></html>"
    )
