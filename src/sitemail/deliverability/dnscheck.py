"""SPF, DKIM, DMARC and MX checks of the From domain, with dnspython: one verdict and fix each.

A lookup that times out or gets SERVFAIL is reported as ERROR ("could not resolve"), never as
FAIL: a split-horizon resolver or a down network says nothing about the records themselves.
Nameservers come from `email.dns.nameservers` when set, else the system's.
"""

from __future__ import annotations

import asyncio
import enum
import os
from collections.abc import Sequence
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
from asgiref.sync import async_to_sync

from sitemail.deliverability import dkim, rules, spf
from sitemail.deliverability.lookup import Lookup, Resolver, txt
from sitemail.siteconfig.typed import SiteSettings
from sitemail.smtp.errors import Step
from sitemail.smtp.trace import TraceEvent

DEFAULT_LIFETIME = 3.0  # seconds for one lookup, retries included
# Seconds before a query is sent again: a lost UDP packet (a resolver that rate-limits drops
# one now and then) costs this, not the whole lifetime. sendTestEmail waits for the checks:
# with one try per lifetime, one request in ~30 took 3.1 s instead of 25 ms (bench delivery).
TRY_TIMEOUT = 1.0
NAMESERVERS_ENV = "SITEMAIL_DNS_NAMESERVERS"


class Verdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    MISSING = "missing"
    WARN = "warn"
    ERROR = "error"  # the lookup itself failed: nothing is known about the record


@dataclass(frozen=True)
class Check:
    """One sender authentication check: what was looked up, what was found, what to do."""

    name: str  # SPF, DKIM, DMARC, MX, DKIM signature
    verdict: Verdict
    record: str  # the DNS name looked up
    summary: str
    found: tuple[str, ...] = ()
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict == Verdict.PASS


def _address_port(text: str) -> tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 53
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, 53


def resolver(nameservers: Sequence[str] = (), lifetime: float = DEFAULT_LIFETIME) -> Resolver:
    """An async resolver: `nameservers` ("host[:port]") when given, else the process default
    SITEMAIL_DNS_NAMESERVERS (comma-separated, for a host whose resolv.conf is not the one to
    ask), else /etc/resolv.conf."""
    if not nameservers:
        nameservers = [n for n in os.environ.get(NAMESERVERS_ENV, "").split(",") if n.strip()]
    try:
        res = dns.asyncresolver.Resolver(configure=not nameservers)
    except dns.resolver.NoResolverConfiguration:
        res = dns.asyncresolver.Resolver(configure=False)  # lookups then report the error
    if nameservers:
        res.nameservers = [
            dns.nameserver.Do53Nameserver(*_address_port(n.strip())) for n in nameservers
        ]
    res.lifetime = lifetime
    res.timeout = min(lifetime, TRY_TIMEOUT)
    return res


def _unresolved(name: str, label: str, look: Lookup) -> Check:
    return Check(
        name,
        Verdict.ERROR,
        look.name,
        f"could not resolve {look.name}: {look.error}",
        hint=(
            f"this says nothing about the {label} record itself; check that the DNS servers "
            "sitemail uses answer (email.dns.nameservers sets them, e.g. for split-horizon DNS)"
        ),
    )


# --- SPF -----------------------------------------------------------------------------------


async def check_spf(res: Resolver, domain: str, smtp_host: str | None) -> Check:
    look = await txt(res, domain)
    if look.error:
        return _unresolved("SPF", "SPF", look)
    records = [r for r in look.records if spf.is_spf(r)]
    suggestion = spf.suggestion(smtp_host)
    publish = f'publish one TXT record at {domain}: "{suggestion}"'
    if not records:
        return Check("SPF", Verdict.MISSING, domain, "no SPF record (v=spf1)", hint=publish)
    found = tuple(records)
    if len(records) > 1:
        return Check(
            "SPF",
            Verdict.FAIL,
            domain,
            f"{len(records)} SPF records: receivers treat that as an error (RFC 7208 4.5)",
            found,
            f"merge them into one: {publish}",
        )
    problem = spf.syntax_problem(records[0])
    if problem:
        return Check("SPF", Verdict.FAIL, domain, f"does not parse: {problem}", found, publish)
    if spf.allows_all(records[0]):
        return Check(
            "SPF",
            Verdict.FAIL,
            domain,
            '"+all" lets any server send as this domain',
            found,
            "end the record with ~all or -all",
        )
    if not smtp_host:
        return Check("SPF", Verdict.PASS, domain, "the record parses", found)
    coverage = await spf.covers(res, domain, records[0], smtp_host)
    verdict = {
        spf.Coverage.COVERED: Verdict.PASS,
        spf.Coverage.NOT_COVERED: Verdict.FAIL,
        spf.Coverage.UNKNOWN: Verdict.WARN,
        spf.Coverage.UNRESOLVED: Verdict.ERROR,
    }[coverage.result]
    return Check(
        "SPF",
        verdict,
        domain,
        coverage.summary,
        found,
        "" if verdict == Verdict.PASS else coverage.hint or publish,
    )


