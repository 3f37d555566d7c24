"""Streaming feature statistics checked against a brute-force computation that keeps every activation."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
import torch

from explorer.activations import feature_activations, special_token_mask
from explorer.data import open_dataset, token_rows
from explorer.feature_stats import (
    N_BINS,
    StatsConfig,
    _sortable_bits,
    compute_feature_stats,
    features_firing_on_token,
    features_promoting_token,
    histogram,
    merge_feature_stats,
    nearest_by_decoder,
    quantile_examples,
    stats_batch_size,
    top_examples,
)
from explorer.loading import Explorer, load_explorer
from explorer.stats_cache import entry_dir, get_feature_stats, load_cached, sample_rows, stats_key

CONFIG = StatsConfig(top_k=5, reservoir=400, window=3, n_quantile_bands=4, per_band=2)


@pytest.fixture(scope="module")
def rows(demo: Explorer) -> torch.Tensor:
    return token_rows(open_dataset("demo"), demo.model.tokenizer, 32, True, 12)


@pytest.fixture(scope="module")
def brute(demo: Explorer, rows: torch.Tensor) -> torch.Tensor:
    """Every activation [rows, pos, d_sae], zero at special tokens."""
    acts = feature_activations(demo, rows)
    return acts * special_token_mask(rows, demo.model.tokenizer)[..., None]


@pytest.fixture(scope="module")
def stats(demo: Explorer, rows: torch.Tensor):  # noqa: ANN201
    return compute_feature_stats(demo, rows, CONFIG, batch_size=5)


def test_density_max_and_mean(stats, brute: torch.Tensor, rows: torch.Tensor, demo: Explorer) -> None:  # noqa: ANN001
    flat = brute.reshape(-1, brute.shape[-1])
    n_tokens = int(special_token_mask(rows, demo.model.tokenizer).sum())
    assert stats.n_tokens == n_tokens
    assert torch.allclose(stats.density, (flat > 0).sum(0) / n_tokens)
    assert torch.allclose(stats.max_acts, flat.max(0).values)
    fires = (flat > 0).sum(0)
    expected_mean = torch.where(fires > 0, flat.sum(0) / fires.clamp(min=1), 0.0)
    assert torch.allclose(stats.mean_nonzero, expected_mean, atol=1e-5)


def test_top_k_matches_brute_force(stats, brute: torch.Tensor, rows: torch.Tensor, demo: Explorer) -> None:  # noqa: ANN001
    flat = brute.reshape(-1, brute.shape[-1])
    for feature in torch.nonzero(stats.fire_counts > 0).flatten()[:60].tolist():
        nonzero = flat[:, feature][flat[:, feature] > 0]
        expected = nonzero.sort(descending=True).values[: CONFIG.top_k]
        examples = top_examples(stats, demo, feature)
        assert torch.allclose(torch.tensor([e.max_activation for e in examples]), expected)
        for example in examples:  # the window is the row's tokens and this feature's activations around it
            row, pos = example.row, example.row_position
            lo = max(0, pos - CONFIG.window)
            hi = min(rows.shape[1], pos + CONFIG.window + 1)
            assert example.tokens == demo.model.to_str_tokens(rows[row, lo:hi])
            assert torch.allclose(torch.tensor(example.activations), brute[row, lo:hi, feature])
            assert example.activations[example.position] == pytest.approx(example.max_activation)


def test_histogram_counts_equal_density(stats, brute: torch.Tensor) -> None:  # noqa: ANN001
    flat = brute.reshape(-1, brute.shape[-1])
    assert torch.equal(stats.hist_counts.sum(1), stats.fire_counts)
    for feature in torch.nonzero(stats.fire_counts > 0).flatten()[:60].tolist():
        values = flat[:, feature][flat[:, feature] > 0]
        upper = float(stats.hist_max[feature])
        assert values.max() < upper  # the adaptive range covers every value
        expected = torch.bincount((values / upper * N_BINS).long().clamp(max=N_BINS - 1), minlength=N_BINS)
        assert torch.equal(stats.hist_counts[feature].long(), expected)
        centres, counts = histogram(stats, feature)
        assert sum(counts) == int(stats.fire_counts[feature])


def test_reservoir_is_exact_when_it_holds_everything(stats, brute: torch.Tensor, demo: Explorer) -> None:  # noqa: ANN001
    """With a reservoir larger than a feature's firing count, the quantile bands split all its activations."""
    flat = brute.reshape(-1, brute.shape[-1])
    feature = int(
        torch.nonzero((stats.fire_counts > 8) & (stats.fire_counts <= CONFIG.reservoir)).flatten()[0]
    )
    values = flat[:, feature][flat[:, feature] > 0].sort().values
    bands = quantile_examples(stats, demo, feature)
    assert len(bands) == CONFIG.n_quantile_bands
    n = len(values)
    for band_index, (_, examples) in zip(reversed(range(CONFIG.n_quantile_bands)), bands, strict=True):
        lo, hi = band_index * n // CONFIG.n_quantile_bands, (band_index + 1) * n // CONFIG.n_quantile_bands
        for example in examples:
            assert values[lo] - 1e-6 <= example.max_activation <= values[hi - 1] + 1e-6


