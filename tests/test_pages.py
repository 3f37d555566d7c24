"""Every analysis page renders on the demo bundle and responds to its main widgets (Streamlit AppTest)."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def all_text(at: AppTest) -> str:
    parts = [e.value for e in (*at.markdown, *at.caption, *at.info, *at.warning, *at.error)]
    return " ".join(str(p) for p in parts)


def test_prompt_page() -> None:
    at = open_page("pages/prompt.py")
    assert at.title[0].value == "Prompt activations"
    assert at.text_area[0].value.startswith("Once upon a time")
    assert "max activation" in all_text(at)
    at.number_input[0].set_value(5).run()
    assert "**Feature 5**" in all_text(at)
    at.text_area[0].set_value('"Look, a red bird!" said Tom.').run()
    assert not at.exception
    at.select_slider[0].set_value(2).run()
    assert not at.exception
    assert "features are active" in all_text(at)
    assert len(at.dataframe) == 1


def test_prompt_page_overlong_and_empty_prompt() -> None:
    at = open_page("pages/prompt.py")
    at.text_area[0].set_value("The cat sat on the mat. " * 200).run()
    assert not at.exception
    assert "only the first 256 are analysed" in " ".join(w.value for w in at.warning)
    at.text_area[0].set_value("   ").run()
    assert not at.exception
    assert "The prompt is empty." in at.error[0].value


def test_top_features_page() -> None:
    at = open_page("pages/top_features.py")
    table = at.dataframe[0].value
    assert list(table.columns)[:3] == ["feature", "label", "activation"]
    assert len(table) <= 10 and table["activation"].is_monotonic_decreasing
    at.slider[0].set_value(3).run()
    assert len(at.dataframe[0].value) <= 3
    at.radio[0].set_value("Whole prompt: firing count").run()
    assert "firing positions" in at.dataframe[0].value.columns
    at.radio[0].set_value("A chosen token").run()
    assert not at.exception


def test_logit_view_page() -> None:
    at = open_page("pages/logit_view.py")
    assert len(at.get("plotly_chart")) == 3
    assert "final LayerNorm is not applied" in all_text(at)
    at.radio[0].set_value("Typed ids").run()
    at.text_input[0].set_value("1, 2, banana").run()
    assert "'banana' is not a feature id" in at.error[0].value
    at.text_input[0].set_value("1, 2, 3").run()
    assert not at.exception and "3 features: 1, 2, 3" in all_text(at)
    at.radio[0].set_value("Random").run()
    assert not at.exception


def test_attribution_page() -> None:
    from explorer.attribution import attribute
    from explorer.loading import load_explorer

    at = open_page("pages/attribution.py")
    assert at.title[0].value == "Attribution"
    table = at.dataframe[0].value
    assert list(table.columns) == [
        "feature",
        "label",
        "token",
        "activation",
        "attribution",
        "ablation effect",
    ]
    assert len(table) == 20 and table["attribution"].abs().is_monotonic_decreasing
    assert len(at.get("plotly_chart")) == 2  # estimate against ablation, tokens x features
    # The numbers are the library's: the same call outside the page.
    text = at.text_area[0].value
    expected = attribute(load_explorer("demo", device="cpu", dtype="float32"), text, top=20)
    assert table["feature"].tolist() == [f.feature for f in expected.features]
    assert table["ablation effect"].tolist() == pytest.approx(
        [f.ablation_effect for f in expected.features], abs=1e-5
    )
    at.radio(key="attr_mode").set_value("token").run()
    at.text_input(key="attr_target").set_value("xylophonequartz").run()
    assert "is not a single token" in at.error[0].value
    at.text_input(key="attr_target").set_value("red").run()
    assert not at.exception and not at.error
    assert "' red'" in [m.value for m in at.metric][0]
    at.radio(key="attr_ablate_at").set_value("all").run()
    assert set(at.dataframe[0].value["token"]) == {"all"}
    at.toggle(key="attr_check").set_value(False).run()
    assert "ablation effect" not in at.dataframe[0].value.columns and len(at.get("plotly_chart")) == 1
    assert at.query_params["target"] in ("red", ["red"]) and at.query_params["check"] in ("0", ["0"])
    at.text_area[0].set_value("Tom").run()  # a new prompt: the position follows its last token
    assert not at.exception


def test_generation_page() -> None:
    at = open_page("pages/generation.py")
    assert "CE loss recovered" in [m.label for m in at.metric]
    at.number_input[1].set_value(8).run()  # max new tokens
    at.button[0].click().run()
    assert not at.exception
    assert len(at.code) == 2 and all(block.value.startswith("Once upon a time") for block in at.code)
    assert "Model alone" in all_text(at)


@pytest.mark.parametrize("with_loss", [True, False])
def test_sparsity_page(with_loss: bool) -> None:
    at = open_page("pages/sparsity.py")
    at.number_input[0].set_value(8)
    if not with_loss:
        at.toggle[0].set_value(False)
    at.button[0].click().run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert "Mean L0" in labels and "Explained variance" in labels
    assert ("CE loss recovered" in labels) == with_loss
    assert len(at.get("plotly_chart")) == 2


def test_sparsity_page_bad_dataset(tmp_path: Path) -> None:
    at = open_page("pages/sparsity.py")
    at.text_input[0].set_value(str(tmp_path / "no" / "such" / "file.jsonl"))
    at.button[0].click().run()
    assert not at.exception
    assert "does not exist" in at.error[0].value


def test_feature_page_from_the_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """First view: the feature's number, actions, logits and neighbours, and statistics computed at once."""
    monkeypatch.setenv("SAE_EXPLORER_CACHE", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["feature"] = "5"
    at.run()
    at.switch_page("pages/feature.py").run()  # no button to press: one pass, then cached
    assert not at.exception, at.exception
    assert at.number_input(key="feature_id").value == 5
    assert [b.label for b in at.button][:3] == [
        "Colour the prompt by it",
        "Steer with it",
        "Compare with another SAE",
    ]
    labels = [m.label for m in at.metric]
    assert labels[:3] == ["Density", "Max activation", "Mean when active"]
    assert at.metric[0].value.endswith("%")
    headers = [h.value for h in at.subheader]
    for part in ("Max-activating examples", "Run it on my text", "Search by token"):
        assert part in headers
    text = all_text(at)
    assert "Nearest features" in text and "Examples by activation quantile" in text and "Logits" in text
    assert len(at.get("plotly_chart")) == 1  # the histogram
    at.text_area[0].set_value("Tom had a red ball.").run()
    at.text_input[-1].set_value(" red").run()
    assert not at.exception
    assert "Features that fire most on it" in all_text(at)
    at.number_input(key="feature_id").set_value(7).run()
    assert at.query_params["feature"] in ("7", ["7"])


def test_feature_page_reuses_the_cache_and_rejects_bad_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAE_EXPLORER_CACHE", str(tmp_path))
    first = AppTest.from_file(APP, default_timeout=300).run()
    first.switch_page("pages/feature.py").run()
    entries = sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / "feature_stats").glob("*/*"))
    assert entries
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["feature"] = "999999"
    at.run()
    at.switch_page("pages/feature.py").run()
    assert not at.exception
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / "feature_stats").glob("*/*")) == entries
    assert "not a feature of this SAE" in at.warning[0].value


