"""JSONC (JSON with comments and trailing commas): parse, read paths, and edit text in place.

Edits splice new JSON into the original text at the positions json-five's model reports, so
every byte outside the edited value (comments, blank lines, key order, indentation) is kept.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from json5 import JSON5DecodeError
from json5.loader import DefaultLoader
from json5.model import (
    Identifier,
    JSONArray,
    JSONObject,
    JSONText,
    Node,
    String,
    Value,
    walk,
)
from json5.parser import JSONParser
from json5.tokenizer import JSON5Token, tokenize

PathElem = str | int
Path = Sequence[PathElem]

# json-five token names in its "Was expecting ..." messages, as an admin would write them.
_TOKEN_NAMES = {
    "COMMA": '","',
    "COLON": '":"',
    "LBRACE": '"{"',
    "RBRACE": '"}"',
    "LBRACKET": '"["',
    "RBRACKET": '"]"',
    "value": "a value",
    "name": "a key",
    "DOUBLE_QUOTE_STRING": "a string",
    "SINGLE_QUOTE_STRING": "a string",
}
_EXPECTING = re.compile(r"Was expecting ((?:\S+)(?: or \S+)*)")
# In a string body: any character but a line break, or a backslash not continuing the line.
_STRING_BODY_CHAR = re.compile(r"[^\\\r\n\u2028\u2029]|\\(?![\r\n\u2028\u2029])")
# An escape sequence (group 1), or a line break that is not escaped (group 1 is None).
_STRING_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|\r\n|[\s\S])|[\r\n]")
_ESCAPES = {
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "0": "\0",
    "\r\n": "",  # line continuations
    "\n": "",
    "\r": "",
    "\u2028": "",
    "\u2029": "",
}
# Blanks and at most one comment up to the end of the line: an insertion point after a member.
_REST_OF_LINE = re.compile(r"[ \t]*(?://[^\r\n]*|/\*[^\r\n]*?\*/[ \t]*)?(?=\r?\n)")


class JSONCError(ValueError):
    """The text is not valid JSONC; `line` and `column` are 1-based (0 when unknown)."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        self.message = message
        self.line = line
        self.column = column
        where = f"line {line}, column {column}: " if line else ""
        super().__init__(f"{where}{message}")


def format_path(path: Path) -> str:
    """`email.smtp.additionalHeaders[0].value`: keys joined with dots, indices in brackets."""
    out = ""
    for elem in path:
        if isinstance(elem, int):
            out += f"[{elem}]"
        else:
            out += f".{elem}" if out else elem
    return out


