"""API shapes of lottery rounds, applications and score checks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from cityhub.cities.schemas import SLUG, Input
from cityhub.lottery.draw import MAX_TICKETS
from cityhub.lottery.models import ApplicationStatus, LotteryApplication, LotteryRound, RoundStatus
from cityhub.platform.texts import TitleTexts

HEX64 = r"^[0-9a-f]{64}$"


class Step(Input):
    """From this many failed earlier draws on, an applicant holds this many tickets."""

    from_failures: int = Field(ge=0, le=10_000)
    tickets: int = Field(ge=1, le=MAX_TICKETS)


class Rules(Input):
    """A round's rules: stepped multipliers for those who failed in earlier rounds."""

    multipliers: list[Step] = Field(
        default_factory=lambda: [Step(from_failures=0, tickets=1)],
        min_length=1,
        max_length=20,
        description="steps in increasing from_failures; the first starts at 0",
    )

    @field_validator("multipliers")
    @classmethod
    def _steps(cls, steps: list[Step]) -> list[Step]:
        if steps[0].from_failures != 0:
            raise ValueError("the first step starts at from_failures 0")
        for before, after in zip(steps, steps[1:], strict=False):
            if after.from_failures <= before.from_failures:
                raise ValueError("from_failures must increase from one step to the next")
        return steps

    def tickets_for(self, failures: int) -> int:
        """The tickets of an applicant with this many failed earlier draws."""
        tickets = 1
        for step in self.multipliers:
            if failures >= step.from_failures:
                tickets = step.tickets
        return tickets


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone (e.g. 2025-12-01T09:00:00+08:00)")
    return value.astimezone(dt.UTC)


class RoundCreate(Input):
    code: str = Field(pattern=SLUG.replace("39", "59"), description="unique in the city")
    service: str = Field(min_length=1, max_length=60, description="a lottery service's code")
    kind: str = Field(
        pattern=SLUG, description="what the eligibility provider calls it: car-plate, housing"
    )
    title: str = Field(min_length=1, max_length=200)
    titles: TitleTexts | None = None
    opens_at: dt.datetime
    closes_at: dt.datetime
    quota: int = Field(ge=1, le=10_000_000)
    rules: Rules = Field(default_factory=Rules)
    commitment: str | None = Field(
        default=None,
        pattern=HEX64,
        description="SHA-256 of the city's secret (lowercase hex); leave out to let the hub "
        "make a secret and keep it sealed until the draw",
    )

    _tz = field_validator("opens_at", "closes_at")(_aware)

    @model_validator(mode="after")
    def _window(self) -> RoundCreate:
        if self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at")
        return self


class DrawCreate(Input):
    secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the secret committed to; leave out when the hub holds it sealed",
    )
    public_value: str = Field(
        min_length=1,
        max_length=200,
        description="a value nobody knew before the close, e.g. an index's closing figure",
    )


class ApplicationCreate(Input):
    user_id: str = Field(min_length=1, max_length=128, description="the channel's own user id")


class RoundRead(BaseModel):
    city: str
    code: str
    service: str
    kind: str
    title: str
    titles: dict[str, str] = Field(default_factory=dict, description="translations of the title")
    opens_at: dt.datetime
    closes_at: dt.datetime
    quota: int
    rules: dict[str, Any]
    status: RoundStatus
    phase: str = Field(
        description="upcoming, accepting, awaiting_close, closed, drawn or published"
    )
    commitment: str
    sealed: bool = Field(description="the hub keeps the secret sealed until the draw")
    applicants_hash: str | None
    applicant_count: int
    excluded_count: int
    secret: str | None
    public_value: str | None
    seed: str | None
    closed_at: dt.datetime | None
    drawn_at: dt.datetime | None
    published_at: dt.datetime | None
    files: list[str] = Field(description="names under .../files/ that can be downloaded now")


class ResultRead(BaseModel):
    won: bool
    position: int | None = Field(description="the winner's place in the drawn order")
    score: str = Field(description="the best of the applicant's ticket scores, hex")


class ApplicationRead(BaseModel):
    application_id: str = Field(description="the pseudonymous id in the published files")
    city: str
    round: str
    user_id: str
    status: ApplicationStatus
    failures: int = Field(description="failed draws in earlier rounds of the same service")
    tickets: int
    excluded_reason: str | None
    applied_at: dt.datetime
    withdrawn_at: dt.datetime | None
    result: ResultRead | None = Field(description="once the results are published")

    @classmethod
    def of(
        cls, app: LotteryApplication, round_: LotteryRound, city: str, user_id: str
    ) -> ApplicationRead:
        result = None
        if round_.status == RoundStatus.PUBLISHED and app.score is not None:
            won = app.status == ApplicationStatus.WON
            result = ResultRead(won=won, position=app.position, score=app.score)
        return cls(
            application_id=app.application_id,
            city=city,
            round=round_.code,
            user_id=user_id,
            status=app.status,
            failures=app.failures,
            tickets=app.tickets,
            excluded_reason=app.excluded_reason,
            applied_at=app.applied_at,
            withdrawn_at=app.withdrawn_at,
            result=result,
        )


class ScoreRead(BaseModel):
    application_id: str
    round: str
    tickets: int
    ticket_scores: list[str] = Field(description="HMAC-SHA256(seed, id || index) per ticket")
    score: str = Field(description="the lowest ticket score")
    won: bool
    position: int | None
    seed: str
