"""Keyset pages over a queryset: `first` rows after an opaque cursor, plus the total count.

One page costs two queries (rows and count) whatever its size; the cursor is the last row's
primary key, so a page never rescans the rows before it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db import models

M = TypeVar("M", bound=models.Model)

MAX_FIRST = 10_000
_PREFIX = "cursor:"


class PagingError(ValueError):
    """Bad `first` or `after`; the message names the argument and the fix."""


@dataclass(frozen=True)
class Page(Generic[M]):
    rows: list[M]
    total: int
    has_next: bool

    @property
    def end_cursor(self) -> str | None:
        return encode_cursor(self.rows[-1].pk) if self.rows else None


def encode_cursor(pk: int) -> str:
    return base64.b64encode(f"{_PREFIX}{pk}".encode()).decode()


def decode_cursor(value: str) -> int:
    try:
        text = base64.b64decode(value.encode(), validate=True).decode()
        if not text.startswith(_PREFIX):
            raise ValueError(text)
        return int(text.removeprefix(_PREFIX))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise PagingError(
            f"after: {value!r} is not a cursor; pass pageInfo.endCursor of the previous page"
        ) from exc


def check_first(first: int | None, default: int) -> int:
    n = default if first is None else first
    if not 0 <= n <= MAX_FIRST:
        raise PagingError(f"first: must be between 0 and {MAX_FIRST} (got {n})")
    return n


def page(
    rows: models.QuerySet[M],
    first: int | None,
    after: str | None,
    *,
    default: int = 50,
    newest_first: bool = False,
) -> Page[M]:
    """`first` rows of `rows` ordered by primary key, starting after the `after` cursor."""
    n = check_first(first, default)
    total = rows.count()
    ordered = rows.order_by("-pk" if newest_first else "pk")
    if after is not None:
        pk = decode_cursor(after)
        ordered = ordered.filter(pk__lt=pk) if newest_first else ordered.filter(pk__gt=pk)
    got = list(ordered[: n + 1]) if n else []
    return Page(rows=got[:n], total=total, has_next=len(got) > n)


T = TypeVar("T", bound=models.Model)


def in_memory(
    rows: list[T], first: int | None, after: str | None, *, newest_first: bool = True
) -> Page[T]:
    """A page of rows already loaded (a prefetch), in the order given, cursor by primary key."""
    n = check_first(first, 50)
    if after is not None:
        pk = decode_cursor(after)
        rows = [r for r in rows if (r.pk < pk if newest_first else r.pk > pk)]
    return Page(rows=rows[:n], total=len(rows), has_next=len(rows) > n)
