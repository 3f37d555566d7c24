"""End-to-end: `streamlit run app.py` on a free port, driven by headless Chromium through Playwright.

Uses Debian's `chromium` (Playwright's own browser download does not work here), found as
$CHROMIUM, `chromium` or `chromium-browser` on the PATH. Without it these tests are skipped, unless
SAE_EXPLORER_REQUIRE_BROWSER=1 (set by `.ci/run`, which installs it), when they fail instead.
Screenshots of every page go to $SAE_EXPLORER_SHOTS (default: cache/screenshots).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
SHOTS = Path(os.environ.get("SAE_EXPLORER_SHOTS", ROOT / "cache" / "screenshots"))
PAGES = {  # url path -> the page's title
    "": "SAE Feature Explorer",
    "prompt": "Prompt activations",
    "top_features": "Top features",
    "feature": "Feature dashboard",
    "logit_view": "Feature-subset logits",
    "attribution": "Attribution",
    "generation": "Generation and loss",
    "steering": "Steering",
    "sparsity": "Sparsity and reconstruction",
    "compare": "Compare two SAEs",
    "lists": "Feature lists",
    "training": "Train an SAE",
}

try:
    import playwright  # noqa: F401

    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False

if not (CHROMIUM and HAVE_PLAYWRIGHT):
    reason = "browser tests need Debian's chromium and the playwright package (see README)"
    if os.environ.get("SAE_EXPLORER_REQUIRE_BROWSER"):
        raise RuntimeError(reason)
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running `streamlit run app.py` and where its log, cache and runs live."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    runs: Path

    def loads(self, what: str, name: str = "") -> int:
        """How many times the server has loaded a model or an SAE (named `name`, if given), from its log."""
        return len(re.findall(rf"^loading {what} {re.escape(name)}", self.log.read_text(), flags=re.M))


def start_server(tmp: Path, runs: Path) -> Server:
    port = free_port()
    log = tmp / "server.log"
    env = {**os.environ, "SAE_EXPLORER_CACHE": str(tmp / "cache"), "SAE_EXPLORER_RUNS": str(runs),
           "SAE_EXPLORER_STORE": str(tmp / "store.sqlite3"),
           "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return Server(url, process, log, runs)
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("streamlit did not become healthy in 90 s")


def stop_server(server: Server) -> None:
    os.killpg(server.process.pid, signal.SIGTERM)
    server.process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("e2e")
    running = start_server(tmp, tmp / "runs")
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


def settle(page: Page, timeout_s: float = 120) -> None:
    """Wait until the app's script has finished running (and whatever it shows has been drawn)."""
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=timeout_s * 1000)  # every page has a title
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => document.querySelector(\"[data-testid='stApp']\")?.getAttribute('data-test-script-state')"
        " === 'notRunning'",
        timeout=timeout_s * 1000,
    )
    page.wait_for_timeout(300)


def open_page(page: Page, server: Server, path: str, **params: str) -> None:
    query = ("?" + urllib.parse.urlencode(params)) if params else ""
    page.goto(f"{server.url}/{path}{query}")
    settle(page)


def assert_no_exception(page: Page) -> None:
    exceptions = page.locator("[data-testid='stException']")
    assert exceptions.count() == 0, exceptions.first.inner_text()
    dialogs = page.locator("[data-testid='stDialog']")  # e.g. Streamlit's "Page not found"
    assert dialogs.count() == 0, dialogs.first.inner_text()


def screenshot(page: Page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main container, so grow the window to its height first."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    viewport = page.viewport_size
    height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": min(max(height, viewport["height"]), 3000)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.set_viewport_size(viewport)


def query(page: Page) -> dict[str, str]:
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query).items()}


def compute_statistics(page: Page) -> None:
    """On the feature page: press "Compute statistics" when they are not cached yet; wait for the dashboard."""
    button = page.get_by_role("button", name="Compute statistics")
    if button.count():
        button.click()
    expect(page.get_by_text("Max-activating examples")).to_be_visible(timeout=180_000)
    settle(page)


def main_text(page: Page) -> str:
    return page.locator("[data-testid='stMain']").inner_text()


# ----------------------------------------------------------------------------- every page


