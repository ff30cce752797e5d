"""A TCP relay that adds a fixed delay each way: smtp-sink as if it were across a network.

On loopback a round trip costs next to nothing, so a client's round trips per message do not
show; behind this relay each one costs `rtt_ms`. It runs its own event loop in a thread and
delays every chunk by half the round trip in its direction, keeping the order of the bytes.

The loop waits in select(), not epoll: epoll's timeout is whole milliseconds, rounded up, so
every delayed chunk went out up to 1 ms late and a 10 ms round trip measured 11.6 ms on
average (10.5 ms with select(), which waits in microseconds). `measure_rtt` is what the ceiling
of a run through the relay is computed from.
"""

from __future__ import annotations

import asyncio
import selectors
import socket
import threading
import time

from bench.sink import free_port


class LoopbackServer:
    """A TCP server on 127.0.0.1 in its own event loop thread; subclasses give `_session`."""

    name = "loopback-server"

    def __init__(self) -> None:
        self.port = free_port()
        # Microsecond timeouts (see the module docstring); a handful of sockets at most.
        self._loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"the {self.name.replace('-', ' ')} did not start")

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(
            asyncio.start_server(self._session, "127.0.0.1", self.port, backlog=512)
        )
        self._ready.set()
        self._loop.run_forever()

    async def _session(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        raise NotImplementedError


class DelayRelay(LoopbackServer):
    """127.0.0.1:port -> 127.0.0.1:target, each direction delayed by rtt_ms / 2."""

    name = "delay-relay"

    def __init__(self, target: int, rtt_ms: float) -> None:
        self.target = target
        self.delay = rtt_ms / 2000
        super().__init__()

    async def _session(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(self._pump(client_r, server_w), self._pump(server_r, client_w))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while chunk := await reader.read(65536):
                loop.call_later(self.delay, writer.write, chunk)
        except ConnectionError:
            pass
        loop.call_later(self.delay, writer.close)


def measure_rtt(port: int, pings: int = 100) -> float:
    """Mean seconds of a NOOP round trip to the SMTP server at `port` (e.g. through a relay)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        replies = sock.makefile("rb")
        replies.readline()  # the greeting
        start = time.perf_counter()
        for _ in range(pings):
            sock.sendall(b"NOOP\r\n")
            replies.readline()
        seconds = (time.perf_counter() - start) / pings
        sock.sendall(b"QUIT\r\n")
        replies.readline()
    return seconds
