"""The configuration editor's save: validation problems, or a stale save explained with a diff."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sitemail.siteconfig import service as siteconfig
from sitemail.siteconfig.errors import SiteConfigError
from sitemail.siteconfig.validate import validate

if TYPE_CHECKING:
    from sitemail.accounts.models import User


@dataclass
class SaveResult:
    """What the editor shows after a save: the new id, or the problems (and the diff if stale)."""

    saved_id: int | None = None
    problems: list[str] = field(default_factory=list)
    stale: bool = False
    diff: str = ""  # current saved document vs. the admin's text, when stale
    current_id: int = 0

    @property
    def ok(self) -> bool:
        return self.saved_id is not None


def save(last_id: int, text: str, author: User | None = None) -> SaveResult:
    """Save the editor's text over `last_id`; a stale id returns the diff instead of saving."""
    current = siteconfig.current()
    if current.id != last_id:
        return _stale(last_id, text, current.id)
    try:
        return SaveResult(saved_id=siteconfig.update(last_id, text, author), current_id=last_id)
    except SiteConfigError as exc:
        now = siteconfig.current().id
        if now != last_id:  # lost a race with another save after our check
            return _stale(last_id, text, now)
        return SaveResult(problems=exc.problems, current_id=last_id)


def check(text: str) -> list[str]:
    """Errors then warnings for unsaved editor text (REDACTED secrets count as set)."""
    return validate(text).messages


def _stale(last_id: int, text: str, current_id: int) -> SaveResult:
    theirs = siteconfig.effective_contents()
    diff = "".join(
        difflib.unified_diff(
            theirs.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"saved by someone else (version {current_id})",
            tofile=f"your edit (based on version {last_id})",
        )
    )
    return SaveResult(
        problems=[
            f"Someone else saved the site configuration first (you edited version {last_id}, "
            f"the current one is {current_id}). Your text is kept below; compare it with theirs, "
            "then save again."
        ],
        stale=True,
        diff=diff,
        current_id=current_id,
    )