def test_every_page_renders_with_its_content(page: Page, server: Server) -> None:
    for path, title in PAGES.items():
        open_page(page, server, path)
        assert_no_exception(page)
        expect(page.get_by_role("heading", name=title).first).to_be_visible()
        if path == "feature":  # statistics are computed once, on request, then cached on disk
            compute_statistics(page)
        if path in ("sparsity", "compare"):  # a small sample, then the numbers
            prompts = page.get_by_label("Prompts", exact=True)
            prompts.fill("16")
            prompts.press("Tab")
            page.get_by_role("button", name="Compute" if path == "sparsity" else "Compare").click()
            expect(
                page.get_by_text(
                    "Explained variance" if path == "sparsity" else "By activation correlation"
                ).first
            ).to_be_visible(timeout=120_000)
            settle(page)
            assert_no_exception(page)
        screenshot(page, path or "home")
    sidebar = page.locator("[data-testid='stSidebar']").inner_text()
    assert "demo-stories-2l" in sidebar and "blocks.0.hook_mlp_out" in sidebar
    # One model load shared by every page; each SAE once: the sidebar's and the compare page's second SAE.
    assert server.loads("model") == 1
    assert server.loads("SAE", "demo:mlp0-standard ") == server.loads("SAE", "demo:resid1-topk ") == 1


def test_prompt_page_typing_a_prompt_and_picking_a_feature(page: Page, server: Server) -> None:
    open_page(page, server, "prompt")
    box = page.get_by_label("Prompt", exact=True)
    box.fill("The dragon had a shiny green ball.")
    box.press("Control+Enter")
    settle(page)
    assert "dragon" in main_text(page)
    feature_box = page.get_by_label("Feature to colour the tokens by", exact=True)
    feature_box.fill("42")
    feature_box.press("Enter")
    settle(page)
    assert "Feature 42" in main_text(page)
    assert query(page)["feature"] == "42" and query(page)["prompt"] == "The dragon had a shiny green ball."
    assert_no_exception(page)


def test_top_features_k_slider_ranking_and_shared_link(page: Page, server: Server, browser: Browser) -> None:
    open_page(page, server, "top_features", prompt="Tom saw a big red dog.", k="10")
    thumb_value = page.get_by_test_id("stSliderThumbValue")
    assert thumb_value.inner_text() == "10"
    thumb = page.get_by_role("slider").first  # one step left with the keyboard, as a person can
    for attempt in range(3):  # a key press that lands while the page is still wiring up is lost: press again
        thumb.focus()
        thumb.press("ArrowLeft")
        try:
            page.wait_for_function(
                "() => new URLSearchParams(location.search).get('k') === '9'", timeout=20_000
            )
            break
        except Exception:
            if attempt == 2 or query(page).get("k") != "10":
                raise
    settle(page)
    k = query(page)["k"]
    assert k == "9" and thumb_value.inner_text() == k
    page.get_by_text("Whole prompt: max").click()
    settle(page)
    assert query(page)["mode"] == "max" and query(page)["k"] == k
    assert_no_exception(page)
    # The link reproduces the view for a colleague (a fresh browser context, so a fresh session).
    colleague = browser.new_context().new_page()
    colleague.goto(page.url)
    settle(colleague)
    # Expectations that wait: on a loaded machine a fresh session's widgets can draw a moment after the title.
    expect(colleague.get_by_test_id("stSliderThumbValue")).to_have_text(k, timeout=30_000)
    expect(colleague.get_by_label("Prompt", exact=True)).to_have_value(
        "Tom saw a big red dog.", timeout=30_000
    )
    expect(colleague.get_by_role("radio", name="Whole prompt: max")).to_be_checked(timeout=30_000)
    colleague.context.close()


def test_a_link_opened_first_on_a_freshly_started_server(tmp_path: Path, browser: Browser) -> None:
    """Before app.py has ever run, Streamlit routes by file name; the link must still get the full app."""
    fresh = start_server(tmp_path, tmp_path / "runs")
    try:
        page = browser.new_context().new_page()
        open_page(page, fresh, "top_features", prompt="A red cat.", k="4", sae="demo:resid1-topk")
        assert page.locator("[data-testid='stDialog']").count() == 0  # no "Page not found" over the page
        assert page.get_by_test_id("stSliderThumbValue").inner_text() == "4"
        assert "blocks.1.hook_resid_pre" in page.locator("[data-testid='stSidebar']").inner_text()
        assert "Top features" in page.locator("[data-testid='stSidebarNav']").inner_text()  # our navigation
        page.context.close()
    finally:
        stop_server(fresh)