# --- DKIM ----------------------------------------------------------------------------------


def _dkim_tags(record: str) -> dict[str, str] | None:
    tags: dict[str, str] = {}
    for part in record.split(";"):
        part = part.strip()
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq or not key.strip().isalnum():
            return None
        tags[key.strip()] = "".join(value.split())
    return tags


async def check_dkim(res: Resolver, settings: SiteSettings) -> Check:
    config = settings.email.dkim
    if config is None:
        return Check(
            "DKIM",
            Verdict.MISSING,
            "",
            "messages are not signed: email.dkim is not set",
            hint="run `sitemail dkim keygen --selector S --domain D` and publish the record "
            "it prints",
        )
    key = dkim.load_key(config.private_key)
    name = dkim.record_name(config)
    look = await txt(res, name)
    if look.error:
        return _unresolved("DKIM", "DKIM", look)
    publish = f'publish a TXT record at {name}: "{key.txt_record()}"'
    records = [r for r in look.records if "p=" in r]
    if not records:
        return Check("DKIM", Verdict.MISSING, name, "no DKIM key record", hint=publish)
    found = tuple(records)
    tags = _dkim_tags(records[0]) if len(records) == 1 else None
    if tags is None or tags.get("v", "DKIM1") != "DKIM1":
        return Check("DKIM", Verdict.FAIL, name, "the record does not parse", found, publish)
    if not tags.get("p"):
        return Check("DKIM", Verdict.FAIL, name, "the key is revoked (empty p=)", found, publish)
    if tags.get("k", "rsa") != key.key_type or tags["p"] != key.public_b64:
        return Check(
            "DKIM",
            Verdict.FAIL,
            name,
            "the published key does not match email.dkim.privateKey",
            found,
            publish + " (or set the private key that belongs to the published one)",
        )
    return Check(
        "DKIM",
        Verdict.PASS,
        name,
        f"the published key matches email.dkim.privateKey ({key.algorithm})",
        found,
    )


async def check_signature(res: Resolver, settings: SiteSettings, data: bytes) -> Check:
    """Verify the DKIM signature of `data` (a signed message) against the published key."""
    config = settings.email.dkim
    if config is None:
        return Check("DKIM signature", Verdict.MISSING, "", "not signed: email.dkim is not set")
    name = dkim.record_name(config)
    look = await txt(res, name)
    if look.error:
        return _unresolved("DKIM signature", "DKIM", look)
    if not look.records:
        return Check(
            "DKIM signature",
            Verdict.MISSING,
            name,
            "no published key to verify the signature with",
            hint="publish the record the DKIM check shows",
        )
    ok = dkim.verify_with_record(data, look.records[0])
    return Check(
        "DKIM signature",
        Verdict.PASS if ok else Verdict.FAIL,
        name,
        "this message's signature verifies against the published key"
        if ok
        else "this message's signature does not verify against the published key",
        hint="" if ok else "publish the record the DKIM check shows, then send again",
    )


# --- DMARC ---------------------------------------------------------------------------------

POLICIES = ("none", "quarantine", "reject")


def _dmarc_names(domain: str) -> list[str]:
    """_dmarc.<domain>, then its parents down to two labels (the organizational domain)."""
    labels = domain.split(".")
    return [f"_dmarc.{'.'.join(labels[i:])}" for i in range(max(1, len(labels) - 1))]


async def _dmarc_record(res: Resolver, domain: str) -> tuple[Lookup, list[str]]:
    look = Lookup(f"_dmarc.{domain}")
    for name in _dmarc_names(domain):
        look = await txt(res, name)
        records = [r for r in look.records if r.replace(" ", "").startswith("v=DMARC1")]
        if look.error or records:
            return look, records
    return Lookup(f"_dmarc.{domain}"), []


def _dmarc_alignment(
    domain: str, tags: dict[str, str], settings: SiteSettings, spf_check: Check, dkim_check: Check
) -> tuple[bool, bool]:
    """(SPF passes aligned, DKIM passes aligned): DMARC passes when either does."""
    config = settings.email.dkim
    dkim_ok = (
        config is not None
        and dkim_check.ok
        and rules.aligned(domain, config.domain, strict=tags.get("adkim") == "s")
    )
    # The envelope sender is email.address itself, so SPF is aligned whenever it passes.
    return spf_check.ok, dkim_ok


