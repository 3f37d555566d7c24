"""On-disk cache of feature statistics, keyed by everything that changes them.

An entry is a folder `cache/feature_stats/<digest>/` holding `stats.safetensors` and `meta.json`.
The digest covers the model, a hash of the SAE's weights, the dataset, the number of tokens, the
context size and the statistics settings; `meta.json` repeats the key and is compared on reading,
so entries are never silently mixed. Entries are written to a temporary folder and renamed into
place, so an interrupted pass never leaves a half-written entry that could be read.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from explorer.data import sae_context_size, sample_prompts
from explorer.feature_stats import DEFAULT_CONFIG, FeatureStats, Progress, StatsConfig, compute_feature_stats
from explorer.loading import Explorer
from explorer.paths import cache_dir

STATS_FILE = "stats.safetensors"
META_FILE = "meta.json"
FORMAT_VERSION = 3  # 2: rows stored, example windows cut when viewed; 3: hashed reservoir keys, ordered ties


def sae_weights_hash(explorer: Explorer) -> str:
    """SHA-256 (first 16 hex digits) of the SAE's parameters, in name order; computed once per SAE."""
    sae = explorer.sae.sae
    cached = getattr(sae, "_explorer_weights_hash", None)
    if cached is None:
        digest = hashlib.sha256()
        for name, tensor in sorted(sae.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
        cached = digest.hexdigest()[:16]
        object.__setattr__(sae, "_explorer_weights_hash", cached)
    return cached


@dataclass(frozen=True)
class StatsKey:
    """Everything the statistics depend on."""

    model_name: str
    sae_hash: str
    dataset: str
    n_tokens: int
    context_size: int
    config: StatsConfig
    version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {**asdict(self), "config": asdict(self.config)}

    def digest(self) -> str:
        """A short stable name for the cache folder."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:24]


def stats_key(
    explorer: Explorer, dataset: str, n_tokens: int, context_size: int, config: StatsConfig = DEFAULT_CONFIG
) -> StatsKey:
    """The cache key for these statistics of the loaded SAE."""
    return StatsKey(explorer.model_name, sae_weights_hash(explorer), dataset, n_tokens, context_size, config)


def entry_dir(key: StatsKey) -> Path:
    """The folder of a cache entry."""
    return cache_dir() / "feature_stats" / key.digest()


def load_cached(key: StatsKey) -> FeatureStats | None:
    """The cached statistics for `key`, or None when absent, unreadable or written for another key."""
    folder = entry_dir(key)
    try:
        meta = json.loads((folder / META_FILE).read_text())
        if meta.get("key") != key.to_dict():
            return None
        return FeatureStats.from_tensors(load_file(str(folder / STATS_FILE)), meta)
    except (OSError, json.JSONDecodeError, SafetensorError, KeyError, TypeError):
        return None


def save(key: StatsKey, stats: FeatureStats) -> Path:
    """Write an entry atomically (temporary folder, then rename)."""
    folder = entry_dir(key)
    folder.parent.mkdir(parents=True, exist_ok=True)
    meta = {"key": key.to_dict(), "n_tokens": stats.n_tokens, "context_size": stats.context_size,
            "config": asdict(stats.config), "seconds": stats.seconds}  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        save_file(stats.to_tensors(), str(tmp / STATS_FILE))
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def sample_rows(
    explorer: Explorer, dataset: str, n_tokens: int, context_size: int | None = None
) -> torch.Tensor:
    """Rows [ceil(n_tokens / ctx), ctx] of a dataset source (or `file:PATH` for a text file), tokenized as SAE-Lens trains."""
    context = sae_context_size(explorer, context_size)
    return sample_prompts(explorer, dataset, math.ceil(n_tokens / context), context)


def get_feature_stats(
    explorer: Explorer,
    dataset: str = "demo",
    n_tokens: int = 65_536,
    context_size: int | None = None,
    config: StatsConfig = DEFAULT_CONFIG,
    progress: Progress | None = None,
    batch_size: int | None = None,
    ray_address: str | None = None,
    ray_workers: int = 2,
) -> tuple[FeatureStats, bool]:
    """The statistics from the cache if present, else computed and cached; and whether cached.

    With `ray_address`, the pass is sharded over `ray_workers` Ray tasks; the merged result is the same
    as one pass's, so it shares the cache entry.
    """
    context = sae_context_size(explorer, context_size)
    key = stats_key(explorer, dataset, n_tokens, context, config)
    cached = load_cached(key)
    if cached is not None:
        return cached, True
    rows = sample_rows(explorer, dataset, n_tokens, context)
    if ray_address:
        from explorer.cluster import ray_feature_stats

        stats = ray_feature_stats(explorer, rows, ray_address, ray_workers, config, batch_size, progress)
    else:
        stats = compute_feature_stats(explorer, rows, config, batch_size=batch_size, progress=progress)
    stats.meta = {"key": key.to_dict()}
    save(key, stats)
    return stats, False