def test_feature_dashboard_from_a_link_and_picking_another(page: Page, server: Server) -> None:
    open_page(page, server, "feature", feature="7")
    compute_statistics(page)
    assert page.get_by_label("Feature", exact=True).first.input_value() == "7"
    box = page.get_by_label("Feature", exact=True).first
    box.fill("12")
    box.press("Enter")
    settle(page)
    assert query(page)["feature"] == "12"
    assert "Density" in main_text(page) and "Nearest features" in main_text(page)
    assert_no_exception(page)


def click_first_row(page: Page, table_index: int = 0) -> None:
    """Click the first data row of a (selectable) Streamlit table, on its row-selection marker at the left."""
    table = page.locator("[data-testid='stDataFrame']").nth(table_index)
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    page.mouse.click(box["x"] + 14, box["y"] + 35 + 17)  # below the 35 px header, in the first row


def test_one_click_from_a_feature_table_to_its_dashboard_then_steering_keeps_the_prompt(
    page: Page, server: Server
) -> None:
    from explorer.activations import aggregate_activations, analyze_prompt, top_features
    from explorer.loading import load_explorer

    prompt, other_prompt = "The dragon had a shiny green ball.", "Mom gave Ben a cup of milk."
    explorer = load_explorer("demo:mlp0-standard", device="cpu", dtype="float32")
    strongest = top_features(aggregate_activations(analyze_prompt(explorer, other_prompt), "max"), 1)[
        0
    ].feature
    open_page(page, server, "top_features", prompt=prompt, sae="demo:mlp0-standard")
    click_first_row(page)
    page.wait_for_function("() => location.pathname.endsWith('/feature')", timeout=60_000)
    compute_statistics(page)
    feature = query(page)["feature"]
    assert query(page)["prompt"] == prompt  # same tab, same session: the prompt is kept
    assert page.get_by_label("Feature", exact=True).first.input_value() == feature
    assert_no_exception(page)
    page.get_by_role("button", name="Steer with it").click()
    page.wait_for_function("() => location.pathname.endsWith('/steering')", timeout=60_000)
    settle(page)
    assert query(page)["steer"] == f"{feature}:8" and query(page)["prompt"] == prompt
    assert page.get_by_label("Prompt", exact=True).input_value() == prompt
    open_page(page, server, "feature", feature=feature, prompt=prompt, sae="demo:mlp0-standard")
    compute_statistics(page)
    page.get_by_role("button", name="Colour the prompt by it").click()
    page.wait_for_function("() => location.pathname.endsWith('/prompt')", timeout=60_000)
    settle(page)
    assert f"Feature {feature} ·" in main_text(page)
    # A new prompt: the colour-by feature becomes that prompt's strongest, never a stale one showing nothing.
    box = page.get_by_label("Prompt", exact=True)
    box.fill(other_prompt)
    box.press("Control+Enter")
    settle(page)
    assert f"Feature {strongest} ·" in main_text(page)
    assert_no_exception(page)
    # A heatmap cell opens its feature: the first row is the prompt's strongest feature.
    cell = page.locator(".js-plotly-plot .scatterlayer .point").first
    cell.scroll_into_view_if_needed()
    box = cell.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => location.pathname.endsWith('/feature')", timeout=60_000)
    settle(page)
    assert query(page)["feature"] == str(strongest) and query(page)["prompt"] == other_prompt
    assert_no_exception(page)


def test_attribution_link_reproduces_for_a_colleague_and_a_row_opens_its_feature(
    page: Page, server: Server, browser: Browser
) -> None:
    from explorer.attribution import attribute
    from explorer.loading import load_explorer

    prompt = "Tom had a big"
    expected = attribute(
        load_explorer("demo:resid1-topk", device="cpu", dtype="float32"), prompt, target="green"
    )
    open_page(page, server, "attribution", prompt=prompt, target_mode="token", target="green",
              sae="demo:resid1-topk")  # fmt: skip
    expect(page.get_by_text("Estimate against ablation")).to_be_visible(timeout=60_000)
    expect(page.locator("[data-testid='stMetricValue']").nth(3)).to_be_visible(timeout=60_000)
    settle(page)
    metrics = page.locator("[data-testid='stMetric']").all_inner_texts()
    assert "' green'" in metrics[0] and f"{expected.value:.3f}" in metrics[1]
    shading = page.locator("[data-testid='stMain'] span[title]").evaluate_all(
        "spans => spans.map(s => s.title)"
    )
    assert len(shading) == len(expected.tokens.strings)
    assert all(f"total {v:.3f}" in t for t, v in zip(shading, expected.total_by_position, strict=True))
    screenshot(page, "attribution")
    assert_no_exception(page)
    colleague = browser.new_context().new_page()  # the link shows the same numbers on a fresh context
    colleague.goto(page.url)
    settle(colleague)
    expect(colleague.locator("[data-testid='stMetricValue']").nth(3)).to_be_visible(timeout=60_000)
    settle(colleague)
    assert colleague.locator("[data-testid='stMetric']").all_inner_texts() == metrics
    colleague.context.close()
    click_first_row(page)  # the top feature's dashboard, in this tab, with the prompt
    page.wait_for_function("() => location.pathname.endsWith('/feature')", timeout=60_000)
    settle(page)
    assert query(page)["feature"] == str(expected.features[0].feature) and query(page)["prompt"] == prompt
    assert_no_exception(page)


