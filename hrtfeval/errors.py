"""The one exception type that carries a user-facing message (turned into ``Error: ...``, exit 2)."""

from __future__ import annotations


class HrtfevalError(Exception):
    """Bad input or usage: a message for the user, optionally naming the file it concerns.

    ``str(err)`` is ``"<file>: <message>"`` when a file is known, else the message alone.
    """

    def __init__(self, message: str, file: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = None if file is None else str(file)

    def __str__(self) -> str:
        return f"{self.file}: {self.message}" if self.file else self.message
