"""SAE training runs: the spec a form or JSON file gives, its validation, and run folders on disk.

A run is a folder `runs/<ID>/` holding `spec.json`, `status.json` (state, pid, times, error),
`log.txt`, `metrics.jsonl` (one line per logged step), `checkpoints/` and, when finished, the SAE
in SAE-Lens layout under `sae/` (so `run:ID` loads it). The training itself runs in a separate
process (`python -m explorer.train_worker RUN_DIR`, an argument list, never a shell string): SAE-Lens'
runner installs signal handlers, which only works on a main thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from explorer import backends
from explorer.backends import BackendSpec
from explorer.errors import ExplorerError
from explorer.paths import PROJECT_ROOT, runs_dir
from explorer.sources import RUN_CHECKPOINTS_SUBDIR, RUN_SAE_SUBDIR, latest_run_checkpoint

State = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINAL_STATES = ("succeeded", "failed", "cancelled")
SPEC_FILE, STATUS_FILE, LOG_FILE, METRICS_FILE = "spec.json", "status.json", "log.txt", "metrics.jsonl"
CHECKPOINTS_DIR, SAE_DIR = RUN_CHECKPOINTS_SUBDIR, RUN_SAE_SUBDIR

# Each SAE-Lens training architecture and the name of its own sparsity parameter.
SPARSITY_PARAMETER = {
    "standard": "l1_coefficient",
    "gated": "l1_coefficient",
    "jumprelu": "l0_coefficient",
    "topk": "k",
    "batchtopk": "k",
    "matryoshka_batchtopk": "k",
    "abstopk": "k",
    "matching_pursuit": "residual_threshold",
}


def default_sparsity(architecture: str) -> float:
    """The starting value of an architecture's sparsity parameter: k as in `TrainSpec`, else SAE-Lens' own default."""
    from sae_lens.registry import SAE_TRAINING_CLASS_REGISTRY

    parameter = SPARSITY_PARAMETER.get(architecture, "l1_coefficient")
    if parameter == "k":
        return TrainSpec.sparsity
    config_class = SAE_TRAINING_CLASS_REGISTRY[architecture][1]
    field = next(f for f in fields(config_class) if f.name == parameter)
    return float(field.default)


def training_architectures() -> list[str]:
    """The training architectures SAE-Lens registers."""
    from sae_lens.registry import SAE_TRAINING_CLASS_REGISTRY

    return list(SAE_TRAINING_CLASS_REGISTRY)


@dataclass
class TrainSpec:
    """Everything a training run needs; the form writes it and `python -m explorer train SPEC.json` reads it."""

    model: str = "demo-stories-2l"
    hook_name: str = "blocks.0.hook_mlp_out"
    dataset: str = "demo-train"  # demo-train | demo | a local file or saved dataset | a hub dataset
    architecture: str = "topk"
    sparsity: float = 24  # the architecture's own parameter, named by SPARSITY_PARAMETER
    d_sae: int = 1024
    lr: float = 1e-3
    lr_warm_up_steps: int = 20
    lr_decay_steps: int = 40
    training_tokens: int = 600_000
    train_batch_size_tokens: int = 4096
    context_size: int = 128
    n_batches_in_buffer: int = 32
    store_batch_size_prompts: int = 16
    dtype: str = "float32"
    device: str = "cpu"
    n_checkpoints: int = 2
    seed: int = 42
    log_to_wandb: bool = False
    name: str = ""
    backend: dict[str, Any] = field(default_factory=lambda: {"kind": "local"})  # see explorer.backends

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSpec:
        """Build a spec from a dict; unknown fields are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ExplorerError(
                f"Unknown spec field(s): {', '.join(unknown)}.",
                hint=f"Known fields: {', '.join(sorted(known))}.",
            )
        return cls(**data)

    @property
    def backend_spec(self) -> BackendSpec:
        """The parsed `backend` field (checked by `validate_spec`)."""
        return BackendSpec.from_dict(self.backend)

    @property
    def sparsity_parameter(self) -> str:
        """The name of this architecture's sparsity parameter (l1_coefficient, k, ...)."""
        return SPARSITY_PARAMETER.get(self.architecture, "l1_coefficient")


