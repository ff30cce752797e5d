"""What the console's "Sender authentication" panel shows: the signing setup and the checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from sitemail.deliverability import dkim, dnscheck
from sitemail.siteconfig.typed import SiteSettings


@dataclass(frozen=True)
class Panel:
    from_domain: str
    dkim_domain: str = ""
    selector: str = ""
    algorithm: str = ""
    record_name: str = ""
    record: str = ""  # the TXT value to publish for the configured key
    checks: list[dnscheck.Check] | None = None  # None: not run (they need a click)
    nameservers: tuple[str, ...] = field(default_factory=tuple)


def panel(settings: SiteSettings, *, run_checks: bool) -> Panel:
    address = settings.email.address or ""
    config = settings.email.dkim
    key = dkim.load_key(config.private_key) if config else None
    return Panel(
        from_domain=address.rpartition("@")[2],
        dkim_domain=config.domain if config else "",
        selector=config.selector if config else "",
        algorithm=key.algorithm if key else "",
        record_name=dkim.record_name(config) if config else "",
        record=key.txt_record() if key else "",
        checks=dnscheck.check_site(settings) if run_checks else None,
        nameservers=settings.email.dns_nameservers,
    )