async def check_dmarc(
    dmarc_record: tuple[Lookup, list[str]],
    domain: str,
    settings: SiteSettings,
    spf_check: Check,
    dkim_check: Check,
) -> Check:
    """The DMARC verdict from its record (`_dmarc_record`) and the SPF and DKIM checks."""
    look, records = dmarc_record
    if look.error:
        return _unresolved("DMARC", "DMARC", look)
    publish = (
        f'publish a TXT record at _dmarc.{domain}: "v=DMARC1; p=none; rua=mailto:dmarc@{domain}"'
    )
    if not records:
        return Check("DMARC", Verdict.MISSING, look.name, "no DMARC record", hint=publish)
    found = tuple(records)
    tags = _dkim_tags(records[0]) if len(records) == 1 else None
    if tags is None or tags.get("p") not in POLICIES:
        return Check(
            "DMARC",
            Verdict.FAIL,
            look.name,
            "the record does not parse (one record with p=none, quarantine or reject)",
            found,
            publish,
        )
    policy = f"policy {tags['p']}" + (" (monitoring only)" if tags["p"] == "none" else "")
    spf_ok, dkim_ok = _dmarc_alignment(domain, tags, settings, spf_check, dkim_check)
    if spf_ok or dkim_ok:
        passing = " and ".join(n for n, ok in (("SPF", spf_ok), ("DKIM", dkim_ok)) if ok)
        return Check(
            "DMARC", Verdict.PASS, look.name, f"{policy}; {passing} aligned with From", found
        )
    if Verdict.ERROR in (spf_check.verdict, dkim_check.verdict):
        return Check(
            "DMARC",
            Verdict.ERROR,
            look.name,
            f"{policy}; alignment unknown: an SPF or DKIM lookup failed",
            found,
            "fix the lookups above, then check again",
        )
    return Check(
        "DMARC",
        Verdict.FAIL,
        look.name,
        f"{policy}; neither SPF nor DKIM passes aligned with the From domain {domain}",
        found,
        "make the SPF or DKIM check above pass, with email.dkim.domain the From domain "
        "or a parent of it",
    )


# --- MX ------------------------------------------------------------------------------------


async def check_mx(res: Resolver, domain: str) -> Check:
    """Bounces go to the envelope sender's domain (email.address): it needs to receive mail."""
    try:
        answer = await res.resolve(domain, "MX")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return Check(
            "MX",
            Verdict.MISSING,
            domain,
            "no MX record: bounces may not reach the sender",
            hint=f"publish an MX record for {domain} pointing at a server that receives mail",
        )
    except dns.exception.DNSException as exc:
        from sitemail.deliverability.lookup import describe

        return _unresolved("MX", "MX", Lookup(domain, error=describe(exc, res)))
    hosts = sorted((r.preference, r.exchange.to_text(omit_final_dot=True)) for r in answer)
    found = tuple(f"{p} {h or '.'}" for p, h in hosts)
    if len(hosts) == 1 and hosts[0][1] in ("", "."):
        return Check(
            "MX",
            Verdict.FAIL,
            domain,
            "a null MX (RFC 7505): the domain accepts no mail, so bounces are lost",
            found,
            f"send from an address whose domain receives mail, or give {domain} a real MX",
        )
    return Check("MX", Verdict.PASS, domain, f"bounces go to {hosts[0][1]}", found)


# --- all -----------------------------------------------------------------------------------


async def check_all(
    settings: SiteSettings, *, lifetime: float = DEFAULT_LIFETIME, res: Resolver | None = None
) -> list[Check]:
    """SPF, DKIM, DMARC and MX of the From domain; empty when email.address is not set."""
    if not settings.email.address:
        return []
    res = res or resolver(settings.email.dns_nameservers, lifetime)
    domain = rules.domain_of(settings.email.address)
    smtp_host = settings.email.smtp.host if settings.email.smtp else None
    # All lookups at once: a resolver that never answers costs one lifetime, not several.
    spf_check, dkim_check, mx_check, dmarc_record = await asyncio.gather(
        check_spf(res, domain, smtp_host),
        check_dkim(res, settings),
        check_mx(res, domain),
        _dmarc_record(res, domain),
    )
    dmarc_check = await check_dmarc(dmarc_record, domain, settings, spf_check, dkim_check)
    return [spf_check, dkim_check, dmarc_check, mx_check]


def as_trace(check: Check) -> TraceEvent:
    """A check as a line of the test email's transcript, with its fix in the details."""
    details = {"verdict": check.verdict.value, "record": check.record or "-"}
    if check.found:
        details["found"] = " | ".join(check.found)
    if check.hint:
        details["fix"] = check.hint
    step = Step.DKIM if check.name == "DKIM signature" else Step.DNS
    return TraceEvent(
        step, f"{check.name} {check.verdict.value}: {check.summary}", check.ok, details=details
    )


def check_site(settings: SiteSettings) -> list[Check]:
    """`check_all` from synchronous code (the console page)."""
    return async_to_sync(check_all)(settings)