@dataclass(frozen=True)
class FieldError:
    """A spec field and what is wrong with it."""

    field: str
    message: str


def validate_spec(spec: TrainSpec, available_memory: int | None = None) -> list[FieldError]:
    """Every check that would otherwise fail deep inside SAE-Lens, each naming its field (no model loaded)."""
    errors: list[FieldError] = []

    def check(ok: bool, name: str, message: str) -> None:
        if not ok:
            errors.append(FieldError(name, message))

    check(spec.architecture in training_architectures(), "architecture",
          f"'{spec.architecture}' is not a training architecture of SAE-Lens ({', '.join(training_architectures())}).")  # fmt: skip
    for name in ("d_sae", "training_tokens", "train_batch_size_tokens", "context_size", "n_batches_in_buffer",
                 "store_batch_size_prompts"):  # fmt: skip
        value = getattr(spec, name)
        check(isinstance(value, int) and value > 0, name, f"must be a positive whole number, got {value!r}.")
    check(spec.lr > 0, "lr", f"must be positive, got {spec.lr}.")
    check(spec.lr_warm_up_steps >= 0, "lr_warm_up_steps", "must be >= 0.")
    check(spec.lr_decay_steps >= 0, "lr_decay_steps", "must be >= 0.")
    check(spec.n_checkpoints >= 0, "n_checkpoints", "must be >= 0.")
    if spec.training_tokens > 0 and spec.train_batch_size_tokens > 0:
        steps = spec.training_tokens // spec.train_batch_size_tokens
        scheduled = spec.lr_warm_up_steps + spec.lr_decay_steps
        check(scheduled <= steps, "lr_decay_steps",
              f"warm-up ({spec.lr_warm_up_steps}) + decay ({spec.lr_decay_steps}) = {scheduled} steps, but the run "
              f"has only {steps} (training_tokens / train_batch_size_tokens).")  # fmt: skip
    check(spec.sparsity > 0, spec.sparsity_parameter, f"must be positive, got {spec.sparsity}.")
    if spec.sparsity_parameter == "k":
        check(float(spec.sparsity).is_integer() and spec.sparsity <= spec.d_sae, "k",
              f"must be a whole number no larger than d_sae ({spec.d_sae}), got {spec.sparsity}.")  # fmt: skip
    check(spec.dtype in ("float32", "bfloat16", "float16"), "dtype", f"unknown dtype '{spec.dtype}'.")
    check(
        spec.device == "cpu" or spec.device.startswith(("cuda", "mps")),
        "device",
        f"unknown device '{spec.device}'.",
    )
    try:
        backend = spec.backend_spec
    except (ExplorerError, TypeError) as error:
        check(False, "backend", str(error))
    else:
        check(backend.kind == "local" or spec.device != "cpu" or backend.gpus == 0, "backend",
              "GPUs were requested for a run on the CPU device; set the device to cuda or the GPUs to 0.")  # fmt: skip
    if not errors:
        buffer_tokens = spec.n_batches_in_buffer * spec.context_size
        check(buffer_tokens >= spec.train_batch_size_tokens, "n_batches_in_buffer",
              f"n_batches_in_buffer × context_size = {buffer_tokens:,} must be >= train_batch_size_tokens "
              f"({spec.train_batch_size_tokens:,}); SAE-Lens fails with 'Buffer size must be greater than or equal to batch size'.")  # fmt: skip
        check(spec.training_tokens >= spec.train_batch_size_tokens, "training_tokens",
              f"must be at least one batch ({spec.train_batch_size_tokens:,} tokens).")  # fmt: skip
        if available_memory is not None:
            needed = estimate_memory_bytes(spec)
            check(needed <= available_memory, "d_sae",
                  f"needs about {needed / 2**30:.1f} GiB, more than the {available_memory / 2**30:.1f} GiB available; "
                  "use a smaller d_sae, batch or buffer.")  # fmt: skip
    return errors


