"""A real single-node Slurm for the tests: munged, slurmctld and slurmd on 127.0.0.1 from Debian's packages
(`slurm-wlm`, `munge`), with a minimal configuration in a temporary folder, started and torn down here."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol", "sinfo")


def missing_tools() -> list[str]:
    """The Slurm and munge programs this machine lacks."""
    return [name for name in DAEMONS if shutil.which(name) is None]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def slurm_conf(folder: Path, host: str, ctld_port: int, d_port: int, memory_mb: int) -> str:
    """slurm.conf for one node: no accounting daemon, proctrack/linuxproc, task/none, everything under `folder`."""
    return f"""ClusterName=explorertest
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
AuthInfo=socket={folder}/munge.sock
CredType=cred/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
MinJobAge=3600
KillWait=30
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


@contextmanager
def single_node_slurm() -> Iterator[dict[str, str]]:
    """Start munged, slurmctld and slurmd; yield the environment (SLURM_CONF) clients need; stop them all."""
    folder = Path(tempfile.mkdtemp(prefix="slurm", dir="/tmp"))
    (folder / "state").mkdir()
    (folder / "spool").mkdir()
    host = socket.gethostname().split(".")[0]
    memory_mb = int(psutil.virtual_memory().total / 2**20 / 2)
    conf = folder / "slurm.conf"
    conf.write_text(slurm_conf(folder, host, _free_port(), _free_port(), memory_mb))
    key = folder / "munge.key"
    subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True, capture_output=True)
    key.chmod(0o400)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(subprocess.Popen(
            ["munged", "--foreground", "--force", f"--socket={folder}/munge.sock", f"--key-file={key}",
             f"--log-file={folder}/munged.log", f"--pid-file={folder}/munged.pid", f"--seed-file={folder}/munged.seed"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        ))  # fmt: skip
        deadline = time.time() + 30
        while not (folder / "munge.sock").exists() and time.time() < deadline:
            time.sleep(0.1)
        for daemon in ("slurmctld", "slurmd"):
            processes.append(subprocess.Popen(
                [daemon, "-D", "-f", str(conf)], env=env, stdout=(folder / f"{daemon}.out").open("wb"),
                stderr=subprocess.STDOUT, start_new_session=True,
            ))  # fmt: skip
        deadline = time.time() + 60
        while time.time() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True)
            if state.returncode == 0 and state.stdout.strip() in ("idle", "mix", "alloc"):
                break
            time.sleep(0.5)
        else:
            logs = "".join((folder / f"{d}.out").read_text()[-800:] for d in ("slurmctld", "slurmd"))
            raise RuntimeError(f"Slurm did not come up: {logs}")
        yield {"SLURM_CONF": str(conf)}
    finally:
        for process in reversed(processes):
            try:
                for child in psutil.Process(process.pid).children(recursive=True):
                    child.kill()
            except psutil.NoSuchProcess:
                pass
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        shutil.rmtree(folder, ignore_errors=True)