def test_label_shows_everywhere_search_finds_it_and_a_list_exports_for_offline_reading(
    page: Page, server: Server, browser: Browser, tmp_path: Path
) -> None:
    """Label a feature; its label shows on every page that shows the feature; the sidebar search finds it by
    part of the label; it and two others go into a list; the list's HTML export opens offline in Chromium."""
    from explorer.activations import DEFAULT_PROMPT, analyze_prompt, top_features
    from explorer.loading import load_explorer

    explorer = load_explorer("demo:mlp0-standard", device="cpu", dtype="float32")
    first, second, third = (
        f.feature for f in top_features(analyze_prompt(explorer, DEFAULT_PROMPT).acts[-1], 3)
    )
    label = "zebra stripes detector"
    sae = "demo:mlp0-standard"
    open_page(page, server, "feature", feature=str(first), sae=sae)
    compute_statistics(page)
    page.get_by_text("Label and note").click()
    label_box = page.get_by_label("Your label", exact=True)
    label_box.fill(label)
    # In a form, Streamlit commits a typed value on blur, through a React effect: a click on Save straight
    # after typing can submit the old value (seen once in CI). Blur first, as every other fill here does.
    label_box.press("Tab")
    page.wait_for_timeout(300)
    page.get_by_role("button", name="Save").click()
    settle(page)
    expect(page.get_by_role("heading", name=f"Feature {first} · {label}")).to_be_visible(timeout=60_000)

    def shown(path: str) -> str:
        open_page(page, server, path, sae=sae, prompt=DEFAULT_PROMPT)
        page.wait_for_timeout(1500)  # tables and charts draw after the script finishes
        assert_no_exception(page)
        return page.locator("[data-testid='stMain']").text_content() or ""

    for path in ("prompt", "top_features", "logit_view", "steering"):  # each shows the prompt's top feature
        assert label in shown(path), path
    assert "fires on:" in shown("attribution")  # its listed features, with their automatic labels

    sidebar = page.locator("[data-testid='stSidebar']")
    search = sidebar.get_by_label("Search labels and notes", exact=True)
    search.fill("STRIPES")
    search.press("Enter")
    settle(page)
    sidebar.get_by_role("button", name=f"{first} · {label}").click()
    page.wait_for_function("() => location.pathname.endsWith('/feature')", timeout=60_000)
    settle(page)
    assert query(page)["feature"] == str(first)

    for feature in (first, second, third):
        open_page(page, server, "feature", feature=str(feature), sae=sae)
        expect(page.get_by_text("Max-activating examples")).to_be_visible(timeout=120_000)
        page.get_by_role("button", name="Add to a list").click()
        name_box = page.get_by_label("Name of the new list", exact=True)
        if feature == first:
            name_box.fill("stripes and friends")
            name_box.press("Tab")
        page.get_by_role("button", name="Add", exact=True).click()
        expect(page.get_by_text(f"Feature {feature} is in 'stripes and friends'.")).to_be_visible(
            timeout=60_000
        )
        page.keyboard.press("Escape")

    text = shown("lists")
    assert label in text and all(str(f) in text for f in (first, second, third))
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name="Export as HTML").click()
    exported = tmp_path / "list.html"
    download.value.save_as(exported)
    screenshot(page, "lists")

    offline = browser.new_context(offline=True)
    requests: list[str] = []
    offline.route("**/*", lambda route: (requests.append(route.request.url), route.continue_() if route.request.url.startswith("file:") else route.abort()))  # fmt: skip
    reader = offline.new_page()
    reader.goto(exported.as_uri())
    for feature in (first, second, third):
        expect(reader.locator(f"#feature-{feature} h2")).to_be_visible()
        expect(reader.locator(f"#feature-{feature}").get_by_text("Max-activating examples")).to_be_visible()
        assert reader.locator(f"#feature-{feature} span[title]").count() > 20  # highlighted example tokens
    expect(reader.locator(f"#feature-{first} h2")).to_contain_text(label)
    assert all(url.startswith("file:") for url in requests), requests  # nothing but the file itself
    offline.close()


