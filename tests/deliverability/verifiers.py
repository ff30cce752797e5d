"""Independent DKIM verifiers: dkimpy's verify over real DNS, and OpenDKIM's opendkim-testmsg.

opendkim-testmsg asks the system resolver (port 53, /etc/resolv.conf), so it runs in its own
mount namespace (`unshare --mount`) with a resolv.conf naming a test DNS server on port 53 of a
loopback address of its own; that needs root, as on CI, else the OpenDKIM checks are skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import dkim
import dns.nameserver
import dns.resolver
import pytest

from tests.dnsserver import TestDNSServer

OPENDKIM = shutil.which("opendkim-testmsg") or "/usr/sbin/opendkim-testmsg"


def dkimpy_verify(data: bytes, server: TestDNSServer) -> bool:
    """dkimpy's own verify, its key lookups answered by `server` over UDP/TCP."""
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [dns.nameserver.Do53Nameserver(server.host, server.port)]
    res.lifetime = 3

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        try:
            answer = res.resolve(name.decode().rstrip("."), "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return b""
        return b"".join(b"".join(r.strings) for r in answer)

    return bool(dkim.verify(data, dnsfunc=dnsfunc))


def opendkim_available() -> str | None:
    """Why opendkim-testmsg cannot run here, or None."""
    if not os.path.exists(OPENDKIM):
        return "opendkim-testmsg is not installed (Debian package opendkim-tools)"
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return "opendkim-testmsg needs root and unshare to point it at the test DNS server"
    return None


def port53_server() -> TestDNSServer:
    """A test DNS server on port 53 of a loopback address of this process's own."""
    pid = os.getpid()
    return TestDNSServer(host=f"127.19.{pid % 250 + 1}.{pid // 250 % 250 + 1}", port=53)


def opendkim_verify(data: bytes, server: TestDNSServer) -> subprocess.CompletedProcess[str]:
    """opendkim-testmsg's verdict on `data` (exit 0 and no output: the signature verifies)."""
    reason = opendkim_available()
    if reason:
        pytest.skip(reason)
    assert server.port == 53, "opendkim asks port 53: use port53_server()"
    with tempfile.TemporaryDirectory() as tmp:
        resolv = Path(tmp, "resolv.conf")
        resolv.write_text(f"nameserver {server.host}\noptions attempts:1 timeout:2\n")
        script = f'mount --bind "{resolv}" /etc/resolv.conf && exec "{OPENDKIM}"'
        return subprocess.run(
            ["unshare", "--mount", "sh", "-c", script],
            input=data.decode("ascii"),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
