"""Outbound HTTP to users' URLs (webhook and Slack actions), to public addresses only.

SECURITY (SSRF): a monitor's URL is the user's choice, and the server can reach what the user
cannot (cloud metadata at 169.254.169.254, the intranet, loopback). So a destination is checked
where it is saved and again when it is used: the name is resolved, every address must be public,
and the request goes to the checked address itself (pinned: the name is not resolved again, so
DNS rebinding cannot swap it), with the name kept for the Host header and TLS (SNI and
certificate check). Redirects are followed by hand, each target checked the same way.
`0.0.0.0`, `127.1`, `2130706433`, `0x7f000001` and `[::ffff:127.0.0.1]` are loopback: the
resolver turns them into addresses, and the check sees those.

`codeMonitors.webhooks.allowedHosts` (site config) lists names, addresses or networks (CIDR) a
site admin permits although not public (an intranet chat server, say).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

ALLOWED_HOSTS_KEY = "codeMonitors.webhooks.allowedHosts"
# Names that are internal by definition (RFC 6761, 6762, 8375; cloud metadata names): refused
# at save even when they do not resolve on the machine saving them.
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".lan", ".intranet")
MAX_REDIRECTS = 3
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(ValueError):
    """The destination is not allowed; the message says why, naming the host."""


@dataclass(frozen=True)
class Target:
    """A checked destination: the URL as given and the address to connect to."""

    url: str
    host: str
    address: str


def allowed_hosts() -> tuple[str, ...]:
    from sitemail.siteconfig import service as siteconfig

    value = siteconfig.get_settings().raw.get(ALLOWED_HOSTS_KEY) or ()
    return tuple(str(v).strip().lower().strip("[]") for v in value if isinstance(v, str))


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _allowed(host: str, address: IPAddress, allow: Sequence[str]) -> bool:
    for entry in allow:
        if entry == host:
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a host name entry
    return False


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise LookupError(host) from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def _split(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("the URL must be an http(s) URL with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise Refused("the URL's port is not a number") from exc
    return parts.scheme, parts.hostname.lower(), port


def check(url: str, *, resolve_required: bool = True) -> Target | None:
    """The pinned target for `url`, or Refused. With `resolve_required=False` (at save) a name
    that does not resolve now passes (None): it is checked again at connect time."""
    _, host, port = _split(url)
    allow = allowed_hosts()
    try:
        addresses = _resolve(host, port)
    except LookupError:
        if resolve_required:
            raise Refused(f"{host} does not resolve") from None
        if _internal_name(host) and host not in allow:
            raise Refused(_not_public(host, "an internal name")) from None
        return None
    for address in addresses:
        if not (_public(address) or _allowed(host, address, allow)):
            raise Refused(_not_public(host, str(address)))
    return Target(url, host, str(addresses[0]))


def _internal_name(host: str) -> bool:
    return "." not in host.rstrip(".") or host.rstrip(".").endswith(_INTERNAL_SUFFIXES)


def _not_public(host: str, what: str) -> str:
    return (
        f"{host} is not a public address ({what}); a site admin can allow it in {ALLOWED_HOSTS_KEY}"
    )


def _pinned(target: Target) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL with the checked address in place of the name, the Host header and SNI."""
    parts = urlsplit(target.url)
    ip = target.address if ":" not in target.address else f"[{target.address}]"
    netloc = ip + (f":{parts.port}" if parts.port else "")
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    host_header = target.host + (f":{parts.port}" if parts.port else "")
    return pinned, {"Host": host_header}, {"sni_hostname": target.host}


def post_json(
    url: str, payload: dict[str, Any], *, headers: dict[str, str], timeout: float
) -> httpx.Response:
    """POST `payload` to a checked `url`, following up to MAX_REDIRECTS checked redirects.

    Refused for a destination not allowed; httpx.HTTPError for network failures."""
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            target = check(url)
            assert target is not None
            pinned, host, extensions = _pinned(target)
            response = client.post(
                pinned, json=payload, headers={**headers, **host}, extensions=extensions
            )
            location = response.headers.get("Location")
            if not response.is_redirect or not location:
                return response
            url = urljoin(url, location)
    raise Refused(f"more than {MAX_REDIRECTS} redirects")
