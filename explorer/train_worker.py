"""The training process of one run: `python -m explorer.train_worker RUN_DIR`.

Runs SAE-Lens' `LanguageModelSAETrainingRunner` on the run's spec, on this process's main thread
(its signal handlers need one). Metrics go to `metrics.jsonl` every few steps whether or not
Weights & Biases is on. On SIGTERM, SAE-Lens' own handler saves only the activation store, so this
worker also saves the SAE weights and trainer state into the same checkpoint folder, which makes
it loadable (`load_sae`) and resumable (`resume_from_checkpoint`).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from explorer.training import (
    CHECKPOINTS_DIR,
    METRICS_FILE,
    PROGRESS_LINE_PREFIX,
    SAE_DIR,
    TrainSpec,
    read_spec,
    read_status,
    write_status,
)

LOG_EVERY_STEPS = 5
_current_trainer: Any = None


def progress_line(what: str, trainer: Any) -> str:
    """The log's last word on progress (SAE-Lens' bar moves only every 100 steps, so a short run's reads 0)."""
    if trainer is None:
        return f"{PROGRESS_LINE_PREFIX}{what}"
    done, total = trainer.n_training_samples, trainer.cfg.total_training_samples
    return (
        f"{PROGRESS_LINE_PREFIX}{what} {done:,} of {total:,} tokens ({min(1.0, done / max(1, total)):.0%}) "
        f"in {trainer.n_training_steps:,} steps"
    )


