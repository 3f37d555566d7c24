"""The SQLite store (labels, notes, lists): round trips, concurrent writers, a crash mid-write, migration;
automatic labels from the statistics; Neuronpedia imports; the CLI's label and search."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from explorer.demo.corpus import LEXICON
from explorer.errors import ExplorerError
from explorer.loading import Explorer
from explorer.store import (
    SCHEMA_VERSION,
    STORE_ENV,
    SaeIdentity,
    add_to_list,
    connect,
    delete_list,
    get_list,
    label_kinds,
    labels_for,
    lists,
    note_for,
    search,
    set_label,
    set_labels,
    set_list_items,
    set_note,
)
from tests.conftest import CliResult

ROOT = Path(__file__).resolve().parent.parent
SAE = SaeIdentity("0123abcd0123abcd", "demo:test", "demo-stories-2l", "blocks.0.hook_mlp_out", 2048)
OTHER = SaeIdentity("ffffeeeeffffeeee", "demo:other", "demo-stories-2l", "blocks.1.hook_resid_pre", 2048)


@pytest.fixture(autouse=True)
def fresh_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "store.sqlite3"
    monkeypatch.setenv(STORE_ENV, str(path))
    return path


def test_labels_notes_and_lists_round_trip_per_sae() -> None:
    set_label(SAE, 12, "  colour   words ")
    set_labels(SAE, [(12, "fires on: red"), (13, "fires on: dog")], "auto")
    set_labels(SAE, [(13, "animals")], "imported")
    assert {f: (lab.text, lab.kind) for f, lab in labels_for(SAE, [12, 13, 14]).items()} == {
        12: ("colour words", "user"),  # whitespace tidied; a user's label wins over the automatic one
        13: ("animals", "imported"),
    }
    assert label_kinds(SAE, 12) == {"user": "colour words", "auto": "fires on: red"}
    assert labels_for(OTHER, [12]) == {}  # another SAE's features are other features
    set_label(SAE, 12, "")  # removing the user's label uncovers the automatic one
    assert labels_for(SAE, [12])[12].text == "fires on: red"
    set_note(SAE, 12, "Fires on colour adjectives.\nSee also 40.")
    assert note_for(SAE, 12) == "Fires on colour adjectives.\nSee also 40." and note_for(SAE, 13) == ""
    for feature in (5, 9, 7):
        add_to_list(SAE, "colour features", feature)
    add_to_list(SAE, "colour features", 9)  # already there: keeps its place
    assert get_list(SAE, "colour features").features == [5, 9, 7]
    set_list_items(SAE, "colour features", [7, 5], ["best one", ""])  # reordered, 9 removed
    saved = get_list(SAE, "colour features")
    assert saved.features == [7, 5] and saved.notes == ["best one", ""]
    assert [lst.name for lst in lists(SAE)] == ["colour features"] and lists(OTHER) == []
    delete_list(SAE, "colour features")
    assert lists(SAE) == []


def test_search_finds_labels_and_notes_by_part_of_their_text() -> None:
    set_label(SAE, 3, "Colour adjectives")
    set_labels(SAE, [(4, "fires on: red, blue · promotes: ball"), (5, "fires on: dog")], "auto")
    set_note(SAE, 6, "a 100% COLOUR_feature, maybe")
    hits = search(SAE, "colour")
    assert [(h.feature, h.field) for h in hits] == [(3, "user label"), (6, "note")]
    assert [h.feature for h in search(SAE, "RED")] == [4] and search(SAE, "red")[0].label.startswith(
        "fires on"
    )
    assert [h.feature for h in search(SAE, "100%")] == [6]  # LIKE wildcards are taken literally
    assert [h.feature for h in search(SAE, "colour_f")] == [6]
    assert search(SAE, "nothing like this") == [] and search(OTHER, "colour") == []
    with pytest.raises(ExplorerError, match="Type some text"):
        search(SAE, "  ")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: set_label(SAE, 5000, "x"), "Feature 5000 is not a feature of this SAE"),
        (lambda: set_label(SAE, 1, "x" * 300), "keep it to 200"),
        (lambda: add_to_list(SAE, "  ", 1), "A list needs a name"),
        (lambda: get_list(SAE, "missing"), "no list named 'missing'"),
        (lambda: set_list_items(SAE, "missing", [1], [""]), "no list named 'missing'"),
    ],
)
def test_bad_input_is_one_clear_error(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ExplorerError, match=message):
        call()


def _write_labels(path: str, worker: int, n: int) -> None:
    import os

    os.environ[STORE_ENV] = path
    for i in range(n):
        set_label(SAE, worker * 1000 % 2048 + i, f"worker {worker} label {i}")
        add_to_list(SAE, "shared", worker * 100 + i)


def test_concurrent_writers_from_several_processes_lose_nothing(fresh_store: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_labels, args=(str(fresh_store), w, 25)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    labels = labels_for(SAE)
    assert len(labels) == 4 * 25
    assert labels[1000 + 3].text == "worker 1 label 3"
    assert sorted(get_list(SAE, "shared").features) == sorted(
        w * 100 + i for w in range(4) for i in range(25)
    )
    assert len(set(get_list(SAE, "shared").features)) == 100


def test_a_crash_mid_transaction_leaves_the_previous_state(fresh_store: Path) -> None:
    set_label(SAE, 1, "kept")
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        os.environ[{STORE_ENV!r}] = {str(fresh_store)!r}
        from explorer.store import transaction
        with transaction() as connection:
            connection.execute("UPDATE labels SET label = 'half-written'")
            connection.execute("INSERT INTO labels VALUES ('x', 2, 'user', 'never', 0)")
            os._exit(9)  # the process dies before the commit
        """
    )
    crashed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert crashed.returncode == 9, crashed.stderr
    assert {f: lab.text for f, lab in labels_for(SAE).items()} == {1: "kept"}
    with connect() as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_migration_from_an_empty_database_and_a_newer_one_is_refused(fresh_store: Path) -> None:
    sqlite3.connect(fresh_store).close()  # an empty file: version 0
    set_label(SAE, 1, "after migration")
    with connect() as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"saes", "labels", "notes", "lists", "list_items"} <= tables
    assert labels_for(SAE)[1].text == "after migration"
    newer = sqlite3.connect(fresh_store)
    newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    newer.close()
    with pytest.raises(ExplorerError, match="newer than this app's"):
        labels_for(SAE)


