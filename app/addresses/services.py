"""The address book: at most five addresses per account and exactly one default whenever the
user has any; a guest keeps a single address that each new one replaces.

Every write locks the owner's user row first, so two requests of the same user run one after
the other (the limit of five and the single default stay exact; a partial unique index on
`addresses` backs the single default). Addresses are always looked up through their owner:
someone else's address is answered exactly like a missing one.
"""

from __future__ import annotations

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from app.addresses.errors import AddressErrorCode
from app.addresses.models import Address
from app.auth.models import Role, User
from app.core.db import is_row_id
from app.core.errors import AppError, NotFound
from app.extensions import db

MAX_ADDRESSES = 5
# Ids beyond PostgreSQL's integer range cannot exist; looking them up would be a database error.
ADDRESS_FIELDS = ("full_name", "address_line_1", "address_line_2", "city", "postcode")

ADDRESS_NOT_FOUND = "Address not found"


def _lock_owner(session: Session, user_id: int) -> User:
    # FOR NO KEY UPDATE: serialises this user's address writes without blocking inserts that
    # merely reference the user (sessions, orders).
    user = session.scalars(
        select(User).where(User.id == user_id).with_for_update(key_share=True)
    ).first()
    if user is None:
        raise NotFound(ADDRESS_NOT_FOUND, code=AddressErrorCode.ADDRESS_NOT_FOUND)
    return user


def _owned_address(session: Session, *, user_id: int, address_id: int) -> Address:
    address = None
    if is_row_id(address_id):
        address = session.scalars(
            select(Address)
            .where(Address.id == address_id, Address.user_id == user_id)
            .execution_options(populate_existing=True)
        ).first()
    if address is None:
        raise NotFound(ADDRESS_NOT_FOUND, code=AddressErrorCode.ADDRESS_NOT_FOUND)
    return address


def _unset_default(session: Session, user_id: int) -> None:
    session.execute(
        update(Address)
        .where(Address.user_id == user_id, Address.is_default.is_(True))
        .values(is_default=False)
        .execution_options(synchronize_session=False)
    )


# --- reading ----------------------------------------------------------------------------------


def list_addresses(*, user_id: int) -> list[Address]:
    """The user's addresses, default first, then in the order they were added. Read only."""
    return list(
        db.session.scalars(
            select(Address)
            .where(Address.user_id == user_id)
            .order_by(case((Address.is_default.is_(True), 0), else_=1), Address.id)
        )
    )


def get_default_address(*, user_id: int) -> Address:
    """The user's default address. Read only."""
    address = db.session.scalars(
        select(Address).where(Address.user_id == user_id, Address.is_default.is_(True))
    ).first()
    if address is None:
        raise NotFound("Default address not found", code=AddressErrorCode.DEFAULT_NOT_FOUND)
    return address


def get_address(*, user_id: int, address_id: int) -> Address:
    """One of the user's addresses. Read only."""
    return _owned_address(db.session, user_id=user_id, address_id=address_id)


# --- writing ----------------------------------------------------------------------------------


def create_address(
    *,
    user_id: int,
    full_name: str,
    address_line_1: str,
    address_line_2: str | None = None,
    city: str = "",
    postcode: str = "",
    is_default: bool = False,
) -> Address:
    """Add an address. The first one becomes the default, `is_default` moves the default to
    it, and for a guest it replaces every earlier address (and is the default).

    Side effects: inserts the address, may unset the previous default or delete a guest's
    earlier address; commits."""
    session = db.session
    try:
        owner = _lock_owner(session, user_id)
        if owner.role == Role.GUEST:
            session.execute(
                delete(Address)
                .where(Address.user_id == user_id)
                .execution_options(synchronize_session=False)
            )
            is_default = True
        else:
            count = session.scalar(
                select(func.count()).select_from(Address).where(Address.user_id == user_id)
            )
            if count >= MAX_ADDRESSES:
                raise AppError(
                    "You have reached the maximum number of addresses",
                    code=AddressErrorCode.ADDRESS_LIMIT,
                )
            if count == 0:
                is_default = True
            elif is_default:
                _unset_default(session, user_id)
        address = Address(
            user_id=user_id,
            full_name=full_name,
            address_line_1=address_line_1,
            address_line_2=address_line_2,
            city=city,
            postcode=postcode,
            is_default=is_default,
        )
        session.add(address)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return address


def update_address(*, user_id: int, address_id: int, changes: dict) -> Address:
    """Change some of the five address fields of one of the user's addresses and/or make it
    the default (which unsets the previous one). The default cannot be switched off directly:
    another address is made default instead.

    Side effects: updates the address, may unset the previous default; commits."""
    session = db.session
    try:
        _lock_owner(session, user_id)
        address = _owned_address(session, user_id=user_id, address_id=address_id)
        for name in ADDRESS_FIELDS:
            if name in changes:
                setattr(address, name, changes[name])
        wanted_default = changes.get("is_default")
        if wanted_default is True and not address.is_default:
            _unset_default(session, user_id)
            address.is_default = True
        elif wanted_default is False and address.is_default:
            raise AppError(
                "The default address cannot be unset; make another address the default instead",
                code=AddressErrorCode.DEFAULT_REQUIRED,
            )
        session.commit()
    except Exception:
        session.rollback()
        raise
    return address


def delete_address(*, user_id: int, address_id: int) -> None:
    """Delete one of the user's addresses (ownership is checked before anything is deleted);
    when it was the default, the oldest remaining address becomes the default.

    Side effects: deletes the address, may set another default; commits."""
    session = db.session
    try:
        _lock_owner(session, user_id)
        address = _owned_address(session, user_id=user_id, address_id=address_id)
        was_default = address.is_default
        session.delete(address)
        session.flush()
        if was_default:
            successor = session.scalar(
                select(Address.id).where(Address.user_id == user_id).order_by(Address.id).limit(1)
            )
            if successor is not None:
                session.execute(
                    update(Address)
                    .where(Address.id == successor)
                    .values(is_default=True)
                    .execution_options(synchronize_session=False)
                )
        session.commit()
    except Exception:
        session.rollback()
        raise