def validate_resources(spec: TrainSpec, model: Any | None) -> list[FieldError]:
    """The checks that open things: the dataset opens and has a text or tokens column; given the loaded
    model, the hook exists and the context fits."""
    from explorer.data import dataset_column, open_dataset
    from explorer.loading import similar_hooks

    errors: list[FieldError] = []
    if model is not None and spec.hook_name not in model.hook_dict:
        similar = similar_hooks(model, spec.hook_name, 3)
        errors.append(FieldError("hook_name", f"'{spec.hook_name}' is not a hook of {spec.model}"
                                 + (f" (e.g. {', '.join(similar)})." if similar else ".")))  # fmt: skip
    if model is not None and spec.context_size > model.cfg.n_ctx:
        errors.append(
            FieldError(
                "context_size", f"{spec.context_size} is longer than the model's context ({model.cfg.n_ctx})."
            )
        )
    if spec.dataset != "demo-train":
        try:
            dataset_column(open_dataset(spec.dataset))
        except ExplorerError as error:
            errors.append(FieldError("dataset", error.message + (f" {error.hint}" if error.hint else "")))
    return errors


def estimate_memory_bytes(spec: TrainSpec, d_in: int = 4096) -> int:
    """A rough upper estimate of training memory: SAE weights with Adam state, the activation buffer, a batch."""
    bytes_per = 2 if spec.dtype in ("bfloat16", "float16") else 4
    sae = 2 * d_in * spec.d_sae * 4 * 4  # weights, gradients, two Adam moments (float32)
    buffer = spec.n_batches_in_buffer * spec.context_size * spec.store_batch_size_prompts * d_in * bytes_per
    batch = spec.train_batch_size_tokens * spec.d_sae * 4 * 3
    return sae + buffer + batch


# ----------------------------------------------------------------------------- run folders


@dataclass
class RunStatus:
    """What `status.json` holds."""

    state: State = "queued"
    pid: int | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    resumed_from: str | None = None
    job_id: str | None = None  # the scheduler's id, for runs on a cluster backend
    host: str | None = None  # where the worker runs

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def write_status(run_dir: Path, status: RunStatus) -> None:
    """Replace a run's status file."""
    _write_json(run_dir / STATUS_FILE, status.to_dict())


def read_status(run_dir: Path) -> RunStatus | None:
    """A run's status, or None when the folder is not a readable run."""
    try:
        data = json.loads((run_dir / STATUS_FILE).read_text())
        return RunStatus(**{k: v for k, v in data.items() if k in {f.name for f in fields(RunStatus)}})
    except (OSError, json.JSONDecodeError, TypeError):
        return None


def read_spec(run_dir: Path) -> TrainSpec:
    """A run's spec."""
    return TrainSpec.from_dict(json.loads((run_dir / SPEC_FILE).read_text()))


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """A run's logged metrics, one dict per logged step (a partly written last line is skipped)."""
    rows = []
    try:
        for line in (run_dir / METRICS_FILE).read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    except OSError:
        pass
    return rows


PROGRESS_LINE_PREFIX = "Progress: "  # starts the line the worker prints when training ends
_PROGRESS_BAR = re.compile(r"\d+/\d+ \[\d+:\d+")  # tqdm's "n/total [elapsed"


def log_tail(run_dir: Path, n_lines: int = 30) -> str:
    """The last lines of a run's log, each as it finally read: a progress bar redrawn with carriage
    returns shows only its latest state, and none once the worker has printed its final count."""
    try:
        text = (
            (run_dir / LOG_FILE).read_bytes().decode("utf-8", errors="replace")
        )  # keep the \r of progress bars
    except OSError:
        return ""
    lines = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n")]
    finished = any(line.startswith(PROGRESS_LINE_PREFIX) for line in lines)
    if finished:  # the worker's final count replaces SAE-Lens' bar
        lines = [line for line in lines if not _PROGRESS_BAR.search(line)]
    return "\n".join([line for line in lines if line.strip()][-n_lines:])


def process_alive(pid: int | None) -> bool:
    """Whether a process with this pid exists (and is not a zombie)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


@dataclass(frozen=True)
class RunInfo:
    """One row of the runs list."""

    id: str
    status: RunStatus
    spec: TrainSpec | None
    progress: float
    sae_path: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the `python -m explorer runs` rows)."""
        return {"id": self.id, "status": self.status.state, "progress": self.progress, "sae_path": self.sae_path,
                "pid": self.status.pid, "error": self.status.error}  # fmt: skip