def test_an_unwritable_or_corrupt_store_is_a_clear_error(
    fresh_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_store.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ExplorerError, match="cannot be used"):
        labels_for(SAE)
    monkeypatch.setenv(STORE_ENV, "/proc/no-such-dir/store.sqlite3")
    with pytest.raises(ExplorerError, match="Cannot open the store"):
        set_label(SAE, 1, "x")


# ----------------------------------------------------------------------------- automatic labels, import


def test_automatic_labels_cover_every_live_feature_and_name_the_colour_feature(demo: Explorer) -> None:
    from explorer.feature_stats import compute_feature_stats
    from explorer.labels import (
        automatic_labels,
        ensure_automatic_labels,
        firing_tokens,
        sae_identity,
        shown_token,
    )
    from explorer.stats_cache import sample_rows

    stats = compute_feature_stats(demo, sample_rows(demo, "demo", 16_384))
    labels = automatic_labels(demo, stats)
    live = set(torch_nonzero(stats.fire_counts))
    assert set(labels) == live and len(live) > 1000
    assert ensure_automatic_labels(demo, stats) == len(live)
    assert ensure_automatic_labels(demo, stats) == 0  # already there
    assert len(labels_for(sae_identity(demo))) == len(live)
    # Independently: the feature that fires most on colour words (the concept search), and its tokens.
    colours = set(LEXICON["colour"])
    quality = json.loads((ROOT / "explorer" / "demo" / "bundle" / "quality.json").read_text())
    colour_feature = quality["saes"]["mlp0-standard"]["concepts"]["colour"][
        "feature"
    ]  # from the bundle's build
    named = labels[colour_feature].split(" · ")[0].removeprefix("fires on: ").split(", ")
    assert sum(word in colours for word in named) >= 2, labels[colour_feature]
    # The fires-on tokens are the tokens under the feature's top examples, counted by brute force.
    feature = max(live, key=lambda f: int(stats.fire_counts[f]))
    valid = stats.top.score[feature].isfinite()
    under = stats.rows[stats.top.row[feature][valid], stats.top.pos[feature][valid]].tolist()
    most = max(set(under), key=under.count)
    assert firing_tokens(demo, stats)[feature][0] == shown_token(demo.model.tokenizer.decode([most]))


