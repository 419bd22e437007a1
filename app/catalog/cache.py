"""The catalogue read cache (a VersionedCache namespace, see app/core/versioned_cache.py).

Other domains call bump_catalog_version() after committing any change that a public
catalogue read shows: products, categories, images, featured entries, and `stock` (orders).
A change of `reserved_stock` alone needs no bump: only the product page shows it, and that
page is kept per product under the product's tag (app.core.invalidation.note_changed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from app.core.versioned_cache import VersionedCache

T = TypeVar("T")

CATALOG = VersionedCache("catalog", ttl_setting="CATALOG_CACHE_SECONDS")
VERSION_KEY = CATALOG.version_key


def bump_catalog_version() -> None:
    """Make every cached catalogue read obsolete (after the write's commit; never raises)."""
    CATALOG.bump()


def current_version() -> int | None:
    return CATALOG.current_version()


def cache_key(name: str, params: dict[str, Any], version: int) -> str:
    return CATALOG.key(name, params, version)


def cached_read(name: str, params: dict[str, Any], loader: Callable[[], T]) -> T:
    return CATALOG.cached_read(name, params, loader)


def _health():
    return CATALOG._health()
