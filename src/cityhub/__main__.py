"""`python -m cityhub`: the same as the `cityhub` command."""

from cityhub.cli import app

app()
