"""Process wiring: the web server, the in-process worker and the dev mail catcher in one loop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from pathlib import Path
from typing import Any

import uvicorn
from asgiref.sync import sync_to_async

log = logging.getLogger("sitemail.serve")


def _point_config_at_catcher(host: str, port: int) -> bool:
    """Configure email.smtp for the catcher when no SMTP is set; True when it changed."""
    from sitemail.siteconfig import service

    settings = service.get_settings()
    if settings.email.smtp is not None:
        return False
    values: dict[tuple[str, ...], Any] = {
        ("email.smtp",): {"host": host, "port": port, "authentication": "none", "tls": "none"},
    }
    if not settings.email.address:
        values[("email.address",)] = "sitemail@example.com"
    service.patch(
        values,
        comment="sitemail serve --dev: the built-in mail catcher; replace with your SMTP server",
    )
    return True


_WILDCARDS = {"0.0.0.0", "::", ""}  # noqa: S104 (recognised, not bound)


def bind_url(host: str, port: int) -> str | None:
    """The URL a browser on this machine opens for `--host`/`--port`; None for 0.0.0.0 / ::."""
    if host in _WILDCARDS:
        return None
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def match_external_url(host: str, port: int) -> str | None:
    """Make a default externalURL the address this server listens on; else a warning to log
    when they differ (links in emails would open another host name, signed out)."""
    from sitemail.siteconfig import service
    from sitemail.siteconfig.defaults import DEFAULT_EXTERNAL_URL

    bound = bind_url(host, port)
    settings = service.get_settings()
    current = settings.external_url
    if bound is None or current == bound:
        return None
    if current == DEFAULT_EXTERNAL_URL and not service.read_only():
        service.patch(
            {("externalURL",): bound},
            comment="sitemail serve: the address it listens on; set the URL people open",
        )
        return None
    return (
        f"externalURL is {current} but this server listens on {bound}: links in emails open "
        f"{current}, where a browser has another sign-in cookie; set externalURL to the URL "
        "people open"
    )


async def _with_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def _start_catcher(host: str, port: int) -> Any:
    from sitemail.catcher import server

    try:
        return server.start(host, port)
    except OSError as exc:
        raise RuntimeError(
            f"mail catcher: cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "pass --catcher-port with a free port"
        ) from exc


class _Server(uvicorn.Server):
    """uvicorn's server, writing the port it listens on to `port_file` once it does (with
    --port 0 the kernel picks a free port: no bind-release-rebind race for whoever starts us)."""

    def __init__(self, config: uvicorn.Config, port_file: str | None) -> None:
        super().__init__(config)
        self.port_file = port_file

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.port_file and self.servers and self.servers[0].sockets:
            port = self.servers[0].sockets[0].getsockname()[1]
            tmp = Path(f"{self.port_file}.tmp")
            tmp.write_text(f"{port}\n")
            tmp.replace(self.port_file)  # whole or not at all for a reader polling it


async def _dev_catcher(host: str, port: int, catcher_port: int) -> Any:
    """`--dev`: the mail catcher and its page, only while pages are served on loopback."""
    from sitemail.catcher import access

    if not access.is_loopback(host):
        log.warning(
            "--dev: the mail catcher is off because this server listens on %s, not loopback: "
            "caught mail holds every reset and sign-in link",
            host,
        )
        return None
    os.environ[access.DEV_ENV] = "1"
    catcher = _start_catcher("127.0.0.1", catcher_port)
    if await sync_to_async(_point_config_at_catcher)("127.0.0.1", catcher_port):
        log.warning("email.smtp was not set: pointed it at the built-in mail catcher")
    log.warning(
        "mail catcher listening on 127.0.0.1:%d; caught mail: http://%s:%d/mailcatcher",
        catcher_port,
        host,
        port,
    )
    return catcher


async def serve(
    *,
    host: str,
    port: int,
    worker: bool,
    dev: bool,
    catcher_port: int,
    port_file: str | None = None,
) -> None:
    from sitemail.catcher import access
    from sitemail.deliverability import inbound
    from sitemail.monitors.loop import TriggerLoop
    from sitemail.outbox.worker import Worker

    if not access.is_loopback(host):
        os.environ[access.OFF_ENV] = "off"  # caught mail is never served beyond loopback
    # --port 0: bind here, so the port the kernel picked is known before externalURL is matched.
    sockets = None
    if port == 0:
        listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, 0))
        port = listener.getsockname()[1]
        sockets = [listener]
    warning = await sync_to_async(match_external_url)(host, port)
    if warning:
        log.warning("%s", warning)
    catcher = await _dev_catcher(host, port, catcher_port) if dev else None

    config = uvicorn.Config(
        "sitemail.asgi:application", host=host, port=port, lifespan="off", log_level="info"
    )
    server = _Server(config, port_file)
    stop = asyncio.Event()
    worker_task = asyncio.create_task(Worker().run(stop)) if worker else None
    monitors_task = asyncio.create_task(TriggerLoop().run(stop)) if worker else None
    bounces_task = asyncio.create_task(inbound.serve_if_configured(stop)) if worker else None
    try:
        await server.serve(sockets)  # uvicorn handles SIGINT/SIGTERM and returns
    finally:
        stop.set()
        if worker_task is not None:
            await worker_task
        if monitors_task is not None:
            await monitors_task
        if bounces_task is not None:
            await bounces_task
        if catcher is not None:
            catcher.stop()


async def run_worker(*, concurrency: int, batch_size: int, lease_seconds: float = 60) -> None:
    from sitemail.deliverability import inbound
    from sitemail.outbox.worker import Worker

    stop = asyncio.Event()
    await _with_signals(stop)
    log.warning("worker started (concurrency %d); SIGTERM drains and exits", concurrency)
    # The code monitor trigger loop runs beside delivery (each monitor is claimed in the database).
    from sitemail.monitors.loop import TriggerLoop

    await asyncio.gather(
        Worker(concurrency=concurrency, batch_size=batch_size, lease_seconds=lease_seconds).run(
            stop
        ),
        TriggerLoop().run(stop),
        inbound.serve_if_configured(stop),
    )


async def run_bounces(listen: str | None) -> None:
    """`sitemail bounces serve`: the inbound listener alone."""
    from sitemail.deliverability import inbound
    from sitemail.deliverability.config import bounce_settings
    from sitemail.siteconfig import service

    settings = await sync_to_async(service.get_settings)()
    if not bounce_settings(settings).domain:
        raise RuntimeError(
            "email.bounces.domain is not set in the site configuration: set it to the domain "
            "whose MX points here (messages then leave with bounces+<token>@that domain)"
        )
    value = listen or bounce_settings(settings).listen
    if not value:
        raise RuntimeError("pass --listen HOST:PORT or set email.bounces.listen")
    host, port = inbound.parse_listen(value)
    stop = asyncio.Event()
    await _with_signals(stop)

    def ready(bound: int) -> None:
        print(f"listening for bounces on {host}:{bound}; Ctrl-C to stop", flush=True)

    try:
        await inbound.serve(host, port, stop, ready)
    except OSError as exc:
        raise RuntimeError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from exc


async def run_catcher(host: str, port: int) -> None:
    catcher = _start_catcher(host, port)
    stop = asyncio.Event()
    await _with_signals(stop)
    print(f"mail catcher listening on {host}:{port}; Ctrl-C to stop", flush=True)
    try:
        await stop.wait()
    finally:
        catcher.stop()
