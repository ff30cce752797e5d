"""CSS inlining that does the page around a message's content once, not for every message.

Built-in HTML templates extend `_base.html`, whose content block sits between the two marker
comments below. Everything outside the markers (head, styles, header, footer) is the same for
every message of a kind on a site and is most of css_inline's work, so it is inlined once per
page and cached. Each message then inlines only its content, inside a reduced document: the
content's chain of ancestor elements (no siblings, no inline styles) and only the rules whose
subject (the last part of a selector) could be an element of the content.

The result is exactly what css_inline returns for the whole document (tests/mail compare both,
for every kind and for generated content), because a page is only reduced when its stylesheet
selects on an element and its ancestors alone: no sibling, attribute or pseudo-class
selectors, no at-rules. Content that changes the markup around it (a stray end tag) is caught
by comparing the reduced document's output around the content with the expected one; those
messages, and any page that cannot be reduced, are inlined whole.
"""

from __future__ import annotations

import functools
import html as html_lib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import css_inline

START = "<!--sitemail:content-->"
END = "<!--/sitemail:content-->"

# Remote stylesheets are never fetched: rendering must not touch the network.
INLINER = css_inline.CSSInliner(load_remote_stylesheets=False)

_STYLE = re.compile(r"<style[^>]*>(.*?)</style\s*>", re.I | re.S)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
# Selectors that look at more than an element and its ancestors; at-rules; escapes.
_UNSUPPORTED = re.compile(r"[:+~\[@\\]")
_COMPOUND = re.compile(r"(\*|[a-zA-Z][\w-]*)?((?:[.#][\w-]+)*)")
_STYLE_ATTR = re.compile(r' style="[^"]*"')
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
# Elements the HTML parser can create without a start tag in the text (`</p>` makes a <p>),
# and those that are never inside a body's content.
_IMPLIED = frozenset({"tbody", "tr", "colgroup", "p", "br"})
_OUTSIDE = frozenset({"html", "head", "body"})


@dataclass(frozen=True)
class _Rule:
    text: str  # `selectors { declarations }` as written
    # Per selector of the group: what must all be in the content's text for its subject to
    # be there (lowercase); () when the subject could be any element.
    needs: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class _Page:
    before: str  # the inlined page up to the content
    after: str  # and after it
    prefix: str  # the reduced document up to its stylesheet
    suffix: str  # from the end of the stylesheet to the content: the content's ancestors
    close: str  # their end tags
    rules: tuple[_Rule, ...]
    words: tuple[str, ...]  # every word some rule needs
    # the words in a content -> the rules that may apply to it
    stylesheets: dict[frozenset[str], str] = field(default_factory=dict, compare=False)
    # stylesheet -> what the reduced document inlines to around the content, whatever it is
    probes: dict[str, tuple[str, str]] = field(default_factory=dict, compare=False)

    def stylesheet(self, content: str) -> str:
        """The rules whose subject could be an element of `content` (lowercase text)."""
        present = frozenset([word for word in self.words if word in content])
        css = self.stylesheets.get(present)
        if css is None:
            css = "\n".join(
                rule.text
                for rule in self.rules
                if any(all(word in present for word in need) for need in rule.needs)
            )
            if len(self.stylesheets) >= 64:
                self.stylesheets.clear()
            self.stylesheets[present] = css
        return css

    def around(self, css: str) -> tuple[str, str]:
        probe = self.probes.get(css)
        if probe is None:
            out = INLINER.inline(self.prefix + css + self.suffix + START + END + self.close)
            head, found, tail = out.partition(START + END)
            probe = (head + START, END + tail) if found else ("\0", "\0")  # never matches
            if len(self.probes) >= 64:
                self.probes.clear()
            self.probes[css] = probe
        return probe


def inline(html: str) -> str:
    """`html` with its <style> rules inlined, markers removed: css_inline's result, faster."""
    head, start, rest = html.partition(START)
    content, end, tail = rest.partition(END)
    text = content.lower()
    if not (start and end) or START in rest or END in tail or "<style" in text:
        return INLINER.inline(html.replace(START, "").replace(END, ""))
    page = _page(head + START + END + tail)
    if page is not None:
        if "&" in text:  # class="&#x61;" is class="a"
            text = html_lib.unescape(text).lower()
        css = page.stylesheet(text)
        before, after = page.around(css)
        reduced = INLINER.inline(
            page.prefix + css + page.suffix + start + content + end + page.close
        )
        # The content cannot have changed anything around it (an unbalanced end tag could).
        if reduced.startswith(before) and reduced.endswith(after):
            return page.before + reduced[len(before) : len(reduced) - len(after)] + page.after
    return INLINER.inline(head + content + tail)


@functools.lru_cache(maxsize=64)
def _page(skeleton: str) -> _Page | None:
    """The page around the content markers (adjacent in `skeleton`), or None: inline it whole."""
    if "<link" in skeleton.lower():
        return None
    rules = _rules("\n".join(_STYLE.findall(skeleton)))
    if rules is None:
        return None
    inlined = INLINER.inline(skeleton)
    before, found, after = inlined.partition(START + END)
    if not found:
        return None
    # css_inline's output has every end tag written out: the open elements at the marker are
    # exactly the content's ancestors. Their inline styles matter to no selector here.
    ancestors = _Ancestors()
    ancestors.feed(before)
    if not ancestors.stack or ancestors.stack[0][0] != "html":
        return None
    (_, html_tag), *inner = ancestors.stack
    return _Page(
        before=before,
        after=after,
        prefix="<!DOCTYPE html>" + _STYLE_ATTR.sub("", html_tag) + "<head><style>",
        suffix="</style></head>" + "".join(_STYLE_ATTR.sub("", text) for _, text in inner),
        close="".join(f"</{tag}>" for tag, _ in reversed(ancestors.stack)),
        rules=rules,
        words=tuple(sorted({word for rule in rules for need in rule.needs for word in need})),
    )


def _rules(css: str) -> tuple[_Rule, ...] | None:
    """The stylesheet's rules, or None if any selects on more than elements and ancestors."""
    css = _CSS_COMMENT.sub("", css)
    if _RULE.sub("", css).strip():
        return None  # text outside rules: an at-rule or something css_inline parses its way
    rules = []
    for selectors, declarations in _RULE.findall(css):
        if _UNSUPPORTED.search(selectors):
            return None
        needs: list[tuple[str, ...]] = []
        for selector in selectors.split(","):
            subject = re.split(r"[\s>]+", selector.strip())[-1]
            match = _COMPOUND.fullmatch(subject)
            if not subject or match is None:
                return None
            tag, rest = (match[1] or "*").lower(), match[2].lower()
            words = [w for w in re.split(r"[.#]", rest) if w]
            if tag in _OUTSIDE:
                continue
            if tag == "*" or tag in _IMPLIED:
                needs.append(tuple(words))
            else:
                needs.append(("<" + tag, *words))
        rules.append(_Rule(f"{selectors}{{{declarations}}}", tuple(needs)))
    return tuple(rules)


class _Ancestors(HTMLParser):
    """The open elements (name, start tag as written) at the end of the fed HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID:
            self.stack.append((tag, self.get_starttag_text() or f"<{tag}>"))

    def handle_endtag(self, tag: str) -> None:
        if self.stack and self.stack[-1][0] == tag:
            self.stack.pop()
        else:  # not what css_inline writes: leave this page to the whole-document path
            self.stack.insert(0, ("", ""))