def _training_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("SAE_EXPLORER_RUNS", str(tmp_path))
    return open_page("pages/training.py")


def test_training_form_rejects_bad_values_naming_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _training_page(tmp_path, monkeypatch)
    buffer = next(n for n in at.number_input if n.label == "n_batches_in_buffer")
    buffer.set_value(2)
    at.button[0].click().run()
    assert not at.exception
    assert "n_batches_in_buffer" in at.error[0].value and "not launched" in at.error[0].value
    assert list(tmp_path.iterdir()) == []


def test_training_form_follows_the_architecture_and_keeps_its_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _training_page(tmp_path, monkeypatch)
    k = next(n for n in at.number_input if n.label == "k (active features per token)")
    assert k.value == 24 and isinstance(k.value, int)
    next(n for n in at.number_input if n.label == "Width d_sae").set_value(512)
    next(n for n in at.number_input if n.label == "n_batches_in_buffer").set_value(2)
    at.button[0].click().run()  # rejected (buffer too small), but the form's values are submitted
    assert "not launched" in at.error[0].value
    at.selectbox(key="train_architecture").set_value("standard").run()
    labels = [n.label for n in at.number_input]
    assert "l1_coefficient" in labels and "k (active features per token)" not in labels
    assert next(n for n in at.number_input if n.label == "l1_coefficient").value == 1.0  # SAE-Lens' default
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/training.py").run()  # away and back: the form is as it was left
    assert at.selectbox(key="train_architecture").value == "standard"
    assert next(n for n in at.number_input if n.label == "Width d_sae").value == 512


