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
    text = keep_line_endings(text, current.contents)
    try:
        return SaveResult(saved_id=siteconfig.update(last_id, text, author), current_id=last_id)
    except SiteConfigError as exc:
        now = siteconfig.current().id
        if now != last_id:  # lost a race with another save after our check
            return _stale(last_id, text, now)
        return SaveResult(problems=exc.problems, current_id=last_id)


def keep_line_endings(text: str, stored: str) -> str:
    """The editor's text with the stored document's own line endings.

    Browsers submit a textarea with CRLF line breaks (HTML's form encoding), whatever the
    document had. Unchanged lines get back their stored endings byte for byte; new or edited
    lines get the document's usual ending.
    """
    old = stored.splitlines(keepends=True)
    new = text.splitlines(keepends=True)
    usual = "\r\n" if stored.count("\r\n") * 2 > stored.count("\n") else "\n"
    bare = [line.rstrip("\r\n") for line in new]
    matcher = difflib.SequenceMatcher(None, [line.rstrip("\r\n") for line in old], bare, False)
    out: list[str] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            out.extend(old[a0:a1])
            continue
        # An edited line keeps the ending of the line it replaces; added lines get the usual.
        endings = [o[len(o.rstrip("\r\n")) :] for o in old[a0:a1]]
        for i, (line, raw) in enumerate(zip(bare[b0:b1], new[b0:b1], strict=True)):
            ending = endings[i] if i < len(endings) and endings[i] else usual
            out.append(line + (ending if raw != line else ""))
    # The last line's ending follows the submitted text (a removed final newline stays removed).
    if out and new and new[-1] == bare[-1] and out[-1] != bare[-1]:
        out[-1] = bare[-1]
    return "".join(out)


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
