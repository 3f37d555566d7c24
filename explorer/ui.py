"""The few Streamlit helpers pages share (the only module of `explorer/` that imports streamlit)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from explorer.activations import DEFAULT_PROMPT, PromptAnalysis, analyze_prompt, default_prepend_bos
from explorer.attribution import AblateAt, AttributionResult, Metric, attribute
from explorer.cluster import RAY_ENV
from explorer.devices import resolve_device, resolve_dtype
from explorer.errors import ExplorerError
from explorer.features import LogitEffect, direct_logit_effects
from explorer.generation import GenerationSettings, LossComparison, compare_loss
from explorer.labels import label_map, sae_identity
from explorer.loading import Explorer, assemble, model_request
from explorer.logits import LogitView, subset_logit_view
from explorer.models import LoadedModel, load_model
from explorer.paths import confine_paths
from explorer.sae_loading import LoadedSAE, load_sae
from explorer.store import add_to_list, lists, search

T = TypeVar("T")
EXPLORER_KEY = "explorer"
RAY_ADDRESS_KEY = "ray_address"
OTHER_SOURCE = "Other: directory, RELEASE:SAE_ID or run:ID"


@st.cache_resource(show_spinner="Loading SAE…", max_entries=8)
def cached_sae(sae_source: str, device: str, dtype: str) -> LoadedSAE:
    """Each SAE is read once per (source, device, dtype), for every page and browser session."""
    return load_sae(sae_source, device=device, dtype=dtype)


@st.cache_resource(show_spinner="Loading model…", max_entries=2)
def cached_model(name: str, device: str, dtype: str, kwargs_json: str) -> LoadedModel:
    """Each model is loaded once per (name, device, dtype, kwargs); SAEs on the same model share it."""
    return load_model(name, device=device, dtype=dtype, from_pretrained_kwargs=json.loads(kwargs_json))


@st.cache_resource(show_spinner=False, max_entries=8)
def get_explorer(sae_source: str, model: str | None, device: str, dtype: str) -> Explorer:
    """The checked pairing of a cached model and a cached SAE."""
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    loaded_sae = cached_sae(sae_source, device, dtype)
    model_name, kwargs = model_request(loaded_sae, model)
    return assemble(
        cached_model(model_name, device, dtype, json.dumps(kwargs, sort_keys=True)), loaded_sae, device, dtype
    )


def other_source_key() -> str:
    """The widget key of the sidebar's free-text SAE source box."""
    return f"sae_other_{st.session_state.get('sae_other_version', 0)}"


SOURCE_IN_URL_KEY = "sae_source_in_url"  # the ?sae= this session last wrote or followed


def point_sidebar_at(source: str, demo_sources: list[str]) -> None:
    """Make the sidebar's (not yet drawn) source widgets show `source`: a demo entry, or the free-text box.

    The text box gets a new key, so the browser draws a new box holding `source` rather than keeping
    what an earlier box of the same key showed.
    """
    st.session_state["sae_other_version"] = st.session_state.get("sae_other_version", 0) + 1
    st.session_state["sae_choice"] = source if source in demo_sources else OTHER_SOURCE
    st.session_state[other_source_key()] = "" if source in demo_sources else source


def follow_url_source(demo_sources: list[str]) -> None:
    """Before the sidebar is drawn: open the SAE that the URL's ?sae= names when it is new to this session.

    A link, a page switch (`st.switch_page(..., query_params={"sae": ...})`) or the browser's history
    that names another SAE than the one this session last put in the URL opens that SAE; otherwise the
    sidebar's own widgets decide. Going through the URL rather than the widgets' state keeps the
    choice when a page switch drops widget state or a stale browser message overwrites it.
    """
    requested = st.query_params.get("sae")
    if "sae_choice" not in st.session_state:
        point_sidebar_at(requested or demo_sources[0], demo_sources)
    elif requested and requested != st.session_state.get(SOURCE_IN_URL_KEY):
        point_sidebar_at(requested, demo_sources)
    st.session_state[SOURCE_IN_URL_KEY] = requested


def write_url_source(source: str) -> None:
    """Put the loaded SAE's source in the URL (and remember that this session wrote it)."""
    if st.query_params.get("sae") != source:
        st.query_params["sae"] = source
    st.session_state[SOURCE_IN_URL_KEY] = source


def select_source(source: str) -> None:
    """Open `source` in the sidebar on the next run (for a widget's callback, e.g. a row of SAE B's table)."""
    st.query_params["sae"] = source