def test_training_from_the_form_runs_and_opens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from explorer.training import list_runs

    at = _training_page(tmp_path, monkeypatch)
    assert [s.value for s in at.selectbox if s.label == "Hook point"] == ["blocks.0.hook_mlp_out"]
    next(n for n in at.number_input if n.label == "Training tokens").set_value(40_960)
    next(n for n in at.number_input if n.label == "Width d_sae").set_value(256)
    next(n for n in at.number_input if n.label == "k (active features per token)").set_value(16)
    next(n for n in at.number_input if n.label == "LR warm-up steps").set_value(2)
    next(n for n in at.number_input if n.label == "LR decay steps").set_value(2)
    at.button[0].click().run()
    assert not at.exception
    assert "started" in at.success[0].value
    deadline = time.time() + 300
    while time.time() < deadline and list_runs(tmp_path)[0].status.state in ("queued", "running"):
        time.sleep(1)
    assert list_runs(tmp_path)[0].status.state == "succeeded"
    at.run()  # AppTest does not fire run_every fragments by itself
    assert any("succeeded" in m.value for m in at.markdown)
    run_source = f"run:{list_runs(tmp_path)[0].id}"
    link = next(e.proto for e in at.get("page_link") if e.proto.label == "Open in explorer")
    assert link.page.endswith("home") and parse_qs(link.query_string) == {"sae": [run_source]}
    at.query_params["sae"] = run_source  # what the browser's URL holds after following the link
    at.switch_page("pages/home.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["SAE Feature Explorer"]  # Home, with the URL naming the run
    assert at.query_params["sae"] in (run_source, [run_source])


def test_label_search_list_and_export_on_the_dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Label a feature, find it by part of its label, add it to a new list, see the list; exports offered."""
    from explorer.labels import sae_identity
    from explorer.loading import load_explorer
    from explorer.store import get_list, labels_for

    monkeypatch.setenv("SAE_EXPLORER_CACHE", str(tmp_path))
    monkeypatch.setenv("SAE_EXPLORER_STORE", str(tmp_path / "store.sqlite3"))
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["feature"] = "5"
    at.run()
    at.switch_page("pages/feature.py").run()
    assert not at.exception, at.exception
    heading = next(m.value for m in at.markdown if m.value.startswith("### Feature 5"))
    assert "fires on:" in heading  # the automatic label, from the statistics pass
    next(t for t in at.text_input if t.label == "Your label").set_value("zebra stripes feature")
    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception
    assert any(m.value == "### Feature 5 · zebra stripes feature" for m in at.markdown)
    at.text_input(key="dashboard-search").set_value("STRIPES").run()
    results = at.dataframe[-1].value
    assert results["feature"].tolist() == [5] and results["label"].tolist() == ["zebra stripes feature"]
    at.selectbox(key="dashboard-list-list").set_value("New list…").run()
    at.text_input(key="dashboard-list-name").set_value("animal features").run()
    at.button(key="dashboard-list-add").click().run()
    assert not at.exception and any("is in 'animal features'" in s.value for s in at.success)
    assert [b.label for b in at.get("download_button")] == ["Export as HTML", "Export as JSON"]
    explorer = load_explorer("demo", device="cpu", dtype="float32")
    identity = sae_identity(explorer)
    assert get_list(identity, "animal features").features == [5]
    assert labels_for(identity, [5])[5].text == "zebra stripes feature"
    at.query_params["list"] = "animal features"
    at.switch_page("pages/lists.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table["feature"].tolist() == [5] and table["label"].tolist() == ["zebra stripes feature"]
    from explorer.activations import analyze_prompt

    expected = analyze_prompt(explorer, at.text_area[0].value).acts[:, 5].tolist()
    assert list(table["on the prompt"][0]) == pytest.approx(
        expected, abs=1e-5
    )  # the sparkline: the prompt's values
    assert [b.label for b in at.get("download_button")] == ["Export as HTML", "Export as JSON"]


def test_lists_page_without_lists_imports_neuronpedia_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAE_EXPLORER_STORE", str(tmp_path / "store.sqlite3"))
    at = open_page("pages/lists.py")
    assert "no lists yet" in at.info[0].value
    assert at.get("file_uploader")  # the import is offered even before any list exists
