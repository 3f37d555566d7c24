"""A statistics pass sharded over a real local Ray cluster (a head started here on 127.0.0.1, stopped after)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from explorer.feature_stats import StatsConfig, compute_feature_stats
from explorer.loading import Explorer
from explorer.stats_cache import sample_rows
from tests.conftest import CliResult
from tests.test_feature_stats import assert_same_pass

REQUIRED = bool(
    os.environ.get("SAE_EXPLORER_REQUIRE_CLUSTERS")
)  # CI: a missing engine fails instead of skipping


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[tuple[str, str]]:
    """A Ray head on 127.0.0.1 with two CPUs and its dashboard (the Jobs API), started with `ray start --head`
    and stopped afterwards: (GCS address, Jobs address)."""
    ray_cli = shutil.which("ray")
    if ray_cli is None:
        if REQUIRED:
            raise RuntimeError("Ray is not installed (pip install -r requirements-dev.txt)")
        pytest.skip("Ray is not installed")
    port, dashboard = free_port(), free_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must stay under 107 bytes
    started = subprocess.run(
        [ray_cli, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2", "--num-gpus=0",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
         "--disable-usage-stats", f"--temp-dir={temp}"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr[-2000:]
    jobs = f"http://127.0.0.1:{dashboard}"
    try:
        from ray.job_submission import JobSubmissionClient

        deadline = time.time() + 120
        while True:  # the dashboard comes up a little after the head
            try:
                JobSubmissionClient(jobs).list_jobs()
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        yield f"127.0.0.1:{port}", jobs
    finally:
        try:
            import ray

            ray.shutdown()
        finally:
            subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120)
            shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_head(ray_cluster: tuple[str, str]) -> str:
    """The head's GCS address (for ray.init)."""
    return ray_cluster[0]


def test_a_pass_sharded_over_two_ray_workers_equals_the_single_process_pass(
    demo: Explorer, ray_head: str
) -> None:
    from explorer.cluster import ray_feature_stats

    rows = sample_rows(demo, "demo", 6_144, 64)
    config = StatsConfig(top_k=8, reservoir=32)
    single = compute_feature_stats(demo, rows, config, batch_size=8)
    seen: list[tuple[int, int]] = []
    sharded = ray_feature_stats(demo, rows, ray_head, workers=2, config=config, batch_size=8,
                                progress=lambda done, total, rate: seen.append((done, total)))  # fmt: skip
    assert_same_pass(single, sharded)
    assert seen[-1] == (rows.numel(), rows.numel()) and len(seen) == 2  # one report per finished shard
    three = ray_feature_stats(demo, rows, ray_head, workers=3, config=config, batch_size=5)
    assert_same_pass(single, three)
    assert torch.equal(three.rows, rows)


def test_cli_stats_on_ray_and_an_unreachable_cluster(
    run_cli: Callable[..., CliResult], ray_head: str, tmp_path: Path
) -> None:
    env = {"SAE_EXPLORER_CACHE": str(tmp_path)}
    sharded = run_cli(
        "stats", "--sae", "demo", "--n-tokens", "4096", "--ray", ray_head, "--workers", "2", env=env
    )
    assert sharded.returncode == 0, sharded.stderr
    summary = json.loads(sharded.stdout)
    assert not summary["from_cache"] and summary["n_tokens"] > 3_900
    again = run_cli(
        "stats", "--sae", "demo", "--n-tokens", "4096", env=env
    )  # same entry: the results are the same
    assert json.loads(again.stdout)["from_cache"] is True
    closed = free_port()
    bad = run_cli("stats", "--sae", "demo", "--n-tokens", "4096", "--ray", f"127.0.0.1:{closed}", env={
        "SAE_EXPLORER_CACHE": str(tmp_path / "other")})  # fmt: skip
    assert bad.returncode == 2 and f"Cannot reach the Ray cluster at '127.0.0.1:{closed}'" in bad.stderr
    assert "Traceback" not in bad.stderr
    worse = run_cli(
        "stats", "--sae", "demo", "--ray", "no-port-here", env={"SAE_EXPLORER_CACHE": str(tmp_path / "x")}
    )
    assert worse.returncode == 2 and "is not a Ray address" in worse.stderr


