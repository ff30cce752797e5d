"""A TCP relay that adds a fixed delay each way: smtp-sink as if it were across a network.

On loopback a round trip costs next to nothing, so a client's round trips per message do not
show; behind this relay each one costs `rtt_ms`. It delays every chunk by half the round trip
in its direction, keeping the order of the bytes.

`measure_rtt` is what the ceiling of a run through the relay is computed from, beside the
round trip as set.
"""

from __future__ import annotations

import asyncio
import queue
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
        # select(), not epoll: epoll's timeout is whole milliseconds, rounded up. A handful
        # of sockets at most.
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


class DelayRelay:
    """127.0.0.1:port -> 127.0.0.1:target, each direction delayed by rtt_ms / 2.

    Threads, not an event loop: per connection and direction one thread reads and stamps each
    chunk with its due time, another sleeps until then (clock_nanosleep: microseconds) and
    writes it. The asyncio relay this replaces sent chunks 0.25-0.4 ms late each way: its
    loop ran every other connection's callbacks first, and the chunk waited behind them."""

    def __init__(self, target: int, rtt_ms: float) -> None:
        self.target = target
        self.delay = rtt_ms / 2000
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._late = 0.0  # how late a sleep's wake-up comes, on average (seconds)
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="delay-relay", daemon=True).start()

    def stop(self) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # stopped
            try:
                server = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            pair = [client, server]
            with self._lock:
                self._sockets += pair
            for a, b in ((client, server), (server, client)):
                a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
                threading.Thread(target=self._read, args=(a, chunks), daemon=True).start()
                threading.Thread(target=self._write, args=(b, chunks, pair), daemon=True).start()

    def _read(self, sock: socket.socket, chunks: queue.SimpleQueue[tuple[float, bytes]]) -> None:
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            chunks.put((time.monotonic() + self.delay, chunk))
            if not chunk:
                return

    def _write(
        self,
        sock: socket.socket,
        chunks: queue.SimpleQueue[tuple[float, bytes]],
        pair: list[socket.socket],
    ) -> None:
        while True:
            due, chunk = chunks.get()
            wait = due - time.monotonic() - self._late
            if wait > 0:
                time.sleep(wait)
                # Waking takes the machine a while (0.2-0.3 ms on a VM): learn how long, and
                # sleep that much less, so chunks go out on time on average.
                self._late += (time.monotonic() - due) * 0.05
            try:
                if chunk:
                    sock.sendall(chunk)
                    continue
                sock.shutdown(socket.SHUT_WR)  # the other side closed: pass the close on
            except OSError:
                self._close(pair)  # reset: the other direction's read ends too
            break
        with self._lock:
            pair.append(sock)  # both directions done: close the pair
            if len(pair) < 4:
                return
        self._close(pair)

    def _close(self, pair: list[socket.socket]) -> None:
        for sock in pair[:2]:
            sock.close()
        with self._lock:
            self._sockets = [s for s in self._sockets if s not in pair[:2]]


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
