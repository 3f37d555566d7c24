"""Every analysis page renders on the demo bundle and responds to its main widgets (Streamlit AppTest)."""

from __future__ import annotations

from pathlib import Path

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
    assert list(table.columns)[:2] == ["feature", "activation"]
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


def test_sparsity_page_bad_dataset() -> None:
    at = open_page("pages/sparsity.py")
    at.text_input[0].set_value("/no/such/file.jsonl")
    at.button[0].click().run()
    assert not at.exception
    assert "does not exist" in at.error[0].value
