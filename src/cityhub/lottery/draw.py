"""The draw recipe, pure: no database, no clock, no randomness of its own.

Everything a third party needs to recompute a draw is here and in docs/lottery.md:

- commitment = SHA-256(UTF-8(secret)), lowercase hex;
- the canonical applicant list: one line `application_id,tickets\\n` per applicant, sorted by
  application id (byte order), and its hash SHA-256(list), lowercase hex;
- seed = SHA-256(lp("cityhub-lottery/1") || lp(commitment) || lp(applicants_hash) ||
  lp(secret) || lp(public_value)), where lp(s) is the 4-byte big-endian length of UTF-8(s)
  followed by UTF-8(s);
- a ticket's score = HMAC-SHA256(key=seed, ASCII(application_id) || uint32_be(ticket_index)),
  ticket indexes 0..tickets-1, compared as unsigned big-endian numbers (byte order);
- an applicant's score is their lowest ticket score; the winners are the `quota` applicants
  with the lowest (score, application_id), in that order.

The scoring loop is written for speed (a million applicants): HMAC is computed from the two
pre-keyed SHA-256 states (RFC 2104), copied per ticket, which gives the same bytes as
`hmac.digest` at less than half its cost; tickets are scored one layer (ticket index) at a
time, and only the best score per applicant is kept.
"""

from __future__ import annotations

import hashlib
import heapq
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, repeat

VERSION = "cityhub-lottery/1"
APPLICATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_TICKETS = 1000
_BLOCK = 64  # SHA-256's block size, for the HMAC pads


class RecipeError(ValueError):
    """Input the recipe cannot work with (a malformed id, an unsorted list, a bad count)."""


class SecretMismatch(RecipeError):
    """The revealed secret does not hash to the published commitment."""


def commitment_of(secret: str) -> str:
    """The commitment to a secret: SHA-256 of its UTF-8 bytes, lowercase hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_applicants(ids: Sequence[str], tickets: Sequence[int]) -> None:
    """RecipeError unless the ids are well-formed, unique and sorted, and the counts valid."""
    if len(ids) != len(tickets):
        raise RecipeError(f"{len(ids)} application ids but {len(tickets)} ticket counts")
    previous = ""
    for position, (app_id, count) in enumerate(zip(ids, tickets, strict=True)):
        if not APPLICATION_ID.match(app_id):
            raise RecipeError(f"applicant {position + 1}: malformed application id {app_id!r}")
        if position and app_id <= previous:
            raise RecipeError(
                f"applicant {position + 1}: {app_id!r} is not after {previous!r} "
                "(the list must be sorted by application id, without repeats)"
            )
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_TICKETS:
            raise RecipeError(f"applicant {app_id}: tickets must be 1 to {MAX_TICKETS}")
        previous = app_id


def canonical_lines(ids: Iterable[str], tickets: Iterable[int]) -> Iterable[bytes]:
    """The canonical applicant list, line by line (the caller sorted and checked it)."""
    for app_id, count in zip(ids, tickets, strict=True):
        yield f"{app_id},{count}\n".encode("ascii")


def applicants_hash(ids: Sequence[str], tickets: Sequence[int]) -> str:
    """SHA-256 of the canonical applicant list, lowercase hex (the list must be sorted)."""
    check_applicants(ids, tickets)
    digest = hashlib.sha256()
    for line in canonical_lines(ids, tickets):
        digest.update(line)
    return digest.hexdigest()


def sort_applicants(pairs: Iterable[tuple[str, int]]) -> tuple[list[str], list[int]]:
    """Applicants `(application_id, tickets)` in canonical order, as two parallel lists."""
    ordered = sorted(pairs)
    return [p[0] for p in ordered], [p[1] for p in ordered]


def _lp(text: str) -> bytes:
    data = text.encode("utf-8")
    return len(data).to_bytes(4, "big") + data


def seed_of(*, commitment: str, applicants_hash: str, secret: str, public_value: str) -> bytes:
    """The draw's seed (32 bytes) from the four published values."""
    parts = (VERSION, commitment, applicants_hash, secret, public_value)
    return hashlib.sha256(b"".join(_lp(p) for p in parts)).digest()


def ticket_index(index: int) -> bytes:
    """How a ticket's index is written into its message: 4 bytes, big-endian."""
    return index.to_bytes(4, "big")


