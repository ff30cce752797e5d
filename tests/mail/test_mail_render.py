"""Rendering: every kind, escaping per part, CSS inlining, admin overrides, JSON-safe contexts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from sitemail.mail import kinds
from sitemail.mail.render import RenderError, html_to_text, render
from sitemail.siteconfig.typed import SiteSettings, TemplateOverride


@pytest.mark.parametrize("kind", kinds.builtin_kinds())
def test_every_kind_renders(kind: str, site: SiteSettings) -> None:
    out = render(kind, kinds.get(kind).example, site)
    assert out.subject and "\n" not in out.subject
    assert out.text.strip()
    assert out.html.strip()
    assert "<style" not in out.html  # inlined
    assert 'style="' in out.html


def test_builtin_kinds_found() -> None:
    assert {"test_email", "django"} <= set(kinds.builtin_kinds())


def test_test_email_subject_and_body(site: SiteSettings) -> None:
    out = render("test_email", {"test_id": "ab12c"}, site)
    assert out.subject == "TEST: email sent from Sourcegraph (test ID: ab12c)"
    assert "https://sourcegraph.example.com" in out.text
    assert "ab12c" in out.text
    assert 'href="https://sourcegraph.example.com"' in out.html


def test_product_name_comes_from_django_settings(
    site: SiteSettings, settings: SettingsWrapper
) -> None:
    settings.PRODUCT_NAME = "Acme Code"
    out = render("test_email", {"test_id": "x"}, site)
    assert out.subject == "TEST: email sent from Acme Code (test ID: x)"


def test_html_escapes_values_text_and_subject_do_not(site: SiteSettings) -> None:
    evil = "<script>alert('x')</script> & \"q\""
    out = render("django", {"subject": evil, "body": evil}, site)
    assert out.subject == evil
    assert evil in out.text
    assert "<script>" not in out.html
    assert "&lt;script&gt;" in out.html
    assert "&amp;" in out.html


def test_common_context_wins_over_caller_keys(site: SiteSettings) -> None:
    out = render("test_email", {"test_id": "x", "external_url": "https://evil.example"}, site)
    assert "evil.example" not in out.text


def test_css_is_inlined(site: SiteSettings) -> None:
    html = render("test_email", {"test_id": "x"}, site).html
    assert "<style" not in html
    assert "background-color: #ffffff" in html


def test_missing_variable_in_builtin_kind_is_an_error(site: SiteSettings) -> None:
    with pytest.raises(RenderError, match="test_id"):
        render("test_email", {}, site)


def test_unknown_kind(site: SiteSettings) -> None:
    with pytest.raises(RenderError, match="unknown email kind 'nope'"):
        render("nope", {}, site)


@pytest.mark.parametrize("kind", kinds.builtin_kinds())
def test_context_round_trips_through_json(kind: str, site: SiteSettings) -> None:
    ctx = dict(kinds.get(kind).example)
    again = json.loads(json.dumps(ctx))
    assert render(kind, again, site) == render(kind, ctx, site)


# ---------------------------------------------------------------- admin overrides


@pytest.fixture
def probe_kind() -> Iterator[str]:
    """A test-only kind registered at run time; it has no template files, only the override."""
    kinds.register(kinds.Kind("probe_kind", secrets=frozenset({"url"}), override="resetPassword"))
    yield "probe_kind"
    kinds.unregister("probe_kind")


def test_override_replaces_builtin(probe_kind: str, site_with: Callable[..., SiteSettings]) -> None:
    site = site_with(
        templates={
            "resetPassword": TemplateOverride(
                subject="Reset on {{ Host }} for {{ Username }}",
                html='<p>Hi {{ Username }}, <a href="{{ URL }}">reset</a></p>',
                text="Hi {{ Username }}: {{ URL }}",
            )
        }
    )
    out = render(probe_kind, {"username": "<bob>", "url": "https://x.example/r?c=1&d=2"}, site)
    assert out.subject == "Reset on sourcegraph.example.com for <bob>"
    assert out.text == "Hi <bob>: https://x.example/r?c=1&d=2\n"
    assert "Hi &lt;bob&gt;" in out.html
    assert 'href="https://x.example/r?c=1&amp;d=2"' in out.html


def test_override_used_for_registered_builtin_kind(site_with: Callable[..., SiteSettings]) -> None:
    site = site_with(
        templates={
            "setPassword": TemplateOverride(subject="Set {{ Host }}", html="<b>{{ URL }}</b>")
        }
    )
    out = render("set_password", {"username": "a", "url": "https://u"}, site)
    assert out.subject == "Set sourcegraph.example.com"


def test_override_go_template_syntax_and_text_from_html(
    probe_kind: str, site_with: Callable[..., SiteSettings]
) -> None:
    site = site_with(
        templates={
            "resetPassword": TemplateOverride(
                subject="Reset ({{.Host}})",
                html=(
                    "<style>p{color:red}</style><p>Hello {{.Username}}</p>"
                    '<p><a href="{{.URL}}">Reset</a></p>'
                ),
            )
        }
    )
    out = render(probe_kind, {"username": "amy", "url": "https://r.example/x"}, site)
    assert out.subject == "Reset (sourcegraph.example.com)"
    assert out.text == "Hello amy\n\nReset (https://r.example/x)\n"
    assert 'style="color: red;"' in out.html or 'style="color:red' in out.html


def test_override_is_sandboxed(probe_kind: str, site_with: Callable[..., SiteSettings]) -> None:
    site = site_with(
        templates={
            "resetPassword": TemplateOverride(
                subject="x", html="{{ URL.__class__.__mro__[1].__subclasses__() }}"
            )
        }
    )
    with pytest.raises(RenderError, match=r"email\.templates\.resetPassword"):
        render(probe_kind, {"url": "u"}, site)


def test_override_absent_falls_back_to_builtin(site: SiteSettings) -> None:
    kinds.register(kinds.Kind("test_email", override="resetPassword", example={"test_id": "x"}))
    try:
        assert render("test_email", {"test_id": "x"}, site).subject.startswith("TEST:")
    finally:
        kinds.register(kinds.Kind("test_email", example={"test_id": "a1b2c"}))


def test_html_to_text() -> None:
    text = html_to_text("<h1>Title</h1><p>a<br>b &amp; c</p><script>x</script>")
    assert text == "Title\n\na\nb & c\n"
