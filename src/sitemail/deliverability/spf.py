"""SPF (RFC 7208): does the record parse, and does it cover the configured SMTP server.

Coverage is judged the way a receiver would for the two things sitemail knows: a known
provider's include (SES, SendGrid, Google, Microsoft, Mailgun, Postmark) anywhere in the include
tree, or else the SMTP host's own addresses in an ip4/ip6/a/mx term. Lookups stop at RFC 7208's
limit of 10.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass, field

from sitemail.deliverability.lookup import Resolver, addresses, mx_hosts, txt

MAX_LOOKUPS = 10  # RFC 7208 4.6.4


@dataclass(frozen=True)
class Provider:
    name: str
    host: re.Pattern[str]
    include: str


PROVIDERS = (
    Provider(
        "Amazon SES", re.compile(r"email-smtp(-fips)?\.[a-z0-9-]+\.amazonaws\.com"), "amazonses.com"
    ),
    Provider("SendGrid", re.compile(r"smtp\.sendgrid\.net"), "sendgrid.net"),
    Provider(
        "Google", re.compile(r"smtp(-relay)?\.gmail\.com|smtp\.google\.com"), "_spf.google.com"
    ),
    Provider(
        "Microsoft 365",
        re.compile(
            r"smtp\.office365\.com|smtp-mail\.outlook\.com|.+\.mail\.protection\.outlook\.com"
        ),
        "spf.protection.outlook.com",
    ),
    Provider("Mailgun", re.compile(r"smtp(\.eu)?\.mailgun\.org"), "mailgun.org"),
    Provider("Postmark", re.compile(r"smtp(-broadcasts)?\.postmarkapp\.com"), "spf.mtasv.net"),
)

_DOMAIN_SPEC = r"[!-~]+"  # macro-string: printable ASCII (RFC 7208 7.1), checked loosely
_MECHANISM = re.compile(
    rf"(?P<q>[-+?~])?(?P<m>all|include:{_DOMAIN_SPEC}|exists:{_DOMAIN_SPEC}"
    rf"|(?:a|mx)(?::[^/\s]+)?(?:/\d{{1,2}})?(?://\d{{1,3}})?|ptr(?::{_DOMAIN_SPEC})?"
    r"|ip4:[0-9./]+|ip6:[0-9A-Fa-f:./]+)",
    re.IGNORECASE,
)
_MODIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*=[!-~]*")


def provider_for(host: str | None) -> Provider | None:
    host = (host or "").lower().rstrip(".")
    return next((p for p in PROVIDERS if p.host.fullmatch(host)), None)


def is_spf(record: str) -> bool:
    return record.lower() == "v=spf1" or record.lower().startswith("v=spf1 ")


def suggestion(smtp_host: str | None) -> str:
    provider = provider_for(smtp_host)
    return f"v=spf1 include:{provider.include} ~all" if provider else "v=spf1 mx ~all"


def _terms(record: str) -> list[str]:
    return record.split()[1:]


def syntax_problem(record: str) -> str | None:
    """Why `record` is not valid SPF, or None."""
    for term in _terms(record):
        match = _MECHANISM.fullmatch(term)
        if match:
            mechanism = match["m"].lower()
            if mechanism.startswith(("ip4:", "ip6:")):
                try:
                    ipaddress.ip_network(mechanism[4:], strict=False)
                except ValueError:
                    return f"{term!r} is not an IP network"
            continue
        if not _MODIFIER.fullmatch(term):
            return f"unknown term {term!r}"
    return None


def allows_all(record: str) -> bool:
    return any(t.lower() in ("all", "+all") for t in _terms(record))


class Coverage(enum.Enum):
    COVERED = "covered"
    NOT_COVERED = "not covered"
    UNKNOWN = "unknown"  # an unknown provider whose sending addresses sitemail cannot see
    UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class CoverageResult:
    result: Coverage
    summary: str
    hint: str = ""


@dataclass
class _Walk:
    """State of one evaluation: what is sought and the lookups left."""

    res: Resolver
    include: str | None
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = field(default_factory=list)
    lookups: int = 0
    error: str = ""

    def spend(self) -> bool:
        self.lookups += 1
        return self.lookups <= MAX_LOOKUPS

    def has(self, network: str) -> bool:
        try:
            net = ipaddress.ip_network(network, strict=False)
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for ip in self.ips)

    async def hosts_match(self, names: list[str]) -> bool:
        for name in names:
            found, error = await addresses(self.res, name)
            self.error = self.error or error
            if any(self.has(a) for a in found):
                return True
        return False

    async def term(self, domain: str, mechanism: str) -> bool:
        name, _, arg = mechanism.partition(":")
        name = name.split("/")[0].lower()
        if name in ("ip4", "ip6"):
            return self.has(arg)
        if name in ("include", "a", "mx", "redirect") and not self.spend():
            self.error = self.error or "more than 10 DNS lookups (RFC 7208 4.6.4)"
            return False
        target = (arg.split("/")[0] if arg else domain).lower().rstrip(".")
        if name in ("include", "redirect"):
            if self.include and target == self.include:
                return True
            return await self.record(target)
        if name == "a":
            return bool(self.ips) and await self.hosts_match([target])
        if name == "mx" and self.ips:
            hosts, error = await mx_hosts(self.res, target)
            self.error = self.error or error
            return await self.hosts_match(hosts[:10])
        return False

    async def record(self, domain: str, text: str | None = None) -> bool:
        if text is None:
            look = await txt(self.res, domain)
            self.error = self.error or look.error
            text = next((r for r in look.records if is_spf(r)), "")
        for term in _terms(text):
            match = _MECHANISM.fullmatch(term)
            if match and match["q"] in (None, "+") and await self.term(domain, match["m"]):
                return True
            if term.lower().startswith("redirect=") and await self.term(
                domain, "redirect:" + term[9:]
            ):
                return True
        return False


async def covers(res: Resolver, domain: str, record: str, smtp_host: str) -> CoverageResult:
    """Whether `record` (the SPF record of `domain`) authorises mail sent via `smtp_host`."""
    provider = provider_for(smtp_host)
    walk = _Walk(res, provider.include if provider else None)
    if provider is None:
        try:
            walk.ips = [ipaddress.ip_address(smtp_host.strip("[]"))]
        except ValueError:
            found, error = await addresses(res, smtp_host)
            if error:
                return CoverageResult(
                    Coverage.UNRESOLVED, f"could not resolve {smtp_host}: {error}"
                )
            walk.ips = [ipaddress.ip_address(a) for a in found]
    if await walk.record(domain, record):
        what = f"{provider.name}'s include:{provider.include}" if provider else smtp_host
        return CoverageResult(Coverage.COVERED, f"the record covers {what}")
    if walk.error:
        return CoverageResult(Coverage.UNRESOLVED, f"could not finish the check: {walk.error}")
    if provider:
        return CoverageResult(
            Coverage.NOT_COVERED,
            f"the record does not include {provider.name} ({provider.include})",
            f"add include:{provider.include} before the all term of the record at {domain}",
        )
    shown = ", ".join(str(ip) for ip in walk.ips) or "no address"
    return CoverageResult(
        Coverage.UNKNOWN,
        f"the record does not list {smtp_host} ({shown}); your provider may send from "
        "other addresses",
        f"add your provider's include, or ip4:/ip6: for the addresses {smtp_host} sends from",
    )
