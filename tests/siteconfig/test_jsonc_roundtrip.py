"""jsonc.edit keeps what an admin wrote: for any document with comments and trailing commas,
any set_path gives the value it should and keeps every comment and trailing comma outside the
value it replaced."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json5.model import JSONObject

from sitemail.siteconfig import jsonc

Key = tuple[str, ...]
_KEYS = ["a", "b", "email.smtp", "port"]
_scalars = st.one_of(st.integers(-5, 5000), st.booleans(), st.none(), st.sampled_from(["x", "é"]))


@st.composite
def objects(draw: st.DrawFn, at: Key = ()) -> tuple[dict[str, Any], str]:
    """A value and a JSONC text for it: one member per line, comments above and after members
    (each naming its member's path), a trailing comma or not."""
    keys = draw(st.lists(st.sampled_from(_KEYS), unique=True, max_size=3))
    value: dict[str, Any] = {}
    indent = "  " * (len(at) + 1)
    lines: list[str] = []
    for i, key in enumerate(keys):
        path = (*at, key)
        item: Any
        if len(at) < 2 and draw(st.booleans()):
            item, text = draw(objects(path))
        else:
            item = draw(_scalars)
            text = jsonc.dumps(item)
        value[key] = item
        name = "/".join(path)
        if draw(st.booleans()):
            lines.append(f"{indent}// above {name}")
        last = i == len(keys) - 1
        comma = "," if not last or draw(st.booleans()) else ""
        after = f" // after {name}" if draw(st.booleans()) else ""
        lines.append(f'{indent}"{key}": {text}{comma}{after}')
    if not lines:
        return value, "{}"
    return value, "{\n" + "\n".join(lines) + "\n" + "  " * len(at) + "}"


def _expected(value: dict[str, Any], path: Key, new: Any) -> dict[str, Any]:
    out = dict(value)
    head, rest = path[0], path[1:]
    if rest:
        inner = out.get(head)
        out[head] = _expected(inner if isinstance(inner, dict) else {}, rest, new)
    else:
        out[head] = new
    return out


def _replaced(value: dict[str, Any], path: Key) -> Key | None:
    """The path whose value set_path overwrites (None: it inserts a new key)."""
    node: Any = value
    for i, key in enumerate(path):
        if key not in node:
            return None
        node = node[key]
        if i < len(path) - 1 and not isinstance(node, dict):
            return path[: i + 1]
    return path


def _objects(value: dict[str, Any], at: Key = ()) -> list[Key]:
    found = [at]
    for key, item in value.items():
        if isinstance(item, dict):
            found += _objects(item, (*at, key))
    return found


def _inside(path: Key, outer: Key | None) -> bool:
    return outer is not None and len(path) > len(outer) and path[: len(outer)] == outer


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(objects(), st.lists(st.sampled_from(_KEYS), min_size=1, max_size=3), _scalars)
def test_any_edit_keeps_comments_and_trailing_commas(
    doc: tuple[dict[str, Any], str], keys: list[str], new: Any
) -> None:
    value, text = doc
    path = tuple(keys)
    assert jsonc.parse(text) == value  # the generator wrote what it meant
    edited = jsonc.set_path(text, path, new)
    assert jsonc.parse(edited) == _expected(value, path, new)
    gone = _replaced(value, path)
    for comment, name in re.findall(r"(// (?:above|after) (\S+))", text):
        if not _inside(tuple(name.split("/")), gone):
            whole = re.compile(re.escape(comment) + r"(?=\n|$)")
            assert len(whole.findall(edited)) == len(whole.findall(text)), (text, edited)
    before, after = jsonc.Document(text), jsonc.Document(edited)
    for at in _objects(value):
        if at == gone or _inside(at, gone):
            continue
        old, now = before.node(at), after.node(at)
        assert isinstance(old, JSONObject) and isinstance(now, JSONObject)
        assert (old.trailing_comma is None) == (now.trailing_comma is None), (text, edited)
