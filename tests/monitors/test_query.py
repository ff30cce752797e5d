"""The query language: each filter parsed, and malformed queries rejected at the bad token."""

from __future__ import annotations

import pytest

from sitemail.monitors.query import QueryError, parse


def test_filters_and_pattern() -> None:
    q = parse('type:diff repo:^acme/ -repo:legacy author:alice message:"fix bug" case:yes TODO now')
    assert q.type == "diff"
    assert q.pattern == "TODO now" and q.pattern_type == "literal" and q.case_sensitive
    assert q.repo_include == ("^acme/",) and q.repo_exclude == ("legacy",)
    assert q.author == ("alice",) and q.message == ("fix bug",)
    assert q.repo_matches("acme/api") and not q.repo_matches("acme/legacy-api")
    assert not q.repo_matches("other/api")


def test_literal_is_default_and_regexp_opt_in() -> None:
    literal = parse("type:commit a.b")
    assert literal.pattern_regex() is not None
    assert literal.pattern_regex().search("xa.by")  # type: ignore[union-attr]
    assert not literal.pattern_regex().search("axb")  # type: ignore[union-attr]
    assert literal.to_git_ere() == r"a\.b"
    regexp = parse("type:commit patternType:regexp a.b")
    assert regexp.pattern_regex().search("axb")  # type: ignore[union-attr]
    assert regexp.to_git_ere() == "a.b"
    # Python-only syntax is never handed to git's POSIX regex.
    assert parse(r"type:diff patternType:regexp \d+").to_git_ere() is None


def test_quoted_pattern_keeps_colons() -> None:
    assert parse('type:commit "fix: crash"').pattern == "fix: crash"


@pytest.mark.parametrize(
    ("query", "column", "token", "reason"),
    [
        ("TODO", 1, "TODO", "needs type:commit or type:diff"),
        ("type:file TODO", 1, "type:file", "type: must be commit or diff"),
        ("type:diff lang:go TODO", 11, "lang:go", "unknown filter 'lang'"),
        ("type:diff repo:( TODO", 11, "repo:(", "repo: value is not a valid regular expression"),
        ("type:diff patternType:regexp (a", 30, "(a", "the pattern is not a valid regular"),
        ("type:diff case:maybe x", 11, "case:maybe", "case: must be yes or no"),
        ("type:diff patternType:fuzzy x", 11, "patternType:fuzzy", "literal or regexp"),
        ("type:commit message:x y", 13, "message:x", "message: filters diffs"),
        ("type:diff -author:bob x", 11, "-author:bob", "cannot be negated"),
        ('type:diff author:"bob x', 11, 'author:"bob x', "unterminated quoted value"),
        ("type:diff type:commit x", 11, "type:commit", "may appear only once"),
        ("type:diff author: x", 11, "author:", "needs a value"),
    ],
)
def test_malformed_queries_point_at_the_bad_token(
    query: str, column: int, token: str, reason: str
) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    assert reason in info.value.reason
    assert (info.value.column, info.value.token) == (column, token)
    assert f"at column {column}" in str(info.value)
