"""The shared pagination helper (app.core.pagination), used by every list endpoint."""

import pytest
from marshmallow import ValidationError
from sqlalchemy import select

from app.catalog.models import Category
from app.core.pagination import PageArgsSchema, page_envelope, paginate
from app.extensions import db
from tests.catalog.support import counting_statements


class ThingArgs(PageArgsSchema):
    DEFAULT_PER_PAGE = 6
    MAX_PER_PAGE = 20


def test_page_args_defaults_cap_and_errors():
    assert ThingArgs().load({}) == {"page": 1, "per_page": 6}
    assert ThingArgs().load({"page": "3", "per_page": "500", "other": "x"}) == {
        "page": 3,
        "per_page": 20,
    }
    for bad in ({"page": "0"}, {"page": "x"}, {"per_page": "0"}, {"page": "2.5"}):
        with pytest.raises(ValidationError):
            ThingArgs().load(bad)


def test_envelope_shape():
    assert page_envelope("orders", [1, 2], total=13, page=2, per_page=6) == {
        "orders": [1, 2],
        "total_pages": 3,
        "current_page": 2,
        "total_orders": 13,
    }
    assert page_envelope("users", [], total=0, page=1, per_page=10)["total_pages"] == 0


def test_paginate_counts_in_the_database_with_two_statements(app):
    with app.app_context():
        db.session.add_all(Category(name=f"C{n:02d}") for n in range(25))
        db.session.commit()
        statement = select(Category).order_by(Category.id.desc())
        with counting_statements(app) as counter:
            page = paginate(statement, page=3, per_page=10, scalars=True)
        assert counter.count == 2
        assert "count(*)" in counter.statements[0].lower()
        assert "limit" not in counter.statements[0].lower()
        assert [c.name for c in page.items] == ["C04", "C03", "C02", "C01", "C00"]
        assert page.envelope("categories", ["x"]) == {
            "categories": ["x"],
            "total_pages": 3,
            "current_page": 3,
            "total_categories": 25,
        }
        beyond = paginate(statement, page=9, per_page=10)
        assert beyond.items == [] and beyond.total == 25
        db.session.remove()
