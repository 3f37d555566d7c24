"""Where a training run executes: this machine (`local`, a detached process), a Slurm cluster (`slurm`) or a
Ray cluster (`ray`, through Ray's Jobs API).

A run's spec names its backend (`"backend": {"kind": "slurm", "partition": "gpu", ...}`). Every backend
runs the same worker (`python -m explorer.train_worker RUN_DIR`), which writes the run's status, metrics,
log, checkpoints and SAE into the run folder: the cluster must share that folder with the app (the
usual setup: a shared home or project filesystem). The scheduler is asked only what the run folder
cannot say: whether the job is still queued or alive, and why it ended if the worker could not record it
(time limit, out of memory, cancelled by an administrator).

Slurm is driven through its own commands: `sbatch --parsable` to submit, `squeue` for live jobs,
`scontrol show job` for ended ones (it works without an accounting database, unlike `sacct`),
`scancel` to cancel (SIGTERM first, so the worker saves a checkpoint). Ray is driven through its Jobs API
(`JobSubmissionClient` at the head's dashboard address, e.g. http://HOST:8265): submit, status, stop.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from explorer.errors import ExplorerError
from explorer.paths import PROJECT_ROOT

BackendKind = Literal["local", "slurm", "ray"]
BACKEND_KINDS: tuple[BackendKind, ...] = ("local", "slurm", "ray")
SLURM_SCRIPT = "job.sbatch"
_TIME = re.compile(
    r"^(\d+-)?\d{1,3}(:\d{2}){0,2}$"
)  # Slurm's time formats: MM, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]
_MEMORY = re.compile(r"^\d+[KMGT]?$")
_SLURM_ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
                "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"}  # fmt: skip


@dataclass(frozen=True)
class BackendSpec:
    """Where a run executes and with what resources (Slurm fields are ignored by `local`)."""

    kind: BackendKind = "local"
    partition: str = ""  # Slurm partition ('' = the cluster's default)
    time_limit: str = "01:00:00"  # Slurm --time
    gpus: int = 0
    cpus: int = 2
    memory: str = ""  # Slurm --mem, e.g. 16G ('' = the partition's default)
    address: str = ""  # Ray: the head's dashboard (Jobs API) address, e.g. http://10.0.0.5:8265

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, as the run spec stores it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> BackendSpec:
        """Parse and check a spec's `backend` field; a bad value is an `ExplorerError` naming it."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ExplorerError(
                f"Unknown backend field(s): {', '.join(unknown)}.", hint=f"Known: {', '.join(sorted(known))}."
            )
        spec = cls(**data)
        if spec.kind not in BACKEND_KINDS:
            raise ExplorerError(
                f"Unknown backend '{spec.kind}'.", hint=f"Use one of {', '.join(BACKEND_KINDS)}."
            )
        if spec.kind == "slurm":
            if not _TIME.match(spec.time_limit):
                raise ExplorerError(
                    f"'{spec.time_limit}' is not a Slurm time limit.", hint="E.g. 02:00:00 or 1-00:00:00."
                )
            if spec.memory and not _MEMORY.match(spec.memory):
                raise ExplorerError(f"'{spec.memory}' is not a Slurm memory size.", hint="E.g. 16G or 8000M.")
            if spec.partition and not re.match(r"^[\w.-]+$", spec.partition):
                raise ExplorerError(f"'{spec.partition}' is not a partition name.")
        if spec.kind == "ray" and not re.match(r"^(https?|ray)://[^\s/]+(:\d+)?/?$", spec.address):
            raise ExplorerError(
                f"'{spec.address}' is not a Ray Jobs address.",
                hint="Give the head's dashboard address, e.g. http://10.0.0.5:8265.",
            )
        if not (0 <= spec.gpus <= 64 and 1 <= spec.cpus <= 1024):
            raise ExplorerError("GPUs must be 0–64 and CPUs 1–1024.")
        return spec


# ----------------------------------------------------------------------------- Slurm


