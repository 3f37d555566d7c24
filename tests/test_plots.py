"""Every chart names its axes; overlays stay readable."""

from __future__ import annotations

import torch

from explorer.plots import activation_heatmap, l0_histogram, log_density_histogram, loss_difference_chart


def titles(fig) -> tuple[str | None, str | None]:  # noqa: ANN001
    return fig.layout.xaxis.title.text, fig.layout.yaxis.title.text


def test_charts_have_axis_titles() -> None:
    tokens = ["<|endoftext|>", "Tom", " saw", " a", " dog"]
    heatmap = activation_heatmap(tokens, torch.rand(5, 16), [1, 2, 3])
    assert all(titles(heatmap)) and heatmap.data[0].colorbar.title.text == "activation"
    loss = loss_difference_chart(tokens, [1.0, 2.0, 3.0, 1.0], [1.5, 1.0, 3.5, 0.5])
    assert all(titles(loss))
    assert [t.name for t in loss.data] == [
        "worse with the SAE",
        "better with the SAE",
    ] and loss.layout.showlegend is not False
    assert sorted(y for t in loss.data for y in t.y) == [-1.0, -0.5, 0.5, 0.5]
    assert all(titles(l0_histogram(torch.tensor([3.0, 4.0]))))
    assert all(titles(log_density_histogram(torch.tensor([0.1, 0.01]), torch.tensor([-1.0, -2.0]))))


def test_overlays_use_distinct_colours_and_a_log_axis_when_one_curve_can_dwarf_the_other() -> None:
    spike, spread = torch.full((4000,), 24.0), torch.randint(1, 60, (4000,)).float()
    fig = l0_histogram({"A": spike, "B": spread})
    assert fig.layout.yaxis.type == "log"
    assert len({t.marker.color for t in fig.data}) == 2
    density = log_density_histogram(torch.tensor([0.1, 0.01]), torch.tensor([-1.0, -2.0]))
    assert len({t.marker.color for t in density.data}) == 2
    assert "sparsity.safetensors" in density.data[1].name and density.data[1].name != density.data[0].name


def test_every_heatmap_cell_carries_its_feature_for_a_click() -> None:
    from explorer.ui import clicked_point_feature

    acts = torch.rand(5, 16)
    heatmap = activation_heatmap(["a", "b", "c", "d", "e"], acts, [7, 3])
    cells = heatmap.data[1]
    assert len(cells.x) == 10 and list(cells.customdata) == [7] * 5 + [3] * 5
    assert float(cells.text[6]) == round(acts[1, 3].item(), 3)  # feature 3 at token 1
    assert heatmap.data[0].hoverinfo == "skip"  # the points' hover says the same, with the click hint
    assert clicked_point_feature({"customdata": 3, "y": "f7"}) == 3
    assert clicked_point_feature({"customdata": [3], "y": "f7"}) == 3
    assert clicked_point_feature({"y": "f7"}) == 7


def test_an_example_line_leads_with_its_own_activation_and_outlines_its_token() -> None:
    from explorer.plots import examples_html

    # The window holds a stronger activation (another example's token): the line still shows 1.45.
    html = examples_html([(["a", " them", " b", " it"], [0.0, 2.16, 0.0, 1.45], 1.45, 3)], 2.16, "f0")
    assert ">1.45</span>" in html and ">2.16</span>" not in html
    spans = html.split("<span title=")[1:]
    assert [("outline:" in span) for span in spans] == [False, False, False, True]
    assert spans[3].split(">")[1].startswith(" it")
