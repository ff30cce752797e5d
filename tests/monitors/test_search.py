"""Searching commit ranges of a real repository: each filter, literal and regexp, case."""

from __future__ import annotations

from typing import Any

import pytest

from sitemail.monitors.query import parse
from sitemail.monitors.search import Range, count, search
from tests.monitors.conftest import GitRepo


@pytest.fixture
def repo(make_repo: Any) -> tuple[GitRepo, str]:
    r: GitRepo = make_repo("acme-api")
    base = r.git("rev-parse", "HEAD").strip()
    r.commit(
        "Add parser\n\nFixes #12", {"parser.py": "def parse():\n    # TODO: errors\n    pass\n"}
    )
    r.commit(
        "Remove the todo", {"parser.py": "def parse():\n    pass\n"}, author="Bob <bob@example.com>"
    )
    r.commit("Add VERSION 1234", {"VERSION": "1234\n", "notes.txt": "todo later\n"})
    return r, base


def _find(r: GitRepo, base: str, query: str) -> list[dict[str, Any]]:
    head = r.git("rev-parse", "HEAD").strip()
    rng = Range(include=(head,), exclude=(base,))
    return [x.to_json() for x in search(r.path / ".git", "acme-api", parse(query), rng)]


def test_diff_matches_added_and_removed_lines_case_insensitively(repo: Any) -> None:
    r, base = repo
    results = _find(r, base, "type:diff TODO")
    assert [x["subject"] for x in results] == ["Add VERSION 1234", "Remove the todo", "Add parser"]
    by_subject = {x["subject"]: x for x in results}
    assert by_subject["Add parser"]["lines"] == [
        {"path": "parser.py", "line": "+    # TODO: errors"}
    ]
    assert by_subject["Remove the todo"]["lines"] == [
        {"path": "parser.py", "line": "-    # TODO: errors"}
    ]
    assert by_subject["Add VERSION 1234"]["lines"] == [{"path": "notes.txt", "line": "+todo later"}]


def test_case_yes(repo: Any) -> None:
    r, base = repo
    results = _find(r, base, "type:diff case:yes TODO")
    assert [x["subject"] for x in results] == ["Remove the todo", "Add parser"]


def test_commit_type_matches_messages_not_diffs(repo: Any) -> None:
    r, base = repo
    assert [x["subject"] for x in _find(r, base, "type:commit todo")] == ["Remove the todo"]
    # The whole message is searched, not only the subject line.
    assert [x["subject"] for x in _find(r, base, "type:commit #12")] == ["Add parser"]
    assert _find(r, base, "type:commit errors") == []


def test_author_and_message_filters(repo: Any) -> None:
    r, base = repo
    assert [x["author"] for x in _find(r, base, "type:diff author:bob todo")] == ["Bob"]
    assert [x["subject"] for x in _find(r, base, "type:diff author:alice@ todo")] == [
        "Add VERSION 1234",
        "Add parser",
    ]
    assert [x["subject"] for x in _find(r, base, "type:diff message:fixes todo")] == ["Add parser"]


def test_regexp_patterns_git_compatible_and_python_only(repo: Any) -> None:
    r, base = repo
    # Handed to git -G as an ERE.
    assert [x["subject"] for x in _find(r, base, "type:diff patternType:regexp ^[0-9]+$")] == [
        "Add VERSION 1234"
    ]
    # \d has no POSIX equivalent: Python reads every patch instead, with the same answer.
    python_only = _find(r, base, r"type:diff patternType:regexp ^\d{4}$")
    assert [x["lines"] for x in python_only] == [[{"path": "VERSION", "line": "+1234"}]]
    assert [x["subject"] for x in _find(r, base, r"type:commit patternType:regexp \d{4}")] == [
        "Add VERSION 1234"
    ]
    # A literal pattern is not a regexp: the dot and the plus are literal.
    assert _find(r, base, "type:diff 12.4") == []


def test_empty_pattern_matches_every_commit_and_count(repo: Any) -> None:
    r, base = repo
    head = r.git("rev-parse", "HEAD").strip()
    assert len(_find(r, base, "type:commit author:alice")) == 2
    assert count(r.path / ".git", Range(include=(head,), exclude=(base,))) == 3
