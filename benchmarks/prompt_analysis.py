"""Benchmark: prompt analysis against its bare cost, and page switches (the model must not reload).

    python benchmarks/prompt_analysis.py [--sae demo] [--repeats 50]

Bare cost = one forward pass to the hook (`run_with_cache` with `names_filter` and `stop_at_layer`)
plus one SAE encode on the same tokens, nothing else. Prompt analysis = `analyze_prompt` as the
pages call it (tokenization, the lock, the same forward and encode, the copy to CPU). Goal: <= 1.5x.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sae_lens.util import extract_stop_at_layer_from_tlens_hook_name  # noqa: E402

from explorer.activations import analyze_prompt  # noqa: E402
from explorer.loading import load_explorer  # noqa: E402
from explorer.sae_loading import LOAD_COUNTS  # noqa: E402

PROMPT = (
    'Once upon a time, there was a little girl named Lily. She had a red ball and a small cat. "Can we go to '
    'the park?" asked Lily. Her mom said yes, so they walked to the park. Lily saw three ducks in the pond. '
    "She was very happy. The cat chased a yellow butterfly"
)


def median_seconds(fn, repeats: int) -> float:  # noqa: ANN001
    """Median wall time of `fn()` over `repeats` runs, after two warm-up runs."""
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_prompt(sae_source: str, repeats: int) -> None:
    explorer = load_explorer(sae_source)
    tokens = explorer.model.to_tokens(PROMPT)
    hook, stop = explorer.hook_name, extract_stop_at_layer_from_tlens_hook_name(explorer.hook_name)
    assert tokens.shape[1] <= 128, tokens.shape

    @torch.no_grad()
    def bare() -> None:
        _, cache = explorer.model.run_with_cache(tokens, names_filter=[hook], stop_at_layer=stop)
        explorer.sae.sae.encode(cache[hook])

    bare_s = median_seconds(bare, repeats)
    analysis_s = median_seconds(lambda: analyze_prompt(explorer, PROMPT), repeats)
    print(f"prompt analysis ({tokens.shape[1]} tokens, {sae_source}, {explorer.device}):")
    print(f"  bare forward-to-hook + encode: {bare_s * 1e3:.2f} ms (median of {repeats})")
    print(f"  analyze_prompt:                {analysis_s * 1e3:.2f} ms")
    print(f"  ratio:                         {analysis_s / bare_s:.2f}x (goal <= 1.5x)")


def bench_page_switch() -> None:
    from streamlit.testing.v1 import AppTest

    app = str(Path(__file__).resolve().parent.parent / "app.py")
    pages = [
        "pages/prompt.py",
        "pages/top_features.py",
        "pages/logit_view.py",
        "pages/generation.py",
        "pages/home.py",
    ]
    loads_before = dict(LOAD_COUNTS)
    at = AppTest.from_file(app, default_timeout=300)
    start = time.perf_counter()
    at.run()
    first = time.perf_counter() - start
    switch_times = []
    for _ in range(3):
        for page in pages:
            start = time.perf_counter()
            at.switch_page(page).run()
            switch_times.append(time.perf_counter() - start)
            assert not at.exception, at.exception
    model_loads = LOAD_COUNTS["model"] - loads_before.get("model", 0)
    sae_loads = LOAD_COUNTS["sae"] - loads_before.get("sae", 0)
    print(f"page switches (AppTest, {len(switch_times)} switches over {len(pages)} pages):")
    print(f"  first run (loads model + SAE): {first:.2f} s")
    print(
        f"  page switch median:            {statistics.median(switch_times) * 1e3:.0f} ms, max {max(switch_times) * 1e3:.0f} ms"
    )
    print(f"  model loads: {model_loads}, SAE loads: {sae_loads} (goal: 1 each)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sae", default="demo")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    bench_prompt(args.sae, args.repeats)
    bench_page_switch()


if __name__ == "__main__":
    main()
