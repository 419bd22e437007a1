"""Admin account endpoints and the dashboard (contract §2.7.1–§2.7.3). The admin blueprint's
guard has already checked the role."""

from __future__ import annotations

from marshmallow import Schema, fields

from app.admin.routes import blp
from app.auth import admin_services
from app.auth.schemas import UserSchema
from app.core.db import utcnow
from app.core.pagination import PageArgsSchema, envelope_schema
from app.core.schemas import ErrorSchema, MoneyAmount


class UserRowSchema(Schema):
    id = fields.Integer()
    full_name = fields.String()
    email = fields.String(allow_none=True)
    role = fields.String()


class UserPageArgsSchema(PageArgsSchema):
    DEFAULT_PER_PAGE = 10


class DashboardSchema(Schema):
    total_users = fields.Integer()
    ongoing_orders = fields.Integer()
    orders_overall = fields.Integer()
    total_revenue = MoneyAmount()
    graph_data = fields.Dict(keys=fields.String(), values=fields.Integer())


UserPageSchema = envelope_schema("UserPage", "users", UserRowSchema)


@blp.route("/user/admin", methods=["GET"])
@blp.arguments(UserPageArgsSchema, location="query", as_kwargs=True)
@blp.response(200, UserPageSchema)
def list_users(page, per_page):
    """List every account, guests included, newest first, ten per page."""
    return admin_services.list_users(page=page, per_page=per_page)


@blp.route("/user/admin/dashboard", methods=["GET"])
@blp.response(200, DashboardSchema)
def dashboard():
    """Sales figures: users, orders, revenue and orders per month of this year."""
    return admin_services.dashboard(now=utcnow())


@blp.route("/user/admin/<int:user_id>", methods=["GET"])
@blp.response(200, UserSchema)
@blp.alt_response(400, schema=ErrorSchema, description="User not found")
def get_user(user_id):
    """Show one account (never its password hash or tokens)."""
    return admin_services.get_user(user_id=user_id)
