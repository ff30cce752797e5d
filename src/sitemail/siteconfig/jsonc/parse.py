"""JSONC (JSON with comments and trailing commas): parse a text into its plain value and a
json-five model that knows where each value was written; read paths.

Editing (edit.py) splices new JSON into the text at the positions this model reports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
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
            child = child_of(node, elem)
            if child is None:
                return None
            node = child
        return node

    def raw(self, path: Path) -> str | None:
        """The source text of the value at `path`, exactly as written."""
        node = self.node(path)
        if node is None:
            return None
        start, end = span(node)
        return self.text[start:end]

    def duplicate_keys(self) -> list[tuple[PathElem, ...]]:
        """Paths of keys written more than once in the same object (only the last one counts)."""
        found: list[tuple[PathElem, ...]] = []
        for path, node in _walk(self.model.value, ()):
            if isinstance(node, JSONObject):
                seen: set[str] = set()
                for key in node.keys:
                    name = key_name(key)
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
            start, end = span(node)
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


def key_name(key: Node) -> str:
    if isinstance(key, String):
        return key.characters
    if isinstance(key, Identifier):
        return key.name
    raise TypeError(f"unexpected key node {key!r}")


def child_of(node: Value, elem: PathElem) -> Value | None:
    if isinstance(elem, int):
        if isinstance(node, JSONArray) and -len(node.values) <= elem < len(node.values):
            return node.values[elem]
        return None
    if isinstance(node, JSONObject):
        for key, value in reversed(node.key_value_pairs):
            if key_name(key) == elem:
                return value
    return None


def can_descend(node: Value, elem: PathElem) -> bool:
    return isinstance(node, JSONArray) if isinstance(elem, int) else isinstance(node, JSONObject)


def _walk(node: Value, path: tuple[PathElem, ...]) -> Iterator[tuple[tuple[PathElem, ...], Value]]:
    yield path, node
    if isinstance(node, JSONObject):
        for key, value in node.key_value_pairs:
            yield from _walk(value, (*path, key_name(key)))
    elif isinstance(node, JSONArray):
        for i, value in enumerate(node.values):
            yield from _walk(value, (*path, i))


def span(node: Node) -> tuple[int, int]:
    start_tok = node._tok
    end_tok = node._end_tok or start_tok
    if start_tok is None or end_tok is None:
        raise ValueError(f"no source position for {node!r}")
    return start_tok.index, end_tok.end
