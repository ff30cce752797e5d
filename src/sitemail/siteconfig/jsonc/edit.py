"""Edit a JSONC text in place: new JSON is spliced in at the positions parse.py's model
reports, so every byte outside the edited value (comments, trailing commas, blank lines, key
order, indentation) is kept."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from json5.model import JSONObject, Node, Value

from sitemail.siteconfig.jsonc.parse import (
    Document,
    Path,
    PathElem,
    can_descend,
    child_of,
    format_path,
    key_name,
    span,
)

# Blanks and at most one comment up to the end of the line: an insertion point after a member.
_REST_OF_LINE = re.compile(r"[ \t]*(?://[^\r\n]*|/\*[^\r\n]*?\*/[ \t]*)?(?=\r?\n)")


def dumps(value: Any, indent: str = "", unit: str = "  ") -> str:
    """JSON for `value`, pretty-printed so that it sits at `indent` in the surrounding text."""
    _check_finite(value)
    if isinstance(value, dict | list) and value:
        text = _json(value, unit)
        return text.replace("\n", "\n" + indent)
    return _json(value)


def set_path(text: str, path: Path, value: Any, *, comment: str | None = None) -> str:
    """Set `path` to `value`, creating missing objects; everything else in the text is kept.

    `comment` (optional) is written as `// ...` line(s) above the key that was set or created.
    Array indices in `path` must already exist.
    """
    if not path:
        raise ValueError("set_path needs a non-empty path")
    _check_finite(value)
    doc = Document(text)
    node: Value = doc.model.value
    if not isinstance(node, JSONObject):
        raise ValueError("the site configuration must be a JSON object to set a key in it")
    for i, elem in enumerate(path):
        child = child_of(node, elem)
        rest = path[i + 1 :]
        if child is None or (rest and not can_descend(child, rest[0])):
            if child is not None:  # e.g. "email.smtp": null, then setting email.smtp.host
                return _replace(doc, child, _nest(rest, value), comment, path[: i + 1])
            if isinstance(elem, int):
                raise ValueError(f"{format_path(path[: i + 1])}: no such array element")
            assert isinstance(node, JSONObject)  # can_descend checked the container type
            return _insert(doc, node, elem, _nest(rest, value), comment)
        if not rest:
            return _replace(doc, child, value, comment, path)
        node = child
    raise AssertionError("unreachable")


def replace_raw(text: str, raws: Mapping[tuple[PathElem, ...], str]) -> str:
    """Replace the values at existing paths with raw JSON source text, in one parse (missing
    paths are skipped)."""
    return replace_raw_in(Document(text), raws)


def replace_raw_in(doc: Document, raws: Mapping[tuple[PathElem, ...], str]) -> str:
    """`replace_raw` for a document already parsed."""
    edits: list[tuple[int, int, str]] = []
    for path, raw in raws.items():
        node = doc.node(path)
        if node is not None:
            start, end = span(node)
            edits.append((start, end, raw))
    return _apply(doc.text, edits)


# --- editing -------------------------------------------------------------------------------


def _json(value: Any, indent: str | None = None) -> str:
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # unpaired surrogates: only \u escapes can carry them
        text = json.dumps(value, indent=indent)
    return text


def _check_finite(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} cannot be written as JSON")
    if isinstance(value, dict):
        for item in value.values():
            _check_finite(item)
    elif isinstance(value, list):
        for item in value:
            _check_finite(item)


def _nest(rest: Path, value: Any) -> Any:
    for elem in reversed(rest):
        if isinstance(elem, int):
            raise ValueError("cannot create an array element; set the whole array instead")
        value = {elem: value}
    return value


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _line_indent(text: str, pos: int) -> str:
    start = _line_start(text, pos)
    line = text[start:pos]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _starts_line(text: str, pos: int) -> bool:
    return not text[_line_start(text, pos) : pos].strip()


def _indent_unit(doc: Document) -> str:
    root = doc.model.value
    if isinstance(root, JSONObject) and root.keys:
        start, _ = span(root.keys[0])
        if _starts_line(doc.text, start):
            indent = _line_indent(doc.text, start)
            if indent:
                return indent
    return "  "


def _comment_lines(comment: str | None, indent: str) -> str:
    if not comment:
        return ""
    return "".join(f"{indent}// {line}".rstrip() + "\n" for line in comment.splitlines())


def _one_line(text: str, node: Node) -> bool:
    start, end = span(node)
    return "\n" not in text[start:end]


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(edits, key=lambda e: e[0], reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _replace(doc: Document, node: Value, value: Any, comment: str | None, path: Path) -> str:
    text = doc.text
    start, end = span(node)
    indent = _line_indent(text, start)
    parent = doc.node(path[:-1])
    if parent is not None and _one_line(doc.text, parent):
        new = _json(value)  # keep a one-line object on one line
    else:
        new = dumps(value, indent, _indent_unit(doc))
    edits = [(start, end, new)]
    if comment:
        key_start = _key_start(doc, path)
        if key_start is not None and _starts_line(text, key_start):
            line_start = _line_start(text, key_start)
            lines = _comment_lines(comment, _line_indent(text, key_start))
            if not text[:line_start].endswith(lines):  # the same note is already there
                edits.append((line_start, line_start, lines))
    return _apply(text, edits)


def _key_start(doc: Document, path: Path) -> int | None:
    parent = doc.node(path[:-1])
    if not isinstance(parent, JSONObject) or isinstance(path[-1], int):
        return None
    for key in reversed(parent.keys):
        if key_name(key) == path[-1]:
            return span(key)[0]
    return None


def _end_of_line(text: str, pos: int) -> int | None:
    """Where the line at `pos` ends, if only blanks and a comment follow on it; else None."""
    match = _REST_OF_LINE.match(text, pos)
    return match.end() if match else None


def _insert(doc: Document, obj: JSONObject, key: str, value: Any, comment: str | None) -> str:
    text = doc.text
    unit = _indent_unit(doc)
    open_pos, close_end = span(obj)
    close_pos = close_end - 1
    multiline = "\n" in text[open_pos:close_pos]
    is_root = obj is doc.model.value

    if obj.keys:
        last_key_start, _ = span(obj.keys[-1])
        _, last_value_end = span(obj.values[-1])
        trailing = obj.trailing_comma
        after = span(trailing)[1] if trailing is not None else last_value_end
        if multiline:
            indent = _line_indent(text, last_key_start)
            pair = f"{_json(key)}: {dumps(value, indent, unit)}"
            new = "\n" + _comment_lines(comment, indent) + indent + pair
            if trailing is not None:
                new += ","
            eol = _end_of_line(text, after)
            edits = [(eol if eol is not None else after, eol if eol is not None else after, new)]
            if trailing is None:
                edits.append((last_value_end, last_value_end, ","))
            return _apply(text, edits)
        pair = f"{_json(key)}: {_json(value)}"
        if trailing is not None:
            return _apply(text, [(after, after, f" {pair},")])
        return _apply(text, [(last_value_end, last_value_end, f", {pair}")])

    outer = _line_indent(text, open_pos)
    indent = outer + unit
    pair = f"{_json(key)}: {dumps(value, indent, unit)}"
    if multiline and _starts_line(text, close_pos):
        line_start = _line_start(text, close_pos)
        return _apply(
            text, [(line_start, line_start, _comment_lines(comment, indent) + indent + pair + "\n")]
        )
    if multiline or is_root or comment:
        new = "\n" + _comment_lines(comment, indent) + indent + pair + "\n" + outer
        return _apply(text, [(close_pos, close_pos, new)])
    return _apply(text, [(close_pos, close_pos, pair)])
