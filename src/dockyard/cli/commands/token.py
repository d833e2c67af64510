"""``dockyard token``: make, list and revoke API tokens."""

from __future__ import annotations

import click
from rich.text import Text

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import json_option


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
    if bool(owner) == is_admin:
        raise click.UsageError("give --owner OWNER or --admin")
    token_id, secret = app.dockyard().create_token(owner=owner, description=description)
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
    rows = app.dockyard().tokens()
    if as_json:
        app.term.json(
            [
                {
                    "id": t.id,
                    "owner": t.owner,
                    "description": t.description,
                    "created_at": t.created_at.isoformat(),
                }
                for t in rows
            ]
        )
        return
    table: list[list[str | Text]] = [
        [t.id, t.owner or "(admin)", t.created_at.isoformat(timespec="seconds"), t.description]
        for t in rows
    ]
    app.term.table(["ID", "OWNER", "CREATED", "DESCRIPTION"], table)


@token.command()
@click.argument("token_id")
@pass_app
def revoke(app: App, *, token_id: str) -> None:
    """Revoke the token TOKEN_ID at once."""
    app.dockyard().revoke_token(token_id)
    app.term.out(f"revoked {token_id}")