def _backend_spec(run_dir: Path) -> BackendSpec:
    try:
        return read_spec(run_dir).backend_spec
    except (OSError, json.JSONDecodeError, ExplorerError, TypeError):
        return BackendSpec()


def refresh(run_dir: Path) -> RunStatus | None:
    """Read a run's status, marking it failed if it claims to run but its process (or cluster job) is gone.

    For a cluster job that ended without the worker recording it (time limit, out of memory, killed), the
    scheduler's final state is the reason; a cancelled job is marked cancelled.
    """
    status = read_status(run_dir)
    if status is not None and status.job_id and status.state in ("queued", "running"):
        backend = _backend_spec(run_dir)
        kind = backend.kind
        try:
            ended, reason = backends.job_ended(backend, status.job_id)
        except ExplorerError:
            return status  # the scheduler cannot be asked right now: nothing is known to have changed
        if ended:
            status = read_status(run_dir) or status  # the worker may have written its end meanwhile
            if status.state in ("queued", "running"):
                never_started = status.state == "queued"
                status.state = "cancelled" if reason.startswith("CANCELLED") else "failed"
                status.ended = time.time()
                status.error = f"{kind.capitalize()} job {status.job_id} ended: {reason}." + (
                    f" It never wrote to {run_dir}: is the runs folder on a filesystem the cluster's nodes share?"
                    if never_started and status.state == "failed" else ""
                ) + ("\nEnd of its log:\n" + log_tail(run_dir, 10) if not never_started else "")  # fmt: skip
                write_status(run_dir, status)
        return status
    if status is not None and status.state == "running" and not process_alive(status.pid):
        status.state, status.ended = "failed", time.time()
        status.error = "The training process ended without finishing (killed?). End of its log:\n" + log_tail(
            run_dir, 10
        )
        write_status(run_dir, status)
    return status


def run_info(run_dir: Path) -> RunInfo | None:
    """A run's row for the list; None for a folder that is not a readable run."""
    status = refresh(run_dir)
    if status is None:
        return None
    try:
        spec: TrainSpec | None = read_spec(run_dir)
    except (OSError, json.JSONDecodeError, ExplorerError, TypeError):
        spec = None
    metrics = read_metrics(run_dir)
    done_tokens = metrics[-1].get("tokens", 0) if metrics else 0
    progress = (
        1.0 if status.state == "succeeded" else min(1.0, done_tokens / spec.training_tokens) if spec else 0.0
    )
    sae = run_dir / SAE_DIR
    return RunInfo(run_dir.name, status, spec, progress, str(sae) if (sae / "cfg.json").is_file() else None)


def list_runs(directory: Path | None = None) -> list[RunInfo]:
    """Every readable run, newest first; corrupt or half-written folders are skipped."""
    directory = directory or runs_dir()
    if not directory.is_dir():
        return []
    infos = [
        info
        for d in directory.iterdir()
        if d.is_dir() and not d.name.startswith(".") and (info := run_info(d))
    ]
    return sorted(infos, key=lambda i: i.status.created, reverse=True)


def create_run(
    spec: TrainSpec, directory: Path | None = None, model: Any | None = None, check_resources: bool = True
) -> Path:
    """Validate the spec (the dataset too, and given the loaded model its hook and context); create a queued run folder."""
    errors = validate_spec(spec)
    if not errors and check_resources:
        errors = validate_resources(spec, model)
    if errors:
        raise ExplorerError("Invalid training spec: " + "; ".join(f"{e.field}: {e.message}" for e in errors))
    directory = directory or runs_dir()
    directory.mkdir(parents=True, exist_ok=True)
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    tmp = directory / f".{run_id}"
    tmp.mkdir()
    _write_json(tmp / SPEC_FILE, spec.to_dict())
    write_status(tmp, RunStatus())
    os.replace(tmp, directory / run_id)  # appears in the list only when complete
    return directory / run_id


def start_worker(run_dir: Path) -> int:
    """Start the training process for a run (own process group, argument list); return its pid."""
    log = open(run_dir / LOG_FILE, "ab")  # noqa: SIM115 (the child keeps it open)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [sys.executable, "-m", "explorer.train_worker", str(run_dir)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=str(PROJECT_ROOT),
        env=env,
    )  # fmt: skip
    log.close()
    status = read_status(run_dir) or RunStatus()
    status.state, status.pid, status.started = "running", process.pid, time.time()
    write_status(run_dir, status)
    return process.pid


