"""Fixtures of the reliability suite: two gunicorn backends on the suite's database, and the
stock books checked after every test."""

from __future__ import annotations

import pytest

from tests.cart.support import stock_invariant_violations
from tests.reliability.support import Backends


@pytest.fixture(scope="session")
def backends(app, tmp_path_factory):
    """Two backends started from entrypoint.sh (two gunicorn workers of four threads each)."""
    pair = Backends(tmp_path_factory.mktemp("reliability-backends"), 2)
    yield pair
    pair.stop()


@pytest.fixture(autouse=True)
def stock_books_balance(app):
    yield
    assert stock_invariant_violations(app) == []
