"""``dockyard doctor``: is everything dockyard needs here and working?"""

from __future__ import annotations

import click

from dockyard.cli.app import App, pass_app
from dockyard.cli.params import json_option
from dockyard.service import run_checks


@click.command()
@json_option
@pass_app
def doctor(app: App, *, as_json: bool) -> int:
    """Check the engine, the store, the default image, and run a test container."""
    checks = run_checks(app.settings())
    if as_json:
        app.term.json(
            {
                "ok": all(c.ok for c in checks),
                "checks": [
                    {
                        "name": c.name,
                        "ok": c.ok,
                        "detail": c.detail,
                        "hint": c.hint or None,
                        "warnings": list(c.warnings),
                    }
                    for c in checks
                ],
            }
        )
    else:
        for check in checks:
            mark = "ok  " if check.ok else "FAIL"
            app.term.out(f"{mark} {check.name:<10} {check.detail}")
            if check.hint and not check.ok:
                app.term.out(f"     {'':<10} fix: {check.hint}")
            for warning in check.warnings:
                app.term.out(f"     {'':<10} warning: {warning}")
    return 0 if all(c.ok for c in checks) else 1
