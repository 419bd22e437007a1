"""GET /admin/audit-log: who changed what in the admin panel, newest first."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.admin import audit
from app.admin.routes import blp
from app.core.db import MAX_ROW_ID
from app.core.pagination import PageArgsSchema, envelope_schema
from app.core.schemas import WholeNumber

OBJECT_TYPES = ("product", "category", "featured_product", "product_image", "order")


class AuditArgsSchema(PageArgsSchema):
    DEFAULT_PER_PAGE = 20
    MAX_PER_PAGE = 100

    object_type = fields.String(load_default=None, validate=validate.OneOf(OBJECT_TYPES))
    object_id = WholeNumber(load_default=None, validate=validate.Range(min=1, max=MAX_ROW_ID))


class AuditEntrySchema(Schema):
    id = fields.Integer()
    actor_id = fields.Integer(allow_none=True)
    actor_email = fields.String(allow_none=True)
    action = fields.String()
    object_type = fields.String()
    object_id = fields.Integer(allow_none=True)
    changes = fields.Dict()
    created_at = fields.DateTime(format="iso")


AuditPageSchema = envelope_schema("AuditPage", "entries", AuditEntrySchema)


@blp.route("/admin/audit-log", methods=["GET"])
@blp.arguments(AuditArgsSchema, location="query", as_kwargs=True)
@blp.response(200, AuditPageSchema)
def list_audit_entries(page, per_page, object_type, object_id):
    """List admin writes newest first, optionally for one kind of object or one object."""
    return audit.list_entries(page=page, per_page=per_page, object_type=object_type, object_id=object_id)
