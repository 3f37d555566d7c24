"""Shareable views: a page opened from a URL shows what the URL names, and the URL follows the widgets."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer.activations import aggregate_activations, analyze_prompt, top_features
from explorer.loading import load_explorer

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PROMPT = "Tom saw a big red dog at the park."


def open_url(page: str, **params: str) -> AppTest:
    """What a colleague gets when opening `/<page>?params...`: a fresh session with those query params."""
    at = AppTest.from_file(APP, default_timeout=240)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def param(at: AppTest, name: str) -> str:
    value = at.query_params[name]
    return value[0] if isinstance(value, list) else value


def test_top_features_link_reproduces_the_view() -> None:
    at = open_url("pages/top_features.py", sae="demo:resid1-topk", prompt=PROMPT, k="3", mode="max")
    assert at.text_area[0].value == PROMPT
    assert at.slider[0].value == 3
    assert at.radio[0].value == "Whole prompt: max"
    explorer = load_explorer("demo:resid1-topk", device="cpu", dtype="float32")
    expected = top_features(aggregate_activations(analyze_prompt(explorer, PROMPT), "max"), 3)
    table = at.dataframe[0].value
    assert table["feature"].tolist() == [f.feature for f in expected]
    assert table["activation"].tolist() == pytest.approx([f.activation for f in expected], rel=1e-4)
    at.slider[0].set_value(5).run()
    assert param(at, "k") == "5" and param(at, "sae") == "demo:resid1-topk" and param(at, "prompt") == PROMPT


def test_prompt_page_link_colours_by_the_named_feature() -> None:
    at = open_url("pages/prompt.py", prompt=PROMPT, feature="42")
    assert at.number_input[0].value == 42
    assert "**Feature 42**" in " ".join(m.value for m in at.markdown)


def test_steering_link_fills_the_table_and_the_url_follows_it() -> None:
    at = open_url("pages/steering.py", prompt=PROMPT, steer="12:8,3=1.5,9!")
    assert param(at, "steer") == "12:8,3=1.5,9!"  # parsed into the table and written back unchanged
    at.button[0].click().run()
    assert not at.exception
    steered_label = next(m.value for m in at.markdown if m.value.startswith("**Steered**"))
    assert steered_label == "**Steered**: +8 × W_dec[12]; feature 3 clamped to 1.5; feature 9 ablated"


def test_a_bad_steering_link_shows_a_message() -> None:
    at = open_url("pages/steering.py", steer="twelve:8")
    assert "is not a steering entry" in at.error[0].value


def test_compare_link_names_the_second_sae() -> None:
    at = open_url("pages/compare.py", sae="demo:resid1-topk", other="demo:mlp0-standard")
    assert at.text_input[0].value == "demo:mlp0-standard"
    assert any("blocks.0.hook_mlp_out" in c.value for c in at.caption)


def test_generation_link_recomputes_the_same_texts() -> None:
    """A link to a generated result shows that result on a fresh session: same prompt, settings and seed."""
    from explorer.generation import GenerationSettings, generate_pair

    at = open_url(
        "pages/generation.py", prompt=PROMPT, seed="5", temperature="0.7", max_new="12", generated="1"
    )
    codes = [c.value for c in at.code]
    explorer = load_explorer("demo:mlp0-standard", device="cpu", dtype="float32")
    pair = generate_pair(explorer, PROMPT, GenerationSettings(12, 0.7, 5, True), False, [])
    assert codes[:2] == [PROMPT + pair.base, PROMPT + pair.with_sae]
    assert param(at, "seed") == "5" and param(at, "generated") == "1"
    next(n for n in at.number_input if n.label == "Seed").set_value(6).run()
    assert "generated" not in at.query_params  # new inputs: the old result is not shown as theirs


def test_steering_link_recomputes_the_same_texts() -> None:
    from explorer.generation import GenerationSettings
    from explorer.steering import parse_steers, steer_generate

    at = open_url("pages/steering.py", prompt=PROMPT, steer="12:8", seed="3", max_new="10", generated="1")
    explorer = load_explorer("demo:mlp0-standard", device="cpu", dtype="float32")
    result = steer_generate(explorer, PROMPT, parse_steers("12:8"), GenerationSettings(10, 0.8, 3, True))
    assert [c.value for c in at.code][:2] == [PROMPT + result.default, PROMPT + result.steered]


def test_sparsity_link_recomputes_the_same_numbers() -> None:
    from explorer.data import sample_prompts
    from explorer.metrics import compute_metrics

    at = open_url("pages/sparsity.py", dataset="demo", prompts="6", with_loss="False", computed="1")
    explorer = load_explorer("demo:mlp0-standard", device="cpu", dtype="float32")
    expected = compute_metrics(explorer, sample_prompts(explorer, "demo", 6, 128), with_loss=False)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Mean L0"] == f"{expected.l0:.1f}"
    assert shown["Explained variance"] == f"{expected.explained_variance:.3f}"
    assert param(at, "computed") == "1" and param(at, "prompts") == "6"


def source_picker() -> None:
    """The sidebar's source widgets as app.py draws them, with what they chose written to the URL."""
    import streamlit as st

    from explorer.ui import OTHER_SOURCE, follow_url_source, other_source_key, write_url_source

    demo = ["demo:mlp0-standard", "demo:resid1-topk"]
    follow_url_source(demo)
    source = st.selectbox("Source", [*demo, OTHER_SOURCE], key="sae_choice")
    if source == OTHER_SOURCE:
        source = st.text_input("SAE source", key=other_source_key())
    if not source.startswith("run:"):  # stands for a source that fails to load: the URL keeps the old one
        write_url_source(source)
    st.markdown(f"chosen: {source}")


def test_a_page_switch_that_names_another_sae_opens_it_and_the_widgets_decide_otherwise() -> None:
    at = AppTest.from_function(source_picker)
    at.query_params["sae"] = "demo:resid1-topk"
    at.run()
    assert at.markdown[0].value == "chosen: demo:resid1-topk"
    at.selectbox[0].set_value("demo:mlp0-standard").run()  # the widget wins over the URL it changes
    assert at.markdown[0].value == "chosen: demo:mlp0-standard" and param(at, "sae") == "demo:mlp0-standard"
    at.query_params["sae"] = "demo:resid1-topk"  # st.switch_page(..., query_params={"sae": ...}), a link
    at.run()
    assert at.markdown[0].value == "chosen: demo:resid1-topk"
    at.query_params["sae"] = "run:no-such-run"  # outside the demo list: into the text box
    at.run()
    assert at.markdown[0].value == "chosen: run:no-such-run" and at.text_input[0].value == "run:no-such-run"
    at.run()  # a source that did not load (URL unchanged) stays chosen
    assert at.markdown[0].value == "chosen: run:no-such-run"
    at.text_input[0].set_value("demo:mlp0-standard").run()
    assert at.markdown[0].value == "chosen: demo:mlp0-standard" and param(at, "sae") == "demo:mlp0-standard"
