"""A statistics pass sharded over Ray workers: each worker computes the partial statistics of a contiguous
shard of the rows, and the partials merge exactly (`merge_feature_stats`) into what one pass computes.

The cluster is Ray's (`ray start --head` on a login node, or a cloud cluster): `address` is what
`ray.init` takes (`HOST:PORT` of the head's GCS, or `ray://HOST:10001` through Ray Client). Workers load
the same SAE and model from the same source, so they must see the same files (a shared filesystem, the
usual cluster setup); they find this package through `PYTHONPATH`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from explorer.errors import ExplorerError
from explorer.feature_stats import (
    DEFAULT_CONFIG,
    FeatureStats,
    Progress,
    StatsConfig,
    compute_feature_stats,
    merge_feature_stats,
)
from explorer.loading import Explorer

RAY_ENV = "SAE_EXPLORER_RAY"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
_CONNECTION = threading.Lock()
_WORKER_EXPLORERS: dict[tuple[str, str, str, str], Explorer] = {}  # in each Ray worker process


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker loads: the same SAE source and model as the app, on the worker's own device."""

    sae_source: str
    model: str
    device: str
    dtype: str


def _worker_explorer(spec: WorkerSpec) -> Explorer:
    from explorer.loading import load_explorer

    key = (spec.sae_source, spec.model, spec.device, spec.dtype)
    if key not in _WORKER_EXPLORERS:  # one load per worker process, reused by its later shards
        _WORKER_EXPLORERS[key] = load_explorer(
            spec.sae_source, model=spec.model, device=spec.device, dtype=spec.dtype
        )
    return _WORKER_EXPLORERS[key]


def shard_stats(
    spec: WorkerSpec, rows: torch.Tensor, row_offset: int, config: StatsConfig, batch_size: int | None
) -> FeatureStats:
    """One worker's part: the statistics of `rows`, the shard starting at global row `row_offset`."""
    return compute_feature_stats(
        _worker_explorer(spec), rows, config, batch_size=batch_size, row_offset=row_offset
    )


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once, with one clear line, when nothing listens at the address (Ray itself retries for minutes)."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ExplorerError(
            f"'{address}' is not a Ray address.",
            hint="Write HOST:PORT (e.g. 10.0.0.5:6379) or ray://HOST:10001.",
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ExplorerError(
            f"Cannot reach the Ray cluster at '{address}': {error.strerror or error}.",
            hint="Start one with `ray start --head` and give its address (HOST:PORT, or ray://HOST:10001).",
        ) from None


def connect(address: str) -> Any:
    """Connect this process to the Ray cluster at `address` (reconnecting if it was another); the `ray` module."""
    try:
        import ray
    except ImportError:
        raise ExplorerError("Ray is not installed.", hint="pip install 'ray==2.60.0'") from None
    runtime_env = {
        "env_vars": {
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
            **{k: v for k, v in os.environ.items() if k.startswith("SAE_EXPLORER_") or k.startswith("HF_")},
        }
    }
    check_reachable(address)
    with _CONNECTION:
        if ray.is_initialized():
            if getattr(connect, "address", None) == address:
                return ray
            ray.shutdown()
        try:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False, logging_level="ERROR")
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ExplorerError(
                f"Cannot reach the Ray cluster at '{address}': {str(error).splitlines()[0]}",
                hint="Start one with `ray start --head` and give its address (HOST:PORT, or ray://HOST:10001).",
            ) from None
        connect.address = address  # type: ignore[attr-defined]
    return ray


def ray_feature_stats(
    explorer: Explorer,
    rows: torch.Tensor,
    address: str,
    workers: int = 2,
    config: StatsConfig = DEFAULT_CONFIG,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> FeatureStats:
    """The statistics of `rows` [n, ctx] computed by `workers` Ray tasks (one GPU each when the app uses CUDA),
    merged exactly: identical to `compute_feature_stats` on the same rows."""
    if workers < 1:
        raise ExplorerError("Use at least one Ray worker.")
    ray = connect(address)
    spec = WorkerSpec(explorer.sae.source.text, explorer.model_name, explorer.device, explorer.dtype)
    gpus = 1 if explorer.device.startswith("cuda") else 0
    task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(shard_stats)
    n = len(rows)
    edges = [round(i * n / workers) for i in range(workers + 1)]
    start = time.perf_counter()
    pending = {
        task.remote(spec, rows[lo:hi].clone(), lo, config, batch_size): (lo, hi)
        for lo, hi in zip(edges, edges[1:], strict=False)
        if hi > lo
    }
    futures = list(pending)
    done_rows = 0
    waiting = list(futures)
    try:
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            lo, hi = pending[ready[0]]
            done_rows += hi - lo
            if progress is not None:
                elapsed = time.perf_counter() - start
                progress(
                    done_rows * rows.shape[1],
                    n * rows.shape[1],
                    done_rows * rows.shape[1] / max(elapsed, 1e-9),
                )
        parts = ray.get(futures)
    except ray.exceptions.RayError as error:
        for future in waiting:
            ray.cancel(future, force=True)
        raise ExplorerError(f"A Ray worker failed: {str(error).strip().splitlines()[-1][:300]}") from None
    merged = merge_feature_stats(parts)
    merged.seconds = time.perf_counter() - start
    return merged
