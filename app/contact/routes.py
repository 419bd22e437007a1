"""POST /user/contact-us (contract §2.9)."""

from __future__ import annotations

from flask import current_app

from app.contact import services
from app.contact.schemas import ContactSchema
from app.core.api import Blueprint
from app.core.request_info import client_address
from app.core.schemas import ErrorSchema, MessageSchema
from app.extensions import limiter

RATE_LIMIT_MESSAGE = "Reached limit for today. Please try again later."

blp = Blueprint("contact", __name__, url_prefix="/user", description="Contact form")


@blp.route("/contact-us", methods=["POST"])
@limiter.limit(
    lambda: current_app.config["CONTACT_RATE_LIMIT"],
    key_func=client_address,
    scope="CONTACT_RATE_LIMIT",
    error_message=RATE_LIMIT_MESSAGE,
    # Only messages actually sent count: a typo in the form must not use up the day.
    deduct_when=lambda response: response.status_code == 200,
)
@blp.arguments(ContactSchema)
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Missing or invalid fields")
@blp.alt_response(429, schema=ErrorSchema, description="Daily limit reached")
@blp.alt_response(503, schema=ErrorSchema, description="No contact address is configured")
def contact_us(data):
    """Send a message to the shop owner."""
    services.send_contact_message(**data)
    return {"message": "Email sent successfully, thanks for getting in touch!"}
