"""Recording admin writes in the audit log, in the same transaction as the write.

The admin blueprint's guard names the acting admin for the duration of the request
(`acting_admin`, a context variable, so services stay free of HTTP); a service calls
`record()` before it commits. Writes made outside an admin request (CLI, tasks) are recorded
with no actor.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from app.admin.models import AuditEntry
from app.core.pagination import paginate
from app.extensions import db

acting_admin: ContextVar[tuple[int, str | None] | None] = ContextVar("acting_admin", default=None)


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def diff(before: dict | None, after: dict | None) -> dict:
    """{"field": {"before": old, "after": new}} for every field whose value differs."""
    before, after = before or {}, after or {}
    changes = {}
    for field in sorted(set(before) | set(after)):
        old, new = _plain(before.get(field)), _plain(after.get(field))
        if old != new:
            changes[field] = {"before": old, "after": new}
    return changes


def record(*, action: str, object_type: str, object_id: int | None, before: dict | None = None, after: dict | None = None) -> None:
    """Add an audit entry to the current transaction (the caller commits)."""
    actor = acting_admin.get()
    db.session.add(
        AuditEntry(
            actor_id=actor[0] if actor else None,
            actor_email=actor[1] if actor else None,
            action=action,
            object_type=object_type,
            object_id=object_id,
            changes=diff(before, after),
        )
    )


def list_entries(*, page: int, per_page: int, object_type: str | None, object_id: int | None) -> dict:
    """Audit entries newest first, optionally for one kind of object or one object."""
    statement = select(AuditEntry).order_by(AuditEntry.id.desc())
    if object_type:
        statement = statement.where(AuditEntry.object_type == object_type)
    if object_id is not None:
        statement = statement.where(AuditEntry.object_id == object_id)
    result = paginate(statement, page=page, per_page=per_page, scalars=True)
    rows = [
        {
            "id": entry.id,
            "actor_id": entry.actor_id,
            "actor_email": entry.actor_email,
            "action": entry.action,
            "object_type": entry.object_type,
            "object_id": entry.object_id,
            "changes": entry.changes,
            "created_at": entry.created_at,
        }
        for entry in result.items
    ]
    return result.envelope("entries", rows)
