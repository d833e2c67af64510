"""``dockyard token``: make, list and revoke API tokens."""

from __future__ import annotations

import click
from rich.text import Text

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import json_option
from dockyard.core.errors import NotFound


@click.group()
def token() -> None:
    """API tokens: admin, or per owner (sees and acts on that owner's workspaces only)."""


@token.command(name="create")
@click.option("--owner", help="The owner this token acts for.")
@click.option("--admin", "is_admin", is_flag=True, help="An admin token (all owners, policy).")
@click.option("--description", default="", help="What it is for.")
@json_option
@pass_app
def create(app: App, *, owner: str | None, is_admin: bool, description: str, as_json: bool) -> None:
    """Make a token; it is printed once and stored only hashed."""
    from dockyard.api.auth import create_token  # noqa: PLC0415

    if bool(owner) == is_admin:
        raise click.UsageError("give --owner OWNER or --admin")
    dy = app.dockyard()
    token_id, secret = create_token(
        dy.ctx.store, owner=owner, description=description, at=dy.ctx.now()
    )
    if as_json:
        app.term.json({"id": token_id, "owner": owner, "token": secret})
        return
    app.term.out(secret)
    app.term.note(f"token {token_id} for {owner or 'admin'}; shown once, keep it")


@token.command(name="list")
@json_option
@pass_app
def list_(app: App, *, as_json: bool) -> None:
    """The tokens (never their secrets)."""
    rows = app.dockyard().ctx.store.tokens.list()
    if as_json:
        app.term.json([{**r, "created_at": r["created_at"].isoformat()} for r in rows])
        return
    table: list[list[str | Text]] = [
        [
            r["id"],
            r["owner"] or "(admin)",
            r["created_at"].isoformat(timespec="seconds"),
            r["description"],
        ]
        for r in rows
    ]
    app.term.table(["ID", "OWNER", "CREATED", "DESCRIPTION"], table)


@token.command()
@click.argument("token_id")
@pass_app
def revoke(app: App, *, token_id: str) -> None:
    """Revoke the token TOKEN_ID at once."""
    if not app.dockyard().ctx.store.tokens.delete(token_id):
        raise NotFound(f"no token {token_id!r}")
    app.term.out(f"revoked {token_id}")