def test_generation_and_steering(page: Page, server: Server, browser: Browser) -> None:
    open_page(page, server, "generation", prompt="Once upon a time, there was a cat.")
    page.get_by_role("button", name="Generate").click()
    settle(page)
    text = main_text(page)
    assert "Model alone" in text and "With the SAE spliced in" in text and "CE loss recovered" in text
    open_page(
        page,
        server,
        "steering",
        prompt="Once upon a time, there was a cat.",
        steer="1432:10",
        sae="demo:resid1-topk",
    )
    page.get_by_role("button", name="Generate").click()
    settle(page)
    screenshot(page, "steer-generated")
    assert "Steered: +10 × W_dec[1432]" in main_text(page)
    assert page.locator("[data-testid='stCode']").count() == 2
    assert_no_exception(page)
    texts = page.locator("[data-testid='stCode']").all_inner_texts()
    colleague = browser.new_context().new_page()  # the link reproduces the texts for a colleague
    colleague.goto(page.url)
    settle(colleague)
    expect(colleague.locator("[data-testid='stCode']").first).to_be_visible(timeout=120_000)
    settle(colleague)
    assert colleague.locator("[data-testid='stCode']").all_inner_texts() == texts
    colleague.context.close()


def test_bad_source_in_the_sidebar_then_recovering(page: Page, server: Server) -> None:
    open_page(page, server, "prompt")
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name=re.compile("^Other")).click()
    settle(page)
    source = sidebar.get_by_label("SAE source", exact=True)
    missing = server.runs.parent / "no-such-sae"
    source.fill(str(missing))
    source.press("Enter")
    settle(page)
    expect(sidebar.get_by_text(f"The path '{missing}' does not exist.")).to_be_visible()
    assert "Pick an SAE in the sidebar" in main_text(page)
    source.fill("/etc")
    source.press("Enter")
    settle(page)
    expect(sidebar.get_by_text("'/etc' is outside the folders this app may open.")).to_be_visible()
    source.fill("demo:resid1-topk")
    source.press("Enter")
    settle(page)
    assert "blocks.1.hook_resid_pre" in sidebar.inner_text()
    assert "max activation" in main_text(page)
    assert_no_exception(page)


def test_training_from_the_form_then_open_in_the_explorer(
    page: Page, server: Server, browser: Browser
) -> None:
    open_page(page, server, "training")
    tokens = page.get_by_label("Training tokens", exact=True)
    tokens.fill("120000")
    tokens.press("Tab")
    for label, value in (("LR warm-up steps", "5"), ("LR decay steps", "10")):  # 29 steps in all
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Tab")
    page.get_by_role("button", name="Launch").click()
    settle(page)
    expect(page.get_by_text(re.compile(r"Run \S+ started"))).to_be_visible()
    expect(page.get_by_text("succeeded").first).to_be_visible(timeout=300_000)
    screenshot(page, "training-finished")
    page.get_by_role("link", name="Open in explorer").first.click()
    # The training page's own title would satisfy `settle`: wait until Home is there, then until it has run.
    page.wait_for_function("() => !location.pathname.includes('training')", timeout=120_000)
    expect(page.get_by_role("heading", name="SAE Feature Explorer")).to_be_visible(timeout=120_000)
    settle(page)
    screenshot(page, "opened-run")
    sidebar = page.locator("[data-testid='stSidebar']")
    assert sidebar.get_by_label("SAE source", exact=True).input_value().startswith("run:")
    assert "topk" in sidebar.inner_text() and "128 → 1024" in sidebar.inner_text()
    expect(page.get_by_role("heading", name="SAE Feature Explorer")).to_be_visible(timeout=30_000)
    assert query(page)["sae"].startswith("run:")
    run_source = query(page)["sae"]
    open_page(page, server, "prompt", sae=run_source)
    assert "max activation" in main_text(page)
    assert_no_exception(page)
    for attempt in range(9):  # ten opens in all, each from a fresh session that has a demo SAE loaded
        fresh = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        open_page(fresh, server, "training", sae="demo:mlp0-standard")
        assert "blocks.0.hook_mlp_out" in fresh.locator("[data-testid='stSidebar']").inner_text()
        fresh.get_by_role("link", name="Open in explorer").first.click()
        fresh.wait_for_function("() => !location.pathname.includes('training')", timeout=120_000)
        expect(fresh.get_by_role("heading", name="SAE Feature Explorer")).to_be_visible(timeout=120_000)
        settle(fresh)
        assert query(fresh)["sae"] == run_source, attempt
        fresh_sidebar = fresh.locator("[data-testid='stSidebar']")
        assert fresh_sidebar.get_by_label("SAE source", exact=True).input_value() == run_source, attempt
        assert "128 → 1024" in fresh_sidebar.inner_text(), attempt
        fresh.context.close()


