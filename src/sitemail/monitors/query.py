"""The monitor query language: `type:commit|diff repo: -repo: author: message: case: patternType:`.

A query is whitespace-separated tokens; `field:value` tokens are filters (values may be quoted),
everything else joins (with single spaces) into the pattern, as on Sourcegraph's search. Errors
name the bad token and its column so the monitor form can point at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sitemail.monitors import regex

FIELDS = ("type", "repo", "author", "message", "case", "patterntype")
_ALIASES = {"r": "repo", "msg": "message", "m": "message"}


class QueryError(ValueError):
    """A malformed query; `column` is 1-based, `token` the offending text."""

    def __init__(self, message: str, column: int, token: str) -> None:
        super().__init__(f"invalid query: {message} (at column {column}: {token!r})")
        self.reason = message
        self.column = column
        self.token = token


@dataclass(frozen=True)
class Query:
    type: str  # "commit" | "diff"
    pattern: str = ""
    pattern_type: str = "literal"  # "literal" | "regexp"
    case_sensitive: bool = False
    repo_include: tuple[str, ...] = ()
    repo_exclude: tuple[str, ...] = ()
    author: tuple[str, ...] = ()
    message: tuple[str, ...] = ()
    source: str = ""

    def pattern_regex(self) -> regex.Matcher | None:
        """The pattern compiled by RE2 (None when the pattern is empty: everything matches)."""
        if not self.pattern:
            return None
        return regex.compile_pattern(
            self.pattern,
            case_sensitive=self.case_sensitive,
            literal=self.pattern_type != "regexp",
        )

    def repo_matches(self, name: str) -> bool:
        # Repository names are matched case-insensitively, like Sourcegraph's repo: filter.
        if any(not regex.search(p, name, case_sensitive=False) for p in self.repo_include):
            return False
        return not any(regex.search(p, name, case_sensitive=False) for p in self.repo_exclude)

    def author_matches(self, name: str, email: str) -> bool:
        who = f"{name} <{email}>"
        return all(regex.search(p, who, case_sensitive=self.case_sensitive) for p in self.author)

    def message_matches(self, message: str) -> bool:
        cs = self.case_sensitive
        return all(regex.search(p, message, case_sensitive=cs) for p in self.message)

    def to_git_ere(self) -> str | None:
        """The pattern as a POSIX ERE for `git log -G/--grep -E`, when the two agree exactly."""
        if not self.pattern:
            return None
        if self.pattern_type == "literal":
            return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", self.pattern)
        return self.pattern if _ere_safe(self.pattern) else None


# RE2-only syntax (classes like \d, groups like (?i), lazy quantifiers, escapes inside
# brackets, intervals) is not safe to hand to git's POSIX regex: those fall back to RE2 alone.
_UNSAFE = re.compile(r"\\[A-Za-z0-9]|\(\?|[*+?}]\?|\{|\[[^\]]*\\")


def _ere_safe(pattern: str) -> bool:
    return not _UNSAFE.search(pattern) and pattern.isascii()


_QUOTED = r'"(?:[^"\\]|\\.)*"?'
_TOKEN = re.compile(rf"\s*(-?)([A-Za-z]+):({_QUOTED}|\S*)|\s*({_QUOTED}|\S+)")
_CLOSED = re.compile(r'"(?:[^"\\]|\\.)*"')


def _unquote(value: str, column: int, token: str) -> str:
    """A "quoted value" (backslash escapes) to its text; other values are taken as they are."""
    if value.startswith('"'):
        if not _CLOSED.fullmatch(value):
            raise QueryError("unterminated quoted value", column, token)
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _check_regex(value: str, what: str, column: int, token: str, case_sensitive: bool) -> None:
    """Refuse at save what RE2 cannot run, pointing at the token."""
    try:
        regex.compile_pattern(value, case_sensitive=case_sensitive)
    except regex.RegexError as exc:
        raise QueryError(f"{what} is not a valid regular expression: {exc}", column, token) from exc


def parse(text: str) -> Query:
    """Parse and validate `text`; raises QueryError pointing at the first bad token."""
    values: dict[str, list[tuple[str, int, str]]] = {f: [] for f in FIELDS}
    excluded_repos: list[tuple[str, int, str]] = []
    words: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:  # only trailing whitespace left
            break
        start = m.start(2) if m.group(2) else m.start(4)
        column = (start - (1 if m.group(1) else 0)) + 1
        token = m.group(0).strip()
        pos = m.end()
        if m.group(4) is not None:
            words.append(_unquote(m.group(4), column, token))
            continue
        name = m.group(2).lower()
        name = _ALIASES.get(name, name)
        if name not in FIELDS:
            raise QueryError(
                f"unknown filter {m.group(2)!r}; use type:, repo:, -repo:, author:, message:, "
                "case: or patternType: (put the pattern in double quotes to search for this text)",
                column,
                token,
            )
        value = _unquote(m.group(3), column, token)
        if m.group(1):
            if name != "repo":
                raise QueryError(
                    f"-{m.group(2)}: cannot be negated; only -repo: can", column, token
                )
            excluded_repos.append((value, column, token))
            continue
        if not value:
            raise QueryError(f"{m.group(2)}: needs a value", column, token)
        values[name].append((value, column, token))

    for name in ("type", "case", "patterntype"):
        if len(values[name]) > 1:
            _, column, token = values[name][1]
            raise QueryError(f"{name}: may appear only once", column, token)

    if not values["type"]:
        raise QueryError(
            "a code monitor query needs type:commit or type:diff", 1, text.strip()[:40]
        )
    qtype, column, token = values["type"][0]
    qtype = qtype.lower()
    if qtype not in ("commit", "diff"):
        raise QueryError("type: must be commit or diff", column, token)

    case_sensitive = False
    if values["case"]:
        value, column, token = values["case"][0]
        if value.lower() not in ("yes", "no"):
            raise QueryError("case: must be yes or no", column, token)
        case_sensitive = value.lower() == "yes"

    pattern_type = "literal"
    if values["patterntype"]:
        value, column, token = values["patterntype"][0]
        if value.lower() not in ("literal", "regexp"):
            raise QueryError("patternType: must be literal or regexp", column, token)
        pattern_type = value.lower()

    if values["message"] and qtype != "diff":
        _, column, token = values["message"][0]
        raise QueryError(
            "message: filters diffs by commit message; with type:commit the pattern already "
            "searches messages",
            column,
            token,
        )

    for name in ("repo", "author", "message"):
        for value, column, token in values[name]:
            cs = case_sensitive and name != "repo"
            _check_regex(value, f"{name}: value", column, token, cs)
    for value, column, token in excluded_repos:
        _check_regex(value, "-repo: value", column, token, False)

    pattern = " ".join(words)
    if pattern_type == "regexp" and pattern:
        first = next(m for m in _TOKEN.finditer(text) if m.group(4) is not None)
        _check_regex(pattern, "the pattern", first.start(4) + 1, pattern, case_sensitive)

    return Query(
        type=qtype,
        pattern=pattern,
        pattern_type=pattern_type,
        case_sensitive=case_sensitive,
        repo_include=tuple(v for v, _, _ in values["repo"]),
        repo_exclude=tuple(v for v, _, _ in excluded_repos),
        author=tuple(v for v, _, _ in values["author"]),
        message=tuple(v for v, _, _ in values["message"]),
        source=text,
    )
