"""Devices, dtypes and memory sizing: which device and dtype to run on, and how much memory is free."""

from __future__ import annotations

import psutil
import torch

from explorer.errors import ExplorerError

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(requested: str | None = "auto") -> str:
    """`auto` -> cuda, then mps, then cpu; anything else is checked and returned."""
    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ExplorerError(f"Device '{requested}' was asked for, but CUDA is not available here.")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise ExplorerError("Device 'mps' was asked for, but MPS is not available here.")
    if requested != "cpu" and not requested.startswith(("cuda", "mps")):
        raise ExplorerError(f"Unknown device '{requested}'.", hint="Use auto, cpu, cuda, cuda:N or mps.")
    return requested


def resolve_dtype(requested: str | None, device: str) -> str:
    """`auto` -> bfloat16 on CUDA, float32 elsewhere; anything else must be a known dtype name."""
    if requested in (None, "", "auto"):
        return "bfloat16" if device.startswith("cuda") else "float32"
    if requested not in DTYPES:
        raise ExplorerError(f"Unknown dtype '{requested}'.", hint=f"Use auto or one of {', '.join(DTYPES)}.")
    return requested


def available_memory_bytes(device: str) -> int:
    """Free memory on `device` (CUDA: free device memory; otherwise: available system memory)."""
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    return int(psutil.virtual_memory().available)
