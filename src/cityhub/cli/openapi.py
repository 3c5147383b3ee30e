"""`cityhub openapi`: the API's description, as the running hub serves it at /openapi.json,
written to the committed `openapi.json` (or stdout) so that a change to it is deliberate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

DEFAULT = Path("openapi.json")


def document() -> dict[str, Any]:
    """The hub's OpenAPI description (no database is opened to build it)."""
    from cityhub.app import create_app
    from cityhub.platform.config import Settings

    # An engine is made but never connected: the file need not exist.
    settings = Settings(env="test", database_url="sqlite+aiosqlite:///openapi-unused.sqlite3")
    spec: dict[str, Any] = create_app(settings).openapi()
    return spec


def render(spec: dict[str, Any]) -> str:
    """The committed form: two-space indents, UTF-8 as is, a final newline."""
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"


def openapi(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="where to write it; '-' for stdout")
    ] = DEFAULT,
) -> None:
    """Write the API's OpenAPI description (the committed openapi.json by default)."""
    text = render(document())
    if str(output) == "-":
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")
