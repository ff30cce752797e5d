"""The event loop for processes that send mail: uvloop when installed, else asyncio's.

Sending spends most of its CPU in the event loop itself (socket writes, reads, callbacks);
uvloop does that work in C. SITEMAIL_EVENT_LOOP=asyncio keeps the standard loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's new_event_loop, or None for asyncio's default."""
    if os.environ.get("SITEMAIL_EVENT_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(main) on the loop chosen by loop_factory()."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
