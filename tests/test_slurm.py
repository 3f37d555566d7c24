"""Training on a real single-node Slurm started by the tests (Debian's slurm-wlm and munge, as root):
a run launched from the form finishes with live metrics and opens in the explorer; a cancelled run leaves
the queue; bad partitions, a missing sbatch and a job killed under the worker get one clear line."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer.backends import BackendSpec, slurm_job_state
from explorer.errors import ExplorerError
from explorer.training import (
    TrainSpec,
    cancel_run,
    create_run,
    list_runs,
    log_tail,
    read_metrics,
    read_status,
    schedule,
)
from tests.slurm_cluster import missing_tools, single_node_slurm
from tests.test_training import wait_for

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = bool(os.environ.get("SAE_EXPLORER_REQUIRE_CLUSTERS"))
TINY = {"d_sae": 256, "sparsity": 16, "training_tokens": 40_960, "lr_warm_up_steps": 2, "lr_decay_steps": 2}


@pytest.fixture(scope="module")
def slurm() -> Iterator[dict[str, str]]:
    missing = missing_tools()
    reason = (
        f"Slurm tests need Debian's slurm-wlm and munge (missing: {', '.join(missing)})" if missing
        else "Slurm tests run the daemons as root" if os.geteuid() != 0 else None
    )  # fmt: skip
    if reason:
        if REQUIRED:
            raise RuntimeError(reason)
        pytest.skip(reason)
    with single_node_slurm() as env:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            subprocess.run(["scancel", "--user=root"], capture_output=True)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def launch_tiny_run_from_form(backend: str, text_fields: dict[str, str]) -> AppTest:
    """Fill the training form for a tiny run on one CPU of `backend` and press Launch (AppTest)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("pages/training.py").run()
    for label, value in (("Training tokens", TINY["training_tokens"]), ("Width d_sae", TINY["d_sae"]),
                         ("k (active features per token)", TINY["sparsity"]),
                         ("LR warm-up steps", 2), ("LR decay steps", 2), ("CPUs", 1)):  # fmt: skip
        next(n for n in at.number_input if n.label == label).set_value(value)
    at.radio(key="train_backend").set_value(backend)
    for label, text in text_fields.items():
        next(t for t in at.text_input if t.label == label).set_value(text)
    return next(b for b in at.button if b.label == "Launch").click().run()


def in_queue(job_id: str, settle_s: float = 60) -> bool:
    """Whether squeue still lists the job once it has had `settle_s` to leave (COMPLETING takes a moment)."""
    deadline = time.time() + settle_s
    while True:
        listed = subprocess.run(
            ["squeue", "-h", "-o", "%i"], capture_output=True, text=True, check=True
        ).stdout
        if job_id not in listed.split() or time.time() > deadline:
            return job_id in listed.split()
        time.sleep(0.5)


def test_a_run_launched_from_the_form_trains_on_slurm_and_opens(
    slurm: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from explorer.loading import load_explorer

    monkeypatch.setenv("SAE_EXPLORER_RUNS", str(tmp_path))
    at = launch_tiny_run_from_form("slurm", {"Time limit": "00:10:00"})
    assert not at.exception, at.exception
    assert "submitted to Slurm as job" in at.success[0].value, [e.value for e in at.error]
    (info,) = list_runs(tmp_path)
    run_dir = tmp_path / info.id
    job_id = info.status.job_id
    assert job_id and info.spec is not None and info.spec.backend_spec.kind == "slurm"
    script = (run_dir / "job.sbatch").read_text()
    assert "#SBATCH --time=00:10:00" in script and "#SBATCH --cpus-per-task=1" in script
    assert wait_for(run_dir, ("succeeded", "failed", "cancelled")) == "succeeded", read_status(run_dir)
    assert read_metrics(run_dir), "no live metrics were written"
    assert "done:" in log_tail(run_dir, 5)  # the job's output is the run's log, as the run card shows it
    assert not in_queue(job_id) and slurm_job_state(job_id)[0] == "COMPLETED"
    status = read_status(run_dir)
    assert status is not None and status.host  # the worker said where it ran
    at.run()  # the run card shows the job; "Open in explorer" links to the run
    assert any(f"Slurm job {job_id}" in c.value for c in at.caption)
    trained = load_explorer(f"run:{info.id}", device="cpu", dtype="float32")
    assert trained.sae.d_sae == TINY["d_sae"]


def test_cancel_stops_the_job_and_errors_are_one_clear_line(slurm: dict[str, str], tmp_path: Path) -> None:
    slow = TrainSpec(**{**TINY, "training_tokens": 4_000_000, "n_checkpoints": 0},
                     backend=BackendSpec("slurm", cpus=1).to_dict())  # fmt: skip
    cancelled = create_run(slow, tmp_path, check_resources=False)
    killed = create_run(slow, tmp_path, check_resources=False)  # both run at once: the node has two CPUs
    assert sorted(schedule(tmp_path)) == sorted([cancelled.name, killed.name])
    job_id = read_status(cancelled).job_id  # type: ignore[union-attr]
    assert job_id and in_queue(job_id, settle_s=0)
    for run_dir in (cancelled, killed):
        wait_for(run_dir, ("running",))
    deadline = time.time() + 240
    while not read_metrics(cancelled) and time.time() < deadline:  # training has begun
        time.sleep(1)

    # A job killed under the worker (as the OOM killer would): failed, with the scheduler's final state.
    job, pid = read_status(killed).job_id, read_status(killed).pid  # type: ignore[union-attr]
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # the worker dies without a word
    status = cancel_run(cancelled, timeout_s=90)
    assert status.state == "cancelled" and not in_queue(job_id)
    assert "cancelled; checkpoint saved" in (cancelled / "log.txt").read_text()
    assert wait_for(killed, ("failed", "cancelled"), 120) == "failed"
    error = read_status(killed).error  # type: ignore[union-attr]
    assert error is not None and error.startswith(f"Slurm job {job} ended: FAILED") and not in_queue(job)

    # A bad partition: the run is marked failed with Slurm's reason.
    bad = create_run(TrainSpec(**TINY, backend=BackendSpec("slurm", partition="nope").to_dict()), tmp_path,
                     check_resources=False)  # fmt: skip
    schedule(tmp_path)
    status = read_status(bad)
    assert status is not None and status.state == "failed"
    assert status.error == "Slurm refused the job: invalid partition specified: nope."


def test_without_sbatch_the_submission_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    run_dir = create_run(TrainSpec(**TINY, backend={"kind": "slurm"}), tmp_path, check_resources=False)
    schedule(tmp_path)
    status = read_status(run_dir)
    assert status is not None and status.state == "failed"
    assert status.error is not None and status.error.startswith("`sbatch` is not installed here")


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ({"kind": "pbs"}, "Unknown backend 'pbs'"),
        ({"kind": "slurm", "time_limit": "forever"}, "is not a Slurm time limit"),
        ({"kind": "slurm", "memory": "lots"}, "is not a Slurm memory size"),
        ({"kind": "slurm", "queue": "x"}, "Unknown backend field(s): queue"),
    ],
)
def test_bad_backend_specs_are_refused_naming_the_field(backend: dict[str, str], message: str) -> None:
    from explorer.training import validate_spec

    errors = validate_spec(TrainSpec(**TINY, backend=backend))
    assert [e.field for e in errors] == ["backend"] and message in errors[0].message
    with pytest.raises(ExplorerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        create_run(TrainSpec(**TINY, backend=backend), Path("/tmp/never"), check_resources=False)
