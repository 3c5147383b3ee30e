"""Fairness by statistics, on the pure draw over many seeds.

Each draw is seeded by a different secret, so the 2000 draws are 2000 independent outcomes of
the recipe. The checks are deterministic (same secrets, same counts every run); they would
fail for a recipe that favoured positions in the list, ids, or ticket counts other than as
the rules say.
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from math import comb

from cityhub.lottery import draw

DRAWS = 2000
QUOTA = 5


def wins(tickets: list[int], *, draws: int = DRAWS, quota: int = QUOTA) -> Counter[int]:
    """How often each applicant (by position) won over `draws` seeds."""
    ids = [f"app-{n:03d}" for n in range(len(tickets))]
    list_hash = draw.applicants_hash(ids, tickets)
    counts: Counter[int] = Counter()
    for n in range(draws):
        secret = f"secret number {n}"
        outcome = draw.draw(
            ids,
            tickets,
            commitment=draw.commitment_of(secret),
            applicants_hash=list_hash,
            secret=secret,
            public_value="3412.56",
            quota=quota,
        )
        counts.update(outcome.winners)
    return counts


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X chi-square with `df` degrees of freedom (series of the lower
    regularized gamma function; exact enough for the tails tested here)."""
    s, half = df / 2, x / 2
    term = total = 1 / s
    k = 1
    while term > total * 1e-15:
        term *= half / (s + k)
        total += term
        k += 1
    lower = math.exp(s * math.log(half) - half - math.lgamma(s)) * total
    return 1 - lower


def test_the_chi_square_tail_is_right() -> None:
    # Tabulated critical values: chi2(19) at 0.001 is 43.82, chi2(4) at 0.05 is 9.488.
    assert abs(chi2_sf(43.82, 19) - 0.001) < 2e-5
    assert abs(chi2_sf(9.488, 4) - 0.05) < 2e-4


def test_equal_tickets_win_equally_often_chi_square() -> None:
    applicants = 20
    counts = wins([1] * applicants)
    assert sum(counts.values()) == DRAWS * QUOTA
    q = QUOTA / applicants
    expected = DRAWS * q
    # Each draw picks exactly QUOTA winners, so the counts are not multinomial: each is
    # Binomial(DRAWS, q) and they sum to a constant. Their covariance is a(I - 11'/k) with
    # a = DRAWS q (1 - q) k / (k - 1), so sum((O - E)^2) / a is chi-square with k - 1 df.
    a = DRAWS * q * (1 - q) * applicants / (applicants - 1)
    statistic = sum((counts[n] - expected) ** 2 for n in range(applicants)) / a
    p_value = chi2_sf(statistic, applicants - 1)
    assert p_value > 0.001, (statistic, p_value, sorted(counts.values()))
    # And no applicant is far off on its own (4.5 binomial standard deviations).
    sigma = math.sqrt(DRAWS * q * (1 - q))
    assert all(abs(counts[n] - expected) < 4.5 * sigma for n in range(applicants))


def win_probability(k: int, others: list[int], quota: int, steps: int = 4000) -> float:
    """What the recipe predicts for an applicant with `k` tickets among `others`.

    Scores are uniform in practice, so an applicant's score is the minimum of its tickets'
    uniforms: density k(1-x)^(k-1); another with t tickets scores below x with probability
    1-(1-x)^t. The applicant wins when fewer than `quota` others score below it. Integrated
    with Simpson's rule; the count of others below x is a Poisson-binomial (exact DP).
    """

    def integrand(x: float) -> float:
        below = [1.0] + [0.0] * quota  # P(j others below x), j < quota; the rest dropped
        for t in others:
            p = 1 - (1 - x) ** t
            for j in range(quota, 0, -1):
                below[j] = below[j] * (1 - p) + below[j - 1] * p
            below[0] *= 1 - p
        return k * (1 - x) ** (k - 1) * sum(below[:quota])

    h = 1 / steps
    total = integrand(0) + integrand(1)
    total += sum((4 if i % 2 else 2) * integrand(i * h) for i in range(1, steps))
    return total * h / 3


def exact_one_among_singles(k: int, others: int, quota: int) -> Fraction:
    """The same prediction in closed form when every other applicant has one ticket:
    sum over j < quota of k C(n, j) B(j + 1, n - j + k)."""
    total = Fraction(0)
    for j in range(quota):
        a, b = j + 1, others - j + k
        beta = Fraction(math.factorial(a - 1) * math.factorial(b - 1), math.factorial(a + b - 1))
        total += k * comb(others, j) * beta
    return total


def test_the_prediction_agrees_with_its_closed_form_and_with_fair_shares() -> None:
    assert abs(win_probability(3, [1] * 19, 5) - float(exact_one_among_singles(3, 19, 5))) < 1e-9
    assert abs(win_probability(1, [1] * 19, 5) - 5 / 20) < 1e-9


def test_applicants_with_k_tickets_win_as_often_as_the_recipe_predicts() -> None:
    tickets = [1] * 10 + [2] * 6 + [3] * 4
    counts = wins(tickets)
    for k in (1, 2, 3):
        members = [n for n, t in enumerate(tickets) if t == k]
        others = list(tickets)
        others.remove(k)
        p = win_probability(k, others, QUOTA)
        trials = DRAWS * len(members)
        observed = sum(counts[n] for n in members)
        # Group members' wins are negatively correlated within a draw, so the binomial
        # standard deviation over-states the spread: 4 of them is a safe tolerance.
        sigma = math.sqrt(trials * p * (1 - p))
        assert abs(observed - trials * p) < 4 * sigma, (k, observed / trials, p)
    # More tickets, more wins, in the proportion the rules give.
    rate = {
        k: sum(counts[n] for n, t in enumerate(tickets) if t == k) / tickets.count(k)
        for k in (1, 2, 3)
    }
    assert rate[1] < rate[2] < rate[3]
