"""The one exception type the app and the CLI turn into a clear message (no traceback)."""

from __future__ import annotations


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