class Scorer:
    """HMAC-SHA256 keyed by a seed, with the keyed states prepared once."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise RecipeError("a seed is 32 bytes")
        key = seed.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def ticket(self, application_id: str, index: int) -> bytes:
        """One ticket's score (32 bytes)."""
        inner = self._inner.copy()
        inner.update(application_id.encode("ascii") + ticket_index(index))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def tickets(self, application_id: str, count: int) -> list[bytes]:
        """The scores of an applicant's tickets, in ticket order."""
        return [self.ticket(application_id, i) for i in range(count)]

    def best_scores(self, ids: Sequence[str], tickets: Sequence[int]) -> list[bytes]:
        """Each applicant's lowest ticket score, in list order (the hot loop of a draw).

        Ticket 0 of everyone first, then ticket 1 of those with two or more, and so on:
        each layer is one tight loop over ready-made messages, and the positions still in
        play shrink with each layer, so the work is proportional to the number of tickets.
        """
        if len(ids) != len(tickets):
            raise RecipeError(f"{len(ids)} application ids but {len(tickets)} ticket counts")
        best = self._layer(ids, 0)
        positions: Iterable[int] = range(len(ids))
        still_ids: Iterable[str] = ids
        counts: Iterable[int] = tickets
        top = max(tickets, default=1)
        for index in range(1, top):
            # Who holds a ticket `index`: flags computed once, then C-level selections.
            flags = list(map(operator.lt, repeat(index), counts))
            positions = list(compress(positions, flags))
            still_ids = list(compress(still_ids, flags))
            if index + 1 < top:
                counts = list(compress(counts, flags))
            self._lower(best, positions, still_ids, index)
        return best

    def _layer(self, ids: Sequence[str], index: int) -> list[bytes]:
        """The score of ticket `index` of each of these applicants."""
        inner_copy, outer_copy = self._inner.copy, self._outer.copy
        scores: list[bytes] = []
        append = scores.append
        for message in _messages(ids, index):
            inner = inner_copy()
            inner.update(message)
            outer = outer_copy()
            outer.update(inner.digest())
            append(outer.digest())
        return scores

    def _lower(
        self, best: list[bytes], positions: Sequence[int], ids: Sequence[str], index: int
    ) -> None:
        """Lower `best` at `positions` where ticket `index` of the applicant there scores lower."""
        inner_copy, outer_copy = self._inner.copy, self._outer.copy
        for position, message in zip(positions, _messages(ids, index), strict=True):
            inner = inner_copy()
            inner.update(message)
            outer = outer_copy()
            outer.update(inner.digest())
            score = outer.digest()
            if score < best[position]:
                best[position] = score


def _messages(ids: Sequence[str], index: int) -> list[bytes]:
    """`id || uint32_be(index)` for each id, built by C-level joins where possible."""
    suffix = ticket_index(index)
    if not ids:
        return []
    if b"\n" in suffix:  # the newline would split a message in two
        return [app_id.encode("ascii") + suffix for app_id in ids]
    # Ids are ASCII without newlines, so one join, one encode and one split make every
    # message at once (latin-1 maps the suffix's code points 0-255 back to its bytes).
    tail = suffix.decode("latin-1")
    messages = ((tail + "\n").join(ids) + tail).encode("latin-1").split(b"\n")
    if len(messages) != len(ids):
        raise RecipeError("an application id contains a newline")
    return messages


def rank(scores: Sequence[bytes], quota: int, *, tickets: int | None = None) -> list[int]:
    """The positions (in list order) of the `quota` lowest scores, lowest first; equal
    scores (never seen in practice) go by position, which is application id order.
    `tickets`, the number of tickets behind the scores, only sharpens a guess for speed."""
    if quota < 0:
        raise RecipeError("a quota is not negative")
    if quota == 0 or not scores:
        return []
    count = len(scores)
    chosen: list[int] = []
    if count > 4 * quota:
        # Every ticket's score is uniform, and an applicant's is under b with probability
        # about tickets x b: guess a bound under which about 1.2 x quota (plus ten standard
        # deviations) fall, and take the positions under it in one C-level pass. When fewer
        # than `quota` fall under the guess, the full selection below decides instead, so
        # the guess can make this faster but never different.
        expected = 1.2 * quota + 10 * quota**0.5 + 100
        spread = max(tickets or count, count)
        bound = min(int(expected / spread * 2**64), 2**64 - 1).to_bytes(8, "big")
        chosen = list(compress(range(count), map(operator.lt, scores, repeat(bound))))
    if len(chosen) < quota:
        cutoff = heapq.nsmallest(quota, scores)[-1]
        chosen = list(compress(range(count), map(cutoff.__ge__, scores)))
    ordered = sorted(zip(map(scores.__getitem__, chosen), chosen, strict=True))
    return [position for _score, position in ordered[:quota]]


@dataclass(frozen=True)
class Draw:
    """The outcome of a draw: the seed, every applicant's score and the winners in order."""

    seed: bytes
    scores: list[bytes]
    winners: list[int]  # positions in the applicant list, first winner first


def draw(
    ids: Sequence[str],
    tickets: Sequence[int],
    *,
    commitment: str,
    applicants_hash: str,
    secret: str,
    public_value: str,
    quota: int,
) -> Draw:
    """Run the draw on the canonical list whose hash was published at close.

    Refuses (SecretMismatch) a secret that does not match the commitment. The list is
    trusted to be the one `applicants_hash` describes (checked at close, and by `verify`).
    """
    if commitment_of(secret) != commitment:
        raise SecretMismatch("the secret does not hash to the published commitment")
    if not public_value:
        raise RecipeError("the public value is empty")
    seed = seed_of(
        commitment=commitment,
        applicants_hash=applicants_hash,
        secret=secret,
        public_value=public_value,
    )
    scores = Scorer(seed).best_scores(ids, tickets)
    return Draw(seed=seed, scores=scores, winners=rank(scores, quota, tickets=sum(tickets)))
