"""Paged lists of the API, shaped in one place: items, counts and the links to the neighbouring pages.

``next`` and ``prev`` are relative URLs (this path and query string, with ``page`` changed) or null, and are also
sent as an RFC 8288 ``Link`` header. A page past the end is a 200 with no items, a ``message`` that says so and a
``prev`` link to the last page, so a client that followed a stale link finds its way back.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from flask import Response, jsonify, request
from pydantic import BaseModel, Field


class PageLinks(BaseModel):
    """The fields every paged list has besides its items."""

    total: int = Field(description="items in the whole list")
    page: int
    per_page: int
    pages: int = Field(description="pages in the whole list (0 when it is empty)")
    next: str | None = Field(description="the next page's URL (this path and query), or null on the last page")
    prev: str | None = Field(description="the previous page's URL, or null on the first; past the end, the last page")
    message: str | None = Field(None, description="on a page past the end: says so and names the last page; on a "
                                                  "ranked list: why it is empty or only weakly related")


def page_response(items: Sequence[dict], total: int, page: int, per_page: int, *, query: dict | None = None,
                  message: str | None = None) -> Response:
    """The JSON answer for one page of a list of ``total`` items; a ranked list adds its ``query`` as understood
    and, when it has one, the ranking's ``message`` (why it is empty, or weak)."""
    pages = -(-total // per_page)
    last = max(pages, 1)
    body: dict = {"items": list(items), "total": total, "page": page, "per_page": per_page, "pages": pages,
                  "next": _link(page + 1) if page < pages else None,
                  "prev": _link(min(page - 1, last)) if page > 1 else None}
    if query is not None:
        body["query"] = query
    if message:
        body["message"] = message
    if page > last and (total or not message):  # an empty ranking's own message says more
        body["message"] = (f"page {page} is past the end: {total} item{'s' * (total != 1)} make{'s' * (total == 1)} "
                           f"{pages} page{'s' * (pages != 1)} of {per_page}; the last is page {last}")
    response = jsonify(body)
    links = [f'<{body[rel]}>; rel="{rel}"' for rel in ("next", "prev") if body[rel]]
    if links:
        response.headers["Link"] = ", ".join(links)
    return response


def _link(page: int) -> str:
    args = request.args.copy()
    args["page"] = str(page)
    return f"{request.path}?{urlencode(list(args.items(multi=True)))}"
