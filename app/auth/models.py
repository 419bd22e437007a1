"""Accounts and login sessions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, UTCDateTime, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    CUSTOMER = "customer"
    GUEST = "guest"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'customer', 'guest')", name="role_valid"),
        CheckConstraint(
            "role = 'guest' OR (email IS NOT NULL AND password_hash IS NOT NULL)",
            name="account_has_credentials",
        ),
        Index("ix_users_created_at", "created_at"),
        Index("ix_users_role_created_at", "role", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    full_name: Mapped[str] = mapped_column(String(100))
    # Stored lower-cased, so the unique constraint is case-insensitive.
    email: Mapped[str | None] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.CUSTOMER)
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Exactly one row may hold TRUE (NULLs are distinct): the first account, made admin.
    is_founder: Mapped[bool | None] = mapped_column(Boolean, unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Separate single-use slots for the two email tokens (only a digest is stored).
    verification_token_digest: Mapped[str | None] = mapped_column(String(64))
    verification_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reset_token_digest: Mapped[str | None] = mapped_column(String(64))
    reset_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    sessions: Mapped[list[AuthSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_guest(self) -> bool:
        return self.role == Role.GUEST


class AuthSession(Base):
    """One login (or one guest): every access and refresh token names its session, so
    logging out, changing the password or reusing a rotated refresh token revokes it."""

    __tablename__ = "auth_sessions"
    __table_args__ = (
        Index("ix_auth_sessions_user_id", "user_id"),
        Index("ix_auth_sessions_expires_at", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    refresh_jti: Mapped[str] = mapped_column(String(36))
    # The id it replaced, still honoured for a few seconds (two tabs refreshing at once).
    previous_refresh_jti: Mapped[str | None] = mapped_column(String(36))
    remember_me: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))

    user: Mapped[User] = relationship(back_populates="sessions")
