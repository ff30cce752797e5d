"""Paging for long lists on pages: ?page=N, a fixed page size, and the links between pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.http import HttpRequest

PER_PAGE = 50


def page_of(
    items: Any, request: HttpRequest, *, per_page: int = PER_PAGE, param: str = "page"
) -> dict[str, Any]:
    """Template context for one page of `items` (a queryset or list): rows and pager links."""
    page: Page[Any] = Paginator(items, per_page).get_page(request.GET.get(param))
    others = {k: v for k, v in request.GET.items() if k != param}

    def link(number: int) -> str:
        return "?" + urlencode({**others, param: number})

    return {
        "rows": list(page.object_list),
        "number": page.number,
        "pages": page.paginator.num_pages,
        "count": page.paginator.count,
        "previous": link(page.previous_page_number()) if page.has_previous() else "",
        "next": link(page.next_page_number()) if page.has_next() else "",
    }
