"""The admin blueprint: every admin endpoint of the shop, behind one role guard.

The guard runs before any admin view: no valid access token is 401, a valid token of a
guest or customer is 403 `Unauthorized access` (contract §2.7, §2.8). Views are attached by
the modules imported at the bottom, one per domain, and call that domain's services.
"""

from __future__ import annotations

from flask import g, request

from app.admin import audit
from app.auth.models import Role
from app.core.api import Blueprint
from app.core.errors import RoleForbidden
from app.core.security import current_identity

blp = Blueprint("admin", __name__, description="Admin panel: catalogue, orders, users")


@blp.before_request
def require_admin():
    # CORS preflights carry no cookies and must be answered without authentication.
    if request.method == "OPTIONS":
        return None
    identity = current_identity()
    if identity.role != Role.ADMIN:
        raise RoleForbidden()
    # Every write of this request is recorded in the audit log as this admin's.
    g.audit_token = audit.acting_admin.set((identity.user_id, identity.email))
    return None


@blp.teardown_request
def forget_admin(_exc=None):
    token = g.pop("audit_token", None)
    if token is not None:
        audit.acting_admin.reset(token)


# The views, one module per domain, attach themselves to `blp`.
from app.admin import audit_routes, catalog, orders, users  # noqa: E402,F401,I001