def test_batch_size_does_not_change_the_result(stats, demo: Explorer, rows: torch.Tensor) -> None:  # noqa: ANN001
    other = compute_feature_stats(demo, rows, CONFIG, batch_size=12)
    assert torch.equal(other.fire_counts, stats.fire_counts)
    assert torch.equal(other.hist_counts, stats.hist_counts)
    assert torch.allclose(other.top.value.sort(1).values, stats.top.value.sort(1).values)


def assert_same_pass(one, other) -> None:  # noqa: ANN001
    """Two statistics equal entry for entry (sums to float rounding)."""
    assert other.n_tokens == one.n_tokens
    for field in ("fire_counts", "max_acts", "hist_counts", "hist_max", "rows"):
        assert torch.equal(getattr(other, field), getattr(one, field)), field
    assert torch.allclose(other.act_sums, one.act_sums, rtol=1e-6)
    for kind in ("top", "sample"):
        for field in ("score", "value", "row", "pos"):
            assert torch.equal(getattr(getattr(other, kind), field), getattr(getattr(one, kind), field)), (
                kind,
                field,
            )


@pytest.mark.parametrize("cuts", [[4], [3, 7], [1, 2, 11]])
def test_shards_merge_into_exactly_the_one_pass(
    stats,
    demo: Explorer,
    rows: torch.Tensor,
    cuts: list[int],  # noqa: ANN001
) -> None:
    """Partial passes over consecutive row shards, merged, equal the single pass: counts, histograms (their
    ranges doubled to the largest), top-k by value and the reservoir by its hashed keys, ties by position."""
    edges = [0, *cuts, len(rows)]
    parts = [
        compute_feature_stats(demo, rows[lo:hi], CONFIG, batch_size=3, row_offset=lo)
        for lo, hi in zip(edges, edges[1:], strict=False)
    ]
    assert_same_pass(stats, merge_feature_stats(parts))
    assert_same_pass(stats, merge_feature_stats(list(reversed(parts))[::-1]))


def test_batch_size_and_ties_do_not_change_the_kept_examples(
    stats, demo: Explorer, rows: torch.Tensor
) -> None:  # noqa: ANN001
    """Every batch size keeps the very same examples (on equal activations, the earliest token wins)."""
    assert_same_pass(stats, compute_feature_stats(demo, rows, CONFIG, batch_size=1))
    repeated = torch.cat([rows[:4], rows[:4]])  # identical rows: every activation is tied with its copy
    kept = compute_feature_stats(demo, repeated, CONFIG, batch_size=3)
    filled = torch.isfinite(kept.top.score)
    assert bool(filled.any())
    best = kept.top.row[:, 0][filled[:, 0]]
    assert bool((best < 4).all())  # the first copy wins every tie


def test_memory_does_not_grow_with_tokens(demo: Explorer, rows: torch.Tensor) -> None:
    """Per-feature state is the same size for any number of tokens (only the input rows themselves are kept)."""
    small = compute_feature_stats(demo, rows[:2], CONFIG)
    large = compute_feature_stats(demo, rows, CONFIG)
    for name, tensor in small.to_tensors().items():
        if name != "rows":
            assert tensor.shape == large.to_tensors()[name].shape, name
    assert torch.equal(large.rows, rows)


FINGERPRINTS = json.loads((Path(__file__).parent / "data" / "feature_stats_fingerprints.json").read_text())