def test_the_feature_page_computes_on_the_cluster_the_sidebar_names(
    ray_head: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SAE_EXPLORER_CACHE", str(tmp_path))
    app = str(Path(__file__).resolve().parent.parent / "app.py")
    for address in ("127.0.0.1:1", ray_head):
        at = AppTest.from_file(app, default_timeout=300)
        at.query_params["stats_tokens"] = "4096"
        at.run()
        next(t for t in at.text_input if t.label == "Ray cluster for statistics").set_value(address).run()
        at.switch_page("pages/feature.py").run()
        assert not at.exception, at.exception
        if address != ray_head:
            assert "Cannot reach the Ray cluster at '127.0.0.1:1'" in at.error[0].value
    assert [m.label for m in at.metric][:3] == ["Density", "Max activation", "Mean when active"]
    import ray

    assert ray.is_initialized()  # the page's pass ran on the cluster


def job_status(client: object, job: str, expected: str, settle_s: float = 60) -> str:
    """The Ray job's status once it is `expected` or `settle_s` has passed (the process takes a moment to exit)."""
    deadline = time.time() + settle_s
    while True:
        status = str(client.get_job_status(job)).rsplit(".", 1)[-1]  # type: ignore[attr-defined]
        if status == expected or time.time() > deadline:
            return status
        time.sleep(0.5)


def test_training_on_ray_from_the_form_finishes_opens_and_a_cancelled_job_stops(
    ray_cluster: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ray.job_submission import JobSubmissionClient

    from explorer.backends import BackendSpec
    from explorer.loading import load_explorer
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
    from tests.test_slurm import TINY, launch_tiny_run_from_form
    from tests.test_training import wait_for

    jobs = ray_cluster[1]
    client = JobSubmissionClient(jobs)
    monkeypatch.setenv("SAE_EXPLORER_RUNS", str(tmp_path))
    at = launch_tiny_run_from_form("ray", {"Ray Jobs address": jobs})
    assert not at.exception, at.exception
    assert "submitted to Ray as job" in at.success[0].value, [e.value for e in at.error]
    (info,) = list_runs(tmp_path)
    run_dir = tmp_path / info.id
    assert info.status.job_id == f"sae-{info.id}"
    assert wait_for(run_dir, ("succeeded", "failed", "cancelled")) == "succeeded", read_status(run_dir)
    assert read_metrics(run_dir) and job_status(client, info.status.job_id, "SUCCEEDED") == "SUCCEEDED"
    assert "done:" in log_tail(run_dir, 5)
    assert load_explorer(f"run:{info.id}", device="cpu", dtype="float32").sae.d_sae == TINY["d_sae"]

    slow = create_run(TrainSpec(**{**TINY, "training_tokens": 4_000_000},
                                backend=BackendSpec("ray", cpus=1, address=jobs).to_dict()),
                      tmp_path, check_resources=False)  # fmt: skip
    schedule(tmp_path)
    wait_for(slow, ("running",))
    job = read_status(slow).job_id  # type: ignore[union-attr]
    assert cancel_run(slow, timeout_s=60).state == "cancelled"
    assert job_status(client, job, "STOPPED") == "STOPPED"  # gone from the cluster's running jobs

    unreachable = create_run(TrainSpec(**TINY, backend=BackendSpec("ray", address="http://127.0.0.1:1").to_dict()),
                             tmp_path, check_resources=False)  # fmt: skip
    schedule(tmp_path)
    status = read_status(unreachable)
    assert status is not None and status.state == "failed"
    assert (
        status.error is not None
        and "Cannot reach the Ray cluster's Jobs API at 'http://127.0.0.1:1'" in status.error
    )
