"""The one exception type the app and the CLI turn into a clear message (no traceback), and out-of-memory handling."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import torch

OUT_OF_MEMORY_HINT = (
    "Free memory was exhausted and what was allocated has been released. Try fewer prompts or tokens, a "
    "smaller batch, a shorter context or prompt, dtype bfloat16, or (for metrics) turning off the loss so "
    "the model runs only up to the hook (stop_at_layer)."
)


class ExplorerError(Exception):
    """A problem the user can fix: bad input, a missing file, an unreachable hub.

    `str(error)` is the message shown in the UI and printed by the CLI; `hint`, when set, says what
    to try instead.
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class OutOfMemory(ExplorerError):
    """Running out of (GPU or CPU) memory, caught, with the memory freed and advice in the hint."""


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA/MPS out-of-memory errors and CPU allocation failures."""
    if isinstance(error, torch.OutOfMemoryError | MemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def free_memory() -> None:
    """Release what failed computations left allocated (Python garbage, the CUDA and MPS caches)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if torch.backends.mps.is_available():
        torch.mps.empty_cache()


@contextmanager
def out_of_memory_as_error(what: str) -> Iterator[None]:
    """Turn running out of memory inside the block into an `OutOfMemory` error, after freeing memory."""
    failed = False
    try:
        yield
    except Exception as error:
        if not is_out_of_memory(error):
            raise
        failed = True  # leave the except clause first, so the failed frames and their tensors can be freed
    if failed:
        free_memory()
        raise OutOfMemory(f"Out of memory while {what}.", hint=OUT_OF_MEMORY_HINT)