def torch_nonzero(counts: object) -> list[int]:
    import torch

    assert isinstance(counts, torch.Tensor)
    return torch.nonzero(counts).flatten().tolist()


def test_neuronpedia_export_imports_as_labels_and_bad_files_are_refused(
    demo: Explorer, tmp_path: Path
) -> None:
    from explorer.labels import import_neuronpedia, sae_identity

    export = tmp_path / "explanations.json"
    export.write_text(json.dumps([
        {"modelId": "demo", "layer": "0-mlp", "index": "12", "description": "colour words", "typeName": "oai_token-act-pair"},
        {"modelId": "demo", "layer": "0-mlp", "index": 40, "description": " the word 'dog'"},
    ]))  # fmt: skip
    assert import_neuronpedia(demo, export) == 2
    labels = labels_for(sae_identity(demo), [12, 40])
    assert (
        labels[12].text == "colour words"
        and labels[12].kind == "imported"
        and labels[40].text == "the word 'dog'"
    )
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ExplorerError, match="is not JSON"):
        import_neuronpedia(demo, tmp_path / "bad.json")
    (tmp_path / "wide.json").write_text(json.dumps([{"index": "99999", "description": "x"}]))
    with pytest.raises(ExplorerError, match="outside this SAE"):
        import_neuronpedia(demo, tmp_path / "wide.json")


def test_cli_label_search_and_import(run_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    done = run_cli("label", "--sae", "demo", "17", "shiny colour feature")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"feature": 17, "label": "shiny colour feature", "kind": "user"}
    found = run_cli("search", "--sae", "demo", "SHINY")
    assert json.loads(found.stdout)["hits"][0]["feature"] == 17
    assert json.loads(run_cli("search", "--sae", "demo:resid1-topk", "shiny").stdout)["hits"] == []
    bad = run_cli("label", "--sae", "demo", "99999", "x")
    assert (
        bad.returncode == 2
        and "99999 is not a feature of this SAE" in bad.stderr
        and "Traceback" not in bad.stderr
    )
    export = tmp_path / "np.json"
    export.write_text(json.dumps([{"index": "3", "description": "imported one"}]))
    imported = run_cli("label", "--sae", "demo", "--import-neuronpedia", str(export))
    assert json.loads(imported.stdout) == {"imported": 1}


# ----------------------------------------------------------------------------- export


@pytest.fixture(scope="module")
def small_stats(demo: Explorer) -> object:
    from explorer.feature_stats import compute_feature_stats
    from explorer.stats_cache import sample_rows

    return compute_feature_stats(demo, sample_rows(demo, "demo", 8_192))


def test_exports_validate_against_the_schema_and_carry_the_dashboard(
    demo: Explorer, small_stats: object
) -> None:
    import jsonschema

    from explorer.export import export_html, feature_export, list_export
    from explorer.feature_stats import FeatureStats
    from explorer.labels import sae_identity

    assert isinstance(small_stats, FeatureStats)
    schema = json.loads((ROOT / "docs" / "feature-export.schema.json").read_text())
    live = [int(f) for f in small_stats.fire_counts.nonzero().flatten()[:3]]
    identity = sae_identity(demo)
    set_label(identity, live[0], "my <b>bold</b> label")
    set_note(identity, live[0], "why I care")
    for feature in live:
        add_to_list(identity, "three", feature, note=f"item {feature}")
    one = feature_export(demo, small_stats, live[0])
    jsonschema.validate(one, schema)
    assert (
        one["index"] == str(live[0])
        and one["label"] == "my <b>bold</b> label"
        and one["note"] == "why I care"
    )
    assert one["maxActApprox"] == pytest.approx(float(small_stats.max_acts[live[0]]))
    assert one["frac_nonzero"] == pytest.approx(
        float(small_stats.fire_counts[live[0]]) / small_stats.n_tokens
    )
    assert sum(one["freq_hist_data_bar_heights"]) == int(small_stats.fire_counts[live[0]])
    best = one["activations"][0]
    assert best["values"][best["maxValueTokenIndex"]] == pytest.approx(best["maxValue"], abs=1e-4)
    assert best["maxValue"] == pytest.approx(one["maxActApprox"], abs=1e-4)
    whole = list_export(demo, small_stats, "three")
    assert [f["index"] for f in whole["features"]] == [str(f) for f in live]
    assert [f["list_note"] for f in whole["features"]] == [f"item {f}" for f in live]
    for item in whole["features"]:
        jsonschema.validate(item, schema)
    page = export_html("Feature list: three", whole["features"])
    assert page.count('<section id="feature-') == 3 and "my &lt;b&gt;bold&lt;/b&gt; label" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page