def fingerprint(tensor: torch.Tensor) -> str:
    """A short hash of a tensor (floats at 1e-4 resolution), as in tests/data/feature_stats_fingerprints.json."""
    tensor = tensor.detach().cpu()
    if tensor.is_floating_point():
        tensor = (tensor.double() * 1e4).round().long()
    return hashlib.sha256(tensor.contiguous().numpy().tobytes()).hexdigest()[:16]


@pytest.mark.parametrize("name", ["mlp0-standard", "resid1-topk"])
def test_results_equal_the_pass_before_it_moved_to_the_device(name: str) -> None:
    """Same top examples, reservoir, counts and histograms (seed 7, 8,192 tokens) as recorded in
    tests/data/feature_stats_fingerprints.json (first by the host-side pass before the move to the device).

    Re-recorded once, for shardable passes: the reservoir's keys became a hash of (token, feature) instead
    of a sequential random stream (sample.*), and equal top activations now keep the earliest token
    (top.row); counts, histograms, max and the kept top values and positions did not change. Recorded
    again for each rebuilt demo bundle (issue 13: new model and SAEs) by the same pass, unchanged."""
    explorer = load_explorer(f"demo:{name}", device="cpu")
    stats = compute_feature_stats(
        explorer, sample_rows(explorer, "demo", 8192, 64), StatsConfig(seed=7), batch_size=16
    )
    found = {}
    for prefix, examples in (("top", stats.top), ("sample", stats.sample)):
        order = torch.sort(examples.score, dim=1, descending=True, stable=True).indices
        for field in ("value", "row", "pos"):
            found[f"{prefix}.{field}"] = fingerprint(getattr(examples, field).gather(1, order))
    for field in ("fire_counts", "hist_counts", "hist_max", "max_acts"):
        found[field] = fingerprint(getattr(stats, field))
    assert found == FINGERPRINTS[name]


def test_weight_based_views(demo: Explorer, rows: torch.Tensor, brute: torch.Tensor) -> None:
    w_dec = demo.sae.sae.W_dec
    cosine = torch.nn.functional.cosine_similarity(w_dec, w_dec[3][None], dim=-1)
    cosine[3] = -2
    assert [f for f, _ in nearest_by_decoder(demo, 3, n=5)] == cosine.topk(5).indices.tolist()
    token = demo.model.to_single_token(" red")
    logits = w_dec @ demo.model.W_U[:, token]
    assert [f for f, _ in features_promoting_token(demo, token, n=5)] == logits.topk(5).indices.tolist()
    fired, occurrences = features_firing_on_token(demo, rows, token, n=3)
    at_token = brute[rows == token]
    assert occurrences == len(at_token)
    if occurrences:
        assert [f for f, _ in fired] == [
            int(i) for i in at_token.mean(0).topk(3).indices if at_token.mean(0)[i] > 0
        ]


