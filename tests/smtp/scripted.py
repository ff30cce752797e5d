"""A tiny SMTP server in the test's own event loop, for what aiosmtpd cannot show or inject.

It records every byte the client sent, answers each command with a reply chosen by the test
(DATA's own reply too, which aiosmtpd only lets a test change after the content), and in
`strict` mode answers nothing of a MAIL..DATA group until the whole group is in: a client that
waited for MAIL's reply before sending RCPT would time out, so passing proves pipelining.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sitemail.siteconfig.typed import SMTPConfig


@dataclass
class ScriptedServer:
    pipelining: bool = True
    strict: bool = True  # hold the replies until the group up to DATA has arrived
    mail_reply: str = "250 2.1.0 ok"
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> reply; else 250
    data_reply: str = "354 go ahead"
    final_reply: str = "250 2.0.0 queued"
    # Per transaction, in order, before falling back to mail_reply / final_reply.
    mail_replies: list[str] = field(default_factory=list)
    final_replies: list[str] = field(default_factory=list)
    # Seconds each reply takes to arrive (a round trip's length); the server reads on meanwhile.
    reply_delay: float = 0.0
    split_replies: bool = False  # send each reply byte by byte (replies cut across reads)
    received: bytearray = field(default_factory=bytearray)  # everything the client sent
    contents: list[bytes] = field(default_factory=list)  # DATA content as sent (dot-stuffed)
    groups: list[list[bytes]] = field(default_factory=list)  # commands answered together
    connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def config(self, **overrides: object) -> SMTPConfig:
        values: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.port,
            "authentication": "none",
            "tls": "none",
            "timeout": 2.0,
        }
        values.update(overrides)
        return SMTPConfig(**values)  # type: ignore[arg-type]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = _Conn(self, reader, writer)
        try:
            await conn.send("220 scripted ESMTP")
            while True:
                command = await conn.line()
                verb = command[:4].upper()
                if verb == b"EHLO":
                    ext = ["250-scripted", "250-8BITMIME"]
                    if self.pipelining:
                        ext.append("250-PIPELINING")
                    await conn.send(*ext, "250 SMTPUTF8")
                elif verb == b"MAIL":
                    await conn.transaction(command)
                elif verb == b"RSET":
                    await conn.send("250 2.0.0 reset")
                elif verb == b"QUIT":
                    await conn.send("221 2.0.0 bye")
                    break
                else:
                    await conn.send("502 5.5.2 not here")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            await asyncio.sleep(self.reply_delay)  # let delayed replies go out first
            writer.close()


@dataclass
class _Conn:
    server: ScriptedServer
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def line(self) -> bytes:
        data = await self.reader.readuntil(b"\r\n")
        self.server.received += data
        return data

    async def send(self, *replies: str) -> None:
        data = "".join(f"{r}\r\n" for r in replies).encode()
        if self.server.reply_delay:
            asyncio.get_running_loop().call_later(self.server.reply_delay, self.writer.write, data)
            return
        if self.server.split_replies:
            for i in range(len(data)):
                self.writer.write(data[i : i + 1])
                await self.writer.drain()
                await asyncio.sleep(0.001)
        else:
            self.writer.write(data)
            await self.writer.drain()

    async def transaction(self, mail: bytes) -> None:
        server = self.server
        group = [mail]
        mail_reply = server.mail_replies.pop(0) if server.mail_replies else server.mail_reply
        held = [mail_reply]
        if not server.strict:
            await self.send(mail_reply)
            held = []
        while True:
            command = await self.line()
            group.append(command)
            verb = command[:4].upper()
            if verb == b"RCPT":
                address = command.decode().split("<", 1)[1].split(">", 1)[0]
                reply = server.rcpt_replies.get(address, "250 2.1.5 ok")
            elif verb == b"DATA":
                # After a refused MAIL there is no transaction for DATA to start.
                reply = server.data_reply if mail_reply[0] == "2" else "503 5.5.1 no sender"
            else:
                reply = "503 5.5.1 bad sequence"
            if server.strict:
                held.append(reply)
            else:
                await self.send(reply)
            if verb != b"RCPT":
                break
        if held:
            await self.send(*held)
        server.groups.append(group)
        if group[-1][:4].upper() == b"DATA" and reply.startswith("354"):
            content = bytearray()
            while not (content.endswith(b"\r\n.\r\n") or content == b".\r\n"):
                content += await self.line()
            server.contents.append(bytes(content))
            final = server.final_replies.pop(0) if server.final_replies else server.final_reply
            await self.send(final)