def submit_to_cluster(run_dir: Path, spec: TrainSpec) -> str:
    """Submit a queued run to its cluster backend and record the job id (it stays queued until it starts)."""
    job_id = backends.submit(run_dir, spec.backend_spec, run_dir / LOG_FILE)
    status = read_status(run_dir) or RunStatus()
    status.job_id = job_id
    write_status(run_dir, status)
    return job_id


def schedule(directory: Path | None = None, max_per_device: int = 1) -> list[str]:
    """Start queued runs, oldest first: local ones while fewer than `max_per_device` run on their device,
    cluster ones by submitting them to their scheduler (which queues them itself); return the ids started."""
    directory = directory or runs_dir()
    runs = list_runs(directory)
    running: dict[str, int] = {}
    for info in runs:
        if (
            info.status.state == "running"
            and info.spec is not None
            and info.spec.backend_spec.kind == "local"
        ):
            running[info.spec.device] = running.get(info.spec.device, 0) + 1
    started = []
    for info in sorted(
        (r for r in runs if r.status.state == "queued" and r.spec and not r.status.job_id),
        key=lambda r: r.status.created,
    ):
        assert info.spec is not None
        if info.spec.backend_spec.kind != "local":
            try:
                submit_to_cluster(directory / info.id, info.spec)
            except ExplorerError as error:  # recorded on the run card; the run can be resumed later
                status = read_status(directory / info.id) or info.status
                status.state, status.ended, status.error = "failed", time.time(), str(error)
                write_status(directory / info.id, status)
                continue
            started.append(info.id)
            continue
        if running.get(info.spec.device, 0) >= max_per_device:
            continue
        start_worker(directory / info.id)
        running[info.spec.device] = running.get(info.spec.device, 0) + 1
        started.append(info.id)
    return started


def cancel_run(run_dir: Path, timeout_s: float = 30.0) -> RunStatus:
    """Cancel a run: a queued run is just marked; a running one gets SIGTERM (it saves a checkpoint), then SIGKILL."""
    status = refresh(run_dir)
    if status is None:
        raise ExplorerError(f"'{run_dir.name}' is not a run.")
    if status.state not in ("queued", "running"):
        raise ExplorerError(
            f"Run '{run_dir.name}' is {status.state}; only queued or running runs can be cancelled."
        )
    if status.job_id:  # on a cluster: the scheduler signals the worker, which saves a checkpoint
        backend = _backend_spec(run_dir)
        backends.cancel(backend, status.job_id)
        deadline = time.time() + timeout_s
        while time.time() < deadline and not backends.job_ended(backend, status.job_id)[0]:
            time.sleep(0.5)
        status = read_status(run_dir) or status
        if status.state in ("queued", "running"):
            status.state, status.ended = "cancelled", time.time()
            write_status(run_dir, status)
        return status
    if status.state == "queued":
        status.state, status.ended = "cancelled", time.time()
        write_status(run_dir, status)
        return status
    assert status.pid is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(status.pid, signal.SIGTERM)
    deadline = time.time() + timeout_s
    while process_alive(status.pid) and time.time() < deadline:
        time.sleep(0.2)
    if process_alive(status.pid):
        os.killpg(status.pid, signal.SIGKILL)
    status = read_status(run_dir) or status
    if status.state == "running":  # the worker could not record its own end
        status.state, status.ended = "cancelled", time.time()
        write_status(run_dir, status)
    return status


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint folder holding SAE weights and trainer state, if any."""
    return latest_run_checkpoint(run_dir)


def resume_run(run_dir: Path) -> None:
    """Queue a cancelled or failed run again, to continue from its last checkpoint."""
    status = refresh(run_dir)
    if status is None or status.state not in ("cancelled", "failed"):
        raise ExplorerError(
            f"Only a cancelled or failed run can be resumed ('{run_dir.name}' is {status.state if status else 'unreadable'})."
        )
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise ExplorerError(f"Run '{run_dir.name}' has no checkpoint to resume from.")
    write_status(run_dir, RunStatus(state="queued", resumed_from=str(checkpoint)))