def _slurm(command: str, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    executable = shutil.which(command)
    if executable is None:
        raise ExplorerError(
            f"`{command}` is not installed here: this machine cannot submit to Slurm.",
            hint="Run the app on a login node (where sbatch, squeue and scancel work), or use the local backend.",
        )
    try:
        return subprocess.run([executable, *args], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ExplorerError(
            f"`{command}` did not answer within {timeout_s:.0f} s: is slurmctld reachable?"
        ) from None


def slurm_script(run_dir: Path, spec: BackendSpec, job_name: str, log: Path) -> str:
    """The batch script for a run: resources from the spec, the log in the run folder, the same worker as local."""
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --output={log}",
        "#SBATCH --open-mode=append",
        f"#SBATCH --time={spec.time_limit}",
        f"#SBATCH --cpus-per-task={spec.cpus}",
        "#SBATCH --signal=B:TERM@120",  # two minutes before the limit: the worker saves a checkpoint
    ]
    if spec.partition:
        lines.append(f"#SBATCH --partition={spec.partition}")
    if spec.gpus:
        lines.append(f"#SBATCH --gres=gpu:{spec.gpus}")
    if spec.memory:
        lines.append(f"#SBATCH --mem={spec.memory}")
    lines += [
        f"export PYTHONPATH={shlex.quote(str(PROJECT_ROOT))}${{PYTHONPATH:+:$PYTHONPATH}}",
        "export PYTHONUNBUFFERED=1",
        f"cd {shlex.quote(str(PROJECT_ROOT))}",
        # exec: the worker receives Slurm's SIGTERM itself (on cancel, or before the time limit)
        f"exec {shlex.quote(sys.executable)} -m explorer.train_worker {shlex.quote(str(run_dir))}",
    ]
    return "\n".join(lines) + "\n"


def submit_slurm(run_dir: Path, spec: BackendSpec, log: Path) -> str:
    """Write the batch script and submit it; the job id, or a one-line error with sbatch's reason."""
    script = run_dir / SLURM_SCRIPT
    script.write_text(slurm_script(run_dir, spec, f"sae-{run_dir.name}", log))
    done = _slurm("sbatch", "--parsable", str(script))
    if done.returncode != 0:
        reason = [
            line.removeprefix("sbatch: error: ") for line in done.stderr.strip().splitlines() if line.strip()
        ]
        raise ExplorerError(f"Slurm refused the job: {reason[0] if reason else 'sbatch failed'}.")
    return done.stdout.strip().split(";")[0]


def slurm_job_state(job_id: str) -> tuple[str, str]:
    """(state, reason) of a Slurm job: PENDING, RUNNING, ..., or its final state (COMPLETED, TIMEOUT, ...)."""
    live = _slurm("squeue", "-h", "-j", job_id, "-o", "%T|%r")
    if live.returncode == 0 and live.stdout.strip():
        state, _, reason = live.stdout.strip().splitlines()[0].partition("|")
        return state, reason
    shown = _slurm("scontrol", "show", "job", job_id)
    if shown.returncode != 0:
        return "UNKNOWN", "Slurm no longer knows the job (it ended long ago)."
    fields_ = dict(re.findall(r"(\w+)=(\S*)", shown.stdout))
    return fields_.get("JobState", "UNKNOWN"), fields_.get("Reason", "")


def cancel_slurm(job_id: str) -> None:
    """Cancel a Slurm job (SIGTERM to the worker first, as scancel does)."""
    done = _slurm("scancel", job_id)
    if done.returncode != 0:
        raise ExplorerError(f"scancel failed: {done.stderr.strip() or done.stdout.strip()}")


# ----------------------------------------------------------------------------- Ray


def ray_client(address: str) -> Any:
    """A Jobs API client for the Ray head at `address`; one clear line when it cannot be reached."""
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        raise ExplorerError(
            "Ray's job client is not installed.", hint="pip install 'ray[default]==2.60.0'"
        ) from None
    try:
        return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError, OSError) as error:
        raise ExplorerError(
            f"Cannot reach the Ray cluster's Jobs API at '{address}': {str(error).strip().splitlines()[0][:200]}",
            hint="Give the head's dashboard address (ray start --head --dashboard-host=0.0.0.0), e.g. http://HOST:8265.",
        ) from None


