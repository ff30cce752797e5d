"""Sender authentication rules shared by validation, the checks and the console.

Alignment (DMARC, RFC 7489 3.1): relaxed alignment asks that the DKIM d= domain and the From
domain share an organizational domain. Without the Public Suffix List, sitemail treats two
domains as aligned when they are equal or one is a parent of the other: that is always aligned,
and it is what the console advises (sign as the From domain or a parent of it).
"""

from __future__ import annotations

from typing import Any

from sitemail.siteconfig.problems import Problem, warning

KEYGEN_HINT = "`sitemail dkim keygen --selector S --domain D` makes one"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().rstrip(".").lower()


def aligned(from_domain: str, dkim_domain: str, *, strict: bool = False) -> bool:
    """Whether a signature by `dkim_domain` aligns with a From address at `from_domain`."""
    a, b = from_domain.rstrip(".").lower(), dkim_domain.rstrip(".").lower()
    if strict or a == b:
        return a == b
    return a.endswith("." + b) or b.endswith("." + a)


def alignment_problem(from_address: str, dkim_domain: str) -> Problem | None:
    """A warning at email.dkim.domain when it does not align with `from_address`, or None."""
    from_domain = domain_of(from_address)
    if aligned(from_domain, dkim_domain):
        return None
    return warning(
        "email.dkim.domain",
        f"the DKIM domain {dkim_domain!r} does not align with the From domain {from_domain!r} "
        "(email.address), so DMARC cannot pass on this signature",
        f"sign as {from_domain!r} or a parent domain of it",
    )


def _dkim(doc: dict[str, Any]) -> dict[str, Any] | None:
    dkim = doc.get("email.dkim")
    return dkim if isinstance(dkim, dict) else None


def dkim_key_problems(doc: dict[str, Any]) -> list[Problem]:
    """Errors for an `email.dkim.privateKey` that cannot sign (the schema checks its type)."""
    from sitemail.deliverability.dkim import DKIMKeyError, load_key

    dkim = _dkim(doc)
    key = dkim.get("privateKey") if dkim else None
    if not isinstance(key, str) or not key or key == "REDACTED":
        return []
    try:
        load_key(key)
    except DKIMKeyError as exc:
        return [Problem("email.dkim.privateKey", str(exc))]
    return []


def dkim_alignment_warnings(doc: dict[str, Any]) -> list[Problem]:
    """A warning when `email.dkim.domain` does not align with `email.address`."""
    dkim = _dkim(doc)
    address = doc.get("email.address")
    domain = dkim.get("domain") if dkim else None
    if not isinstance(domain, str) or not domain or not isinstance(address, str):
        return []
    problem = alignment_problem(address, domain)
    return [problem] if problem else []
