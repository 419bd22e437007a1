"""Page arguments and the paginated envelope every list endpoint shares (contract §1.8).

A list endpoint declares its query schema by subclassing PageArgsSchema (setting its page
sizes), runs `paginate()` on a select() statement, and answers `page.envelope("items", rows)`:

    {"items": [...], "total_pages": 2, "current_page": 1, "total_items": 11}

Totals are counted in the database through a subquery (never by loading rows), and a page
past the end is an empty page, not an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields, post_load, validate
from sqlalchemy import Select, func, select

from app.core.schemas import LenientRequestSchema, WholeNumber

# OFFSET = (page - 1) * per_page must stay far inside a 64-bit integer.
MAX_PAGE = 1_000_000_000
DEFAULT_MAX_PER_PAGE = 50
PAGE_ERROR = "Page must be a positive whole number"
PER_PAGE_ERROR = "per_page must be a positive whole number"


class PageArgsSchema(LenientRequestSchema):
    """`page` (default 1) and `per_page` (default DEFAULT_PER_PAGE, silently capped at
    MAX_PER_PAGE). Subclasses set the two sizes and add their own filters; unknown query
    parameters are ignored, as browsers and proxies add their own."""

    DEFAULT_PER_PAGE = 10
    MAX_PER_PAGE = DEFAULT_MAX_PER_PAGE

    page = WholeNumber(
        load_default=1,
        validate=validate.Range(min=1, max=MAX_PAGE, error=PAGE_ERROR),
        error_messages={"invalid": PAGE_ERROR, "null": PAGE_ERROR},
    )
    per_page = WholeNumber(
        load_default=None,
        validate=validate.Range(min=1, error=PER_PAGE_ERROR),
        error_messages={"invalid": PER_PAGE_ERROR, "null": PER_PAGE_ERROR},
    )

    @post_load
    def _resolve_page_size(self, data: dict, **_kwargs) -> dict:
        requested = data.get("per_page")
        data["per_page"] = min(requested or self.DEFAULT_PER_PAGE, self.MAX_PER_PAGE)
        return data


@dataclass(frozen=True)
class Page:
    """One page of rows plus what the envelope needs."""

    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.per_page) if self.total else 0

    def envelope(self, key: str, items: list[Any] | None = None) -> dict[str, Any]:
        """The contract's body: `key` holds the items (these rows unless others are
        given, e.g. serialised ones)."""
        return page_envelope(
            key,
            self.items if items is None else items,
            total=self.total,
            page=self.page,
            per_page=self.per_page,
        )


def page_envelope(
    key: str, items: list[Any], *, total: int, page: int, per_page: int
) -> dict[str, Any]:
    return {
        key: items,
        "total_pages": math.ceil(total / per_page) if total else 0,
        "current_page": int(page),
        f"total_{key}": int(total),
    }


def count_rows(statement: Select, *, session) -> int:
    """COUNT(*) over `statement` as a subquery (its ORDER BY dropped): one statement."""
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    return int(session.scalar(counted) or 0)


def paginate(
    statement: Select,
    *,
    page: int,
    per_page: int,
    session=None,
    count_statement: Select | None = None,
    scalars: bool = False,
) -> Page:
    """Run `statement` for one page: exactly two statements, a count and the page itself,
    whatever the page size. `count_statement` may give a cheaper statement selecting the
    same rows (e.g. without the joins that only add columns). With scalars=True the items
    are the first column's values (ORM objects for `select(Model)`), else Row objects."""
    if session is None:
        from app.extensions import db

        session = db.session
    total = count_rows(
        count_statement if count_statement is not None else statement, session=session
    )
    paged = statement.limit(per_page).offset((page - 1) * per_page)
    result = session.execute(paged)
    items = list(result.scalars()) if scalars else list(result)
    return Page(items=items, total=total, page=page, per_page=per_page)


def envelope_schema(name: str, key: str, item_schema: type[Schema] | Schema) -> type[Schema]:
    """A response schema for the envelope (used for the OpenAPI document and to serialise)."""
    nested = item_schema if isinstance(item_schema, Schema) else item_schema()
    return Schema.from_dict(
        {
            key: fields.List(fields.Nested(nested), required=True),
            "total_pages": fields.Integer(required=True),
            "current_page": fields.Integer(required=True),
            f"total_{key}": fields.Integer(required=True),
        },
        name=name,
    )