def ensure_entrypoint_ran() -> None:
    """Rerun through app.py when a page was started without it.

    Until app.py's `st.navigation` has run once in a server process, Streamlit routes a deep link such
    as `/prompt?feature=3` (the first request of a freshly started server) with its legacy `pages/`
    folder routing, which runs the page file alone: no sidebar, nothing loaded. Switch that routing
    off, as `st.navigation` itself does, and rerun so the entrypoint runs and the link still works.
    """
    if EXPLORER_KEY not in st.session_state:
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
        st.rerun()


def current_explorer() -> Explorer:
    """The model + SAE loaded from the sidebar; stops the page with a message when none is loaded."""
    ensure_entrypoint_ran()
    confine_paths()  # app.py does this on every run; AppTest reruns only the page, so pages repeat it
    explorer = st.session_state.get(EXPLORER_KEY)
    if explorer is None:
        st.info("Pick an SAE in the sidebar to start.")
        st.stop()
    return explorer


def show_error(error: ExplorerError | Exception) -> None:
    """Show a user-fixable problem as one clear message (no traceback)."""
    if isinstance(error, ExplorerError):
        st.error(error.message + (f"\n\n{error.hint}" if error.hint else ""), icon=":material/error:")
    else:
        st.error(f"Unexpected {type(error).__name__}: {error}", icon=":material/bug_report:")


def summary_rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    """The (label, value) rows of the summary card for an `Explorer.info()` dict."""
    hook = info["hook_name"]
    if info.get("hook_name_mapped_from"):
        hook += f" (mapped from {info['hook_name_mapped_from']})"
    rows = [
        ("Model", info["model_name"]),
        ("Hook", hook),
        ("d_in → d_sae", f"{info['d_in']} → {info['d_sae']}"),
        ("Architecture", info["architecture"]),
        ("Device / dtype", f"{info['device']} / {info['dtype']}"),
    ]
    if info.get("neuronpedia_id"):
        rows.append(("Neuronpedia", info["neuronpedia_id"]))
    if info.get("conversions"):
        rows.append(("Converted", f"{len(info['conversions'])} step(s), listed on Home"))
    return rows


@st.cache_data(max_entries=64, show_spinner=False)
def cached_analysis(_explorer: Explorer, key: str, text: str, prepend_bos: bool) -> PromptAnalysis:  # noqa: ARG001
    """`analyze_prompt`, cached per (loaded model + SAE, text, prepend_bos)."""
    return analyze_prompt(_explorer, text, prepend_bos)


@st.cache_data(max_entries=64, show_spinner=False)
def cached_logit_view(
    _explorer: Explorer,
    key: str,
    text: str,
    features: tuple[int, ...],
    position: int,
    prepend_bos: bool,
) -> LogitView:
    """`subset_logit_view`, cached per (model + SAE, text, features, position, prepend_bos): a page switch
    back to the page redraws it without three forward passes."""
    return subset_logit_view(_explorer, text, list(features), position=position, prepend_bos=prepend_bos)


@st.cache_data(max_entries=64, show_spinner=False)
def cached_loss(_explorer: Explorer, key: str, text: str, prepend_bos: bool | None) -> LossComparison:
    """`compare_loss`, cached per (model + SAE, text, prepend_bos)."""
    return compare_loss(_explorer, text, prepend_bos)


@st.cache_data(max_entries=64, show_spinner=False)
def cached_logit_effects(
    _explorer: Explorer, key: str, features: tuple[int, ...], n: int
) -> list[LogitEffect]:
    """`direct_logit_effects`, cached per (model + SAE, features, n)."""
    return direct_logit_effects(_explorer, list(features), n=n)


@st.cache_data(max_entries=32, show_spinner=False)
def cached_attribution(
    _explorer: Explorer, key: str, text: str, prepend_bos: bool, position: int, target: str | None,
    contrast: str | None, metric: Metric, top: int, check_ablation: bool, ablate_at: AblateAt,
) -> AttributionResult:  # fmt: skip
    """`attribute`, cached per (model + SAE and every input): a page switch back redraws it without a backward pass."""
    return attribute(
        _explorer, text, position=position, target=target, contrast=contrast, metric=metric, top=top,
        check_ablation=check_ablation, ablate_at=ablate_at, prepend_bos=prepend_bos,
    )  # fmt: skip


@st.cache_resource(max_entries=64, show_spinner=False)
def _figure_for(key: tuple[Any, ...], _build: Callable[[], Any]) -> Any:
    return _build()