# ----------------------------------------------------------------------------- load


def test_eight_sessions_at_once_get_their_own_correct_answers(server: Server) -> None:
    """Eight browser sessions on different pages, SAEs and prompts at the same time."""
    from explorer.activations import analyze_prompt
    from explorer.loading import load_explorer

    prompts = [f"{name} found a {colour} {animal} in the park." for name, colour, animal in (
        ("Lily", "red", "cat"), ("Tom", "blue", "dog"), ("Mia", "green", "frog"), ("Sam", "pink", "pig"))]  # fmt: skip
    cases = [
        (sae, prompt, 5 + i)
        for i, prompt in enumerate(prompts)
        for sae in ("demo:mlp0-standard", "demo:resid1-topk")
    ]
    expected = {}
    for sae in ("demo:mlp0-standard", "demo:resid1-topk"):
        explorer = load_explorer(sae, device="cpu", dtype="float32")
        for case in cases:
            if case[0] == sae:
                expected[case] = float(analyze_prompt(explorer, case[1]).acts[:, case[2]].max())

    async def one_session(browser, case):  # noqa: ANN001
        sae, prompt, feature = case
        context = await browser.new_context()
        page = await context.new_page()
        query_string = urllib.parse.urlencode({"sae": sae, "prompt": prompt, "feature": str(feature)})
        await page.goto(f"{server.url}/prompt?{query_string}")
        heading = page.get_by_text(re.compile(rf"Feature {feature} · max activation"))
        await heading.wait_for(timeout=120_000)
        shown = await heading.inner_text()
        sidebar = await page.locator("[data-testid='stSidebar']").inner_text()
        await context.close()
        return shown, sidebar

    async def all_sessions():  # noqa: ANN202
        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            results = await asyncio.gather(*(one_session(browser, case) for case in cases))
            await browser.close()
            return results

    with ThreadPoolExecutor(1) as pool:  # the sync Playwright fixtures hold this thread's event loop
        results = pool.submit(asyncio.run, all_sessions()).result()
    for case, (shown, sidebar) in zip(cases, results, strict=True):
        value = float(re.search(r"max activation (-?[\d.]+)", shown).group(1))
        assert value == pytest.approx(expected[case], abs=1e-3), (case, shown)
        assert ("blocks.1.hook_resid_pre" in sidebar) == (case[0] == "demo:resid1-topk"), case
    # However many sessions, the server loaded the model once and each SAE once (both SAEs share the model).
    assert server.loads("model") == 1
    assert server.loads("SAE", "demo:mlp0-standard ") == server.loads("SAE", "demo:resid1-topk ") == 1


# ----------------------------------------------------------------------------- restarts


def test_app_restart_reattaches_to_a_running_training_run(tmp_path: Path, browser: Browser) -> None:
    import json

    from explorer.training import TrainSpec, create_run, read_status, start_worker

    runs = tmp_path / "runs"
    spec = json.loads((ROOT / "examples" / "train-demo.json").read_text())
    run_dir = create_run(TrainSpec.from_dict({**spec, "training_tokens": 400_000}), runs)
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    first = start_server(tmp_path / "first", runs)
    start_worker(run_dir)
    stop_server(first)  # the app goes away while the run trains
    assert read_status(run_dir).state in ("queued", "running")
    second = start_server(tmp_path / "second", runs)
    try:
        page = browser.new_context().new_page()
        open_page(page, second, "training")
        # The run's id and state show in the runs list and, once it has a checkpoint, in "Trained SAEs".
        expect(page.get_by_text(re.compile(rf"{run_dir.name}.*running")).first).to_be_visible(timeout=60_000)
        expect(page.get_by_text(re.compile(rf"{run_dir.name}.*succeeded")).first).to_be_visible(
            timeout=300_000
        )
        page.context.close()
    finally:
        stop_server(second)
