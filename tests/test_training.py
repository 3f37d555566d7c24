"""Training runs: real short runs on the demo bundle, cancel and resume, killed workers, the queue, bad specs."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from explorer.errors import ExplorerError
from explorer.loading import load_explorer
from explorer.sae_loading import load_sae
from explorer.train_worker import LOG_EVERY_STEPS
from explorer.training import (
    TrainSpec,
    cancel_run,
    create_run,
    default_sparsity,
    latest_checkpoint,
    list_runs,
    read_metrics,
    read_status,
    refresh,
    resume_run,
    schedule,
    start_worker,
    validate_spec,
)

SHORT = TrainSpec(
    d_sae=256,
    sparsity=16,
    training_tokens=40_960,
    lr_warm_up_steps=2,
    lr_decay_steps=2,
    n_checkpoints=0,
    name="short",
)


@pytest.fixture()
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAE_EXPLORER_RUNS", str(tmp_path))
    return tmp_path


def wait_for(run_dir: Path, states: tuple[str, ...], timeout_s: float = 300) -> str:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        status = refresh(run_dir)
        if status is not None and status.state in states:
            return status.state
        time.sleep(0.5)
    raise AssertionError(
        f"{run_dir.name} still {read_status(run_dir)} after {timeout_s}s; log:\n{(run_dir / 'log.txt').read_text()[-3000:]}"
    )


def test_a_short_real_run_trains_a_loadable_sae(runs: Path) -> None:
    run_dir = create_run(SHORT)
    assert schedule(runs) == [run_dir.name]
    assert wait_for(run_dir, ("succeeded", "failed")) == "succeeded", (run_dir / "log.txt").read_text()[
        -3000:
    ]
    metrics = read_metrics(run_dir)
    assert metrics and metrics[-1]["tokens"] <= SHORT.training_tokens and "metrics/l0" in metrics[-1]
    explorer = load_explorer(f"run:{run_dir.name}", device="cpu")
    assert (explorer.sae.d_sae, explorer.hook_name, explorer.sae.architecture) == (
        256,
        SHORT.hook_name,
        "topk",
    )
    info = [r for r in list_runs(runs) if r.id == run_dir.name][0]
    assert info.progress == 1.0 and info.sae_path == str(run_dir / "sae")
    from explorer.training import log_tail

    # The log agrees with the card: SAE-Lens' bar (moved every 100 steps, so still at 0 here) gives way
    # to the worker's own final count.
    final = [line for line in log_tail(run_dir).splitlines() if line.startswith("Progress: ")]
    assert final == [f"Progress: trained {SHORT.training_tokens:,} of {SHORT.training_tokens:,} tokens (100%) in "
                     f"{SHORT.training_tokens // SHORT.train_batch_size_tokens} steps"]  # fmt: skip
    assert "Training SAE" in (run_dir / "log.txt").read_text() and "Training SAE" not in log_tail(run_dir)


def test_cancel_saves_a_checkpoint_and_resume_continues(runs: Path) -> None:
    spec = TrainSpec(d_sae=256, sparsity=16, training_tokens=1_228_800, n_checkpoints=0, name="to cancel")
    run_dir = create_run(spec)
    start_worker(run_dir)
    deadline = time.time() + 240
    while not read_metrics(run_dir) and time.time() < deadline:
        time.sleep(0.3)
    assert read_metrics(run_dir), (run_dir / "log.txt").read_text()[-3000:]
    assert cancel_run(run_dir).state == "cancelled"
    checkpoint = latest_checkpoint(run_dir)
    assert checkpoint is not None, (run_dir / "log.txt").read_text()[-3000:]
    saved_tokens = int(checkpoint.name)
    assert load_sae(str(checkpoint)).d_sae == 256  # the checkpoint is a loadable SAE
    resume_run(run_dir)
    assert read_status(run_dir).state == "queued"
    schedule(runs)
    assert wait_for(run_dir, ("succeeded", "failed")) == "succeeded", (run_dir / "log.txt").read_text()[
        -3000:
    ]
    assert (
        "Resuming from checkpoint" in (run_dir / "log.txt").read_text()
        or "resum" in (run_dir / "log.txt").read_text().lower()
    )
    tokens = [row["tokens"] for row in read_metrics(run_dir)]
    assert all(
        b > a for a, b in zip(tokens, tokens[1:], strict=False)
    )  # continued from the checkpoint, never from zero
    assert (
        tokens[-1] > saved_tokens
        and tokens[-1] >= spec.training_tokens - LOG_EVERY_STEPS * spec.train_batch_size_tokens
    )
    assert load_sae(f"run:{run_dir.name}").d_sae == 256


def test_a_killed_worker_is_marked_failed(runs: Path) -> None:
    run_dir = create_run(TrainSpec(d_sae=256, sparsity=16, training_tokens=4_096_000, name="to kill"))
    pid = start_worker(run_dir)
    time.sleep(2)
    os.killpg(pid, signal.SIGKILL)
    deadline = time.time() + 30
    while refresh(run_dir).state == "running" and time.time() < deadline:
        time.sleep(0.2)
    status = read_status(run_dir)
    assert status.state == "failed" and "ended without finishing" in status.error


def test_three_launches_queue_two(runs: Path) -> None:
    dirs = [
        create_run(TrainSpec(d_sae=256, sparsity=16, training_tokens=4_096_000, name=f"q{i}"))
        for i in range(3)
    ]
    started = schedule(runs)
    try:
        assert started == [dirs[0].name]
        assert [read_status(d).state for d in dirs] == ["running", "queued", "queued"]
        assert schedule(runs) == []  # still one running on the cpu
    finally:
        for d in reversed(dirs):
            cancel_run(d)
    assert {read_status(d).state for d in dirs} == {"cancelled"}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"n_batches_in_buffer": 4, "context_size": 128, "train_batch_size_tokens": 4096},
            "n_batches_in_buffer",
            "must be >=",
        ),
        ({"architecture": "quantum"}, "architecture", "not a training architecture"),
        ({"d_sae": 0}, "d_sae", "positive"),
        ({"training_tokens": -5}, "training_tokens", "positive"),
        ({"sparsity": 5000, "d_sae": 256}, "k", "no larger than d_sae"),
        ({"architecture": "standard", "sparsity": -1}, "l1_coefficient", "positive"),
        ({"dtype": "float8"}, "dtype", "unknown dtype"),
        (
            {"training_tokens": 40_960, "lr_warm_up_steps": 5, "lr_decay_steps": 6},
            "lr_decay_steps",
            "only 10",
        ),
    ],
)
def test_bad_specs_are_rejected_with_the_field_named(
    runs: Path, changes: dict, field: str, message: str
) -> None:
    spec = TrainSpec(**{**SHORT.to_dict(), **changes})
    errors = validate_spec(spec)
    assert any(e.field == field and message in e.message for e in errors), errors
    with pytest.raises(ExplorerError, match=field):
        create_run(spec)
    assert list(runs.iterdir()) == []  # nothing was created, nothing started


def test_memory_estimate_is_checked(runs: Path) -> None:
    errors = validate_spec(TrainSpec(d_sae=2**21), available_memory=2**30)
    assert any(e.field == "d_sae" and "GiB" in e.message for e in errors)


def test_schedule_that_fits_the_run_is_accepted() -> None:
    spec = TrainSpec(
        training_tokens=40_960, train_batch_size_tokens=4096, lr_warm_up_steps=4, lr_decay_steps=6
    )
    assert not [e for e in validate_spec(spec) if e.field.startswith("lr")]


def test_default_sparsity_follows_the_architecture() -> None:
    """The form's sparsity field starts at SAE-Lens' own default for non-k architectures, at TrainSpec's k else."""
    from sae_lens import JumpReLUTrainingSAEConfig, StandardTrainingSAEConfig

    assert default_sparsity("standard") == StandardTrainingSAEConfig(d_in=8, d_sae=16).l1_coefficient
    assert default_sparsity("jumprelu") == JumpReLUTrainingSAEConfig(d_in=8, d_sae=16).l0_coefficient
    assert default_sparsity("topk") == default_sparsity("batchtopk") == TrainSpec().sparsity == 24


