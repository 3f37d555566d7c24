"""Benchmark: a training run launched through the training page's machinery against SAE-Lens called directly.

    python benchmarks/training.py [--spec examples/train-demo.json] [--tokens 300000] [--repeats 2]

Both sides train the same spec in a fresh process and report tokens per second of the whole process
(start to exit, model loading included, the same fixed costs on both sides):
- direct: `LanguageModelSAETrainingRunner(cfg).run()` with the runner config the worker would build,
  nothing else (no metric logging, no status files);
- page machinery: `create_run` + `start_worker` (the separate worker process, metrics.jsonl every 5
  steps, status.json, checkpointing), timed until its status reads succeeded.
The two alternate, `--repeats` times each; the best of each is compared. Goal: within 5%.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from explorer.training import TrainSpec, create_run, read_status, start_worker  # noqa: E402

DIRECT = """
import sys, time, torch
from pathlib import Path
sys.path.insert(0, {root!r})
from sae_lens import LanguageModelSAETrainingRunner
from explorer.models import load_model
from explorer.train_worker import build_runner_config, hook_output_width, open_training_dataset
from explorer.training import TrainSpec
import json
spec = TrainSpec.from_dict(json.loads(Path({spec!r}).read_text()))
torch.manual_seed(spec.seed)
model = load_model(spec.model, device=spec.device, dtype=spec.dtype).model
cfg = build_runner_config(spec, hook_output_width(model, spec.hook_name), Path({out!r}), None)
LanguageModelSAETrainingRunner(cfg, override_model=model, override_dataset=open_training_dataset(spec)).run()
"""


def run_direct(spec: TrainSpec, work: Path) -> float:
    """Seconds for a fresh process that trains `spec` with SAE-Lens' runner and nothing else."""
    out = Path(tempfile.mkdtemp(dir=work))
    spec_path = out / "spec.json"
    spec_path.write_text(json.dumps(spec.to_dict()))
    code = DIRECT.format(root=str(ROOT), spec=str(spec_path), out=str(out))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - start


def run_through_page_machinery(spec: TrainSpec, work: Path) -> float:
    """Seconds from `start_worker` until the run's status reads succeeded."""
    run_dir = create_run(spec, work / "runs")
    start = time.perf_counter()
    start_worker(run_dir)
    while True:
        status = read_status(run_dir)
        if status is not None and status.state in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    if status.state != "succeeded":
        raise SystemExit(f"the run ended {status.state}: see {run_dir / 'log.txt'}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spec", default=str(ROOT / "examples" / "train-demo.json"))
    parser.add_argument("--tokens", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    spec = TrainSpec.from_dict({**json.loads(Path(args.spec).read_text()), "training_tokens": args.tokens,
                                "n_checkpoints": 0})  # fmt: skip
    timings: dict[str, list[float]] = {"direct": [], "page": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for _ in range(args.repeats):
            timings["direct"].append(run_direct(spec, work))
            timings["page"].append(run_through_page_machinery(spec, work))
    direct, page = min(timings["direct"]), min(timings["page"])
    print(f"training {spec.architecture} d_sae {spec.d_sae} on {spec.hook_name}, {spec.training_tokens:,} tokens, "
          f"{spec.device}, best of {args.repeats} (whole process, model loading included):")  # fmt: skip
    print(f"  SAE-Lens runner directly: {direct:6.1f} s  ({spec.training_tokens / direct:,.0f} tokens/s)")
    print(f"  through the page's worker: {page:5.1f} s  ({spec.training_tokens / page:,.0f} tokens/s)")
    print(f"  overhead: {100 * (page / direct - 1):+.1f}% (goal within 5%)")


if __name__ == "__main__":
    main()