def test_cli_export_writes_html_and_prints_json(run_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    out = tmp_path / "f.html"
    written = run_cli("export", "--sae", "demo", "--feature", "7", "--n-tokens", "8192", "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert json.loads(written.stdout)["features"] == [7] and '<section id="feature-7">' in out.read_text()
    printed = run_cli("export", "--sae", "demo", "--feature", "7", "--n-tokens", "8192", "--format", "json")
    assert json.loads(printed.stdout)["index"] == "7"
    for args, message in ((("--n-tokens", "8192"), "Export either --feature F or --list NAME"),
                          (("--list", "nope", "--n-tokens", "8192", "--format", "json"), "no list named 'nope'"),
                          (("--feature", "7"), "HTML goes to a file: add --out FILE.html")):  # fmt: skip
        bad = run_cli("export", "--sae", "demo", *args)
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr


# ----------------------------------------------------------------------------- optional LLM explanations


class _FakeChat:
    """A local OpenAI-compatible chat-completions server (127.0.0.1) that records what it was asked."""

    def __init__(self, answer: str, status: int = 200) -> None:
        import http.server
        import threading

        self.requests: list[dict[str, object]] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers["Content-Length"])
                fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                      "body": json.loads(self.rfile.read(length))})  # fmt: skip
                payload = json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": answer}}]}
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_llm_explanations_from_a_local_endpoint_are_stored_and_failures_are_clear(
    demo: Explorer, small_stats: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from explorer.autointerp import KEY_ENV, MODEL_ENV, URL_ENV, Endpoint, configured_endpoint, explain
    from explorer.feature_stats import FeatureStats
    from explorer.labels import sae_identity

    assert isinstance(small_stats, FeatureStats)
    assert configured_endpoint() is None  # nothing is called unless the user sets an endpoint
    feature = int(small_stats.fire_counts.argmax())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the fake server is local, whatever proxy is set
    fake = _FakeChat('  "Sentence-ending punctuation"  ')
    try:
        monkeypatch.setenv(URL_ENV, fake.url + "/")
        monkeypatch.setenv(MODEL_ENV, "tiny-explainer")
        monkeypatch.setenv(KEY_ENV, "secret")
        endpoint = configured_endpoint()
        assert endpoint == Endpoint(fake.url, "tiny-explainer", "secret")
        assert explain(demo, small_stats, feature, endpoint) == "Sentence-ending punctuation"
        (asked,) = fake.requests
        assert asked["path"] == "/v1/chat/completions" and asked["auth"] == "Bearer secret"
        body = asked["body"]
        assert isinstance(body, dict) and body["model"] == "tiny-explainer"
        assert (
            "<<" in body["messages"][1]["content"] and f"Feature {feature}" in body["messages"][1]["content"]
        )
        label = labels_for(sae_identity(demo), [feature])[feature]
        assert (label.text, label.kind) == ("Sentence-ending punctuation", "llm")
    finally:
        fake.close()
    with pytest.raises(ExplorerError, match="cannot be reached"):
        explain(demo, small_stats, feature, Endpoint(fake.url, "tiny-explainer"), timeout_s=5)
    broken = _FakeChat("x", status=500)
    try:
        with pytest.raises(ExplorerError, match="answered 500"):
            explain(demo, small_stats, feature, Endpoint(broken.url, "m"))
    finally:
        broken.close()
    monkeypatch.delenv(MODEL_ENV)
    with pytest.raises(ExplorerError, match="SAE_EXPLORER_LLM_MODEL is not"):
        configured_endpoint()