def test_unknown_spec_fields_are_named() -> None:
    with pytest.raises(ExplorerError, match="Unknown spec field.*colour"):
        TrainSpec.from_dict({**SHORT.to_dict(), "colour": "red"})


def test_corrupt_run_folders_do_not_break_the_list(runs: Path) -> None:
    good = create_run(SHORT)
    (runs / "broken").mkdir()
    (runs / "broken" / "status.json").write_text("{half a fi")
    (runs / "empty").mkdir()
    (runs / "nospec").mkdir()
    (runs / "nospec" / "status.json").write_text(json.dumps({"state": "queued"}))
    ids = [r.id for r in list_runs(runs)]
    assert good.name in ids and "broken" not in ids and "empty" not in ids
    cancel_run(good)


def test_log_tail_shows_a_redrawn_progress_bar_once_in_its_latest_state(tmp_path: Path) -> None:
    from explorer.training import LOG_FILE, log_tail

    (tmp_path / LOG_FILE).write_text("start\ntraining: 0/100\rtraining: 50/100\rtraining: 100/100\r\ndone\n")
    assert log_tail(tmp_path).splitlines() == ["start", "training: 100/100", "done"]
    assert log_tail(tmp_path, 1) == "done"
    (tmp_path / LOG_FILE).write_text(
        "Training SAE:   0%|          | 0/120000 [00:00<?, ?it/s]\rTraining SAE:   0%|          | 0/120000"
        " [00:19<?, ?it/s]\nProgress: trained 120,000 of 120,000 tokens (100%) in 29 steps\ndone: sae\n"
    )
    assert log_tail(tmp_path).splitlines() == ["Progress: trained 120,000 of 120,000 tokens (100%) in 29 steps",
                                               "done: sae"]  # fmt: skip
