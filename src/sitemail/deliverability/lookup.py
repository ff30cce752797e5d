"""DNS lookups for the checks: records found, none, or why the lookup itself failed."""

from __future__ import annotations

from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.resolver

Resolver = dns.asyncresolver.Resolver


@dataclass(frozen=True)
class Lookup:
    """TXT strings at `name`; `error` is set only when the lookup could not be answered."""

    name: str
    records: tuple[str, ...] = ()
    error: str = ""


def _server(nameserver: object) -> str:
    address, port = getattr(nameserver, "address", None), getattr(nameserver, "port", 53)
    if address is None:
        return str(nameserver)
    shown = f"[{address}]" if ":" in str(address) else str(address)
    return shown if port == 53 else f"{shown}:{port}"


def describe(exc: dns.exception.DNSException, res: Resolver) -> str:
    servers = ", ".join(_server(n) for n in res.nameservers) or "no nameservers configured"
    if isinstance(exc, dns.resolver.LifetimeTimeout | dns.exception.Timeout):
        return f"no answer within {res.lifetime:g} s from {servers}"
    if isinstance(exc, dns.resolver.NoNameservers):
        return f"the DNS servers failed to answer (SERVFAIL or refused) via {servers}"
    if isinstance(exc, dns.resolver.NoResolverConfiguration):
        return "no DNS servers: set email.dns.nameservers"
    return f"{type(exc).__name__} via {servers}"


async def txt(res: Resolver, name: str) -> Lookup:
    """The TXT records at `name` (each one's strings joined, RFC 7208 3.3)."""
    try:
        answer = await res.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return Lookup(name)
    except dns.exception.DNSException as exc:
        return Lookup(name, error=describe(exc, res))
    records = tuple(b"".join(r.strings).decode("utf-8", "replace") for r in answer)
    return Lookup(name, records)


async def addresses(res: Resolver, name: str) -> tuple[list[str], str]:
    """(A and AAAA addresses of `name`, error): an error only when neither type resolved."""
    found: list[str] = []
    errors: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            answer = await res.resolve(name, rdtype)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except dns.exception.DNSException as exc:
            errors.append(describe(exc, res))
            continue
        found += [r.to_text() for r in answer]
    return found, ("" if found or not errors else errors[0])


async def mx_hosts(res: Resolver, name: str) -> tuple[list[str], str]:
    try:
        answer = await res.resolve(name, "MX")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return [], ""
    except dns.exception.DNSException as exc:
        return [], describe(exc, res)
    return [r.exchange.to_text(omit_final_dot=True) for r in answer], ""
