"""A validation problem as data: where (its JSON path), what, the fix, and whether it blocks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One problem of a site configuration.

    path: the JSON path as written in messages (`email.smtp.port`, `auth.providers[0].type`),
    "" for the document as a whole, None when the problem is not about a value (a syntax error
    at a line and column, a save that lost a race). Errors block a save; warnings do not.
    """

    path: str | None
    message: str
    hint: str = ""
    severity: Severity = "error"

    @property
    def where(self) -> str:
        return self.path or "(top level)"

    @property
    def text(self) -> str:
        """The one line shown to admins: `path: message; hint`."""
        head = self.message if self.path is None else f"{self.where}: {self.message}"
        return f"{head}; {self.hint}" if self.hint else head

    def is_under(self, path: str) -> bool:
        """About `path` or a value inside it (`email.smtp` holds `email.smtp.port`)."""
        own = self.path or ""
        return own == path or own.startswith((f"{path}.", f"{path}["))

    def __str__(self) -> str:
        return self.text


def warning(path: str | None, message: str, hint: str = "") -> Problem:
    return Problem(path, message, hint, "warning")