def demo_training_dataset(n_tokens: int) -> Any:
    """Fresh stories from the demo corpus generator (a seed the bundle's splits do not use), enough for n_tokens."""
    import datasets

    from explorer.demo.corpus import generate_stories

    stories = generate_stories(n_tokens // 100 + 500, seed=1234)
    return datasets.Dataset.from_dict({"text": [s.text for s in stories]})


def open_training_dataset(spec: TrainSpec) -> Any:
    """The spec's dataset as a datasets.Dataset (or IterableDataset for the hub)."""
    from explorer.data import open_dataset

    if spec.dataset == "demo-train":
        return demo_training_dataset(spec.training_tokens)
    return open_dataset(spec.dataset)


def build_runner_config(spec: TrainSpec, d_in: int, run_dir: Path, resume_from: str | None) -> Any:
    """The LanguageModelSAERunnerConfig for a spec."""
    from sae_lens import LanguageModelSAERunnerConfig, LoggingConfig
    from sae_lens.registry import get_sae_training_class

    _, sae_cfg_cls = get_sae_training_class(spec.architecture)
    value: float | int = int(spec.sparsity) if spec.sparsity_parameter == "k" else spec.sparsity
    sae_cfg = sae_cfg_cls(d_in=d_in, d_sae=spec.d_sae, dtype=spec.dtype, device=spec.device,
                          **{spec.sparsity_parameter: value})  # fmt: skip
    return LanguageModelSAERunnerConfig(
        sae=sae_cfg, model_name=spec.model, hook_name=spec.hook_name, dataset_path=spec.dataset,
        is_dataset_tokenized=False, streaming=False, context_size=spec.context_size,
        training_tokens=spec.training_tokens, train_batch_size_tokens=spec.train_batch_size_tokens,
        n_batches_in_buffer=spec.n_batches_in_buffer, store_batch_size_prompts=spec.store_batch_size_prompts,
        lr=spec.lr, lr_warm_up_steps=spec.lr_warm_up_steps, lr_decay_steps=spec.lr_decay_steps, device=spec.device,
        dtype=spec.dtype, seed=spec.seed, n_checkpoints=spec.n_checkpoints,
        checkpoint_path=str(run_dir / CHECKPOINTS_DIR), output_path=str(run_dir / SAE_DIR),
        logger=LoggingConfig(log_to_wandb=spec.log_to_wandb, wandb_log_frequency=LOG_EVERY_STEPS),
        resume_from_checkpoint=resume_from, n_batches_for_norm_estimate=20, verbose=False,
    )  # fmt: skip


def install_metric_logging(run_dir: Path) -> None:
    """Make SAE-Lens' trainer write its step logs to metrics.jsonl (and remember it for checkpointing)."""
    import sae_lens.llm_sae_training_runner as runner_module

    base = runner_module.SAETrainer
    metrics_path = run_dir / METRICS_FILE
    started = time.perf_counter()

    class LoggingTrainer(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            global _current_trainer
            super().__init__(*args, **kwargs)
            _current_trainer = self
            self._tokens_at_start = self.n_training_samples

        def step(self, batch: torch.Tensor) -> Any:
            # fit() calls step() every step but _log_train_step() only with W&B on; log here instead.
            output = super().step(batch)
            if (self.n_training_steps + 1) % LOG_EVERY_STEPS == 0:
                self._write_metrics(output)
            return output

        @torch.no_grad()
        def _write_metrics(self, output: Any) -> None:
            log = self.build_train_step_log_dict(output=output, n_training_samples=self.n_training_samples)
            elapsed = time.perf_counter() - started
            row = {"step": self.n_training_steps + 1, "tokens": self.n_training_samples,
                   "tokens_per_s": (self.n_training_samples - self._tokens_at_start) / max(elapsed, 1e-9)}  # fmt: skip
            for key, value in log.items():
                if isinstance(value, int | float) or (isinstance(value, torch.Tensor) and value.numel() == 1):
                    row[key] = float(value)
            with metrics_path.open("a") as f:
                f.write(json.dumps(row) + "\n")

    runner_module.SAETrainer = LoggingTrainer


def hook_output_width(model: Any, hook_name: str) -> int:
    """Width of the activations at a hook (hook_z flattened over heads)."""
    from sae_lens.util import extract_stop_at_layer_from_tlens_hook_name

    if hook_name not in model.hook_dict:
        raise ValueError(f"'{hook_name}' is not a hook of the model")
    with torch.no_grad():
        _, cache = model.run_with_cache(torch.zeros((1, 2), dtype=torch.long, device=model.cfg.device),
                                        names_filter=[hook_name],
                                        stop_at_layer=extract_stop_at_layer_from_tlens_hook_name(hook_name))  # fmt: skip
    acts = cache[hook_name]
    return acts.shape[-2] * acts.shape[-1] if hook_name.endswith("hook_z") else acts.shape[-1]


def main(run_dir: Path) -> int:
    """Train; record the outcome in status.json; exit 0 on success or cancellation."""
    from sae_lens import LanguageModelSAETrainingRunner
    from sae_lens.training._interruption import InterruptedException

    from explorer.models import load_model

    status = read_status(run_dir)
    assert status is not None, f"{run_dir} has no status.json"
    spec = read_spec(run_dir)
    if status.state != "running":  # started by a cluster scheduler, not by the app: say so in the run folder
        status.state, status.started, status.pid = "running", time.time(), os.getpid()
    status.host = socket.gethostname()
    write_status(run_dir, status)
    print(f"run {run_dir.name}: {json.dumps(spec.to_dict())}", flush=True)
    if status.resumed_from:
        print(f"resuming from checkpoint {status.resumed_from}", flush=True)
    try:
        torch.manual_seed(spec.seed)
        model = load_model(spec.model, device=spec.device, dtype=spec.dtype).model
        d_in = hook_output_width(model, spec.hook_name)
        cfg = build_runner_config(spec, d_in, run_dir, status.resumed_from)
        install_metric_logging(run_dir)
        runner = LanguageModelSAETrainingRunner(
            cfg, override_model=model, override_dataset=open_training_dataset(spec)
        )
        save_store_state = runner.save_checkpoint

        def save_checkpoint_creating_folder(checkpoint_path: Path | None) -> None:
            # On interrupt SAE-Lens writes into checkpoint_path without creating it first.
            if checkpoint_path is not None:
                Path(checkpoint_path).mkdir(parents=True, exist_ok=True)
            save_store_state(checkpoint_path)

        runner.save_checkpoint = save_checkpoint_creating_folder  # type: ignore[method-assign]
        runner.run()
        print(progress_line("trained", _current_trainer), flush=True)
    except (InterruptedException, KeyboardInterrupt):
        if _current_trainer is not None:
            # Into the folder SAE-Lens just wrote the activation-store state to: a complete checkpoint.
            _current_trainer.save_checkpoint(checkpoint_name=str(_current_trainer.n_training_samples))
            print(progress_line("stopped at", _current_trainer), flush=True)
        status = read_status(run_dir) or status
        status.state, status.ended = "cancelled", time.time()
        write_status(run_dir, status)
        print("cancelled; checkpoint saved", flush=True)
        return 0
    except Exception as error:  # recorded for the UI; the traceback goes to the log
        traceback.print_exc()
        status = read_status(run_dir) or status
        status.state, status.ended, status.error = "failed", time.time(), f"{type(error).__name__}: {error}"
        write_status(run_dir, status)
        return 1
    status = read_status(run_dir) or status
    status.state, status.ended = "succeeded", time.time()
    write_status(run_dir, status)
    print(f"done: {run_dir / SAE_DIR}", flush=True)
    return 0


def run_and_schedule_next(run_dir: Path) -> int:
    """Train this run, then start whatever is queued next (so the queue moves without a browser open)."""
    try:
        return main(run_dir)
    finally:
        from explorer.training import read_spec, schedule

        if read_spec(run_dir).backend_spec.kind == "local":  # cluster jobs leave the queue to their scheduler
            schedule(run_dir.parent)


if __name__ == "__main__":
    sys.exit(run_and_schedule_next(Path(sys.argv[1])))
