"""The Streamlit app runs headless (AppTest) on the demo bundle without an exception.

AppTest (Streamlit 1.67) re-runs only the page script, not the entrypoint, on reruns of an
`st.navigation` app, so the sidebar is driven through the URL (`?sae=`) of a first run; the browser
tests click it for real.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from explorer import bundle

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def app_with(sae: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if sae is not None:
        at.query_params["sae"] = sae
    return at.run()


def sidebar_text(at: AppTest) -> str:
    return " ".join(m.value for m in at.sidebar.markdown)


def test_home_renders_with_demo_summary() -> None:
    at = app_with()
    assert not at.exception, at.exception
    assert at.title[0].value == "SAE Feature Explorer"
    assert bundle.DEMO_MODEL_NAME in sidebar_text(at)
    assert "blocks.0.hook_mlp_out" in sidebar_text(at)
    assert [s.label for s in at.sidebar.selectbox] == ["Source", "Device", "Dtype"]
    assert at.query_params["sae"] in ("demo:mlp0-standard", ["demo:mlp0-standard"])


def test_url_names_the_demo_sae() -> None:
    at = app_with("demo:resid1-topk")
    assert not at.exception
    assert at.sidebar.selectbox[0].value == "demo:resid1-topk"
    assert "blocks.1.hook_resid_pre" in sidebar_text(at) and "topk" in sidebar_text(at)


def test_saved_directory_loads_from_the_sidebar(saved_sae_dir: Path) -> None:
    at = app_with(str(saved_sae_dir))
    assert not at.exception
    assert not at.sidebar.error
    assert at.sidebar.text_input[0].value == str(saved_sae_dir)
    assert str(saved_sae_dir) in " ".join(c.value for c in at.caption)


def test_bad_source_shows_a_message_and_the_app_keeps_working(tmp_path: Path) -> None:
    at = app_with(str(tmp_path))
    assert not at.exception
    assert "has no cfg.json" in at.sidebar.error[0].value
    assert "Pick an SAE in the sidebar" in at.info[0].value
    at = app_with("demo:mlp0-standard")  # a failed load leaves nothing cached that breaks the next one
    assert not at.exception and f"**Model**  \n`{bundle.DEMO_MODEL_NAME}`" in [m.value for m in at.markdown]


def test_model_loaded_once_across_saes_and_pages() -> None:
    from explorer.sae_loading import LOAD_COUNTS

    app_with("demo:mlp0-standard")
    before = dict(LOAD_COUNTS)
    for sae in ("demo:resid1-topk", "demo:mlp0-standard"):
        at = app_with(sae)
        for page in ("pages/prompt.py", "pages/top_features.py", "pages/home.py"):
            at.switch_page(page).run()
            assert not at.exception
    assert LOAD_COUNTS["model"] == before["model"]  # both demo SAEs share the one cached model
    assert (
        LOAD_COUNTS["sae"] <= before["sae"] + 1
    )  # each SAE is read once (resid1-topk possibly for the first time)
