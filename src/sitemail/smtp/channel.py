"""The command phase of a connection: every reply kept, in order, so commands can be pipelined.

aiosmtplib sets the session up (greeting, TLS, EHLO, AUTH); then a Channel takes over its
transport. aiosmtplib's own protocol parses one reply per read and ignores what comes while no
command waits, so replies to several commands written at once (RFC 2920) would be lost; here
each complete reply is queued and read back in order.
"""

from __future__ import annotations

import asyncio
from collections import deque

import aiosmtplib

# aiosmtplib's limits: one line, and one whole (multi-line) reply still being received.
MAX_LINE = 8192
MAX_PENDING = MAX_LINE * 4


class Channel(asyncio.Protocol):
    """Writes commands and reads their replies, oldest first, each read under a timeout.

    Raises what aiosmtplib would, so the transport boundary converts them the same way:
    SMTPServerDisconnected (closed or reset), TimeoutError, SMTPResponseException (garbage).
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport = transport
        self._buffer = bytearray()
        self._replies: deque[aiosmtplib.SMTPResponse] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._failure: BaseException | None = None  # once set, no further reply can come
        # One timer per channel, moved on lazily: a timer per read would be created and
        # cancelled twice per message on the hot path.
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        transport.set_protocol(self)

    @property
    def is_connected(self) -> bool:
        return self._failure is None and not self._transport.is_closing()

    def write(self, data: bytes) -> None:
        if not self.is_connected:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        self._transport.write(data)

    def take(self) -> aiosmtplib.SMTPResponse | None:
        """The oldest reply if it is in already, else None: `reply` without the await, for the
        replies to pipelined commands, which mostly arrive together."""
        return self._replies.popleft() if self._replies else None

    async def reply(self, timeout: float) -> aiosmtplib.SMTPResponse:
        """The oldest reply not yet read; waits at most `timeout` seconds for it to arrive."""
        while not self._replies:
            if self._failure is not None:
                raise self._failure
            waiter = self._waiter = self._loop.create_future()
            self._deadline = self._loop.time() + timeout
            if self._timer is None:
                self._timer = self._loop.call_at(self._deadline, self._on_timer)
            try:
                await waiter
            finally:
                self._waiter = None
        return self._replies.popleft()

    def close(self) -> None:
        self._stop_timer()
        self._transport.close()

    # ---------------------------------------------------------------- asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        if self._failure is not None:
            return
        buffer = self._buffer
        if buffer:  # the start of a reply came in an earlier chunk
            buffer += data
            data = bytes(buffer)
            buffer.clear()
        try:
            done = self._parse(data)
            if len(data) - done > MAX_PENDING:
                raise aiosmtplib.SMTPResponseException(-1, "Response too long")
        except aiosmtplib.SMTPResponseException as exc:
            self._fail(exc)
            self._transport.close()  # out of step with the server: unusable
            return
        if done < len(data):
            buffer += data[done:]
        if self._replies:
            self._wake()

    def eof_received(self) -> bool:
        self._fail(aiosmtplib.SMTPServerDisconnected("Unexpected EOF received"))
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        failure = aiosmtplib.SMTPServerDisconnected("Connection lost")
        failure.__cause__ = exc
        self._fail(failure)

    # ---------------------------------------------------------------- internals

    def _parse(self, data: bytes) -> int:
        """Queue the complete replies in `data`; how many bytes they took."""
        start = done = 0
        lines: list[bytes] = []  # the lines before the last of a multi-line reply
        while (end := data.find(b"\n", start)) != -1:
            line = data[start : end + 1]
            if len(line) > MAX_LINE:
                raise aiosmtplib.SMTPResponseException(-1, "Response too long")
            start = end + 1
            try:
                code = int(line[:3])
            except ValueError:
                text = line.decode("utf-8", errors="ignore")
                raise aiosmtplib.SMTPResponseException(
                    -1, f"Malformed SMTP response line: {text}"
                ) from None
            if line[3:4] == b"-":
                lines.append(line[4:].strip(b" \t\r\n"))
                continue
            # The last (usually the only) line of this reply.
            last = line[4:].strip(b" \t\r\n")
            if lines:
                lines.append(last)
                last = b"\n".join(lines)
                lines = []
            self._replies.append(
                aiosmtplib.SMTPResponse(code, last.decode("utf-8", "surrogateescape"))
            )
            done = start
        return done

    def _fail(self, failure: BaseException) -> None:
        if self._failure is None:
            self._failure = failure
        self._stop_timer()
        self._wake()

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # nothing waits: the next read arms it again
        if self._loop.time() >= self._deadline - 0.001:  # call_at may run a tick early
            waiter.set_exception(TimeoutError())
        else:  # a later read moved the deadline
            self._timer = self._loop.call_at(self._deadline, self._on_timer)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
