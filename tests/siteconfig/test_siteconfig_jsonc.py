"""JSONC parsing and in-place edits: comments, trailing commas and layout survive."""

from __future__ import annotations

import json

import pytest

from sitemail.siteconfig import jsonc

COMMENTED = """\
// Header comment: kept.
{
  /* block comment */
  "externalURL": "https://sg.example.com", // trailing comment
  "email.smtp": {
    "host": "smtp.example.com",
    "port": 587, // STARTTLS
  },

  // A commented-out example, kept too:
  // "email.address": "x@example.com",
}
"""


def test_parse_accepts_comments_and_trailing_commas() -> None:
    assert jsonc.parse(COMMENTED) == {
        "externalURL": "https://sg.example.com",
        "email.smtp": {"host": "smtp.example.com", "port": 587},
    }


def test_set_existing_value_changes_only_that_value() -> None:
    edited = jsonc.set_path(COMMENTED, ["email.smtp", "port"], 465)
    assert edited == COMMENTED.replace('"port": 587', '"port": 465')


def test_set_missing_key_in_multiline_object_keeps_comments() -> None:
    edited = jsonc.set_path(COMMENTED, ["email.smtp", "username"], "alice")
    assert jsonc.parse(edited)["email.smtp"] == {
        "host": "smtp.example.com",
        "port": 587,
        "username": "alice",
    }
    # The comment after the old last member stays on its line; the new key gets its own line.
    assert '"port": 587, // STARTTLS\n    "username": "alice",\n  },' in edited
    for line in COMMENTED.splitlines():
        assert line in edited


def test_set_creates_missing_objects_with_comment() -> None:
    edited = jsonc.set_path(
        COMMENTED, ["email.templates", "resetPassword", "subject"], "Hi", comment="why"
    )
    assert jsonc.get(jsonc.parse(edited), ["email.templates", "resetPassword"]) == {"subject": "Hi"}
    assert '  // why\n  "email.templates": {\n    "resetPassword": {' in edited
    assert "// A commented-out example, kept too:" in edited


def test_set_into_object_without_trailing_comma_adds_the_comma() -> None:
    edited = jsonc.set_path('{\n  "a": 1 // note\n}\n', ["b"], True)
    assert edited == '{\n  "a": 1, // note\n  "b": true\n}\n'


def test_set_into_one_line_and_empty_objects() -> None:
    assert jsonc.set_path('{"a": {"x": 1}}', ["a", "y"], 2) == '{"a": {"x": 1, "y": 2}}'
    assert jsonc.set_path('{"a": {}}', ["a", "y"], 2) == '{"a": {"y": 2}}'
    assert jsonc.set_path("{}", ["a"], 1) == '{\n  "a": 1\n}'


def test_set_replaces_a_non_object_on_the_way() -> None:
    assert jsonc.parse(jsonc.set_path('{"a": null}', ["a", "b"], 1)) == {"a": {"b": 1}}


def test_duplicate_keys_last_wins_and_is_edited() -> None:
    text = '{"a": 1, "a": 2}'
    assert jsonc.parse(text) == {"a": 2}
    assert jsonc.set_path(text, ["a"], 3) == '{"a": 1, "a": 3}'
    assert jsonc.Document(text).duplicate_keys() == [("a",)]


def test_replace_raw_keeps_source_text_and_skips_missing_paths() -> None:
    text = '{"s": "\\u00e9", "n": 1}'
    doc = jsonc.Document(text)
    assert doc.raw(["s"]) == '"\\u00e9"'
    assert (
        jsonc.replace_raw(text, {("n",): '"x"', ("missing",): "1"}) == '{"s": "\\u00e9", "n": "x"}'
    )


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ('{\n  "a": 1\n  "b": 2\n}', 3, 3, 'expected "," or "}"'),
        ('{\n  "a": [1, 2,\n}', 3, 1, 'expected "]" or a value'),
        ('{"a": 1', 1, 8, "unexpected end of text"),
        ("", 1, 1, "the document is empty"),
    ],
)
def test_parse_errors_give_line_and_column(
    text: str, line: int, column: int, fragment: str
) -> None:
    with pytest.raises(jsonc.JSONCError) as info:
        jsonc.parse(text)
    assert (info.value.line, info.value.column) == (line, column)
    assert str(info.value).startswith(f"line {line}, column {column}: ")
    assert fragment in str(info.value)


@pytest.mark.parametrize("value", ["\\u0041", "C:\\xampp", 'a\\"b', "\\", "é😀", "tab\there"])
def test_strings_round_trip_exactly(value: str) -> None:
    # json-five alone decodes "\\u0041" as "A" and rejects "\\x"; a password may hold either.
    text = json.dumps({value: value})
    assert jsonc.parse(text) == {value: value}
    assert jsonc.get_path(jsonc.set_path(text, [value], "new"), [value]) == "new"


def test_json5_string_escapes() -> None:
    assert jsonc.parse("{'it\\'s': '\\x41\\\nB', k: \"\\ud83d\\ude00\"}") == {
        "it's": "AB",
        "k": "😀",
    }
    with pytest.raises(jsonc.JSONCError, match=r"line 1, column 9: .*\\x needs two"):
        jsonc.parse('{"a": "x\\x4"}')


def test_format_path() -> None:
    assert jsonc.format_path(["email.smtp", "additionalHeaders", 0, "value"]) == (
        "email.smtp.additionalHeaders[0].value"
    )
