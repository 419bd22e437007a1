"""Cart test fixtures: after every test, reserved stock must equal what the cart lines hold
and never exceed the stock."""

import pytest

from tests.cart.support import stock_invariant_violations


@pytest.fixture(autouse=True)
def reserved_stock_invariant(app):
    yield
    assert stock_invariant_violations(app) == []