def test_cache_is_reused_and_invalidated(
    demo: Explorer, saved_sae_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAE_EXPLORER_CACHE", str(tmp_path))
    first, cached = get_feature_stats(demo, "demo", 2_048, 64, CONFIG)
    assert not cached
    second, cached = get_feature_stats(demo, "demo", 2_048, 64, CONFIG)
    assert cached and torch.equal(second.fire_counts, first.fire_counts)
    _, cached = get_feature_stats(demo, "demo", 4_096, 64, CONFIG)  # another N
    assert not cached
    other_sae = load_explorer(str(saved_sae_dir), device="cpu")  # other weights, same model and hook
    assert stats_key(other_sae, "demo", 2_048, 64, CONFIG) != stats_key(demo, "demo", 2_048, 64, CONFIG)
    _, cached = get_feature_stats(other_sae, "demo", 2_048, 64, CONFIG)
    assert not cached


def test_corrupt_or_foreign_entries_are_never_read(
    demo: Explorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAE_EXPLORER_CACHE", str(tmp_path))
    get_feature_stats(demo, "demo", 2_048, 64, CONFIG)
    key = stats_key(demo, "demo", 2_048, 64, CONFIG)
    folder = entry_dir(key)
    weights = folder / "stats.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # a half-written file
    assert load_cached(key) is None
    _, cached = get_feature_stats(demo, "demo", 2_048, 64, CONFIG)
    assert not cached and load_cached(key) is not None
    meta = folder / "meta.json"
    meta.write_text(meta.read_text().replace('"n_tokens": 2048', '"n_tokens": 999'))  # a foreign key
    assert load_cached(key) is None
    assert not list(folder.parent.glob(".*"))  # no temporary folders left behind


def test_an_interrupted_pass_or_write_leaves_nothing_readable(
    demo: Explorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import explorer.stats_cache as stats_cache

    monkeypatch.setenv("SAE_EXPLORER_CACHE", str(tmp_path))
    key = stats_key(demo, "demo", 2_048, 64, CONFIG)

    def interrupt(done: int, total: int, rate: float) -> None:  # noqa: ARG001
        if done >= total // 2:
            raise KeyboardInterrupt  # the user stops the pass half way

    with pytest.raises(KeyboardInterrupt):
        get_feature_stats(demo, "demo", 2_048, 64, CONFIG, progress=interrupt, batch_size=4)
    assert load_cached(key) is None
    real_dumps = stats_cache.json.dumps

    def killed_while_writing(*args, **kwargs):  # noqa: ANN002, ANN003
        raise KeyboardInterrupt  # after the tensors were written, before the metadata

    monkeypatch.setattr(stats_cache.json, "dumps", killed_while_writing)
    with pytest.raises(KeyboardInterrupt):
        get_feature_stats(demo, "demo", 2_048, 64, CONFIG)
    monkeypatch.setattr(stats_cache.json, "dumps", real_dumps)
    assert load_cached(key) is None and not entry_dir(key).exists()
    assert not list(entry_dir(key).parent.glob(".*"))  # the temporary folder was removed
    _, cached = get_feature_stats(demo, "demo", 2_048, 64, CONFIG)
    assert not cached and load_cached(key) is not None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_pass_equals_the_cpu_pass(rows: torch.Tensor) -> None:
    """On the same rows, the pass on the GPU (state kept on the device) gives the CPU pass's results."""
    cpu = load_explorer("demo", device="cpu", dtype="float32")
    gpu = load_explorer("demo", device="cuda", dtype="float32")
    on_cpu = compute_feature_stats(cpu, rows, CONFIG, batch_size=5)
    on_gpu = compute_feature_stats(gpu, rows, CONFIG, batch_size=5)
    assert torch.equal(on_gpu.fire_counts, on_cpu.fire_counts)
    assert torch.allclose(on_gpu.max_acts, on_cpu.max_acts, atol=1e-4)
    assert torch.allclose(on_gpu.hist_counts.sum(1), on_cpu.hist_counts.sum(1))
    assert torch.allclose(on_gpu.top.value.sort(1).values, on_cpu.top.value.sort(1).values, atol=1e-4)


def test_sortable_bits_order_equals_float_order() -> None:
    """The combined sort key of the candidate step orders float32 values as the floats themselves do."""
    torch.manual_seed(0)
    values = torch.cat(
        [
            torch.randn(50_000) * torch.rand(50_000).pow(8) * 1e4,
            torch.tensor([-torch.inf, torch.inf, 1e-38, -1e-38]),
        ]
    )
    keys = _sortable_bits(values)
    assert keys.min() >= -(2**31) and keys.max() < 2**31
    assert torch.equal(values.argsort(stable=True), keys.argsort(stable=True))


def test_batch_size_fits_free_memory_and_stays_cache_sized_on_a_cpu(
    demo: Explorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row of 128 tokens x 2,048 features is 1 MiB of float32 activations: 16 rows on a CPU; on a GPU up to
    64 rows, fewer where a fifth of its free memory holds fewer batches of four copies."""
    import explorer.feature_stats as module

    free = {"bytes": 20 * 2**30}
    monkeypatch.setattr(module, "available_memory_bytes", lambda device: free["bytes"])
    assert stats_batch_size(demo, 128) == 16
    assert stats_batch_size(demo, 1024) == 2
    assert stats_batch_size(demo, 4096) == 1  # never below one row
    gpu = dataclasses.replace(demo, device="cuda")
    assert stats_batch_size(gpu, 128) == 64
    free["bytes"] = 100 * 2**20  # 20 MiB for batches of 4 MiB a row
    assert stats_batch_size(gpu, 128) == 5
    assert stats_batch_size(demo, 128) == 5
