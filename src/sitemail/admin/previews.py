"""Every email kind rendered with sample data, admin overrides applied, with their problems."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sitemail.mail import kinds
from sitemail.mail.render import RenderError, render
from sitemail.siteconfig import service as siteconfig
from sitemail.siteconfig.validate import validate


@dataclass(frozen=True)
class Preview:
    kind: str
    title: str
    subject: str = ""
    text: str = ""
    html: str = ""
    override: str | None = None  # the `email.templates` key, when the admin overrides it
    overridden: bool = False
    error: str = ""
    problems: list[str] = field(default_factory=list)  # validation messages for the override


def previews() -> list[Preview]:
    settings = siteconfig.get_settings()
    found = validate(siteconfig.current().contents).problems
    out = []
    for name in kinds.previewable_kinds():
        meta = kinds.get(name)
        overridden = meta.override is not None and meta.override in settings.email.templates
        problems = (
            [p.text for p in found if p.is_under(f"email.templates.{meta.override}")]
            if meta.override
            else []
        )
        try:
            r = render(name, _sample(meta.example, settings.external_url), settings)
        except RenderError as exc:
            out.append(
                Preview(
                    name,
                    meta.title,
                    override=meta.override,
                    overridden=overridden,
                    error=str(exc),
                    problems=problems,
                )
            )
            continue
        out.append(
            Preview(
                name, meta.title, r.subject, r.text, r.html, meta.override, overridden, "", problems
            )
        )
    return out


SAMPLE_BASE = "https://sourcegraph.example.com"


def _sample(example: Mapping[str, Any], external_url: str) -> dict[str, Any]:
    """The kind's sample context with its links on this site's externalURL."""
    return {
        key: value.replace(SAMPLE_BASE, external_url, 1)
        if isinstance(value, str) and value.startswith(SAMPLE_BASE)
        else value
        for key, value in example.items()
    }
