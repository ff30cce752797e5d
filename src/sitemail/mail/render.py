"""Render an email kind's template set (or the admin's override) into subject, text and HTML."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import jinja2
from django.conf import settings as django_settings
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from sitemail.mail import kinds
from sitemail.mail.headers import one_line
from sitemail.mail.inline import inline
from sitemail.siteconfig.typed import SiteSettings, TemplateOverride


class RenderError(ValueError):
    """A kind is unknown or its templates could not be rendered with the given context."""


@dataclass(frozen=True)
class Rendered:
    """The three parts of one email, ready for `build`."""

    subject: str
    text: str
    html: str


def _paragraphs(value: object) -> Markup:
    """Plain text to HTML paragraphs: escaped, blank lines split paragraphs, newlines -> <br>."""
    blocks = _BLANK_LINE.split(str(value).replace("\r\n", "\n").strip())
    # Escaping a whole block leaves its newlines alone: one escape() per block, not per line;
    # the tags around escaped text are joined as plain strings (Markup's % and replace wrap
    # every argument) and marked safe once: every piece is escaped text or a literal tag.
    return Markup(  # noqa: S704
        "\n".join("<p>" + str(escape(b)).replace("\n", "<br>\n") + "</p>" for b in blocks if b)
    )


_BLANK_LINE = re.compile(r"\n\s*\n")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sitemail.mail", "templates"),
        # HTML escapes every value; text and subject are not HTML and must stay verbatim.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        # Built-in templates are ours: a missing variable is a bug, not an empty string.
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["paragraphs"] = _paragraphs
    return env


_ENV = _environment()

# SECURITY: admin overrides are arbitrary template source; the sandbox keeps them away from
# Python internals (attribute access to __class__ etc.). Undefined variables render empty, as
# in Sourcegraph's Go templates, so a typo does not stop password resets.
_OVERRIDE_HTML = ImmutableSandboxedEnvironment(autoescape=True, auto_reload=False)
_OVERRIDE_TEXT = ImmutableSandboxedEnvironment(autoescape=False, auto_reload=False)

# Overrides written for Sourcegraph use Go template syntax: {{.URL}} -> {{ URL }}.
_GO_VAR = re.compile(r"\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@functools.lru_cache(maxsize=64)
def _compile_override(source: str, html: bool) -> jinja2.Template:
    env = _OVERRIDE_HTML if html else _OVERRIDE_TEXT
    return env.from_string(_GO_VAR.sub(r"{{ \1 }}", source))


def _product() -> str:
    return str(getattr(django_settings, "PRODUCT_NAME", "Sourcegraph"))


def common_context(settings: SiteSettings) -> dict[str, Any]:
    """Variables every template sees; they win over the caller's keys of the same name."""
    return {"product": _product(), "host": settings.host, "external_url": settings.external_url}


def render(kind: str, context: Mapping[str, Any], settings: SiteSettings) -> Rendered:
    """Render `kind` with `context` (JSON-safe values) for this site's settings."""
    ctx = {**context, **common_context(settings)}
    meta = kinds.get(kind)
    override = settings.email.templates.get(meta.override) if meta.override else None
    try:
        if override is not None:
            return _render_override(override, ctx)
        return _render_builtin(kind, ctx)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(
            f"unknown email kind {kind!r}: add mail/templates/{kind}.subject.txt, "
            f"{kind}.txt and {kind}.html"
        ) from exc
    except jinja2.TemplateError as exc:
        where = f"email.templates.{meta.override}" if override is not None else f"kind {kind!r}"
        raise RenderError(f"cannot render {where}: {exc}") from exc


@functools.lru_cache(maxsize=128)
def _builtin_templates(kind: str) -> tuple[jinja2.Template, jinja2.Template, jinja2.Template]:
    """A kind's subject, text and HTML templates, compiled once per process (the files ship
    with the code: auto_reload is off)."""
    return (
        _ENV.get_template(f"{kind}.subject.txt"),
        _ENV.get_template(f"{kind}.txt"),
        _ENV.get_template(f"{kind}.html"),
    )


def _render_builtin(kind: str, ctx: dict[str, Any]) -> Rendered:
    # Template.render copies the variables and the globals (a ChainMap, slow to iterate) into a
    # new dict for every call: merge them once for the three templates instead. Jinja never
    # writes to a shared parent dict (assignments go to the template's own context).
    variables = {**_ENV.globals, **ctx}
    subject_t, text_t, html_t = _builtin_templates(kind)
    subject = _render(subject_t, variables)
    text = _render(text_t, variables)
    html = _render(html_t, variables)
    return Rendered(subject=one_line(subject), text=_tidy_text(text), html=inline(html))


def _render(template: jinja2.Template, variables: dict[str, Any]) -> str:
    return template.environment.concat(
        template.root_render_func(template.new_context(variables, shared=True))
    )


def _render_override(override: TemplateOverride, ctx: dict[str, Any]) -> Rendered:
    # Sourcegraph's documented override variables.
    ctx = {
        **ctx,
        "Host": ctx["host"],
        "Username": ctx.get("username", ""),
        "URL": ctx.get("url", ""),
    }
    subject = _compile_override(override.subject, False).render(ctx)
    html = _compile_override(override.html, True).render(ctx)
    if override.text is not None:
        text = _compile_override(override.text, False).render(ctx)
    else:
        text = html_to_text(html)
    return Rendered(subject=one_line(subject), text=_tidy_text(text), html=inline(html))


def _tidy_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    return text + "\n"


class _TextExtractor(HTMLParser):
    """Just enough HTML -> text for an override without a text part: blocks, breaks, links."""

    _BLOCKS = frozenset({"p", "div", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "li", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._href: list[str | None] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head", "title"):
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")
        if tag == "a":
            self._href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a" and self._href:
            href = self._href.pop()
            if href and not href.startswith(("#", "mailto:")):
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """A readable text alternative for an HTML body."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
