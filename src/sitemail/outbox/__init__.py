"""Durable delivery: the outbox table, enqueue, the worker and the email log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sitemail.outbox.service import enqueue, enqueue_many

__all__ = ["enqueue", "enqueue_many"]


def __getattr__(name: str) -> Any:
    # Lazy: this package is imported while Django loads apps, before models may be imported.
    if name in __all__:
        from sitemail.outbox import service

        return getattr(service, name)
    raise AttributeError(name)
