"""Shared GraphQL pieces: relay ids, EmptyResponse, PageInfo, the Node interface, `run`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import strawberry
from asgiref.sync import sync_to_async
from django.db.models import Model
from strawberry.relay import from_base64, to_base64

from sitemail.accounts.users import UserError
from sitemail.paging import Page

T = TypeVar("T")


def node_id(kind: str, pk: int | str) -> strawberry.ID:
    return strawberry.ID(to_base64(kind, pk))


def split_id(value: str) -> tuple[str, str]:
    """(kind, key) of a relay id; UserError when it is not one."""
    try:
        kind, key = from_base64(value)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise UserError(f"invalid ID {value!r}") from exc
    return kind, key


def decode_id(kind: str, value: str) -> int:
    """The primary key in a relay id of `kind`; UserError for anything else."""
    try:
        got, pk = from_base64(value)
        if got != kind:
            raise ValueError(got)
        return int(pk)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise UserError(f"invalid {kind} ID {value!r}") from exc


async def run(fn: Callable[[], T]) -> T:
    # Services are sync (ORM, transactions); resolvers only parse input and shape output.
    return await sync_to_async(fn)()


def prefetched(model: object, relation: str) -> bool:
    """Whether a page already loaded `relation` for this row, so reading it queries nothing.

    Resolvers then answer at once instead of hopping to a thread per row: on a page of
    10,000 users that hop, not the database, is what costs.
    """
    return relation in getattr(model, "_prefetched_objects_cache", {})


async def run_unless(loaded: bool, fn: Callable[[], T]) -> T:
    """fn() directly when its data is already loaded, else in the ORM's thread."""
    return fn() if loaded else await run(fn)


@strawberry.type
class EmptyResponse:
    always_nil: str | None = None


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None

    @classmethod
    def of(cls, page: Page[Any]) -> PageInfo:
        return cls(has_next_page=page.has_next, end_cursor=page.end_cursor)


C = TypeVar("C")
M = TypeVar("M", bound=Model)


def connection(make: Callable[..., C], page: Page[M], shape: Callable[[M], Any]) -> C:
    """A relay connection (nodes, totalCount, pageInfo) of one page, each row shaped by `shape`."""
    return make(
        nodes=[shape(r) for r in page.rows], total_count=page.total, page_info=PageInfo.of(page)
    )


@strawberry.interface(description="An object with an ID.")
class Node:
    id: strawberry.ID
