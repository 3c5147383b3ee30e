"""`cityhub lottery`: verify a draw from its files, write a round's files, make a secret."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer

from cityhub.lottery import draw, publish, verify
from cityhub.platform.config import Settings
from cityhub.platform.db import Database

lottery_app = typer.Typer(
    help="Quota lotteries whose draws anyone can recompute (see docs/lottery.md).",
    no_args_is_help=True,
)


@lottery_app.command("verify")
def verify_files(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="results.json, or draw.csv with results.csv; "
            "add the list published at close to name changes"
        ),
    ],
    application: Annotated[
        str | None, typer.Option(help="also show this application's tickets and scores")
    ] = None,
    commitment: Annotated[
        str | None, typer.Option(help="the commitment published when the round opened")
    ] = None,
    applicants_hash: Annotated[
        str | None, typer.Option(help="the applicant list hash published at close")
    ] = None,
) -> None:
    """Recompute a draw from its published files alone; exit 0 if it matches, 1 if not."""
    try:
        bundle = verify.load(files)
    except verify.FileError as exc:
        typer.echo(f"cannot verify: {exc}", err=True)
        raise typer.Exit(2) from None
    report = verify.verify(bundle, commitment=commitment, applicants_hash=applicants_hash)
    for check in report.checks:
        typer.echo(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.message}")
    if application:
        _explain(bundle, application)
    if report.ok:
        typer.echo("MATCH: the published results are exactly what the recipe gives")
        return
    typer.echo(f"MISMATCH: {len(report.failures())} check(s) failed")
    raise typer.Exit(1)


def _explain(bundle: verify.Bundle, application_id: str) -> None:
    for results in bundle.results:
        try:
            found = verify.explain(results, application_id)
        except KeyError:
            continue
        typer.echo(f"application {application_id} in round {results.info.round}:")
        for index, score in enumerate(found.tickets):
            typer.echo(f"  ticket {index}: {score}")
        typer.echo(f"  score (best ticket, {found.best_ticket}): {found.best}")
        verdict = "a winner" if found.won else "not a winner"
        typer.echo(f"  rank {found.rank} of {found.applicants}, quota {found.quota}: {verdict}")
        return
    typer.echo(f"application {application_id}: not in the files", err=True)
    raise typer.Exit(1)


@lottery_app.command("secret")
def make_secret() -> None:
    """Make a secret for a round and print it with its commitment (keep the secret safe)."""
    secret = secrets.token_hex(32)
    typer.echo(f"secret:     {secret}")
    typer.echo(f"commitment: {draw.commitment_of(secret)}")


@lottery_app.command("files")
def write_files(
    city: Annotated[str, typer.Option(help="the city's slug")],
    round_code: Annotated[str, typer.Option("--round", help="the round's code")],
    out: Annotated[Path, typer.Option(file_okay=False, help="folder to write to")] = Path("."),
) -> None:
    """Write a round's published files (the list once closed, the results once drawn)."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import run_domain, run_with_db
    from cityhub.lottery import service

    async def work(
        db: Database, _s: Settings
    ) -> tuple[publish.ApplicantList | None, publish.Results | None]:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            round_ = await service.get_round_or_raise(
                session=session, city_id=found.id, code=round_code
            )
            return await service.publication(
                session=session, city=found, round_=round_, drawn_visible=True
            )

    listing, results = run_domain(lambda: run_with_db(work))
    names = publish.available(listing, results)
    if not names:
        typer.echo("the round is still open: nothing is published yet", err=True)
        raise typer.Exit(1)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = out / f"{city}-{round_code}-{name}"
        with path.open("w", encoding="utf-8", newline="") as handle:
            publish.write(name, listing, results, handle)
        typer.echo(str(path))


@lottery_app.command("draw")
def draw_round(
    city: Annotated[str, typer.Option(help="the city's slug")],
    round_code: Annotated[str, typer.Option("--round", help="the round's code")],
    public_value: Annotated[
        str, typer.Option(help="the public value entered at the draw (e.g. an index's close)")
    ],
    secret: Annotated[
        str | None, typer.Option(help="the secret committed to (default: the hub's sealed one)")
    ] = None,
) -> None:
    """Draw a closed round (as the CLI): reveal the secret, score every ticket, rank winners."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import cli_actor, out, run_domain, run_with_db
    from cityhub.identity.pii import Vault
    from cityhub.lottery import service
    from cityhub.lottery.schemas import DrawCreate
    from cityhub.platform.progress import bar

    async def work(db: Database, settings: Settings) -> tuple[int, int, str]:
        with bar(f"drawing {city} {round_code}") as progress:
            async with db.unit_of_work() as session:
                found = await cities.get_city_or_raise(session=session, slug=city)
                drawn = await service.draw_round(
                    session=session, vault=Vault.from_settings(settings), actor=cli_actor(),
                    city=found, code=round_code,
                    draw_in=DrawCreate(secret=secret, public_value=public_value),
                    progress=progress,
                )  # fmt: skip
                winners = len(
                    [o for o in await service.outcomes(session=session, city_id=found.id,
                     code=round_code) if o[1].value == "won"]
                )  # fmt: skip
                return drawn.applicant_count or 0, winners, drawn.seed or ""

    applicants, winners, seed = run_domain(lambda: run_with_db(work))
    out.print(
        f"round {round_code} of {city} drawn: {applicants} applicant(s), {winners} winner(s); "
        f"seed {seed}. Publish with the API or the console; verify with `cityhub lottery verify`.",
        soft_wrap=True,
    )
