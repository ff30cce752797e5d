"""A server that caps connections per client (421 "too many connections" as the greeting, as
providers do) is not down: the worker sends over the connections it has, and no message gets a
failed attempt for a connection it never had."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.worker import Worker
from sitemail.siteconfig.typed import SiteSettings
from tests.faults.conftest import RunningWorker, copies, enqueue_n, fast_policy, wait_until
from tests.outbox.conftest import static_settings
from tests.smtpserver import ServerFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
def test_a_connection_cap_is_not_an_outage(
    smtp_server: ServerFactory,
    configure_site: Callable[..., SiteSettings],
    caplog: pytest.LogCaptureFixture,
    pipelining: bool,
) -> None:
    server = smtp_server(auth=(), pipelining=pipelining, max_connections=2)
    configure_site(server.site_config())
    enqueue_n(400)
    caplog.set_level(logging.INFO, logger="sitemail.outbox")

    async def go() -> Worker:
        worker = Worker(concurrency=6, batch_size=50, poll_interval=0.05, policy=fast_policy())
        async with RunningWorker(worker):
            # Taken for an outage, each refusal would pause every lane for 1, 2, 4... s.
            await wait_until(lambda: worker.stats["sent"] >= 400, 15, "every message sent")
        return worker

    worker = asyncio.run(go())

    assert server.peak_sessions == 2
    assert server.injected["fail:connect"] >= 4  # the lanes beyond the cap were refused
    assert worker.stats["retried"] == 0 and worker.stats["failed"] == 0
    rows = OutboxMessage.objects.all()
    assert {r.status for r in rows} == {Status.SENT}
    # Nobody's attempt was spent on a refused connection, and the log shows no error.
    assert {(r.attempts, r.last_error) for r in rows} == {(1, "")}
    assert set(copies(server.messages).values()) == {1} and len(copies(server.messages)) == 400
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings if "refused a connection" in r.getMessage()]
    assert not [r for r in warnings if "unavailable" in r.getMessage()], warnings


def test_lanes_parked_by_a_cap_try_again_when_email_smtp_changes(
    smtp_server: ServerFactory, configure_site: Callable[..., SiteSettings]
) -> None:
    capped = smtp_server(auth=(), max_connections=1)
    roomy = smtp_server(auth=())
    configure_site(capped.site_config())  # enqueue: email is enabled
    enqueue_n(3000)
    settings = {"now": static_settings(capped.config())}

    async def go() -> Worker:
        worker = Worker(
            concurrency=3,
            batch_size=50,
            poll_interval=0.05,
            policy=fast_policy(),
            settings_provider=lambda: settings["now"],
        )
        async with RunningWorker(worker):
            await wait_until(lambda: capped.injected["fail:connect"] >= 2, 10, "lanes refused")
            settings["now"] = static_settings(roomy.config())
            # Parked for 30 s otherwise: the new server gets all three connections at once.
            await wait_until(
                lambda: roomy.peak_sessions == 3, 5, "three sessions on the new server"
            )
            await wait_until(lambda: worker.stats["sent"] >= 3000, 30, "every message sent")
        return worker

    worker = asyncio.run(go())
    assert worker.stats["retried"] == 0 and worker.stats["failed"] == 0
    assert capped.peak_sessions == 1
    assert len(copies(capped.messages)) + len(copies(roomy.messages)) == 3000


def test_the_cap_warning_is_logged_once_per_server_configuration(
    smtp_server: ServerFactory,
    configure_site: Callable[..., SiteSettings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After an email.smtp change to another capped server, its cap is reported too (before:
    one warning per process, so the second server's cap was never logged)."""
    first, second = smtp_server(auth=(), max_connections=1), smtp_server(auth=(), max_connections=1)
    configure_site(first.site_config())
    enqueue_n(2000)
    settings = {"now": static_settings(first.config())}
    caplog.set_level(logging.WARNING, logger="sitemail.outbox")

    async def go() -> None:
        worker = Worker(
            concurrency=3,
            batch_size=50,
            poll_interval=0.05,
            policy=fast_policy(),
            settings_provider=lambda: settings["now"],
        )
        async with RunningWorker(worker):
            await wait_until(lambda: first.injected["fail:connect"] >= 2, 10, "lanes refused")
            settings["now"] = static_settings(second.config())
            await wait_until(
                lambda: second.injected["fail:connect"] >= 2, 10, "lanes refused again"
            )

    asyncio.run(go())
    caps = [r.getMessage() for r in caplog.records if "refused a connection" in r.getMessage()]
    assert len(caps) == 2, caps
    assert f":{first.port} refused" in caps[0] and f":{second.port} refused" in caps[1]
