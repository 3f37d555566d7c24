"""Comparing two SAEs: feature matches against brute force, metrics on one sample, the page and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from explorer.activations import feature_activations, special_token_mask
from explorer.compare import compare_metrics, nearest_by_correlation, nearest_by_decoder_across
from explorer.data import open_dataset, token_rows
from explorer.errors import ExplorerError
from explorer.loading import Explorer, load_explorer, with_sae
from explorer.metrics import compute_metrics
from explorer.sae_loading import load_sae
from tests.conftest import CliResult

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pair(demo: Explorer) -> tuple[Explorer, Explorer]:
    return demo, with_sae(demo, load_sae("demo:resid1-topk", device="cpu", dtype="float32"))


@pytest.fixture(scope="module")
def rows(demo: Explorer) -> torch.Tensor:
    return token_rows(open_dataset("demo"), demo.model.tokenizer, 64, True, 12)


def test_second_sae_shares_the_model(pair: tuple[Explorer, Explorer]) -> None:
    a, b = pair
    assert b.model is a.model and b.hook_name == "blocks.1.hook_resid_pre" != a.hook_name


def test_nearest_by_decoder_matches_brute_force(pair: tuple[Explorer, Explorer]) -> None:
    a, b = pair
    feature = 17
    wa, wb = a.sae.sae.W_dec.detach(), b.sae.sae.W_dec.detach()  # both d_model-wide residual directions
    cosines = torch.tensor([float(torch.cosine_similarity(wa[feature], row, dim=0)) for row in wb])
    expected = cosines.topk(5)
    matches = nearest_by_decoder_across(a, b, feature, n=5)
    assert [m.feature for m in matches] == expected.indices.tolist()
    assert [m.score for m in matches] == pytest.approx(expected.values.tolist(), abs=1e-5)


def test_nearest_by_correlation_matches_numpy_corrcoef(
    pair: tuple[Explorer, Explorer], rows: torch.Tensor
) -> None:
    a, b = pair
    keep = special_token_mask(rows, a.model.tokenizer).reshape(-1)
    acts_a = feature_activations(a, rows).reshape(-1, a.sae.d_sae)[keep]
    acts_b = feature_activations(b, rows).reshape(-1, b.sae.d_sae)[keep]
    feature = int((acts_a > 0).sum(0).argmax())  # a feature that fires often
    alive = (acts_b > 0).any(0)
    matrix = torch.from_numpy(
        __import__("numpy").corrcoef(acts_a[:, feature].numpy(), acts_b[:, alive].numpy(), rowvar=False)
    )
    expected = torch.zeros(b.sae.d_sae, dtype=torch.float64)
    expected[alive] = matrix[0, 1:]
    top = expected.topk(5)
    matches = nearest_by_correlation(a, b, feature, rows, n=5, batch_size=5)  # batches do not divide the rows
    assert [m.feature for m in matches] == top.indices.tolist()
    assert [m.score for m in matches] == pytest.approx(top.values.tolist(), abs=1e-4)


def test_compare_metrics_are_each_saes_own_metrics_on_the_same_rows(
    pair: tuple[Explorer, Explorer], rows: torch.Tensor
) -> None:
    a, b = pair
    metrics_a, metrics_b = compare_metrics(a, b, rows, with_loss=False)
    assert metrics_a.to_dict() == compute_metrics(a, rows, with_loss=False).to_dict()
    assert metrics_b.l0 == pytest.approx(32.0)  # top-k with k = 32
    assert metrics_a.n_tokens == metrics_b.n_tokens


def test_a_feature_that_never_fires_and_different_models_are_clear_errors(
    pair: tuple[Explorer, Explorer], rows: torch.Tensor
) -> None:
    a, b = pair
    acts = feature_activations(b, rows).reshape(-1, b.sae.d_sae)
    dead = int(torch.nonzero((acts > 0).sum(0) == 0)[0])
    with pytest.raises(ExplorerError, match="never fires"):
        nearest_by_correlation(b, a, dead, rows)
    other_model = load_explorer("demo:resid1-topk", device="cpu", dtype="float32")  # its own model object
    with pytest.raises(ExplorerError, match="different models"):
        nearest_by_decoder_across(a, other_model, 0)


def test_compare_page_on_the_two_demo_saes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    from explorer.labels import sae_identity
    from explorer.store import set_labels

    monkeypatch.setenv("SAE_EXPLORER_STORE", str(tmp_path / "store.sqlite3"))
    b = sae_identity(load_explorer("demo:resid1-topk", device="cpu", dtype="float32"))
    set_labels(b, [(f, f"B's feature {f}") for f in range(b.d_sae)], "user")  # the matches are B's features
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.query_params["feature"] = "3"
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    assert at.text_input[0].value == "demo:resid1-topk"
    at.number_input[0].set_value(8)  # prompts
    at.button[0].click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("metric")
    assert list(table.columns) == ["A", "B", "better", "definition"] and table.loc["Mean L0", "B"] == "32.0"
    assert (
        float(table.loc["Explained variance", "A"]) > 0.5
        and float(table.loc["Explained variance", "B"]) > 0.5
    )
    assert table.loc["Explained variance", "better"] in ("A", "B") and table.loc["Mean L0", "better"] == ""
    assert at.number_input[-1].value == 3  # the feature from the URL
    for table, score in ((at.dataframe[1].value, "cosine"), (at.dataframe[2].value, "correlation")):
        assert list(table.columns) == ["feature", "label", score]
        assert table["label"].tolist() == [f"B's feature {f}" for f in table["feature"]]
    assert len(at.get("plotly_chart")) == 2


def test_cli_compare(run_cli: Callable[..., CliResult]) -> None:
    out = run_cli("compare", "--sae", "demo:mlp0-standard", "--other", "demo:resid1-topk", "--feature", "3",
                  "--n-prompts", "4", "--no-loss", "--device", "cpu")  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["b"]["metrics"]["l0"] == pytest.approx(32.0)
    assert result["a"]["hook_name"] == "blocks.0.hook_mlp_out"
    assert len(result["nearest_by_decoder"]) == 10 and len(result["nearest_by_correlation"]) == 10
