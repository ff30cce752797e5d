"""What one GraphQL request may cost (audit findings 6 and 11): the request body, the document's
depth, aliases and tokens, and the time it runs. Each refusal is a 400 or a GraphQL error that
says which limit, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cross_web import HTTPException  # what strawberry's views turn into an HTTP status
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.extensions.query_depth_limiter import IgnoreContext

MAX_BODY_BYTES = 1 << 20
MAX_JSON_DEPTH = 32  # of the request body (variables included)
MAX_DEPTH = 10  # fields nested in a document (introspection not counted)
MAX_ALIASES = 100
MAX_TOKENS = 10_000
TIME_LIMIT = 30.0  # seconds per request; settings.SITEMAIL_GRAPHQL_TIME_LIMIT overrides

EXPECTED = 'expected a JSON object such as {"query": "...", "variables": {...}}'


def _too_deep(value: Any, limit: int) -> bool:
    """Whether `value` nests containers deeper than `limit` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def decode_body(data: str | bytes) -> object:
    """The request body as a JSON object, or HTTPException(400/413) saying what is wrong."""
    if len(data) > MAX_BODY_BYTES:
        raise HTTPException(413, f"request body: larger than {MAX_BODY_BYTES} bytes")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise HTTPException(400, f"request body: not valid UTF-8 (at byte {exc.start})") from exc
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise HTTPException(400, f"request body: nested too deeply; {EXPECTED}") from exc
    except json.JSONDecodeError as exc:
        raise HTTPException(400, f"request body: not valid JSON ({exc.msg}); {EXPECTED}") from exc
    if not isinstance(value, dict):
        raise HTTPException(400, f"request body: {EXPECTED}")
    if _too_deep(value, MAX_JSON_DEPTH):
        raise HTTPException(
            400, f"request body: JSON nested more than {MAX_JSON_DEPTH} levels (variables too)"
        )
    return value


def _introspection(context: IgnoreContext) -> bool:
    return context.field_name.startswith("__")


def extensions() -> list[Callable[[], SchemaExtension]]:
    """The document limits, checked before anything runs."""
    return [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH, should_ignore=_introspection),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    ]


def time_limit() -> float:
    from django.conf import settings

    return float(getattr(settings, "SITEMAIL_GRAPHQL_TIME_LIMIT", TIME_LIMIT))


def timed_out(limit: float) -> bytes:
    message = (
        f"the request ran longer than {limit:g}s and was stopped; ask for fewer fields or "
        "fewer nested connections"
    )
    return json.dumps({"data": None, "errors": [{"message": message}]}).encode()
