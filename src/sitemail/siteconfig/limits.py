"""Size limits of a site configuration document, checked before it is parsed (audit finding 11).

The comment-keeping JSONC parser costs ~0.2 ms per value: a 400 KB array of numbers took 79 s,
holding the configuration's write lock. A real configuration has a few hundred values; long
strings (email templates) are cheap, so values and nesting are limited, not characters.
"""

from __future__ import annotations

import re

MAX_TOKENS = 5_000  # brackets, braces, commas and colons (about 2 per value)
MAX_DEPTH = 20

# Our own fixed pattern (strings, comments, structure), linear in the text.
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/|([\[{])|([\]}])|[,:]', re.S)


def check(text: str) -> str | None:
    """Why `text` is too large to parse, or None."""
    tokens = depth = 0
    for match in _TOKEN.finditer(text):
        if match.group(0)[0] in '"/':
            continue
        tokens += 1
        if match.group(1):
            depth += 1
            if depth > MAX_DEPTH:
                return (
                    f"nested more than {MAX_DEPTH} levels deep; a site configuration needs a "
                    "few levels"
                )
        elif match.group(2):
            depth -= 1
        if tokens > MAX_TOKENS:
            return (
                f"more than {MAX_TOKENS} brackets, commas and colons (about "
                f"{MAX_TOKENS // 2} values); a site configuration has a few hundred"
            )
    return None
