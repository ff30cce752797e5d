"""The one home for users' regular expressions: RE2 (google-re2), linear time, as Sourcegraph.

SECURITY: a user's pattern never runs in Python's `re`, which backtracks (`(a+)+$` over 30
characters takes minutes) and holds the GIL while it does, freezing every request. RE2 matches
in time linear in the text and has Go's regexp syntax, so a pattern means here what it means on
Sourcegraph; it has no backreferences or lookarounds, which Sourcegraph lacks too.
"""

from __future__ import annotations

import functools
from typing import Protocol

import re2  # type: ignore[import-untyped]

# Bounds the compiled program: a pattern needing more (e.g. a{1000}{1000}) fails to compile.
MAX_MEM = 8 << 20


class Matcher(Protocol):
    def search(self, text: str) -> object | None: ...


class RegexError(ValueError):
    """RE2 cannot run the pattern; the message is RE2's reason."""


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str, *, case_sensitive: bool = True, literal: bool = False) -> Matcher:
    """A compiled RE2 pattern (cached); RegexError naming RE2's reason when it cannot run it."""
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.literal = literal
    options.log_errors = False
    options.max_mem = MAX_MEM
    try:
        compiled: Matcher = re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise RegexError(f"{text} (RE2 syntax, as on Sourcegraph)") from exc
    return compiled


def search(pattern: str, text: str, *, case_sensitive: bool = True) -> bool:
    return compile_pattern(pattern, case_sensitive=case_sensitive).search(text) is not None
