"""`sitemail dkim keygen`: make a key, store it in `email.dkim`, say what to publish."""

from __future__ import annotations

from dataclasses import dataclass

from sitemail.deliverability import dkim
from sitemail.siteconfig import service as siteconfig
from sitemail.siteconfig.typed import DKIMConfig


@dataclass(frozen=True)
class NewKey:
    version: int  # the site configuration version that holds it
    record_name: str
    record: str

    def zone_line(self) -> str:
        """The record as a zone-file line, split into strings of at most 255 characters."""
        parts = [self.record[i : i + 255] for i in range(0, len(self.record), 255)]
        strings = " ".join(f'"{p}"' for p in parts)
        return f"{self.record_name}. IN TXT ( {strings} )"


def keygen(
    selector: str, domain: str, algorithm: dkim.Algorithm = "rsa-sha256", bits: int = 2048
) -> NewKey:
    """Generate a key and save it as `email.dkim` (validated like any edit).

    Rotation: give a new selector; keep the old selector's record published until mail queued
    before the change has been delivered, since those messages keep their signatures.
    """
    pem = dkim.generate_key(algorithm, bits)
    domain = domain.strip().rstrip(".").lower()
    version = siteconfig.patch(
        {("email.dkim",): {"domain": domain, "selector": selector.strip(), "privateKey": pem}},
        comment=f"DKIM key made by `sitemail dkim keygen` ({algorithm})",
    )
    config = DKIMConfig(domain, selector.strip(), pem)
    return NewKey(version, dkim.record_name(config), dkim.load_key(pem).txt_record())