def cached_figure(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """The figure `build()` makes, built once per `key` (which must name everything it depends on).

    Kept as one shared object (`cache_resource`) rather than pickled per read (`cache_data`): unpickling
    a Plotly figure re-validates it, which costs as much as building it. Nothing mutates a drawn figure.
    """
    return _figure_for(key, build)


def prompt_analysis(explorer: Explorer, text: str, prepend_bos: bool) -> PromptAnalysis:
    """The prompt's analysis from the cache; stops the page with a clear message on bad input."""
    try:
        return cached_analysis(explorer, explorer.key, text, prepend_bos)
    except ExplorerError as error:
        show_error(error)
        st.stop()


def generation_settings_inputs() -> GenerationSettings:
    """Temperature, max new tokens, seed and stop-at-EOS widgets in one row, kept in the URL (shared links)."""
    c1, c2, c3, c4 = st.columns(4)
    temperature = c1.number_input(
        "Temperature", 0.0, 2.0, min(max(url_value("temperature", 0.8), 0.0), 2.0), 0.1, key="w_temperature"
    )
    max_new_tokens = c2.number_input(
        "Max new tokens", 1, 256, min(max(url_value("max_new", 40), 1), 256), key="w_max_new"
    )
    seed = c3.number_input("Seed", 0, 2**31 - 1, max(url_value("seed", 0), 0), key="w_seed")
    stop_at_eos = c4.toggle(
        "Stop at EOS", value=url_value("stop_eos", True, cast=lambda raw: raw == "True"), key="w_stop_eos"
    )
    for name, value in (("temperature", temperature), ("max_new", int(max_new_tokens)), ("seed", int(seed)),
                        ("stop_eos", bool(stop_at_eos))):  # fmt: skip
        share_value(name, value)
    return GenerationSettings(int(max_new_tokens), float(temperature), int(seed), stop_at_eos)


def result_shown_in_link(flag: str, shown: bool) -> None:
    """Record in the URL whether the page shows a computed result, so a shared link recomputes it on load."""
    if shown and st.query_params.get(flag) != "1":
        st.query_params[flag] = "1"
    elif not shown and flag in st.query_params:
        del st.query_params[flag]


def recompute_for_link(flag: str, have_result: bool) -> bool:
    """True when a page opened from a shared link that showed a result has none yet: compute it on load.

    Only on the session's first visit to the page; after that, changed inputs wait for the button.

    The computations are deterministic for their inputs (seeded sampling, seeded dataset samples), so the
    colleague who opens the link sees the same numbers and text.
    """
    checked = f"_link_checked_{flag}"  # only the session's first visit: later input changes wait for a press
    first_visit = checked not in st.session_state
    st.session_state[checked] = True
    return first_visit and not have_result and st.query_params.get(flag) == "1"


def continuations_side_by_side(
    prompt: str, left: tuple[str, str], right: tuple[str, str], seed: int, what: str
) -> None:
    """Two continuations of `prompt` (title, text) in two columns, with the same-seed caption."""
    for column, (title, continuation) in zip(st.columns(2), (left, right), strict=True):
        column.markdown(title)
        column.code(prompt + continuation, language=None, wrap_lines=True)
    st.caption(f"Same seed ({seed}) for both: the only difference is {what}.")


def url_value(name: str, default: T, cast: Callable[[str], T] | None = None) -> T:
    """A view setting: this session's last value, else the URL's `?name=` (a shared link), else `default`."""
    if name in st.session_state:
        return st.session_state[name]
    raw = st.query_params.get(name)
    if raw is None:
        return default
    convert: Callable[[str], T] = cast or type(default)
    try:
        return convert(raw)
    except (TypeError, ValueError):
        return default


def url_index(name: str, options: Sequence[str]) -> int:
    """The position in `options` of the view setting `name` (session, then URL); 0 for a value not among them."""
    value = url_value(name, options[0])
    return list(options).index(value) if value in options else 0


def share_value(name: str, value: Any) -> None:
    """Remember a view setting for this session and write it to the URL, so a link reproduces the view."""
    st.session_state[name] = value
    if st.query_params.get(name) != str(value):
        st.query_params[name] = str(value)


FEATURE_WIDGET_KEYS = (
    "feature_id",
    "compare_feature",
)  # widgets that show the current feature and must follow a jump to another


def feature_link_params(feature: int, **extra: str) -> dict[str, str]:
    """Query parameters that open `feature` with this session's prompt and SAE (for links and page switches)."""
    params = {"feature": str(int(feature))}
    prompt = st.session_state.get("prompt") or st.query_params.get("prompt")
    if prompt:
        params["prompt"] = prompt
    if st.query_params.get("sae"):
        params["sae"] = st.query_params["sae"]
    return {**params, **extra}


def open_feature(feature: int, page: str = "feature", **extra: str) -> None:
    """Switch this tab to `page` (a file in pages/) showing `feature`, keeping the session's prompt and SAE."""
    st.session_state["feature"] = int(feature)
    st.session_state.pop("colour_by_for", None)  # the prompt page colours by this feature, for its prompt
    for key in FEATURE_WIDGET_KEYS:
        st.session_state.pop(key, None)
    for name, value in extra.items():
        st.session_state[name] = value
    st.switch_page(f"pages/{page}.py", query_params=feature_link_params(feature, **extra))


def open_clicked_feature(widget_key: str) -> None:
    """After a click callback stored `feature_to_open`: open that feature's dashboard (the click is used
    once, so the clicked table or chart starts unselected next time)."""
    if "feature_to_open" in st.session_state:
        feature = st.session_state.pop("feature_to_open")
        st.session_state.pop(widget_key, None)
        open_feature(feature)


def feature_table(
    frame: Any, key: str, column: str = "feature", sae_source: str | None = None, **kwargs: Any
) -> None:
    """A table of features; clicking a row opens that feature's dashboard in this tab.

    With `sae_source`, the features belong to that SAE (e.g. the second SAE of a comparison), and the
    click also makes it the sidebar's SAE. The click is handled in the table's callback, which runs
    before the sidebar is drawn, then the page switches.
    """

    def clicked() -> None:
        rows = st.session_state[key]["selection"]["rows"]
        if rows:
            if sae_source:
                select_source(sae_source)
            st.session_state["feature_to_open"] = int(frame.iloc[rows[0]][column])

    st.dataframe(frame, key=key, on_select=clicked, selection_mode="single-row", hide_index=True, **kwargs)
    st.caption(
        "Click a row to open that feature's dashboard" + (f" (in `{sae_source}`)." if sae_source else ".")
    )
    open_clicked_feature(key)


def clicked_point_feature(point: dict[str, Any]) -> int:
    """The feature a clicked chart point stands for: its customdata, else its "f123" y label."""
    custom = point.get("customdata")
    if isinstance(custom, list | tuple):
        custom = custom[0] if custom else None
    if custom is not None:
        return int(custom)
    return int(str(point["y"]).removeprefix("f").split(" ")[0])


def feature_chart(figure: Any, key: str, **kwargs: Any) -> None:
    """A plotly chart whose points stand for features (customdata); a click opens that feature's dashboard."""

    def clicked() -> None:
        points = st.session_state[key]["selection"]["points"]
        if points:
            st.session_state["feature_to_open"] = clicked_point_feature(points[0])

    st.plotly_chart(figure, key=key, on_select=clicked, selection_mode="points", **kwargs)
    open_clicked_feature(key)


def colour_by_key() -> str:
    """What the prompt page's colour-by feature was chosen for: the session's prompt and SAE."""
    return json.dumps([st.session_state.get("prompt", ""), st.query_params.get("sae", "")])


def colour_by_feature(default: int, d_sae: int) -> int:
    """The prompt page's colour-by feature: the one chosen for this prompt and SAE, else `default`.

    A feature chosen (or linked) for one prompt is not kept for another prompt or SAE, where it would
    usually show nothing; then the strongest feature of the current prompt is used.
    """
    chosen_for = st.session_state.get("colour_by_for")
    if chosen_for is not None and chosen_for != colour_by_key():
        return default
    requested = url_value("feature", default, int)
    return requested if 0 <= requested < d_sae else default


def prompt_inputs(explorer: Explorer, key_prefix: str = "") -> tuple[str, bool]:
    """The shared prompt box and prepend-BOS toggle (the prompt persists across pages and lives in the URL)."""
    text = st.text_area(
        "Prompt", value=url_value("prompt", DEFAULT_PROMPT), height=90, key=f"{key_prefix}prompt_box"
    )
    share_value("prompt", text)
    prepend_bos = st.toggle(
        "Prepend BOS", value=default_prepend_bos(explorer), key=f"{key_prefix}bos",
        help="Default from the SAE's metadata (prepend_bos).",
    )  # fmt: skip
    return text, prepend_bos


def truncation_notice(analysis: PromptAnalysis, n_ctx: int) -> None:
    """Say so when the prompt was cut to the model's context."""
    if analysis.tokens.truncated:
        st.warning(
            f"The prompt has {analysis.tokens.n_original} tokens; the model's context is {n_ctx}, "
            f"so only the first {n_ctx} are analysed."
        )


def prompt_section(explorer: Explorer) -> PromptAnalysis:
    """The prompt box, the BOS toggle, the (cached) analysis and the truncation notice, as pages share them."""
    text, prepend_bos = prompt_inputs(explorer)
    analysis = prompt_analysis(explorer, text, prepend_bos)
    truncation_notice(analysis, explorer.model.cfg.n_ctx)
    return analysis


# ----------------------------------------------------------------------------- labels, search, lists


def feature_labels(explorer: Explorer, features: Sequence[int]) -> dict[int, str]:
    """The winning label text of each of `features` that has one ({} when the store cannot be read)."""
    try:
        return {f: label.text for f, label in label_map(explorer, list(features)).items()}
    except ExplorerError as error:
        st.caption(f"Labels unavailable: {error}")
        return {}


def label_column(explorer: Explorer, features: Sequence[int]) -> list[str]:
    """A table column of labels for `features` ('' where none)."""
    labels = feature_labels(explorer, features)
    return [labels.get(int(f), "") for f in features]


def search_features(explorer: Explorer, key: str, compact: bool = False) -> None:
    """A search box over labels and notes; a result opens its feature."""
    text = st.text_input(
        "Search labels and notes", key=key, placeholder="e.g. colour",
        help="Your labels, imported Neuronpedia explanations, automatic labels and notes; part of a word is enough.",
    )  # fmt: skip
    if not text.strip():
        return
    try:
        hits = search(sae_identity(explorer), text)
    except ExplorerError as error:
        show_error(error)
        return
    if not hits:
        st.caption(f"No label or note contains '{text.strip()}'.")
        return
    if compact:  # the sidebar: a button per hit
        for hit in hits[:8]:
            shown = hit.label or hit.matched
            if st.button(f"{hit.feature} · {shown[:40]}", key=f"{key}-hit-{hit.feature}", width="stretch"):
                open_feature(hit.feature)
        if len(hits) > 8:
            st.caption(f"{len(hits) - 8} more on the feature dashboard's search.")
        return
    feature_table(
        pd.DataFrame([{"feature": h.feature, "label": h.label, "found in": h.field, "text": h.matched} for h in hits]),
        key=f"{key}-results", width="stretch",
    )  # fmt: skip


def add_to_list_control(explorer: Explorer, features: Sequence[int], key: str) -> None:
    """A popover to add one of `features` (the first by default) to a new or existing list."""
    if not features:
        return
    identity = sae_identity(explorer)
    with st.popover("Add to a list", icon=":material/playlist_add:"):
        feature = (
            st.selectbox("Feature", list(features), key=f"{key}-feature")
            if len(features) > 1
            else features[0]
        )
        try:
            names = [saved.name for saved in lists(identity)]
        except ExplorerError as error:
            show_error(error)
            return
        new = "New list…"
        choice = st.selectbox("List", [*names, new], key=f"{key}-list")
        name = st.text_input("Name of the new list", key=f"{key}-name") if choice == new else choice
        if st.button("Add", key=f"{key}-add", type="primary"):
            try:
                add_to_list(identity, name or "", int(feature))
            except ExplorerError as error:
                show_error(error)
            else:
                st.success(f"Feature {feature} is in '{' '.join((name or '').split())}'.")
                st.page_link(
                    "pages/lists.py",
                    label="Open the list",
                    query_params={"list": " ".join((name or "").split())},
                )


def with_labels(explorer: Explorer, frame: pd.DataFrame, column: str = "feature") -> pd.DataFrame:
    """`frame` with a "label" column right after its feature column."""
    if column not in frame.columns:
        return frame
    frame = frame.copy()
    frame.insert(
        list(frame.columns).index(column) + 1, "label", label_column(explorer, frame[column].tolist())
    )
    return frame


def ray_address() -> str | None:
    """The Ray cluster the sidebar (or SAE_EXPLORER_RAY) names for statistics passes, if any."""
    address = (st.session_state.get(RAY_ADDRESS_KEY) or "").strip() or os.environ.get(RAY_ENV, "").strip()
    return address or None
