"""Operator commands: `flask create-admin`, `flask seed-demo`, `flask recount-orders`."""

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

    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Fill an empty catalogue with demo categories, products, images and featured items."""
        from app.catalog import demo
        from app.core.errors import AppError

        try:
            with click.progressbar(length=demo.total_steps(), label="Seeding the demo catalogue") as bar:
                summary = demo.seed_demo(on_step=bar.update)
        except AppError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(
            f"Demo catalogue ready: {summary.categories} categories, {summary.products} products, "
            f"{summary.images} images, {summary.featured} featured."
        )

    @app.cli.command("recount-orders")
    def recount_orders_command() -> None:
        """Rebuild the order counters (dashboard and admin order list) from the orders."""
        from app.core.db import committing
        from app.orders import stats

        with committing() as session:
            rows = stats.recount(session)
        click.echo(f"Order counters rebuilt: {rows} rows.")
