"""A statistics pass sharded over a real local Ray cluster (a head started here on 127.0.0.1, stopped after)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
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
def ray_head() -> Iterator[str]:
    """A Ray head on 127.0.0.1 with two CPUs, started with `ray start --head` and stopped afterwards."""
    ray_cli = shutil.which("ray")
    if ray_cli is None:
        if REQUIRED:
            raise RuntimeError("Ray is not installed (pip install -r requirements-dev.txt)")
        pytest.skip("Ray is not installed")
    port = free_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must stay under 107 bytes
    started = subprocess.run(
        [ray_cli, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2", "--num-gpus=0",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        try:
            import ray

            ray.shutdown()
        finally:
            subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120)
            shutil.rmtree(temp, ignore_errors=True)


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
