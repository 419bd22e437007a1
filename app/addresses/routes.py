"""Address book endpoints under /address (contract §2.2). Every address is looked up through
its owner; someone else's address is answered exactly like a missing one."""

from __future__ import annotations

from app.addresses import services
from app.addresses.schemas import AddressCreateSchema, AddressSchema, AddressUpdateSchema
from app.core.api import Blueprint
from app.core.schemas import ErrorSchema, MessageSchema
from app.core.security import account_required, any_auth_required, current_identity

blp = Blueprint("address", __name__, url_prefix="/address", description="The address book")


@blp.route("/", methods=["GET"])
@any_auth_required
@blp.response(200, AddressSchema(many=True))
@blp.alt_response(401, schema=ErrorSchema, description="No valid access token")
def list_addresses():
    """List the caller's addresses, default first (an empty list when there are none)."""
    return services.list_addresses(user_id=current_identity().user_id)


@blp.route("/", methods=["POST"])
@any_auth_required
@blp.arguments(AddressCreateSchema)
@blp.response(201, AddressSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Invalid fields or five addresses already")
@blp.alt_response(401, schema=ErrorSchema, description="No valid access token")
def create_address(data):
    """Add an address (a guest's new address replaces the previous one)."""
    return services.create_address(user_id=current_identity().user_id, **data)


@blp.route("/default", methods=["GET"])
@any_auth_required
@blp.response(200, AddressSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Default address not found")
@blp.alt_response(401, schema=ErrorSchema, description="No valid access token")
def get_default_address():
    """Return the caller's default address."""
    return services.get_default_address(user_id=current_identity().user_id)


@blp.route("/<int:address_id>", methods=["GET"])
@any_auth_required
@blp.response(200, AddressSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Address not found")
@blp.alt_response(401, schema=ErrorSchema, description="No valid access token")
def get_address(address_id):
    """Return one of the caller's addresses."""
    return services.get_address(user_id=current_identity().user_id, address_id=address_id)


@blp.route("/<int:address_id>", methods=["PUT"])
@account_required
@blp.arguments(AddressUpdateSchema)
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Address not found or invalid fields")
@blp.alt_response(403, schema=ErrorSchema, description="Guests cannot edit addresses")
def update_address(data, address_id):
    """Change fields of one of the account's addresses, or make it the default."""
    services.update_address(user_id=current_identity().user_id, address_id=address_id, changes=data)
    return {"message": "Address updated successfully"}


@blp.route("/<int:address_id>", methods=["DELETE"])
@account_required
@blp.response(200, MessageSchema)
@blp.alt_response(400, schema=ErrorSchema, description="Address not found")
@blp.alt_response(403, schema=ErrorSchema, description="Guests cannot delete addresses")
def delete_address(address_id):
    """Delete one of the account's addresses; another one becomes default if needed."""
    services.delete_address(user_id=current_identity().user_id, address_id=address_id)
    return {"message": "Address deleted successfully"}
