"""A real DNS server for tests (dnslib) on a loopback UDP and TCP port, serving a zone dict.

    server = TestDNSServer()                       # started; server.nameserver is "127.0.0.1:PORT"
    server.add("example.com", "TXT", "v=spf1 include:sendgrid.net ~all")
    server.add("example.com", "MX", "10 mx.example.com.")
    server.servfail("broken.example")             # SERVFAIL for every type at that name
    server.servfail("example.com", "MX")          # ... or for one type only
    server.drop("slow.example")                   # never answers (the client times out)
    server.lose("lossy.example")                  # drops the next query only (a lost packet)
    server.stop()

Names not in the zone get NXDOMAIN; a name with records of other types only gets NOERROR with
no answer. A long TXT value is split into 255-byte strings as a zone file would.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from dnslib import AAAA, MX, QTYPE, RCODE, RR, TXT, A, DNSError, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

HOST = "127.0.0.1"


class _Quiet(DNSLogger):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(log="-recv,-send,-request,-reply,-truncated,-error,-data")


def _rdata(rtype: str, value: str) -> object:
    if rtype == "TXT":
        raw = value.encode()
        return TXT([raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""])
    if rtype == "MX":
        preference, _, exchange = value.partition(" ")
        return MX(exchange, int(preference))
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    raise ValueError(f"unsupported record type {rtype}")


class _Resolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, server: TestDNSServer) -> None:
        self.server = server

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self.server.lock:
            self.server.queries.append((qname, qtype))
            if {qname, f"{qname}/{qtype}"} & self.server.dropped:
                raise DNSError("dropped on purpose")  # dnslib then sends nothing
            if qname in self.server.losing:
                self.server.losing.discard(qname)
                raise DNSError("lost on purpose")
            reply = request.reply()
            if {qname, f"{qname}/{qtype}"} & self.server.failing:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            by_type = self.server.zone.get(qname)
            if not by_type:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply
            for value in by_type.get(qtype, []):
                reply.add_answer(
                    RR(qname, getattr(QTYPE, qtype), rdata=_rdata(qtype, value), ttl=60)
                )
        return reply


class TestDNSServer:
    """Authoritative for whatever was added; UDP and TCP on the same loopback port."""

    __test__ = False

    def __init__(self, host: str = HOST, port: int = 0) -> None:
        self.lock = threading.Lock()
        self.zone: dict[str, dict[str, list[str]]] = defaultdict(dict)
        self.failing: set[str] = set()
        self.dropped: set[str] = set()
        self.losing: set[str] = set()
        self.queries: list[tuple[str, str]] = []
        resolver, logger = _Resolver(self), _Quiet()
        # UDP picks the port; TCP on the same number can be taken already: try another.
        for attempt in range(20):
            self._udp = DNSServer(resolver, address=host, port=port, logger=logger)
            self.host, self.port = host, int(self._udp.server.server_address[1])
            try:
                self._tcp = DNSServer(
                    resolver, address=host, port=self.port, logger=logger, tcp=True
                )
                break
            except OSError:
                self._udp.server.server_close()
                if port or attempt == 19:
                    raise
        self._udp.start_thread()
        self._tcp.start_thread()

    @property
    def nameserver(self) -> str:
        return f"{self.host}:{self.port}"

    def add(self, name: str, rtype: str, value: str) -> None:
        with self.lock:
            self.zone[name.rstrip(".").lower()].setdefault(rtype, []).append(value)

    def clear(self) -> None:
        with self.lock:
            self.zone.clear()
            self.failing.clear()
            self.dropped.clear()
            self.losing.clear()

    def servfail(self, name: str, rtype: str | None = None) -> None:
        with self.lock:
            self.failing.add(name.lower() + (f"/{rtype}" if rtype else ""))

    def lose(self, name: str) -> None:
        """The next query for `name` gets no answer; the one after it does."""
        with self.lock:
            self.losing.add(name.lower())

    def drop(self, name: str, rtype: str | None = None) -> None:
        with self.lock:
            self.dropped.add(name.lower() + (f"/{rtype}" if rtype else ""))

    def stop(self) -> None:
        for server in (self._udp, self._tcp):
            server.server.shutdown()
            server.server.server_close()