class Document:
    """One parsed JSONC text: the plain Python value plus the json-five model for positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.model = _parse_model(text)
        try:
            self.value: Any = DefaultLoader(parse_json5_identifiers=str).load(self.model)
        except RecursionError as exc:
            raise JSONCError("the document is nested too deeply") from exc

    def node(self, path: Path) -> Value | None:
        """The model node at `path`, or None; of duplicate keys the last one wins (as in parse)."""
        node: Value = self.model.value
        for elem in path:
            child = _child(node, elem)
            if child is None:
                return None
            node = child
        return node

    def raw(self, path: Path) -> str | None:
        """The source text of the value at `path`, exactly as written."""
        node = self.node(path)
        if node is None:
            return None
        start, end = _span(node)
        return self.text[start:end]

    def replace_raw(self, raws: Mapping[tuple[PathElem, ...], str]) -> str:
        """The text with the values at existing paths replaced by raw JSON (missing: skipped)."""
        edits: list[tuple[int, int, str]] = []
        for path, raw in raws.items():
            node = self.node(path)
            if node is not None:
                start, end = _span(node)
                edits.append((start, end, raw))
        return _apply(self.text, edits)

    def duplicate_keys(self) -> list[tuple[PathElem, ...]]:
        """Paths of keys written more than once in the same object (only the last one counts)."""
        found: list[tuple[PathElem, ...]] = []
        for path, node in _walk(self.model.value, ()):
            if isinstance(node, JSONObject):
                seen: set[str] = set()
                for key in node.keys:
                    name = _key_name(key)
                    if name in seen:
                        found.append((*path, name))
                    seen.add(name)
        return found


def parse(text: str) -> Any:
    """The plain Python value of a JSONC text; raises JSONCError with line and column."""
    return Document(text).value


def get(value: Any, path: Path, default: Any = None) -> Any:
    """The item at `path` inside a parsed value, or `default` when any step is missing."""
    for elem in path:
        if isinstance(elem, int):
            if not isinstance(value, list) or not -len(value) <= elem < len(value):
                return default
            value = value[elem]
        else:
            if not isinstance(value, dict) or elem not in value:
                return default
            value = value[elem]
    return value


def get_path(text: str, path: Path, default: Any = None) -> Any:
    """The value at `path` in a JSONC text."""
    return get(parse(text), path, default)


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
        child = _child(node, elem)
        rest = path[i + 1 :]
        if child is None or (rest and not _can_descend(child, rest[0])):
            if child is not None:  # e.g. "email.smtp": null, then setting email.smtp.host
                return _replace(doc, child, _nest(rest, value), comment, path[: i + 1])
            if isinstance(elem, int):
                raise ValueError(f"{format_path(path[: i + 1])}: no such array element")
            assert isinstance(node, JSONObject)  # _can_descend checked the container type
            return _insert(doc, node, elem, _nest(rest, value), comment)
        if not rest:
            return _replace(doc, child, value, comment, path)
        node = child
    raise AssertionError("unreachable")


def set_paths(text: str, values: Mapping[tuple[PathElem, ...], Any]) -> str:
    """`set_path` for several paths, in order."""
    for path, value in values.items():
        text = set_path(text, path, value)
    return text


def replace_raw(text: str, raws: Mapping[tuple[PathElem, ...], str]) -> str:
    """Replace the values at existing paths with raw JSON source text, in one parse."""
    return Document(text).replace_raw(raws)


def replace_values(text: str, values: Mapping[tuple[PathElem, ...], Any]) -> str:
    """Replace the values at existing paths with new values (missing paths are skipped)."""
    return replace_raw(text, {path: dumps(value) for path, value in values.items()})


# --- parsing -------------------------------------------------------------------------------


def _parse_model(text: str) -> JSONText:
    parser = JSONParser()
    try:
        model: JSONText = parser.parse(_opaque_strings(tokenize(text)))
    except JSON5DecodeError as exc:
        first = parser.errors[0] if parser.errors else exc
        raise _decode_error(first, text) from None
    except RecursionError as exc:
        raise JSONCError("the document is nested too deeply") from exc
    for node in walk(model):
        if isinstance(node, String):
            start, end = _span(node)
            node.raw_value = text[start:end]
            node.characters = _decode_string(text, start, end)
    return model


def _opaque_strings(tokens: Iterable[JSON5Token]) -> Iterator[JSON5Token]:
    """Hide string contents from json-five, keeping every length and line break.

    json-five 1.1.2 unescapes in several regex passes, so `"\\\\u0041"` (a backslash, then
    "u0041") comes back as "A" and `"\\\\x"` fails to parse; strings are decoded by
    _decode_string from the original text instead.
    """
    for token in tokens:
        if token.type in ("DOUBLE_QUOTE_STRING", "SINGLE_QUOTE_STRING"):
            value = token.value
            token.value = value[0] + _STRING_BODY_CHAR.sub("x", value[1:-1]) + value[-1]
        yield token


def _decode_string(text: str, start: int, end: int) -> str:
    raw = text[start:end]
    if raw[0] == '"':
        try:
            decoded: str = json.loads(raw)  # the common case, and exactly JSON's rules
            return decoded
        except ValueError:
            pass  # JSON5 escapes (\x41, \', line continuations): below

    def unescape(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape is None:
            raise _error_at(
                text, start + 1 + match.start(), "a line break inside a string; write it as \\n"
            )
        if escape in ("x", "u"):
            raise _error_at(
                text,
                start + 1 + match.start(),
                f"\\{escape} needs {'two' if escape == 'x' else 'four'} hexadecimal digits",
            )
        if len(escape) > 1 and escape[0] in "xu":
            return chr(int(escape[1:], 16))
        return _ESCAPES.get(escape, escape)

    value = _STRING_ESCAPE.sub(unescape, raw[1:-1])
    try:  # a \uD83D\uDE00 pair is one character
        return value.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        return value


def _error_at(text: str, pos: int, message: str) -> JSONCError:
    line = text.count("\n", 0, pos) + 1
    return JSONCError(f"invalid JSONC: {message}", line, pos - text.rfind("\n", 0, pos))


def _decode_error(exc: JSON5DecodeError, text: str) -> JSONCError:
    msg = getattr(exc, "msg", None) or str(exc)
    token: JSON5Token | None = getattr(exc, "token", None)
    if token is not None and token.index is not None:
        line, column = token.lineno, token.colno + 1
        source = text[token.index : token.end]
        near = f" near {source!r}" if source else ""
    else:  # an unexpected end of text: point at the end
        line = text.count("\n") + 1
        column = len(text) - text.rfind("\n")
        near = ""
    match = _EXPECTING.search(msg)
    wanted = ""
    if match:
        wanted = " or ".join(_TOKEN_NAMES.get(t, t) for t in match.group(1).split(" or "))
    msg = msg.split(" in or near token")[0].split(" at: line")[0].split(" (line ")[0]
    hint = (
        "; check for a missing comma, quote or bracket there "
        "(comments and trailing commas are fine)"
    )
    if "unexpected eof" in msg.lower():
        if not text.strip():
            return JSONCError("the document is empty; it must be a JSON object: { ... }", 1, 1)
        msg = "unexpected end of text" + (f", expected {wanted}" if wanted else "")
    elif wanted:
        msg = f"expected {wanted}{near}"
    elif msg.startswith("Syntax Error: "):
        msg = msg.removeprefix("Syntax Error: ") + near
    elif msg.startswith("Syntax Error"):
        msg = f"unexpected text{near}"
    else:
        msg = f"{msg[0].lower()}{msg[1:]}{near}"
    return JSONCError(f"invalid JSONC: {msg}{hint}", line, column)


# --- model navigation ----------------------------------------------------------------------


def _key_name(key: Node) -> str:
    if isinstance(key, String):
        return key.characters
    if isinstance(key, Identifier):
        return key.name
    raise TypeError(f"unexpected key node {key!r}")


def _child(node: Value, elem: PathElem) -> Value | None:
    if isinstance(elem, int):
        if isinstance(node, JSONArray) and -len(node.values) <= elem < len(node.values):
            return node.values[elem]
        return None
    if isinstance(node, JSONObject):
        for key, value in reversed(node.key_value_pairs):
            if _key_name(key) == elem:
                return value
    return None


def _can_descend(node: Value, elem: PathElem) -> bool:
    return isinstance(node, JSONArray) if isinstance(elem, int) else isinstance(node, JSONObject)


def _walk(node: Value, path: tuple[PathElem, ...]) -> Iterator[tuple[tuple[PathElem, ...], Value]]:
    yield path, node
    if isinstance(node, JSONObject):
        for key, value in node.key_value_pairs:
            yield from _walk(value, (*path, _key_name(key)))
    elif isinstance(node, JSONArray):
        for i, value in enumerate(node.values):
            yield from _walk(value, (*path, i))


def _span(node: Node) -> tuple[int, int]:
    start_tok = node._tok
    end_tok = node._end_tok or start_tok
    if start_tok is None or end_tok is None:
        raise ValueError(f"no source position for {node!r}")
    return start_tok.index, end_tok.end


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
        start, _ = _span(root.keys[0])
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
    start, end = _span(node)
    return "\n" not in text[start:end]


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(edits, key=lambda e: e[0], reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _replace(doc: Document, node: Value, value: Any, comment: str | None, path: Path) -> str:
    text = doc.text
    start, end = _span(node)
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
        if _key_name(key) == path[-1]:
            return _span(key)[0]
    return None


def _end_of_line(text: str, pos: int) -> int | None:
    """Where the line at `pos` ends, if only blanks and a comment follow on it; else None."""
    match = _REST_OF_LINE.match(text, pos)
    return match.end() if match else None


def _insert(doc: Document, obj: JSONObject, key: str, value: Any, comment: str | None) -> str:
    text = doc.text
    unit = _indent_unit(doc)
    open_pos, close_end = _span(obj)
    close_pos = close_end - 1
    multiline = "\n" in text[open_pos:close_pos]
    is_root = obj is doc.model.value

    if obj.keys:
        last_key_start, _ = _span(obj.keys[-1])
        _, last_value_end = _span(obj.values[-1])
        trailing = obj.trailing_comma
        after = _span(trailing)[1] if trailing is not None else last_value_end
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
