"""The draw recipe on its own: what it computes, byte for byte, and what it refuses."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from cityhub.lottery import draw

IDS = ["a01", "b02", "c03", "d04", "e05"]
TICKETS = [1, 3, 1, 2, 1]


def run(
    secret: str = "s3cret-of-the-city", public_value: str = "3412.56", quota: int = 2
) -> draw.Draw:
    return draw.draw(
        IDS,
        TICKETS,
        commitment=draw.commitment_of(secret),
        applicants_hash=draw.applicants_hash(IDS, TICKETS),
        secret=secret,
        public_value=public_value,
        quota=quota,
    )


def test_every_step_is_the_documented_formula() -> None:
    secret, public_value = "s3cret-of-the-city", "3412.56"
    commitment = hashlib.sha256(secret.encode()).hexdigest()
    assert draw.commitment_of(secret) == commitment
    listing = b"a01,1\nb02,3\nc03,1\nd04,2\ne05,1\n"
    list_hash = hashlib.sha256(listing).hexdigest()
    assert draw.applicants_hash(IDS, TICKETS) == list_hash

    def lp(text: str) -> bytes:
        return len(text.encode()).to_bytes(4, "big") + text.encode()

    parts = ("cityhub-lottery/1", commitment, list_hash, secret, public_value)
    seed = hashlib.sha256(b"".join(lp(p) for p in parts)).digest()
    outcome = run(secret, public_value)
    assert outcome.seed == seed

    def score(app_id: str, count: int) -> bytes:
        return min(
            hmac.digest(seed, app_id.encode() + i.to_bytes(4, "big"), "sha256")
            for i in range(count)
        )

    expected = [score(i, t) for i, t in zip(IDS, TICKETS, strict=True)]
    assert outcome.scores == expected
    ranked = sorted(range(len(IDS)), key=lambda n: (expected[n], IDS[n]))
    assert outcome.winners == ranked[:2]
    assert draw.Scorer(seed).tickets("b02", 3) == [
        hmac.digest(seed, b"b02" + i.to_bytes(4, "big"), "sha256") for i in range(3)
    ]


def test_the_published_test_vector_of_docs_lottery_md() -> None:
    outcome = run()
    assert outcome.seed.hex() == VECTOR_SEED
    assert [IDS[n] for n in run(quota=5).winners] == VECTOR_ORDER


VECTOR_SEED = "245dd419a851712f76b87d078f5e8a0576c40805140327c8031f6b0f18eb24f9"
VECTOR_ORDER = ["d04", "b02", "e05", "a01", "c03"]


def test_a_secret_that_does_not_match_the_commitment_is_refused() -> None:
    with pytest.raises(draw.SecretMismatch):
        draw.draw(
            IDS,
            TICKETS,
            commitment=draw.commitment_of("the real secret"),
            applicants_hash=draw.applicants_hash(IDS, TICKETS),
            secret="another secret",
            public_value="3412.56",
            quota=2,
        )


def test_each_input_changes_the_outcome_and_nothing_else_does() -> None:
    base = run()
    assert run().scores == base.scores  # deterministic
    assert run(public_value="3412.57").seed != base.seed
    assert run(secret="another").seed != base.seed


def test_quota_edges_and_ties_go_by_application_id() -> None:
    assert run(quota=0).winners == []
    assert sorted(run(quota=99).winners) == list(range(len(IDS)))
    tied = [b"\x05" * 32, b"\x01" * 32, b"\x01" * 32, b"\x09" * 32]
    assert draw.rank(tied, 2) == [1, 2]
    assert draw.rank(tied, 3) == [1, 2, 0]
    with pytest.raises(draw.RecipeError):
        draw.rank(tied, -1)


@pytest.mark.parametrize(
    ("ids", "tickets", "message"),
    [
        (["b", "a"], [1, 1], "not after"),
        (["a", "a"], [1, 1], "not after"),
        (["a,b"], [1], "malformed"),
        (["a"], [0], "tickets must be"),
        (["a"], [1, 2], "ticket counts"),
    ],
)
def test_the_list_must_be_canonical(ids: list[str], tickets: list[int], message: str) -> None:
    with pytest.raises(draw.RecipeError, match=message):
        draw.applicants_hash(ids, tickets)


def test_many_tickets_score_as_the_formula_says_whatever_their_index_bytes() -> None:
    # Index 10 is 00 00 00 0a: a newline byte, which takes the slow path of message building.
    seed = hashlib.sha256(b"seed").digest()
    ids, tickets = ["a", "b-2", "c_3"], [12, 1, 300]
    best = draw.Scorer(seed).best_scores(ids, tickets)
    for app_id, count, score in zip(ids, tickets, best, strict=True):
        expected = min(
            hmac.digest(seed, app_id.encode() + i.to_bytes(4, "big"), "sha256")
            for i in range(count)
        )
        assert score == expected


def test_the_fast_selection_of_winners_equals_a_full_sort() -> None:
    rng = random.Random(11)
    for count, quota in ((5000, 50), (5000, 1), (800, 100), (5000, 1249)):
        scores = [rng.randbytes(32) for _ in range(count)]
        scores[7] = scores[8] = scores[9]  # ties go by position
        expected = sorted(range(count), key=lambda n: (scores[n], n))[:quota]
        assert draw.rank(scores, quota) == expected
        assert draw.rank(scores, quota, tickets=3 * count) == expected
    # Scores far from uniform defeat the guessed bound: the full selection still decides.
    skewed = [b"\xff" + rng.randbytes(31) for _ in range(5000)]
    assert draw.rank(skewed, 10) == sorted(range(5000), key=skewed.__getitem__)[:10]
