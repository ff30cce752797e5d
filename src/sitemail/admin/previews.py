"""Every email kind rendered with sample data, admin overrides applied, with their problems."""

from __future__ import annotations

from dataclasses import dataclass, field

from sitemail.mail import kinds
from sitemail.mail.render import RenderError, render
from sitemail.siteconfig import service as siteconfig
from sitemail.siteconfig.validate import validate


@dataclass(frozen=True)
class Preview:
    kind: str
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
    for name in kinds.builtin_kinds():
        meta = kinds.get(name)
        overridden = meta.override is not None and meta.override in settings.email.templates
        problems = (
            [p.text for p in found if p.is_under(f"email.templates.{meta.override}")]
            if meta.override
            else []
        )
        try:
            r = render(name, dict(meta.example), settings)
        except RenderError as exc:
            out.append(
                Preview(
                    name,
                    override=meta.override,
                    overridden=overridden,
                    error=str(exc),
                    problems=problems,
                )
            )
            continue
        out.append(
            Preview(name, r.subject, r.text, r.html, meta.override, overridden, "", problems)
        )
    return out
