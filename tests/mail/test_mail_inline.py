"""CSS inlining with the page cached: always css_inline's own result for the whole document."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sitemail.mail import kinds
from sitemail.mail.inline import END, INLINER, START, _page, inline
from sitemail.mail.render import _ENV, _render, common_context, render
from sitemail.siteconfig.typed import SiteSettings


def whole(html: str) -> str:
    return INLINER.inline(html.replace(START, "").replace(END, ""))


def raw_html(kind: str, context: dict[str, object], site: SiteSettings) -> str:
    """The template's HTML before inlining, markers included."""
    return _render(
        _ENV.get_template(f"{kind}.html"), {**_ENV.globals, **context, **common_context(site)}
    )


def page_of(html: str) -> object:
    head, _, rest = html.partition(START)
    return _page(head + START + END + rest.partition(END)[2])


def test_every_kind_is_inlined_as_a_whole_document(site: SiteSettings) -> None:
    for kind in kinds.builtin_kinds():
        html = raw_html(kind, dict(kinds.get(kind).example), site)
        assert START in html and END in html
        assert page_of(html) is not None  # the fast path is taken
        assert inline(html) == whole(html)
        assert START not in render(kind, kinds.get(kind).example, site).html


_fragment = st.one_of(
    st.sampled_from(
        [
            "<p>",
            "</p>",
            '<p class="muted">',
            '<span class="code">',
            "</span>",
            '<a href="https://x.example/?a=1&amp;b=2" class="button">',
            "</a>",
            "<br>",
            "<div>",
            "</div>",
            '<div class="content">',
            "<table><tr><td>",
            "</td></tr></table>",
            "</td>",
            "</tr></table>",
            "<b>",
            '<i class="&#109;uted">',
            "<P CLASS=MUTED>",
            '<p style="color: green">',
            "<!-- c -->",
            "&amp; &lt; &#39; &nbsp;",
            "\n",
            " ",
            "text ",
            "content code card",
            "<style>p { color: red }</style>",
            START,
            END,
        ]
    ),
    st.text(max_size=10),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.lists(_fragment, max_size=12).map("".join))
@example(content='</td></tr></table><p class="muted">out</p>')
@example(content="<p>unclosed <b>bold")
def test_any_content_is_inlined_as_a_whole_document(content: str, site: SiteSettings) -> None:
    # The django kind puts the caller's HTML in the page as it is.
    html = raw_html("django", {"subject": "s", "body": "b", "html": content}, site)
    assert inline(html) == whole(html)


def test_selectors_beyond_ancestors_inline_the_whole_document() -> None:
    for css in (
        "p:first-child { color: red }",
        "p + p { color: red }",
        "div ~ p { color: red }",
        "[class] p { color: red }",
        "@media (max-width: 1px) { p { color: red } }",
    ):
        html = (
            f"<!DOCTYPE html><html><head><style>{css}</style></head><body><div>{START}"
            f"<p>a</p><p>b</p>{END}</div><p>c</p></body></html>"
        )
        assert page_of(html) is None
        assert inline(html) == whole(html)


def test_html_without_markers_is_inlined_whole() -> None:
    html = "<html><head><style>p { color: red }</style></head><body><p>x</p></body></html>"
    assert inline(html) == INLINER.inline(html)
    assert 'style="color: red;"' in inline(html)