def submit_ray(run_dir: Path, spec: BackendSpec, log: Path) -> str:
    """Submit the worker as a Ray job (its output appended to the run's log); the submission id."""
    entrypoint = (
        f"exec {shlex.quote(sys.executable)} -m explorer.train_worker {shlex.quote(str(run_dir))} "
        f">> {shlex.quote(str(log))} 2>&1"
    )
    env = {k: v for k, v in os.environ.items() if k.startswith(("SAE_EXPLORER_", "HF_"))}
    env.update({"PYTHONPATH": str(PROJECT_ROOT), "PYTHONUNBUFFERED": "1"})
    try:
        return str(ray_client(spec.address).submit_job(
            entrypoint=entrypoint, submission_id=f"sae-{run_dir.name}", runtime_env={"env_vars": env},
            entrypoint_num_cpus=spec.cpus, entrypoint_num_gpus=spec.gpus,
        ))  # fmt: skip
    except ExplorerError:
        raise
    except Exception as error:  # noqa: BLE001 - the Jobs API reports refusals as generic errors
        raise ExplorerError(f"Ray refused the job: {str(error).strip().splitlines()[-1][:300]}") from None


def ray_job_state(address: str, job_id: str) -> tuple[str, str]:
    """(status, message) of a Ray job: PENDING, RUNNING, STOPPED, SUCCEEDED or FAILED."""
    try:
        info = ray_client(address).get_job_info(job_id)
    except ExplorerError:
        raise
    except Exception as error:  # noqa: BLE001 - e.g. the head forgot the job
        return "UNKNOWN", str(error).strip().splitlines()[-1][:200]
    return str(info.status.value if hasattr(info.status, "value") else info.status), (info.message or "")


# ----------------------------------------------------------------------------- one interface


def submit(run_dir: Path, spec: BackendSpec, log: Path) -> str:
    """Submit a run to a cluster backend, its output appended to `log`; its job id."""
    if spec.kind == "slurm":
        return submit_slurm(run_dir, spec, log)
    if spec.kind == "ray":
        return submit_ray(run_dir, spec, log)
    raise ExplorerError(f"The '{spec.kind}' backend has no scheduler to submit to.")


def job_ended(spec: BackendSpec, job_id: str) -> tuple[bool, str]:
    """Whether the scheduler says the job is over, and its final state and reason (e.g. `TIMEOUT`)."""
    if spec.kind == "slurm":
        state, reason = slurm_job_state(job_id)
        ended = state in _SLURM_ENDED or state == "UNKNOWN"
        return ended, f"{state}" + (f" ({reason})" if reason and reason != "None" else "")
    if spec.kind == "ray":
        state, message = ray_job_state(spec.address, job_id)
        return state in ("STOPPED", "SUCCEEDED", "FAILED", "UNKNOWN"), state.replace(
            "STOPPED", "CANCELLED"
        ) + (f" ({message})" if message else "")
    return False, ""


def job_pending(spec: BackendSpec, job_id: str) -> str | None:
    """Why a submitted job waits in the queue (e.g. `Resources`), or None when it is not pending."""
    if spec.kind == "slurm":
        state, reason = slurm_job_state(job_id)
        return reason or "queued" if state == "PENDING" else None
    if spec.kind == "ray":
        state, message = ray_job_state(spec.address, job_id)
        return (message or "waiting for resources") if state == "PENDING" else None
    return None


def cancel(spec: BackendSpec, job_id: str) -> None:
    """Ask the scheduler to stop the job."""
    if spec.kind == "slurm":
        cancel_slurm(job_id)
    elif spec.kind == "ray":
        ray_client(spec.address).stop_job(job_id)
