"""Operator commands: `flask create-admin`."""

from __future__ import annotations

import click
from flask import Flask


def register_commands(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.option("--email", prompt=True, help="The admin's email address.")
    @click.option("--name", "full_name", prompt="Full name", help="The admin's full name.")
    @click.password_option(help="At least 8 characters.")
    def create_admin_command(email: str, full_name: str, password: str) -> None:
        """Create a verified admin account, or promote an existing account to admin."""
        from marshmallow import ValidationError

        from app.auth import services
        from app.auth.schemas import SignupSchema

        try:
            SignupSchema().load({"email": email, "full_name": full_name, "password": password})
        except ValidationError as exc:
            raise click.ClickException(str(exc.messages)) from exc
        user = services.create_admin(email=email, full_name=full_name, password=password)
        click.echo(f"Admin ready: {user.email} (id {user.id})")
