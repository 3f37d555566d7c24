"""Sparsity and reconstruction metrics agree with `sae_lens.evals.run_evals` on the same batches."""

from __future__ import annotations

import pytest
import torch
from sae_lens.evals import EvalConfig, run_evals
from sae_lens.training.activation_scaler import ActivationScaler

from explorer.data import open_dataset, token_rows
from explorer.errors import ExplorerError
from explorer.loading import Explorer, load_explorer
from explorer.metrics import compute_metrics
from tests.conftest import plain_hook_activations

BATCH, N_BATCHES, CONTEXT = 8, 2, 128


class FixedBatches:
    """Stands in for SAE-Lens' ActivationsStore: run_evals only asks it for token batches."""

    def __init__(self, rows: torch.Tensor) -> None:
        self.rows, self.next, self.context_size = rows, 0, rows.shape[1]

    def get_batch_tokens(self, batch_size: int) -> torch.Tensor:
        batch = self.rows[self.next : self.next + batch_size]
        self.next += batch_size
        return batch

    def reset_input_dataset(self) -> None:
        self.next = 0


@pytest.fixture(scope="module", params=["demo:mlp0-standard", "demo:resid1-topk"])
def explorer(request: pytest.FixtureRequest) -> Explorer:
    return load_explorer(request.param, device="cpu")


@pytest.fixture(scope="module")
def rows(explorer: Explorer) -> torch.Tensor:
    return token_rows(open_dataset("demo"), explorer.model.tokenizer, CONTEXT, True, BATCH * N_BATCHES)


def test_metrics_match_sae_lens_evals(explorer: Explorer, rows: torch.Tensor) -> None:
    ours = compute_metrics(explorer, rows, batch_size=5)  # a different batching on purpose
    eval_config = EvalConfig(
        batch_size_prompts=BATCH, n_eval_reconstruction_batches=N_BATCHES, n_eval_sparsity_variance_batches=N_BATCHES,
        compute_ce_loss=True, compute_kl=True, compute_sparsity_metrics=True, compute_variance_metrics=True,
        compute_featurewise_density_statistics=True,
    )  # fmt: skip
    theirs, per_feature = run_evals(
        explorer.sae.sae, FixedBatches(rows), explorer.model, ActivationScaler(), eval_config,  # type: ignore[arg-type]
        exclude_special_tokens=True,
    )  # fmt: skip
    assert ours.l0 == pytest.approx(theirs["sparsity"]["l0"], rel=1e-4)
    assert ours.mse == pytest.approx(theirs["reconstruction_quality"]["mse"], rel=1e-4)
    assert ours.explained_variance == pytest.approx(
        theirs["reconstruction_quality"]["explained_variance"], abs=1e-4
    )
    assert ours.cosine_similarity == pytest.approx(theirs["reconstruction_quality"]["cossim"], abs=1e-4)
    performance = theirs["model_performance_preservation"]
    assert ours.ce_loss_orig == pytest.approx(performance["ce_loss_without_sae"], rel=1e-4)
    assert ours.ce_loss_recon == pytest.approx(performance["ce_loss_with_sae"], rel=1e-4)
    assert ours.ce_loss_zero == pytest.approx(performance["ce_loss_with_ablation"], rel=1e-4)
    assert ours.ce_loss_recovered == pytest.approx(performance["ce_loss_score"], abs=1e-4)
    assert ours.kl_div == pytest.approx(theirs["model_behavior_preservation"]["kl_div_with_sae"], rel=1e-3)
    assert torch.allclose(ours.feature_density, torch.tensor(per_feature["feature_density"]), atol=1e-6)


def test_l0_by_the_notebook_formula(explorer: Explorer, rows: torch.Tensor) -> None:
    """L0 = count of features > 0 per token, BOS excluded: by a plain forward hook, one row at a time."""
    ours = compute_metrics(explorer, rows[:4], with_loss=False)
    counts = []
    for row in rows[:4]:
        feats = explorer.sae.sae.encode(plain_hook_activations(explorer, row[None])[0])
        keep = row != explorer.model.tokenizer.bos_token_id
        counts.append((feats[keep] > 0).sum(-1))
    expected = torch.cat(counts).float()
    assert ours.n_tokens == len(expected)
    assert ours.l0 == pytest.approx(expected.mean().item(), rel=1e-5)
    assert torch.equal(ours.l0_per_token.float().sort().values, expected.sort().values)
    assert ours.ce_loss_orig is None and ours.kl_div is None  # loss skipped: model run only to the hook


def test_dead_and_dense_counts_follow_density(explorer: Explorer, rows: torch.Tensor) -> None:
    ours = compute_metrics(explorer, rows[:4], with_loss=False)
    assert ours.dead_features == int((ours.feature_density == 0).sum())
    assert ours.dense_features == int((ours.feature_density > 0.1).sum())
    assert ours.mean_density == pytest.approx(ours.l0 / explorer.sae.d_sae, rel=1e-4)


def test_out_of_memory_halves_the_batch(
    explorer: Explorer, rows: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    import explorer.metrics as metrics_module

    real = metrics_module._process_batch
    seen: list[int] = []

    def flaky(explorer_arg, tokens, with_loss, acc):  # noqa: ANN001
        seen.append(len(tokens))
        if len(tokens) > 2:
            raise torch.OutOfMemoryError("simulated")
        return real(explorer_arg, tokens, with_loss, acc)

    monkeypatch.setattr(metrics_module, "_process_batch", flaky)
    result = compute_metrics(explorer, rows[:6], with_loss=False, batch_size=8)
    assert seen[:3] == [6, 4, 2] and result.n_prompts == 6
    monkeypatch.setattr(
        metrics_module, "_process_batch", lambda *a: (_ for _ in ()).throw(torch.OutOfMemoryError())
    )
    with pytest.raises(ExplorerError, match="Out of memory even with one prompt"):
        compute_metrics(explorer, rows[:2], with_loss=False, batch_size=1)


def test_small_samples_are_flagged_before_features_are_called_dead() -> None:
    from explorer.metrics import small_sample_warning

    warning = small_sample_warning(4_036)
    assert warning is not None and f"{(1 - 1e-4) ** 4036:.0%}" in warning  # 67%: a rare feature likely missed
    assert small_sample_warning(100_000) is None


def test_every_metric_has_one_label_format_and_direction() -> None:
    from explorer.metrics import METRICS, format_metric

    assert METRICS["explained_variance"].better == "higher" and METRICS["mse"].better == "lower"
    assert (
        format_metric("mean_density", 0.00902) == "0.902%"
        and format_metric("ce_loss_recovered", None) == "n/a"
    )
    assert len({m.label for m in METRICS.values()}) == len(METRICS)
