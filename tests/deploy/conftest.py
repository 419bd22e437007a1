"""Fixtures of the deployment tests."""

from __future__ import annotations

import pytest
from celery import current_app as current_celery


@pytest.fixture
def restore_celery():
    """make_app() makes its Celery app the current one; later tests get the previous back."""
    previous = current_celery._get_current_object()
    yield
    previous.set_current()
    previous.set_default()
